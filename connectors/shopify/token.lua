-- Shopify access tokens by the client-credentials grant (apps from the Dev Dashboard, 2026 on):
-- the cart's client_id and client_secret are exchanged at the shop's own origin, through
-- ctx:request (origin check, rate limit, retries), for a token that lives about 24 h. Tokens are
-- kept in this process's memory only, one per cart, registered as secrets the moment they
-- arrive, renewed before they expire and once more when the shop answers 401. A cart with a
-- static `token` uses it as it is. Uses: cartwright.task, cartwright.log, cartwright.http.
local json = require "cjson.safe"
local task = require "cartwright.task"
local log = require "cartwright.log"
local http = require "cartwright.http"
local shopify = require "connectors.shopify"

local M = {}

M.RENEW_BEFORE = 300 -- seconds before expiry a token is renewed (or 10% of its life, if less)

-- cart key -> { token =, renew_at = (task.monotonic), pending = task handle of the request }
local held = {}

-- One entry per cart of the process; a cart whose shop or app changes (a reloaded config)
-- gets an entry of its own.
local function entry(cart)
  local key = cart.name .. "\0" .. shopify.origin(cart) .. "\0" .. cart.client_id
  local e = held[key]
  if not e then
    e = {}
    held[key] = e
  end
  return e
end

local function form(pairs_list)
  local parts = {}
  for i, kv in ipairs(pairs_list) do
    local v = http.urlencode(kv[2])
    if v ~= kv[2] then log.secret(v) end -- the encoded form of a secret is one too
    parts[i] = kv[1] .. "=" .. v
  end
  return table.concat(parts, "&")
end

-- The grant's answer: { access_token = "…", scope = "read_orders", expires_in = 86399 }.
-- The token is a secret from here on, before anything else can print it.
local function read_grant(body)
  local doc = json.decode(body)
  local tok = type(doc) == "table" and doc.access_token
  if type(tok) ~= "string" or #tok < 4 then
    return nil, "the shop's answer has no access_token"
  end
  log.secret(tok)
  local life = doc.expires_in
  if math.type(life) == nil or life ~= life or life <= 0 then life = nil end -- no expiry given
  return tok, life
end

-- POSTs the grant and keeps its token in e. Runs in a task of its own (e.pending): every
-- request of the cart that needs a token meanwhile waits for this one.
local function request(ctx, e)
  local cart = ctx.cart
  local started = task.monotonic()
  local res, err = ctx:request{ method = "POST", url = shopify.origin(cart) .. "/admin/oauth/access_token",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Accept"] = "application/json" },
    body = form{ { "grant_type", "client_credentials" }, { "client_id", cart.client_id },
                 { "client_secret", cart.client_secret } } }
  if res and (res.status < 200 or res.status > 299) then res, err = ctx:fail(res) end
  if not res then
    return nil, "getting an access token with the cart's client_id and client_secret: " .. err
      .. " (check both against the app's settings in the Dev Dashboard, and that the app is installed in the shop)"
  end
  local tok, life = read_grant(res.body)
  if not tok then
    return nil, "getting an access token with the cart's client_id and client_secret: " .. life
  end
  e.token = tok
  -- counted from before the request went out: the shop's clock started when it answered
  e.renew_at = life and started + life - math.min(M.RENEW_BEFORE, life / 10) or math.huge
  log.debug("shopify access token received", { cart = cart.name, expires_in = life or "unknown" })
  return tok
end

--- The token to send for the cart of ctx: its static `token`, else one from the
--- client-credentials grant, fetched or renewed when needed. Returns token | nil, err.
function M.get(ctx)
  local cart = ctx.cart
  if cart.token then return cart.token end
  local e = entry(cart)
  if e.token and task.monotonic() < e.renew_at then return e.token end
  local p = e.pending
  if not p then
    p = task.spawn(request, ctx, e)
    e.pending = p
  end
  local ok, tok, err = p:wait()
  if e.pending == p then e.pending = nil end -- the next renewal asks anew
  if not ok then return nil, tostring(tok) end
  return tok, err
end

--- The shop refused `used` (401): forgets it, so the next M.get asks for a new one. Returns
--- true when the cart gets its tokens by the grant (a new one is worth a try), else false.
function M.refused(ctx, used)
  local cart = ctx.cart
  if cart.token then return false end
  local e = entry(cart)
  if e.token == used then e.token = nil end
  return true
end

return M
