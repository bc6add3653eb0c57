-- Test adapter: the WooCommerce simulator (tests/carts/README.md). A shipment is a core
-- fulfillment, a Shipment Tracking record or an order note, by the cart's `tracking` setting.
local c = require "carts.common"

local function meta(f, key)
  for _, m in ipairs(f.meta_data or {}) do if m.key == key then return c.text(m.value) end end
end

return {
  connector = "woocommerce",
  settings = 'consumer_key = "ck_test", consumer_secret = "cs_test",',
  statuses = { "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft" },
  open = { "pending", "processing", "on-hold" },
  cancel = "cancelled",
  figure = function(url, sku)
    local s = c.get(url .. "/_sim/stock")
    return s and s[sku] or nil
  end,
  shipments = function(url, id)
    local s = c.get(url .. "/_sim/shipments/" .. id) or {}
    local out = {}
    for _, f in ipairs(s.fulfillments or {}) do
      out[#out + 1] = { tracking = meta(f, "_tracking_number"), carrier = meta(f, "_shipment_provider") or meta(f, "_tracking_provider") }
    end
    for _, t in ipairs(s.trackings or {}) do
      out[#out + 1] = { tracking = c.text(t.tracking_number), carrier = c.text(t.tracking_provider) }
    end
    for _, n in ipairs(s.notes or {}) do
      -- "Shipped via UPS Ground, tracking 1Z… (url): …" (connectors/woocommerce/shipments.lua)
      local text = c.text(n.note) or ""
      local number = text:match("tracking ([^%s,;:()]+)")
      if number then out[#out + 1] = { tracking = number, carrier = text:match("^Shipped via (%S+)") } end
    end
    return out
  end,
  status = function(url, id)
    local s = c.get(url .. "/_sim/shipments/" .. id) or {}
    return c.text(s.status)
  end,
}
