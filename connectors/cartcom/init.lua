-- Cart.com Online Store, formerly AmeriCommerce (REST API v1): the settings a store is configured
-- with, where its requests may go, its rate limit and what the connector does (orders:
-- orders.lua; stock: stock.lua; shipments and status out: shipments.lua; webhooks:
-- webhooks.lua; all call the API through api.lua). Contract: docs/connectors.md.
local sig = require "cartwright.webhook_sig"
local api = require "connectors.cartcom.api"

return {
  name = "cartcom", api_version = "v1",
  schema = {
    url = { type = "string", required = true,
      description = "the store's address, e.g. `https://shop.example` (`https://` is added when missing);"
        .. " the API answers at `{url}/api/v1/`" },
    token = { type = "string", required = true, secret = true,
      description = "API access token (`X-AC-Auth-Token`) of a custom app (Tools > Apps & Addons > API Apps &"
        .. " Integrations, the app's Tokens): scopes `read_orders` and `read_people` (customers' emails); `orders` to send"
        .. " shipments and statuses; `catalog` for stock; `system` to register webhooks" },
    currency = { type = "string", default = "USD", check = function(v)
        if v:match("^%u%u%u$") then return true end
        return nil, "must be an ISO 4217 code such as \"USD\""
      end,
      description = "the store's currency (ISO 4217): Cart.com orders do not name theirs" },
    customers = { type = "boolean", default = true,
      description = "read each order's customer (for the email) with `customers/select_many`, one call per page"
        .. " of orders; it needs the token's `read_people` scope. `false` leaves the email out" },
    webhook_secret = sig.setting("a secret of your choice; `cartwright webhooks register` puts it in the"
      .. " webhook URLs' query (`?key=`), since Cart.com signs nothing"),
  },
  -- the smallest plan's limit (Steel: 5 calls per 10 s); the store's X-AC-Call-Limit resizes it
  rate = { capacity = 5, per_second = 0.5 },
  intervals = { orders = 300 }, -- `serve` default: webhooks bring orders at once; the Steel plan's 5 calls per 10 s are dear
  origin = api.store_url,
  capabilities = { orders = true, stock = true, shipments = true, webhooks = true },
}
