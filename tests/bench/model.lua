-- Benchmark: cartwright.orders.model.check on normalized Shopify orders (the simulator's
-- realistic orders, decoded and normalized as the import does), in CPU µs per order; and
-- normalize itself for scale. Usage: cartwright run tests/bench/model.lua [ORDERS [ROUNDS]]
local task = require "cartwright.task"
local jraw = require "cartwright.jsonraw"
local model = require "cartwright.orders.model"
local conn = assert(require("cartwright.carts").connector("shopify"))

local n = tonumber(arg and arg[1]) or 100
local rounds = tonumber(arg and arg[2]) or 200
local sim = require("sim.shopify").start{ port = 0, orders = n, seed = 3, rate = false }
local docs, orders = {}, {}
for i, rec in ipairs(sim.records) do
  docs[i] = jraw.decode(rec.json, conn.order_shape)
  orders[i] = assert(conn.normalize({}, docs[i]))
  assert(model.check(orders[i]))
end
sim:close()

-- Each round is a limited call of its own, as the import's work per order is: a run that ends
-- within the budget watchdog's tick never has the instruction hook armed (engine/budget.c),
-- which a long loop in this script's task would have, doubling every figure.
local LIMITS = { instructions = 1e9, memory = 1024 * 1024 * 1024 }
local function per_order(fn, list)
  local best = math.huge
  local function round()
    for i = 1, #list do fn(list[i]) end
  end
  for _ = 1, 5 do
    local c0 = task.cpu()
    for _ = 1, rounds do assert(task.limited_call(LIMITS, round)) end
    best = math.min(best, (task.cpu() - c0) / (rounds * #list) * 1e6)
  end
  return best
end

local lines = 0
for _, o in ipairs(orders) do lines = lines + #o.lines end
print(string.format("%d orders, %.1f lines each", #orders, lines / #orders))
print(string.format("model.check: %.2f µs per order (best of 5 x %d rounds)", per_order(model.check, orders), rounds))
print(string.format("normalize:   %.2f µs per order", per_order(function(d) return conn.normalize({}, d) end, docs)))
