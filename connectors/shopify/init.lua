-- Shopify (Admin REST API for orders, GraphQL for stock): the settings a Shopify cart is
-- configured with, where its requests may go, its rate limit and what the connector does
-- (orders: orders.lua; stock: stock.lua and shipments: shipments.lua over graphql.lua; access tokens by the
-- client-credentials grant: token.lua).
-- Contract: docs/connectors.md.
local sig = require "cartwright.webhook_sig"

-- The version asked for unless the cart sets api_version. Shopify supports each version for
-- about a year and serves a retired one as its oldest supported version (orders.lua warns).
local API_VERSION = "2026-10"

-- The shop's address as configured, https:// added when missing: also its origin, the only
-- one ctx:request sends the token (and the client secret) to.
local function shop_url(cart)
  local url = cart.url:gsub("/+$", "")
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return url
end

-- "2026-10": a year and a month, the form of Shopify's versions.
local function version(v)
  local y, m = v:match("^(%d%d%d%d)%-(%d%d)$")
  m = tonumber(m)
  if not y or m < 1 or m > 12 then return nil, "must be a version written YYYY-MM, e.g. \"" .. API_VERSION .. "\"" end
  return true
end

-- Exactly one way to authenticate: a static token, or the app's client_id and client_secret.
local function check_settings(cart)
  local static, id, secret = cart.token ~= nil, cart.client_id ~= nil, cart.client_secret ~= nil
  if static and (id or secret) then
    return nil, "set either token or client_id and client_secret, not both"
  end
  if id ~= secret then
    return nil, (id and "client_id needs client_secret" or "client_secret needs client_id") .. " (both come from"
      .. " the app's settings in the Dev Dashboard)"
  end
  if not static and not id then
    return nil, "needs credentials: token (an Admin API access token, shpat_…) or client_id and client_secret"
      .. " (an app from the Dev Dashboard)"
  end
  return true
end

return {
  name = "shopify", api_version = API_VERSION,
  schema = {
    webhook_secret = sig.setting("the app's client secret Shopify signs webhooks with (`X-Shopify-Hmac-Sha256`); when unset, `client_secret`"),
    url = { type = "string", required = true,
      description = "the shop's address, e.g. `https://acme.myshopify.com` (`https://` is added when missing)" },
    token = { type = "string", secret = true,
      description = "Admin API access token of a custom app (`shpat_…`) with `read_orders` (for"
        .. " `sync_inventory` also `read_products`, `read_locations`, `read_inventory` and `write_inventory`; to send"
        .. " shipments `write_merchant_managed_fulfillment_orders`, to cancel `write_orders`; the same scopes for an"
        .. " app's `client_id`). Set either `token` or `client_id` and `client_secret`" },
    client_id = { type = "string", secret = true,
      description = "client ID of an app from the Dev Dashboard (apps made since 2026), with `client_secret`:"
        .. " Cartwright gets access tokens with them (client-credentials grant), keeps them in memory only and"
        .. " renews them before they expire (24 h)" },
    client_secret = { type = "string", secret = true,
      description = "client secret of that app, with `client_id`; read it with `env \"NAME\"`" },
    api_version = { type = "string", default = API_VERSION, check = version,
      description = "Admin API version in the URL (`YYYY-MM`). Shopify serves a retired one as its oldest"
        .. " supported version; Cartwright then logs a warning naming both, once per run" },
  },
  check_settings = check_settings, -- the settings together, after each one's own checks
  rate = { capacity = 40, per_second = 2 }, -- Standard plan leaky bucket; Plus shops allow more
  intervals = { orders = 300 }, -- `serve` defaults: webhooks bring orders at once; the poll is the safety net
  origin = shop_url, -- "acme.myshopify.com" means https://acme.myshopify.com
  capabilities = { orders = true, stock = true, shipments = true, webhooks = true },
}
