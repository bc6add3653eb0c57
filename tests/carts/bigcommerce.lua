-- Test adapter: the BigCommerce simulator (tests/carts/README.md).
local c = require "carts.common"

return {
  connector = "bigcommerce",
  settings = 'token = "bc_test", store_hash = "abc123",',
  statuses = { "Pending", "Shipped", "Partially Shipped", "Refunded", "Cancelled", "Declined", "Awaiting Payment",
    "Awaiting Pickup", "Awaiting Shipment", "Completed", "Awaiting Fulfillment", "Manual Verification Required",
    "Disputed", "Partially Refunded" },
  open = { "Pending", "Awaiting Payment", "Awaiting Fulfillment", "Awaiting Shipment", "Awaiting Pickup" },
  cancel = "cancelled",
  check_orders = 8, -- connector check: 3 sub-requests an order inside the simulator's 150 per 30 s
  sim_args = { "--plan", "pro" }, -- the suites' calls inside 450 per 30 s: no quota waits
  figure = function(url, sku)
    local s = c.get(url .. "/_sim/stock")
    local per = s and s[sku]
    return type(per) == "table" and per["1"] or nil
  end,
  shipments = function(url, id)
    local out = {}
    for i, sh in ipairs(c.get(url .. "/_sim/shipments/" .. id) or {}) do
      out[i] = { tracking = c.text(sh.tracking_number), carrier = c.text(sh.tracking_carrier) }
    end
    return out
  end,
  status = function(url, id)
    local o = c.get(url .. "/_sim/orders/" .. id) or {}
    return c.text(o.status)
  end,
}
