-- Test adapter: the Shopify simulator (tests/carts/README.md).
local c = require "carts.common"

return {
  connector = "shopify",
  settings = 'token = "shpat_test",',
  statuses = { "open", "closed", "cancelled" },
  open = { "open" },
  cancel = "cancelled",
  sim_args = { "--plan", "plus" }, -- 400 @ 20/s: the suites' many listings do not wait on the bucket
  figure = function(url, sku)
    local s = c.get(url .. "/_sim/stock")
    if not s then return nil end
    for _, l in ipairs(s.locations or {}) do
      if l.primary then return ((s.stock or {})[sku] or {})[l.id] end
    end
  end,
  shipments = function(url, id)
    local s = c.get(url .. "/_sim/shipments/" .. id) or {}
    local out = {}
    for i, f in ipairs(s.fulfillments or {}) do
      out[i] = { tracking = c.text(f.tracking_number), carrier = c.text(f.tracking_company) }
    end
    return out
  end,
  status = function(url, id)
    local o = c.get(url .. "/_sim/orders/" .. id) or {}
    if c.text(o.cancelled_at) then return "cancelled" end
    return c.text(o.fulfillment_status) or (c.text(o.closed_at) and "closed") or "open"
  end,
}
