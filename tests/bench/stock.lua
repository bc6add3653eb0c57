-- Benchmark: stock out.
-- 1. Per cart, 10,000 mapped SKUs: the first sync (id look-ups and every figure), then 137 of
--    them changed: API calls (counted by the simulator) and wall time. The changed push must
--    take ceil(137 / the API's batch maximum) push calls and no look-up.
-- 2. The three carts syncing one stock: an order placed at one cart and imported; the time from
--    the import's commit to the new figures accepted by the other two (p50, p99 over ROUNDS;
--    target p99 < 250 ms on this machine).
-- Each simulator is a process of its own; the engine runs here, in this process (ops.*).
-- Usage: cartwright --log-level warn run tests/bench/stock.lua [SKUS [ROUNDS]]
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local config = require "cartwright.config"
local ops = require "cartwright.ops"
local ops_import = require "cartwright.ops.import"
local ops_stock = require "cartwright.ops.stock"

local nskus = tonumber(arg and arg[1]) or 10000
local rounds = tonumber(arg and arg[2]) or 40
local CHANGED = 137
local bin = os.getenv("CW_BIN") or "build/cartwright"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end

local CARTS = {
  shopify = { prefix = "STK-%05d", batch = 250, settings = 'token = "shpat_test"' },
  bigcommerce = { prefix = "BULK-%05d", batch = 2000, settings = 'token = "bc_test", store_hash = "abc123"' },
  woocommerce = { prefix = "SIMPLE-%04d", batch = 100, settings = 'consumer_key = "ck_test", consumer_secret = "cs_test"' },
}
local ORDER = { "shopify", "bigcommerce", "woocommerce" }

local function start(script_args, name)
  local out = dir .. "/" .. name .. ".out"
  os.execute(string.format("%s %s >%s 2>%s.err & echo $! >%s/%s.pid", bin, script_args, out, out, dir, name))
  for _ = 1, 600 do -- bounded: 30 s
    local url = slurp(out):match("(http://127%.0%.0%.1:%d+)")
    if url then return url end
    task.sleep(0.05)
  end
  error(name .. " simulator did not start: " .. slurp(out .. ".err"))
end
local function stop(name) os.execute("kill " .. (slurp(dir .. "/" .. name .. ".pid"):match("%d+") or "0")) end

local function get(url)
  local res = assert(http.request{ url = url })
  return assert(json.decode(res.body))
end
local function counts(url)
  local s = get(url .. "/_sim/stats")
  return { push = s.stock_push_requests or 0, lookup = s.stock_lookup_requests or 0, read = s.stock_read_requests or 0,
           all = s.requests or 0 }
end
local function delta(a, b) return { push = b.push - a.push, lookup = b.lookup - a.lookup, read = b.read - a.read, all = b.all - a.all } end

local function session(path, body)
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  return ops.session(assert(config.load(path)))
end

local function set_rows(s, rows)
  local db = assert(s:open())
  assert(db:transaction(function()
    for _, r in ipairs(rows) do assert(db:stock_set(r)) end
    return true
  end))
end

---------------------------------------------------------------- 1. 10,000 SKUs, 137 changed
print(string.format("stock push, %d mapped SKUs per cart, then %d changed (calls counted by the simulator):", nskus, CHANGED))
for _, name in ipairs(ORDER) do
  local c = CARTS[name]
  local url = start(string.format("run tests/bench/stock_sim.lua %s %d", name, nskus), name)
  local s = session(string.format("%s/%s.lua", dir, name), string.format(
    'db = %q\ncart "c" { connector = %q, url = %q, %s, sync_inventory = true, rules = { "order_prefix" } }\n',
    dir .. "/" .. name .. ".db", name, url, c.settings))
  local rows = {}
  for i = 1, nskus do rows[i] = { sku = string.format(c.prefix, i), warehouse = "main", on_hand = 40 + i % 7 } end
  set_rows(s, rows)
  local c0, t0 = counts(url), task.monotonic()
  local r1 = assert(ops_stock.push(s, { "c" }, {}))[1]
  local first, c1 = task.monotonic() - t0, counts(url)
  local changed = {}
  for i = 1, CHANGED do changed[i] = { sku = string.format(c.prefix, i * 71 % nskus + 1), warehouse = "main", on_hand = 7 } end
  set_rows(s, changed)
  local t1 = task.monotonic()
  local r2 = assert(ops_stock.push(s, { "c" }, {}))[1]
  local second, c2 = task.monotonic() - t1, counts(url)
  local d1, d2 = delta(c0, c1), delta(c1, c2)
  local want = math.ceil(CHANGED / c.batch)
  -- WooCommerce has no compare: each push first reads the figures, by SKU lists, which its
  -- simulator counts with the look-ups (the look-up proper happened on the first sync only)
  local reads = name == "woocommerce" and d2.lookup + d2.read or d2.read
  local lookups = name == "woocommerce" and 0 or d2.lookup
  print(string.format("%-12s first sync: %d figures, %d look-up%s + %d read + %d push calls, %.2f s; %d changed: %d figures, %d push calls (want %d: %s) + %d read + %d look-up, %.3f s",
    name, r1.sent or 0, d1.lookup, name == "woocommerce" and " (and read)" or "", d1.read, d1.push, first, CHANGED,
    r2.sent or 0, d2.push, want, d2.push == want and lookups == 0 and "met" or "NOT MET", reads, lookups, second))
  s:close()
  stop(name)
end

---------------------------------------------------------------- 2. commit -> accepted
local urls = {}
for _, name in ipairs(ORDER) do urls[name] = start(string.format("sim %s --orders 0 --port 0", name), "x" .. name) end
local conf = { string.format("db = %q", dir .. "/three.db") }
for _, name in ipairs(ORDER) do
  conf[#conf + 1] = string.format('cart %q { connector = %q, url = %q, %s, sync_inventory = true, rules = { "order_prefix" } }',
    name, name, urls[name], CARTS[name].settings)
end
local s = session(dir .. "/three.lua", table.concat(conf, "\n") .. "\n")
local common = require "sim.common"
local rows = {}
for i, item in ipairs(common.catalog) do rows[i] = { sku = item.sku, warehouse = "main", on_hand = 100000 } end
set_rows(s, rows)
assert(ops_stock.push(s, nil, { all = true }))
local lat, slow = {}, {}
for round = 1, rounds do
  task.sleep(0.5) -- a busy store: two orders a second, each cart in turn (the carts' own rate limits hold)
  local at = ORDER[(round - 1) % 3 + 1]
  assert(http.request{ method = "POST", url = urls[at] .. "/_sim/orders", body = '{"count":1}',
    headers = { ["Content-Type"] = "application/json" } })
  assert(ops_import.run(s, { at }, { no_push = true }))
  local t0 = task.monotonic() -- the import's last transaction has committed
  local pushed = assert(ops_stock.push_others(s, { at }))
  local ms = (task.monotonic() - t0) * 1000
  lat[#lat + 1] = ms
  local why = {}
  for _, p in ipairs(pushed) do
    assert(p.ok, tostring(p.error))
    if p.reimported then why[#why + 1] = p.cart .. " re-imported (its figure moved)" end
  end
  slow[#slow + 1] = { ms = ms, at = at, why = table.concat(why, ", ") }
end
table.sort(lat)
table.sort(slow, function(a, b) return a.ms > b.ms end)
for i = 1, math.min(3, #slow) do
  print(string.format("  slowest %d: %.1f ms, order at %s%s", i, slow[i].ms, slow[i].at, slow[i].why ~= "" and "; " .. slow[i].why or ""))
end
local function pct(p) return lat[math.max(1, math.ceil(#lat * p))] end
print(string.format("import commit -> the other two carts accepted the new figures, %d orders: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 < 250 ms: %s)",
  #lat, pct(0.5), pct(0.99), lat[#lat], pct(0.99) < 250 and "met" or "NOT MET"))
s:close()
for _, name in ipairs(ORDER) do stop("x" .. name) end
os.execute("rm -rf " .. dir)
