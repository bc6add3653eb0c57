-- The PrestaShop simulator for the cross-cart suites (tests/carts/README.md): its
-- default credentials, the order states to download, and what the cart holds for a SKU or an
-- order, read through the simulator's /_sim/ endpoints.

local sim_get = require("carts.common").get

return {
  connector = "prestashop",
  -- the connector's gentle default (5 calls a second) would make the suites wait: the simulator
  -- has no limit of its own
  settings = 'key = "PS8SIMKEY0000000000000000000TEST", timezone = "+01:00", rate_limit = { capacity = 50, per_second = 50 },',
  -- every fresh-install order state (ids as the connector's cart_status)
  statuses = { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13" },
  -- paid or cash on delivery, not yet shipped
  open = { "2", "3", "9", "11", "13" },
  cancel = "cancelled",
  -- the figure at the cart: the combination's (or the product's) stock_available quantity
  figure = function(sim_url, sku)
    local all = sim_get(sim_url .. "/_sim/stock")
    return all and all[sku:upper()] or nil
  end,
  -- PrestaShop holds one tracking number per order carrier
  shipments = function(sim_url, external_id)
    local s = sim_get(sim_url .. "/_sim/shipments/" .. external_id)
    local oc = s and s.order_carrier
    if not oc or oc.tracking_number == "" then return {} end
    return { { tracking = oc.tracking_number, carrier = oc.carrier } }
  end,
  -- the order's current state id, as text
  status = function(sim_url, external_id)
    local s = sim_get(sim_url .. "/_sim/shipments/" .. external_id)
    return s and string.format("%d", s.current_state) or nil
  end,
}
