-- Benchmark: `cartwright serve` with many carts. N carts (default 1,000), each a Shopify store
-- (one simulator process serves them all, its rate limit off, 5 orders), with their orders and
-- shipments services: serve's resident memory (VmRSS) and CPU (utime + stime from /proc) while
-- it starts and runs every cart's first import (a full sync round), idle, and during a second
-- full round that N signed webhooks (one per cart) ask for.
-- Targets (issue 13): RSS < 256 MB, idle CPU < 1 % of a core.
-- Usage: cartwright --log-level warn run tests/bench/carts.lua [CARTS [IDLE_SECONDS]]
local task = require "cartwright.task"
local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local store = require "cartwright.store"

local ncarts = tonumber(arg and arg[1]) or 1000
local idle_s = tonumber(arg and arg[2]) or 30
local SECRET = "whsec_bench_carts"
local bin = os.getenv("CW_BIN") or "build/cartwright"
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end
local function write(p, s) local f = assert(io.open(p, "w")) f:write(s) f:close() end
local CLK = tonumber(io.popen("getconf CLK_TCK"):read("l")) or 100

local function start(name, args)
  local out = dir .. "/" .. name .. ".out"
  os.execute(string.format("%s %s >%s 2>%s.err </dev/null & echo $! >%s/%s.pid", bin, args, out, out, dir, name))
  for _ = 1, 1200 do -- bounded: 60 s
    local url = slurp(out):match("(http://127%.0%.0%.1:%d+)")
    if url then return url, slurp(dir .. "/" .. name .. ".pid"):match("%d+") end
    task.sleep(0.05)
  end
  error(name .. " did not start: " .. slurp(out .. ".err"))
end

-- the process's CPU seconds and resident MB
local function usage(pid)
  local stat = slurp("/proc/" .. pid .. "/stat")
  local fields = {}
  for f in stat:gsub("^.-%) ", ""):gmatch("%S+") do fields[#fields + 1] = f end
  -- after "pid (comm) ": state is field 1, utime 12, stime 13
  local cpu = ((tonumber(fields[12]) or 0) + (tonumber(fields[13]) or 0)) / CLK
  local rss = tonumber(slurp("/proc/" .. pid .. "/status"):match("VmRSS:%s+(%d+)")) or 0
  return cpu, rss / 1024
end

local sim = start("sim", "sim shopify --orders 5 --port 0")
assert(http.request{ method = "POST", url = sim .. "/_sim/rate", body = '{"off":true}' })
local conf = { string.format("db = %q", dir .. "/cw.db") }
for i = 1, ncarts do
  conf[#conf + 1] = string.format('cart "c%04d" { connector = "shopify", url = %q, token = "shpat_test", webhook_secret = %q,'
    .. ' download_statuses = { "open", "closed", "cancelled" }, intervals = { orders = 3600, shipments = 3600 } }', i, sim, SECRET)
end
write(dir .. "/cw.lua", table.concat(conf, "\n") .. "\n")

-- finished orders runs so far
local db
local function finished()
  db = db or store.open(dir .. "/cw.db")
  if not db then return 0 end
  local n = 0
  for _, r in ipairs(db:run_list{ limit = 10 * ncarts } or {}) do
    if r.service == "orders" and r.finished then n = n + 1 end
  end
  return n
end
local function until_runs(want, max_s)
  local t0 = task.monotonic()
  for _ = 1, max_s * 4 do -- bounded: max_s
    if finished() >= want then break end
    task.sleep(0.25)
  end
  return task.monotonic() - t0
end

local t0 = task.monotonic()
local serve, pid = start("serve", "--log-level warn -c " .. dir .. "/cw.lua serve --listen 127.0.0.1:0")
local _, rss_up = usage(pid)
until_runs(ncarts, 600)
local round1 = task.monotonic() - t0
local cpu1, rss1 = usage(pid)
local runs1 = finished()

task.sleep(1)
local cpu_a = usage(pid)
task.sleep(idle_s)
local cpu_b, rss_idle = usage(pid)
local idle_pct = (cpu_b - cpu_a) / idle_s * 100

-- a second round: one signed webhook per cart, 50 at a time
local body = '{"id":1}'
local sig = crypto.base64(crypto.hmac_sha256(SECRET, body))
local t2, bad = task.monotonic(), 0
for first = 1, ncarts, 50 do
  local hs = {}
  for i = first, math.min(first + 49, ncarts) do
    hs[#hs + 1] = task.spawn(function()
      local res = http.request{ method = "POST", url = string.format("%s/webhooks/c%04d", serve, i), body = body,
        headers = { ["Content-Type"] = "application/json", ["X-Shopify-Hmac-Sha256"] = sig } }
      if not res or res.status ~= 200 then bad = bad + 1 end
    end)
  end
  for _, h in ipairs(hs) do h:wait() end
end
until_runs(runs1 + ncarts, 600)
local round2 = task.monotonic() - t2
local cpu2, rss2 = usage(pid)
local runs2 = finished()
if db then db:close() end

os.execute("kill " .. pid)
task.sleep(1)
os.execute("kill " .. (slurp(dir .. "/sim.pid"):match("%d+") or "0"))
os.execute("rm -rf " .. dir)

print(string.format("serve with %d carts (Shopify, 5 orders each, orders + shipments services):", ncarts))
print(string.format("  started: RSS %.0f MB", rss_up))
print(string.format("  first full round (every cart's first import): %d runs in %.1f s, CPU %.1f s (%.0f us a cart), RSS %.0f MB",
  runs1, round1, cpu1, cpu1 / math.max(runs1, 1) * 1e6, rss1))
print(string.format("  idle %d s: CPU %.2f %% of a core (%.2f s a minute), RSS %.0f MB", idle_s, idle_pct,
  (cpu_b - cpu_a) / idle_s * 60, rss_idle))
print(string.format("  second round (%d webhooks, %d refused): %d runs in %.1f s, CPU %.1f s (%.0f us a cart), RSS %.0f MB",
  ncarts, bad, runs2 - runs1, round2, cpu2 - cpu_b, (cpu2 - cpu_b) / math.max(runs2 - runs1, 1) * 1e6, rss2))
print(string.format("  targets: RSS < 256 MB: %s; idle CPU < 1 %%: %s", math.max(rss1, rss2, rss_idle) < 256 and "met" or "NOT MET",
  idle_pct < 1 and "met" or "NOT MET"))
