-- Sample normalized orders for `cartwright rules check`: one per connector, plus the awkward
-- cases a rule must survive (no shipping code, an empty line list, a cancelled order).
local M = {}

local function order(connector, over)
  local o = {
    external_id = "1001", number = "1001", cart_status = "open", payment_status = "paid",
    created_at = "2026-01-05T10:00:00Z", updated_at = "2026-01-05T10:05:00Z", currency = "USD",
    totals = { total = "54.90", subtotal = "39.90", tax = "0.00", shipping = "15.00", discount = "0.00" },
    customer = { email = "ann@example.com", first_name = "Ann", last_name = "Lee" },
    billing = { name = "Ann Lee", address1 = "1 Main St", city = "Austin", region = "TX", postal_code = "78701", country = "US" },
    shipping = { name = "Ann Lee", address1 = "1 Main St", city = "Austin", region = "TX", postal_code = "78701",
                 country = "US", code = "Standard", title = "Standard Shipping", price = "15.00" },
    lines = { { external_id = "1", sku = "MUG-RED", name = "Red mug", quantity = 2, price = "19.95", tax = "0.00", properties = {} } },
    custom_fields = {}, discounts = {},
  }
  for k, v in pairs(over or {}) do o[k] = v end
  return { connector = connector, order = o }
end

function M.all()
  return {
    order("shopify"),
    order("shopify", { cart_status = "cancelled", payment_status = "voided" }),
    order("bigcommerce", { cart_status = "Awaiting Fulfillment", payment_status = "captured" }),
    order("woocommerce", { cart_status = "processing", lines = {} }),
    order("woocommerce", { cart_status = "on-hold", shipping = { code = nil } }),
  }
end

return M
