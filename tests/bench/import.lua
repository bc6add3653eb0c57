-- Benchmark: import N realistic Shopify orders (~8.9 KB of JSON each) from the simulator over
-- loopback into a fresh SQLite database with the default rules.
-- The simulator runs in its own process with every page pre-rendered (a dry run over the same
-- window builds them first), so its cost is not measured. Each measured import runs in a fresh
-- process (tests/bench/import_run.lua) into a new database, RUNS times; the figures are printed
-- per run and as the median and the best: orders/s, CPU µs per order, requests, bytes written,
-- peak RSS, for the import itself (first request to last commit) and with closing the
-- database (the write-ahead log's checkpoint and sync).
-- Then tests/bench/calls.lua: API calls per 1,000 orders and a 1,000-order first import at each
-- cart's default plan rate, per connector.
-- Usage: cartwright run tests/bench/import.lua [N [RUNS]]
local task = require "cartwright.task"
local json = require "cjson.safe"

local n = tonumber(arg and arg[1]) or 20000
local runs = tonumber(arg and arg[2]) or 3
local bin = os.getenv("CW_BIN") or "build/cartwright"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end

os.execute(string.format("%s run tests/bench/sim_server.lua shopify %d >%s/sim.out 2>%s/sim.err & echo $! >%s/sim.pid",
  bin, n, dir, dir, dir))
local port
for _ = 1, 600 do -- bounded: generating 20,000 orders takes a few seconds
  port = slurp(dir .. "/sim.out"):match(":(%d+)")
  if port then break end
  task.sleep(0.05)
end
assert(port, "simulator did not start: " .. slurp(dir .. "/sim.err"))

local f = assert(io.open(dir .. "/cw.lua", "w"))
f:write(string.format([[
db = %q
cart "bench" { connector = "shopify", url = "http://127.0.0.1:%s", token = "shpat_test",
  batch_size = 250, rate_limit = { capacity = 100000, per_second = 100000 } }
]], dir .. "/unused.db", port))
f:close()

-- Calibration: how fast lua-cjson alone decodes these orders on this machine (the issue's
-- reference machine: about 15,000 orders/s on one core), from one page of the simulator.
local http = require "cartwright.http"
local page = assert(http.request{ url = "http://127.0.0.1:" .. port .. "/admin/api/2025-01/orders.json?status=any&limit=250",
  headers = { ["X-Shopify-Access-Token"] = "shpat_test" } })
local cjson_rate
do
  local docs = assert(json.decode(page.body)).orders
  local raws = {}
  for i, d in ipairs(docs) do raws[i] = assert(json.encode(d)) end
  local c0, decoded = task.cpu(), 0
  repeat -- bounded: at least 0.5 s of CPU, at most 40 rounds
    for i = 1, #raws do json.decode(raws[i]) end
    decoded = decoded + #raws
  until task.cpu() - c0 > 0.5 or decoded >= 40 * #raws
  cjson_rate = decoded / (task.cpu() - c0)
end

local now = math.floor(task.now())
local function run(db, dry)
  local p = io.popen(string.format("%s run tests/bench/import_run.lua %s/cw.lua %s %d %s 2>%s/run.err",
    bin, dir, db, now, dry and "dry" or "", dir))
  local out = p:read("a")
  p:close()
  local r = json.decode(out:match("{.*}") or "")
  assert(r, "import run failed: " .. out .. slurp(dir .. "/run.err"))
  return r
end

local warm = run(dir .. "/warm.db", true) -- pre-renders every page at the simulator
os.remove(dir .. "/warm.db")
assert(warm.seen == n, "warm-up saw " .. tostring(warm.seen) .. " orders, want " .. n)

local results = {}
for i = 1, runs do
  local db = dir .. "/bench" .. i .. ".db"
  os.execute("sync") -- each run starts with nothing of the last one still being written back
  local r = run(db)
  -- gone before the next run, so the kernel is not still writing this one back meanwhile
  os.execute(string.format("rm -f %s %s-wal %s-shm", db, db, db))
  assert(r.seen == n and r.stored == r.distinct, "run " .. i .. ": seen " .. r.seen .. ", stored " .. r.stored
    .. " (" .. r.distinct .. " distinct)")
  r.rate, r.rate_closed = r.seen / r.wall, r.seen / (r.wall + r.close)
  results[i] = r
  print(string.format("run %d: import %d orders in %.2f s = %.0f orders/s, CPU %.0f µs/order; with the close (%.2f s): %.0f orders/s, CPU %.0f µs/order; %d requests, %d stored, %.0f MB written, peak RSS %.0f MiB",
    i, r.seen, r.wall, r.rate, r.cpu / r.seen * 1e6, r.close, r.rate_closed, (r.cpu + r.close_cpu) / r.seen * 1e6,
    r.requests, r.stored, r.bytes / 1e6, r.rss_kb / 1024))
end
os.execute("kill " .. slurp(dir .. "/sim.pid"):match("%d+"))

local function pick(key, which)
  local v = {}
  for i, r in ipairs(results) do v[i] = r[key] end
  table.sort(v)
  return which == "best" and v[#v] or v[(#v + 1) // 2]
end
local r1 = results[1]
print(string.format("import %d Shopify orders (%d pages of 250, %d requests): median %.0f orders/s (best %.0f), CPU %.0f µs/order; with the checkpoint at close: median %.0f orders/s (best %.0f); %.1f KB written per stored order",
  n, r1.pages, r1.requests, pick("rate"), pick("rate", "best"), pick("cpu") / n * 1e6,
  pick("rate_closed"), pick("rate_closed", "best"), r1.bytes / 1e3 / r1.stored))
print(string.format("target 9000 orders/s: %.2fx median (%.2fx with the close)", pick("rate") / 9000, pick("rate_closed") / 9000))
print(string.format("calibration: cjson alone decodes these orders at %.0f/s here (reference machine ~15,000/s); scaled, the target is %.0f orders/s: %.2fx median (%.2fx with the close)",
  cjson_rate, 9000 * cjson_rate / 15000, pick("rate") / (9000 * cjson_rate / 15000), pick("rate_closed") / (9000 * cjson_rate / 15000)))
os.execute("rm -rf " .. dir)

-- per connector: API calls per 1,000 orders and a 1,000-order first import at the default plan
-- rate (tests/bench/calls.lua, its own processes)
os.execute(string.format("%s run tests/bench/calls.lua 1000", bin))
