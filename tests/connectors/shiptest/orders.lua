-- Orders of the test cart: GET /orders -> [{ id, updated_at, lines = { { id, sku, qty } } }].
local jraw = require "cartwright.jsonraw"

return {
  statuses = { open = "payment_received", shipped = "shipped", gone = "cancelled", waiting = "received" },
  default_download_statuses = { "open" },
  fetch_orders = function(ctx, _, page)
    local res, err = ctx:request{ url = ctx.origin .. "/orders" }
    if not res then return nil, err end
    if res.status ~= 200 then return nil, "HTTP " .. res.status end
    local raws = jraw.array(res.body)
    local docs = {}
    for i, r in ipairs(raws) do docs[i] = jraw.decode(r) end
    if #raws > 0 then
      local ok, perr = page(raws, docs)
      if not ok then return nil, perr end
    end
    return true
  end,
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
