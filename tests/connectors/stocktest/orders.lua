-- Orders of the test cart: GET /orders -> [{ id, sku, qty, updated_at }] in one page.

return {
  statuses = { "open" },
  default_download_statuses = { "open" },
  fetch_orders = require("connectors.testcart_orders").fetch_orders,
  normalize = function(_, d)
    return { external_id = tostring(d.id), number = tostring(d.id), updated_at = d.updated_at, created_at = d.updated_at,
             cart_status = "open", totals = { total = "1.00" }, customer = {}, billing = {}, shipping = {},
             lines = { { sku = d.sku, quantity = d.qty, price = "1.00", properties = {} } }, discounts = {}, custom_fields = {} }
  end,
}
