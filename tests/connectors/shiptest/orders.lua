-- Orders of the test cart: GET /orders -> [{ id, updated_at, lines = { { id, sku, qty } } }].

return {
  statuses = { open = "payment_received", shipped = "shipped", gone = "cancelled", waiting = "received" },
  default_download_statuses = { "open" },
  fetch_orders = require("connectors.testcart_orders").fetch_orders,
  normalize = function(_, d)
    local lines = {}
    for i, l in ipairs(d.lines) do
      lines[i] = { external_id = l.id, sku = l.sku, quantity = l.qty, price = "1.00", properties = {} }
    end
    return { external_id = tostring(d.id), number = "T" .. d.id, updated_at = d.updated_at, created_at = d.updated_at,
             cart_status = "open", totals = { total = "5.00" }, customer = {}, billing = {}, shipping = {},
             lines = lines, discounts = {}, custom_fields = {} }
  end,
}
