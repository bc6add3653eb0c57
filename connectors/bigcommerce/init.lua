-- BigCommerce (Orders V2, Catalog and Inventory V3): the settings a BigCommerce store is
-- configured with, its rate limit and what the connector does (orders: orders.lua; stock:
-- stock.lua; shipments and status out: shipments.lua). Contract: docs/connectors.md.
local sig = require "cartwright.webhook_sig"
local schema = require "cartwright.schema"

return {
  name = "bigcommerce", api_version = "v2",
  schema = {
    webhook_secret = sig.setting("a secret of your choice; `cartwright webhooks register` gives it to BigCommerce as a header each delivery carries"),
    store_hash = { type = "string", required = true,
      description = "the store hash from the API path (`stores/{store_hash}/…`), e.g. `er6we2l3gw`" },
    token = { type = "string", required = true, secret = true,
      description = "store-level API account access token (`X-Auth-Token`) with Orders read (Orders modify to send"
        .. " shipments and statuses);"
        .. " for stock also Products read-only and Store Inventory modify" },
    url = { type = "string", default = "https://api.bigcommerce.com",
      description = "API host; change it only for a simulator or a proxy" },
    concurrency = { type = "number", default = 4, check = schema.number_between(1, 64, true),
      description = "per-order detail requests (products, addresses, coupons) in flight at once (1 to 64);"
        .. " they all share `rate_limit`" },
  },
  rate = { capacity = 150, per_second = 5 }, -- Standard/Plus quota: 150 requests per 30 s
  intervals = { orders = 300 }, -- `serve` defaults: webhooks bring orders at once; the poll is the safety net
  capabilities = { orders = true, stock = true, shipments = true, webhooks = true },
}
