-- A tiny cart for the shipments flow's tests (tests/connectors/shiptest): N orders, each with
-- lines L1 (SKU A x3) and L2 (SKU B x2) in status "open"; shipments and statuses per order.
--   build/cartwright run tests/ship/serve.lua N
-- prints "ship cart listening on http://127.0.0.1:PORT". The cart's API:
--   GET  /orders                 every order
--   POST /orders/{id}/shipments  { carrier, tracking, url, service, notify, lines = { { id, quantity } } }
--   GET  /orders/{id}/shipments  the order's shipments
--   PUT  /orders/{id}/status     { status, notify }      GET /orders/{id}/status -> { status }
-- Control (JSON): POST /_t/fail { status, count, after_apply, message }: the next `count` writes
-- answer `status` (after applying them with after_apply); POST /_t/hang { seconds }: the next
-- write is applied, then answered after `seconds`; GET /_t/state { shipments = { [id] = list },
-- statuses = { [id] = status }, ship_requests, status_requests, find_requests, notify = { … } }.
local httpd = require "cartwright.httpd"
local task = require "cartwright.task"
local json = require "cjson.safe"

local n = tonumber((...)) or 1
local orders, shipments, statuses = {}, {}, {}
for i = 1, n do
  orders[i] = { id = i, updated_at = string.format("2026-01-01T00:00:%02dZ", i % 60),
                lines = { { id = "L1", sku = "A", qty = 3 }, { id = "L2", sku = "B", qty = 2 } } }
  shipments[tostring(i)], statuses[tostring(i)] = {}, "open"
end
local st = { ship_requests = 0, status_requests = 0, find_requests = 0, notify = {} }
local fail, hang = { count = 0 }, 0
local next_id = 100

local function answer(v, status)
  return { status = status or 200, headers = { ["Content-Type"] = "application/json" }, body = json.encode(v) }
end

-- A write: refused before, or applied then failed or delayed, as the controls say.
local function write(apply)
  if fail.count > 0 and not fail.after_apply then
    fail.count = fail.count - 1
    return answer({ error = fail.message or "injected" }, fail.status)
  end
  local v = apply()
  if fail.count > 0 then
    fail.count = fail.count - 1
    return answer({ error = fail.message or "injected" }, fail.status)
  end
  if hang > 0 then
    local s = hang
    hang = 0
    task.sleep(s)
  end
  return answer(v)
end

local function handler(req)
  local body = json.decode(req.body or "") or {}
  local id, what = req.path:match("^/orders/(%d+)/(%a+)$")
  if req.path == "/orders" then
    return answer(orders)
  elseif what == "shipments" and req.method == "POST" then
    st.ship_requests = st.ship_requests + 1
    st.notify[#st.notify + 1] = body.notify
    return write(function()
      next_id = next_id + 1
      local sh = { id = next_id, carrier = body.carrier, tracking = body.tracking, url = body.url, service = body.service,
                   lines = body.lines }
      table.insert(shipments[id], sh)
      return sh
    end)
  elseif what == "shipments" then
    st.find_requests = st.find_requests + 1
    return answer(shipments[id] or {})
  elseif what == "status" and req.method == "PUT" then
    st.status_requests = st.status_requests + 1
    return write(function()
      statuses[id] = body.status
      return { status = body.status }
    end)
  elseif what == "status" then
    return answer{ status = statuses[id] }
  elseif req.path == "/_t/fail" then
    fail = { status = body.status, count = body.count, after_apply = body.after_apply, message = body.message }
    return answer{}
  elseif req.path == "/_t/hang" then
    hang = body.seconds
    return answer{}
  elseif req.path == "/_t/state" then
    st.shipments, st.statuses = shipments, statuses
    return answer(st)
  end
  return answer({ error = "not found" }, 404)
end

local srv = assert(httpd.listen{ port = 0, handler = handler })
io.stdout:write("ship cart listening on http://127.0.0.1:" .. srv.port .. "\n")
io.stdout:flush()
