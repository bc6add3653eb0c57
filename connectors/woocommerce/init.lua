-- WooCommerce (REST API wc/v3): the settings a WooCommerce store is configured with, its rate
-- limit and what the connector does (orders: orders.lua, stock: stock.lua, shipments: shipments.lua;
-- all call the API through api.lua). Contract: docs/connectors.md.
local sig = require "cartwright.webhook_sig"

return {
  name = "woocommerce", api_version = "wc/v3",
  schema = {
    webhook_secret = sig.setting("a secret of your choice; `cartwright webhooks register` sets it on the store's webhooks, which sign each delivery with it (`X-WC-Webhook-Signature`)"),
    url = { type = "string", required = true,
      description = "the store address exactly as WordPress has it (Settings > General), e.g."
        .. " `https://shop.example`; OAuth signs it" },
    consumer_key = { type = "string", required = true, secret = true,
      description = "REST API consumer key (`ck_…`); Read access is enough" },
    consumer_secret = { type = "string", required = true, secret = true,
      description = "REST API consumer secret (`cs_…`)" },
    auth = { type = "string", default = "auto", enum = { "auto", "basic", "oauth", "query" },
      description = "how requests carry the keys: `auto` is HTTP Basic over `https` and OAuth 1.0a over"
        .. " `http`; `query` puts them in the query string, for hosts that drop the `Authorization`"
        .. " header (the secret then appears in the host's access logs)" },
    permalinks = { type = "string", default = "auto", enum = { "auto", "pretty", "plain" },
      description = "where the REST API answers: `pretty` at `{url}/wp-json/wc/v3/…`, `plain` at"
        .. " `{url}/?rest_route=/wc/v3/…` (a site whose Settings > Permalinks is Plain); `auto`"
        .. " tries `/wp-json/` and, when it gets a page that is not the API's (a 404), `?rest_route=`" },
    tracking = { type = "string", default = "auto", enum = { "auto", "fulfillments", "shipment_tracking", "note" },
      description = "where a shipment's carrier and tracking number go: `fulfillments` = the core Order"
        .. " Fulfillments API (WooCommerce 10.2+, feature enabled); `shipment_tracking` = the Shipment"
        .. " Tracking extension; `note` = an order note (a customer note, emailed, unless suppress_emails);"
        .. " `auto` = fulfillments when the site answers them, else a note" },
  },
  -- no limit in core; hosts and WAFs throttle: 5 a second on average, bursts of 10 (a sale's
  -- stock push is a read and a batch per product family: tests/bench/oversell.lua)
  rate = { capacity = 10, per_second = 5 },
  intervals = { orders = 120 }, -- `serve` defaults: WooCommerce disables a webhook after 5 failed deliveries: poll more often
  capabilities = { orders = true, stock = true, shipments = true, webhooks = true },
}
