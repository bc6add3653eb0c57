-- PrestaShop 8 (webservice, /api/): the settings a PrestaShop shop is configured with, where its
-- requests may go, its rate limit and what the connector does (orders: orders.lua, stock:
-- stock.lua, shipments and status: shipments.lua; all call the webservice through api.lua).
-- PrestaShop has no webhooks in core: the scheduled poll is the only way in. Contract:
-- docs/connectors.md; merchant's page: docs/carts/prestashop.md.
local checks = require "cartwright.schema"
local tz = require "connectors.prestashop.tz"

-- The shop's address as configured, https:// added when missing: also its origin, the only
-- one ctx:request sends the key to. A shop in a folder keeps its path (…/shop/api/).
local function store_url(cart)
  local url = cart.url:gsub("/+$", "")
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return url
end

return {
  name = "prestashop", api_version = "webservice",
  schema = {
    url = { type = "string", required = true,
      description = "the shop's address, e.g. `https://shop.example` (or `https://example.com/shop` for a shop in a"
        .. " folder); the webservice answers under `/api/` there (friendly URLs on)" },
    key = { type = "string", required = true, secret = true,
      check = function(v)
        if #v ~= 32 or not v:match("^[%w]+$") then return nil, "must be the 32-letter webservice key" end
        return true
      end,
      description = "webservice key (Advanced Parameters > Webservice > Add new webservice key): 32 letters and digits;"
        .. " see docs/carts/prestashop.md for the permissions each flow needs" },
    timezone = { type = "string", required = true,
      check = function(v)
        local z, why = tz.zone(v)
        if not z then return nil, why end
        return true
      end,
      description = "the shop's time zone as in International > Localization > Configuration (`Europe/Paris`), or"
        .. " a fixed offset (`+01:00`): PrestaShop writes its dates in it without saying so, and the"
        .. " connection test checks it against the shop's" },
    id_shop = { type = "number", check = checks.number_between(1, 1000000, true),
      description = "multistore only: the shop whose orders and stock this cart is (`id_shop`); unset = the default shop" },
  },
  rate = { capacity = 10, per_second = 5 }, -- no limit in core; hosts and WAFs throttle: 5 a second, bursts of 10
  intervals = { orders = 60 }, -- `serve` default: no webhooks in core, the poll is the only way in
  origin = store_url,
  capabilities = { orders = true, stock = true, shipments = true },
}
