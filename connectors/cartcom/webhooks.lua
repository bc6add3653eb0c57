-- Cart.com connector, webhooks (docs/connectors.md "The webhooks capability"): Cart.com signs
-- nothing and sends no header of ours, so the secret travels in the URL registered: register
-- subscribes `url?key=<webhook_secret>` to NewOrder, OrderUpdated and OrderStatusChanged (POST
-- /webhooks, scope `system`), and verify compares the request's `key` with the cart's
-- webhook_secret in constant time. A delivery carries the whole order, but it is only a hint:
-- the import re-reads the window. The URL with the key is a credential: serve it over https.
-- Uses: api.lua, cartwright.crypto, cartwright.http.
local crypto = require "cartwright.crypto"
local http = require "cartwright.http"
local api = require "connectors.cartcom.api"

local TOPICS = { "NewOrder", "OrderUpdated", "OrderStatusChanged" }

-- verify(cart, headers, raw_body, req) -> true | nil, why
local function verify(cart, _, _, req)
  local secret = cart.webhook_secret
  if type(secret) ~= "string" or secret == "" then return nil, "the cart has no webhook_secret" end
  local got = req and type(req.query) == "table" and req.query.key
  if type(got) ~= "string" or got == "" then return nil, "no key in the webhook URL's query" end
  -- digests of equal length: equal() takes the same time whatever the query holds
  if not crypto.equal(crypto.sha256(got), crypto.sha256(secret)) then return nil, "the URL's key is not the secret" end
  return true
end

-- register(ctx, url, secret) -> true | nil, err. Each POST is sent once: a retry after the store
-- made the hook would make it twice.
local function register(ctx, url, secret)
  local hook = url .. (url:find("?", 1, true) and "&" or "?") .. "key=" .. http.urlencode(secret)
  for _, topic in ipairs(TOPICS) do
    local what = "create webhook " .. topic -- never the URL: it holds the secret
    local res, err = api.send(ctx, "POST", "webhooks", nil, { event_type = topic, url = hook,
      failure_type = "Ignore", cache_length = "NoCache" }, { once = true })
    local ok, oerr = api.ok(ctx, what, res, err)
    if not ok then
      -- the cart's answer may quote the URL it refused: never pass the key on
      for _, s in ipairs{ http.urlencode(secret), secret } do
        local a, b = oerr:find(s, 1, true)
        while a do
          oerr = oerr:sub(1, a - 1) .. "[key]" .. oerr:sub(b + 1)
          a, b = oerr:find(s, a + 5, true)
        end
      end
      return nil, oerr
    end
  end
  return true
end

return { verify = verify, register = register, topics = TOPICS }
