-- Shipments of the test cart (tests/ship/serve.lua): POST /orders/{id}/shipments, find by
-- tracking number in GET /orders/{id}/shipments, PUT|GET /orders/{id}/status. A 4xx other than
-- 429 is permanent (the cart's message passed on).
local json = require "cjson.safe"

local function call(ctx, method, path, body)
  local res, err = ctx:request{ method = method, url = ctx.origin .. path, body = body and json.encode(body),
                                headers = body and { ["Content-Type"] = "application/json" } or nil }
  if not res then return nil, err end
  if res.status >= 400 then
    local doc = json.decode(res.body) or {}
    return nil, "http " .. res.status .. ": " .. tostring(doc.error), res.status < 500 and res.status ~= 429
  end
  return json.decode(res.body)
end

return {
  ship = function(ctx, order, shipment)
    local lines = {}
    for i, l in ipairs(order.lines) do lines[i] = { id = l.external_id, quantity = l.quantity } end
    local doc, err, permanent = call(ctx, "POST", "/orders/" .. order.external_id .. "/shipments", {
      carrier = shipment.carrier, tracking = shipment.tracking, url = shipment.url, service = shipment.service,
      notify = shipment.notify, lines = lines })
    if not doc then return nil, err, permanent end
    return { id = tostring(doc.id), state = "created" }
  end,
  find = function(ctx, order, shipment)
    local list, err = call(ctx, "GET", "/orders/" .. order.external_id .. "/shipments")
    if not list then return nil, err end
    for _, sh in ipairs(list) do
      if sh.tracking == shipment.tracking then return { id = tostring(sh.id) } end
    end
    return false
  end,
  set_status = function(ctx, order, status, opts)
    local doc, err, permanent = call(ctx, "PUT", "/orders/" .. order.external_id .. "/status",
      { status = status, notify = opts.notify })
    if not doc then return nil, err, permanent end
    return true
  end,
  get_status = function(ctx, order)
    local doc, err = call(ctx, "GET", "/orders/" .. order.external_id .. "/status")
    if not doc then return nil, err end
    return doc.status
  end,
}
