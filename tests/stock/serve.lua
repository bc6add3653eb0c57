-- A tiny cart for the stock flow's tests (tests/connectors/stocktest): products by SKU with a
-- stock figure, orders that lower it (as carts do), and faults.
--   build/cartwright run tests/stock/serve.lua SKU,SKU,… QTY
-- prints "stock cart listening on http://127.0.0.1:PORT". Control (JSON):
--   POST /_t/order { sku, qty }   a sale at the cart: an order, and its figure lowered
--   POST /_t/fail { status, count } the next `count` pushes answer `status`
--   POST /_t/hang { seconds }     the next push is applied, then answered after `seconds`
--   GET  /_t/state                { stock = { [sku] = n }, pushes, lookups, reads, batches = { sizes }, keys = { … } }
local httpd = require "cartwright.httpd"
local task = require "cartwright.task"
local json = require "cjson.safe"

local args = { ... }
local stock, by_id, ids = {}, {}, {}
local n = 0
for sku in (args[1] or ""):gmatch("[^,]+") do
  n = n + 1
  stock[sku], by_id[n], ids[sku] = tonumber(args[2]) or 0, sku, n
end
local orders = {}
local st = { pushes = 0, lookups = 0, reads = 0, batches = {}, keys = {} }
local fail, hang = { status = 0, count = 0 }, 0

local function answer(v, status) return { status = status or 200, headers = { ["Content-Type"] = "application/json" }, body = json.encode(v) } end

local function handler(req)
  local body = json.decode(req.body or "") or {}
  if req.path == "/orders" then
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = #orders == 0 and "[]" or json.encode(orders) }
  elseif req.path == "/_t/order" then
    stock[body.sku] = stock[body.sku] - body.qty
    orders[#orders + 1] = { id = #orders + 1, sku = body.sku, qty = body.qty,
                            updated_at = string.format("2026-01-01T00:00:%02dZ", #orders % 60) }
    return answer{ id = #orders }
  elseif req.path == "/_t/fail" then
    fail = { status = body.status, count = body.count }
    return answer{}
  elseif req.path == "/_t/hang" then
    hang = body.seconds
    return answer{}
  elseif req.path == "/_t/state" then
    st.stock = stock
    return answer(st)
  elseif req.path == "/stock/lookup" then
    st.lookups = st.lookups + 1
    local refs, missing = {}, {}
    for _, s in ipairs(body.skus) do
      if ids[s] then refs[s] = ids[s] else missing[#missing + 1] = s end
    end
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = json.encode{ refs = refs, missing = missing } }
  elseif req.path == "/stock/read" then
    st.reads = st.reads + 1
    local figs = {}
    for i, id in ipairs(body.ids) do figs[i] = stock[by_id[id]] end
    return answer{ figures = figs }
  elseif req.path == "/stock/push" then
    st.pushes = st.pushes + 1
    if fail.count > 0 then
      fail.count = fail.count - 1
      return answer({ error = "injected" }, fail.status)
    end
    st.batches[#st.batches + 1] = #body.items
    st.keys[#st.keys + 1] = req.headers["idempotency-key"]
    for _, it in ipairs(body.items) do stock[by_id[it.id]] = it.quantity end
    if hang > 0 then
      local s = hang
      hang = 0
      task.sleep(s)
    end
    return answer{ ok = true }
  end
  return answer({ error = "not found" }, 404)
end

local srv = assert(httpd.listen{ port = 0, handler = handler })
io.stdout:write("stock cart listening on http://127.0.0.1:" .. srv.port .. "\n")
io.stdout:flush()
