-- Benchmark: import N realistic Shopify orders (≈8 KB of JSON each) from the simulator over
-- loopback into a fresh SQLite database with the default rules. The simulator runs in its own
-- process, so the CPU figure here is the import alone. Prints orders/s, CPU µs per order,
-- requests, and peak RSS. Usage: cartwright run tests/bench/import.lua [N]
local task = require "cartwright.task"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.import"

local n = tonumber(arg and arg[1]) or 20000
local bin = os.getenv("CW_BIN") or "build/cartwright"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

os.execute(string.format("%s run tests/bench/sim_server.lua shopify %d >%s/sim.out 2>%s/sim.err & echo $! >%s/sim.pid",
  bin, n, dir, dir, dir))
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end
local port
for _ = 1, 600 do -- generating 20,000 orders takes a few seconds
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
]], dir .. "/bench.db", port))
f:close()
local cfg = assert(config.load(dir .. "/cw.lua"))
local cart, conn = assert(carts.load(cfg, "bench"))

-- Pre-render: a dry run over the same window, in a process of its own, makes the simulator
-- build and cache every page; the measured run below then pays for HTTP and the import only,
-- in a fresh process as a real `cartwright import` would.
local now = math.floor(task.now())
f = assert(io.open(dir .. "/warm.lua", "w"))
f:write(string.format([[
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.import"
local cfg = assert(config.load(%q))
local cart, conn = assert(carts.load(cfg, "bench"))
cfg.db = %q -- a database of its own: the measured run starts from an empty file
local db = assert(carts.open_db(cfg))
local st = assert(assert(importer.new(db, cart, conn, { dry_run = true, now = %d })):run())
db:close()
print("warm-up saw " .. st.seen)
]], dir .. "/cw.lua", dir .. "/warm.db", now))
f:close()
local warm = io.popen(string.format("%s run %s/warm.lua 2>&1", bin, dir))
local warm_out = warm:read("a")
warm:close()
assert(warm_out:find("warm-up saw " .. n, 1, true), "warm-up failed: " .. warm_out)

-- bytes this process handed to write(2)/pwrite(2): the database's log and its checkpoints
local function written() return tonumber(slurp("/proc/self/io"):match("wchar: (%d+)")) or 0 end

local db = assert(carts.open_db(cfg))
local w0, t0, cpu0 = written(), task.monotonic(), task.cpu()
local run = assert(importer.new(db, cart, conn, { now = now }))
local st = assert(run:run())
local wall, cpu = task.monotonic() - t0, task.cpu() - cpu0
local rss = slurp("/proc/self/status"):match("VmHWM:%s*(%d+) kB")
-- closing checkpoints the write-ahead log into the database file and syncs it: the rest of
-- what an import costs before the process can exit
local tc, cpuc = task.monotonic(), task.cpu()
db:close()
local close, close_cpu = task.monotonic() - tc, task.cpu() - cpuc
local mb = (written() - w0) / 1e6
db = assert(carts.open_db(cfg))
local count = db:orders_count{}.n
db:close()
os.execute("kill " .. slurp(dir .. "/sim.pid"):match("%d+"))

print(string.format("import %d Shopify orders: %.2f s wall = %.0f orders/s; CPU %.0f µs/order; %d requests (%d pages of %d); stored %d; peak RSS %.0f MiB",
  st.seen, wall, st.seen / wall, cpu / st.seen * 1e6, st.requests, st.pages, cart.batch_size, count, (tonumber(rss) or 0) / 1024))
print(string.format("with the checkpoint at close (%.2f s): %.2f s = %.0f orders/s; CPU %.0f µs/order; %.0f MB written (%.1f KB per stored order)",
  close, wall + close, st.seen / (wall + close), (cpu + close_cpu) / st.seen * 1e6, mb, mb * 1e3 / math.max(count, 1)))
print(string.format("target 9000 orders/s: %.2fx (%.2fx with the close)", st.seen / wall / 9000, st.seen / (wall + close) / 9000))
os.execute("rm -rf " .. dir)
