-- Benchmark: API calls per 1,000 orders and the time of a first import of 1,000 orders, per
-- connector, with each cart's default plan rate limit (the simulator enforces it, Cartwright uses
-- its connector's default bucket and what the cart announces: no rate_limit setting).
-- Each cart's simulator is `cartwright sim CART` in a process of its own; each import is
-- `cartwright import --json` in a fresh process and database, every status downloaded so each
-- listed order is imported. Calls are counted by the simulator (GET /_sim/stats).
-- Targets (issue 10): Shopify 4, WooCommerce 10, BigCommerce 5 or fewer calls per 1,000 orders.
-- Usage: cartwright run tests/bench/calls.lua [N]
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"

local n = tonumber(arg and arg[1]) or 1000
local bin = os.getenv("CW_BIN") or "build/cartwright"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end

local CARTS = {
  { name = "shopify", target = 4, batch = 250, settings = 'token = "shpat_test"',
    statuses = '{ "open", "closed", "cancelled" }' },
  { name = "bigcommerce", target = 5, batch = 250, settings = 'token = "bc_test", store_hash = "abc123"',
    statuses = '{ "Pending", "Shipped", "Partially Shipped", "Refunded", "Cancelled", "Declined", "Awaiting Payment",'
      .. ' "Awaiting Pickup", "Awaiting Shipment", "Completed", "Awaiting Fulfillment",'
      .. ' "Manual Verification Required", "Disputed", "Partially Refunded" }' },
  { name = "woocommerce", target = 10, batch = 100, settings = 'consumer_key = "ck_test", consumer_secret = "cs_test"',
    statuses = '{ "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft" }' },
  -- pages of 250: the orders with their items, two addresses calls (ship-to and bill-to, 250 ids each), one
  -- customers call (+ the statuses once)
  { name = "cartcom", target = 17, batch = 250, settings = 'token = "ac_test"',
    statuses = '{ "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined", "Partially Shipped",'
      .. ' "Back Ordered", "Refunded", "On Hold" }' },
  -- per page of 100: the orders, their customers and their addresses (batched by id), plus
  -- countries, regions, carriers, currencies and states the run has not seen yet
  { name = "prestashop", target = 40, batch = 100,
    settings = 'key = "PS8SIMKEY0000000000000000000TEST", timezone = "+01:00"',
    statuses = '{ "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13" }' },
  { name = "magento", target = 4, batch = 300,
    settings = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats"',
    statuses = '{ "pending", "pending_payment", "processing", "complete", "closed", "canceled", "holded",'
      .. ' "payment_review", "fraud" }' },
}

local function start_sim(cart)
  local out = string.format("%s/%s.out", dir, cart)
  os.execute(string.format("%s sim %s --orders %d --seed 11 --port 0 >%s 2>%s/%s.err & echo $! >%s/%s.pid",
    bin, cart, n, out, dir, cart, dir, cart))
  for _ = 1, 400 do -- bounded: 20 s
    local url = slurp(out):match("listening on (http://[%d.:]+)")
    if url then return url end
    task.sleep(0.05)
  end
  error(cart .. " simulator did not start: " .. slurp(dir .. "/" .. cart .. ".err"))
end

local function stats(url)
  local res = assert(http.request{ url = url .. "/_sim/stats" })
  return assert(json.decode(res.body))
end

print(string.format("first import of %d orders per cart, at each cart's default plan rate (the simulator enforces it):", n))
for _, c in ipairs(CARTS) do
  local url = start_sim(c.name)
  local cfg = string.format("%s/%s.lua", dir, c.name)
  local f = assert(io.open(cfg, "w"))
  f:write(string.format('db = %q\ncart "bench" { connector = %q, url = %q, %s,\n  batch_size = %d, download_statuses = %s }\n',
    dir .. "/" .. c.name .. ".db", c.name, url, c.settings, c.batch, c.statuses))
  f:close()
  local before = stats(url).requests
  local t0 = task.monotonic()
  local p = io.popen(string.format("%s -c %s import bench --json 2>%s/%s.import.err", bin, cfg, dir, c.name))
  local out = p:read("a")
  p:close()
  local took = task.monotonic() - t0
  local r = json.decode(out:match("{.*}") or "")
  assert(r and r.ok, c.name .. ": import failed: " .. out .. slurp(dir .. "/" .. c.name .. ".import.err"))
  local calls = stats(url).requests - before
  os.execute("kill " .. slurp(dir .. "/" .. c.name .. ".pid"):match("%d+"))
  local per = calls * 1000 / math.max(r.imported, 1)
  print(string.format("%-12s %d orders listed, %d imported, %d API calls: %.1f calls per 1,000 orders (target %d: %s); %.2f s",
    c.name, r.seen, r.imported, calls, per, c.target, per <= c.target and "met" or "NOT MET", took))
end
os.execute("rm -rf " .. dir)
