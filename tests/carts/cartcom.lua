-- The Cart.com simulator as the cross-cart suites see it (tests/sim/cartcom.lua): its default
-- credentials, the statuses to download, and what the cart holds for a SKU or an order, read
-- from its /_sim/ endpoints. The functions run inside `cartwright run` tests.

local get = require("carts.common").get

return {
  connector = "cartcom",
  settings = 'token = "ac_test",',
  -- every status of the simulator's store
  statuses = { "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined", "Partially Shipped",
    "Back Ordered", "Refunded", "On Hold" },
  open = { "Pending Processing", "Awaiting Payment", "Partially Shipped", "Back Ordered", "On Hold" },
  cancel = "cancelled",
  -- the suites run a Gold store (50 calls per 10 s): Steel's 5 would make a connector check of
  -- 14 orders take minutes
  sim_args = { "--plan", "gold" },
  check_orders = 14,
  -- the store keeps one figure per product or variant
  figure = function(sim_url, sku)
    local all = get(sim_url .. "/_sim/stock")
    local v = all and all[sku]
    return type(v) == "number" and math.tointeger(v) or nil
  end,
  shipments = function(sim_url, external_id)
    local out = {}
    for _, s in ipairs(get(sim_url .. "/_sim/shipments/" .. external_id) or {}) do
      out[#out + 1] = { tracking = s.tracking_numbers, carrier = s.shipping_provider_name }
    end
    return out
  end,
  -- the order's status name at the store
  status = function(sim_url, external_id)
    local o = get(sim_url .. "/_sim/orders/" .. external_id)
    if not o then return nil end
    local names = { "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined", "Partially Shipped",
      "Back Ordered", "Refunded", "On Hold" }
    return names[math.tointeger(o.order_status_id)]
  end,
}
