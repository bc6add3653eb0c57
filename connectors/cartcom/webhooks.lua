-- Cart.com connector, webhooks (docs/connectors.md "The webhooks capability"): Cart.com signs
-- nothing and sends no header of ours, so the secret travels in the URL registered: register
-- subscribes `url?key=<webhook_secret>` to NewOrder, OrderUpdated and OrderStatusChanged (POST
-- /webhooks, scope `system`; hooks already there for that URL are kept or, after a new
-- secret, updated), and verify compares the request's `key` with the cart's
-- webhook_secret in constant time. A delivery carries the whole order, but it is only a hint:
-- the import re-reads the window. The URL with the key is a credential: serve it over https.
-- Uses: api.lua, cartwright.crypto, cartwright.http, cartwright.jsonraw.
local crypto = require "cartwright.crypto"
local http = require "cartwright.http"
local log = require "cartwright.log"
local jraw = require "cartwright.jsonraw"
local api = require "connectors.cartcom.api"

local TOPICS = { "NewOrder", "OrderUpdated", "OrderStatusChanged" }

-- verify(cart, headers, raw_body, req) -> true | nil, why
local function verify(cart, _, _, req)
  local secret = cart.webhook_secret
  if type(secret) ~= "string" or secret == "" then return nil, "the cart has no webhook_secret" end
  log.secret(http.urlencode(secret)) -- the request's URI carries it so: never in a log line
  local got = req and type(req.query) == "table" and req.query.key
  if type(got) ~= "string" or got == "" then return nil, "no key in the webhook URL's query" end
  -- digests of equal length: equal() takes the same time whatever the query holds
  if not crypto.equal(crypto.sha256(got), crypto.sha256(secret)) then return nil, "the URL's key is not the secret" end
  return true
end

-- The store's webhooks: { { id, event_type, url } } | nil, err
local function existing(ctx)
  local res, err = api.get(ctx, "webhooks", { { "count", 250 } }, "GET webhooks")
  if not res then return nil, err end
  local doc = jraw.decode(res.body or "")
  if type(doc) ~= "table" then return nil, "bad JSON in GET webhooks" end
  local out = {}
  for _, h in ipairs(type(doc.webhooks) == "table" and doc.webhooks or {}) do
    if type(h) == "table" then out[#out + 1] = { id = h.id, event_type = h.event_type, url = tostring(h.url or "") } end
  end
  return out
end

local function without_query(u) return (u:gsub("[?#].*$", "")) end

-- the cart's answer may quote the URL it refused: never pass the key on
local function redact(msg, secret)
  for _, s in ipairs{ http.urlencode(secret), secret } do
    local a, b = msg:find(s, 1, true)
    while a do
      msg = msg:sub(1, a - 1) .. "[key]" .. msg:sub(b + 1)
      a, b = msg:find(s, a + 5, true)
    end
  end
  return msg
end

-- register(ctx, url, secret) -> true | nil, err. A topic already registered to this URL with
-- this key is left as it is; one registered to this URL with another key (the secret changed)
-- is updated in place (POST with its id); others are created. Each POST is sent once: a retry
-- after the store made the hook would make it twice.
local function register(ctx, url, secret)
  local encoded = http.urlencode(secret)
  log.secret(encoded) -- as the URL carries it (and a log line of the request would show it)
  local hook = url .. (url:find("?", 1, true) and "&" or "?") .. "key=" .. encoded
  local have, lerr = existing(ctx)
  if not have then return nil, redact(lerr, secret) end
  for _, topic in ipairs(TOPICS) do
    local body, done = { event_type = topic, url = hook, failure_type = "Ignore", cache_length = "NoCache" }, false
    for _, h in ipairs(have) do
      if h.event_type == topic and h.url == hook then done = true
      elseif h.event_type == topic and without_query(h.url) == without_query(hook) and not body.id then body.id = h.id end
    end
    if not done then
      local what = "create webhook " .. topic -- never the URL: it holds the secret
      local res, err = api.send(ctx, "POST", "webhooks", nil, body, { once = true })
      local ok, oerr = api.ok(ctx, what, res, err)
      if not ok then return nil, redact(oerr, secret) end
    end
  end
  return true
end

return { verify = verify, register = register, topics = TOPICS }
