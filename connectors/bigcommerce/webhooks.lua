-- BigCommerce connector, webhooks (docs/connectors.md "The webhooks capability"): BigCommerce
-- echoes the headers given at registration with each delivery, so register sets
-- X-Cartwright-Webhook-Secret = the cart's webhook_secret and verify compares it (constant
-- time). register creates hooks for store/order/created, updated and statusUpdated (POST
-- /v3/hooks). Deliveries are thin ({scope, data: {type, id}}): the import re-fetches.
-- Uses: cartwright.webhook_sig, cartwright.cartdata, ctx:request, cjson.safe.
local json = require "cjson.safe"
local sig = require "cartwright.webhook_sig"
local cd = require "cartwright.cartdata"

local HEADER = "X-Cartwright-Webhook-Secret"
local SCOPES = { "store/order/created", "store/order/updated", "store/order/statusUpdated" }

-- verify(cart, headers, raw_body) -> true | nil, why
local function verify(cart, headers)
  return sig.shared(cart, headers, HEADER:lower())
end

-- register(ctx, url, secret) -> true | nil, err
local function register(ctx, url, secret)
  local host = (ctx.cart.url or "https://api.bigcommerce.com"):gsub("/+$", "")
  -- each POST once: a retry after the store made the hook would make it twice
  local once = setmetatable({ cart = setmetatable({ max_attempts = 1 }, { __index = ctx.cart }) }, { __index = ctx })
  local hooks = host .. "/stores/" .. ctx.cart.store_hash .. "/v3/hooks"
  for _, scope in ipairs(SCOPES) do
    local what = "create hook " .. scope
    local res, err = once:request{ method = "POST", url = hooks,
      headers = { ["X-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json",
        ["Content-Type"] = "application/json" },
      body = json.encode({ scope = scope, destination = url, is_active = true, headers = { [HEADER] = secret } }) }
    local ok, oerr = cd.ok_response(ctx, what, res, err)
    if not ok then return nil, oerr end
  end
  return true
end

return { verify = verify, register = register, scopes = SCOPES, header = HEADER }
