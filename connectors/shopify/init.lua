-- Shopify (Admin REST API): the settings a Shopify cart is configured with, where its requests
-- may go, its rate limit and what the connector does (orders: orders.lua).
-- Contract: docs/connectors.md.

local API_VERSION = "2025-01"

-- The shop's address as configured, https:// added when missing: also its origin, the only
-- one ctx:request sends the token to.
local function shop_url(cart)
  local url = cart.url:gsub("/+$", "")
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return url
end

return {
  name = "shopify", api_version = API_VERSION,
  schema = {
    url = { type = "string", required = true,
      description = "the shop's address, e.g. `https://acme.myshopify.com` (`https://` is added when missing)" },
    token = { type = "string", required = true, secret = true,
      description = "Admin API access token of a custom app (`shpat_…`) with `read_orders`" },
    api_version = { type = "string", default = API_VERSION,
      description = "Admin API version in the URL (`YYYY-MM`); Shopify answers with the one it used" },
  },
  rate = { capacity = 40, per_second = 2 }, -- Standard plan leaky bucket; Plus shops allow more
  origin = shop_url, -- "acme.myshopify.com" means https://acme.myshopify.com
  capabilities = { orders = true },
}
