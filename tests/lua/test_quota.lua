-- Rate limits learned from the cart (issue 10): each `cartwright import` below is a real process
-- talking real HTTP to a simulator served by this script (so the simulator's quota carries
-- over from one process to the next). The bucket is sized from what the cart announces
-- (BigCommerce Pro 450 / 30 s, Shopify Plus 400 @ 20/s), the merchant's rate_limit wins, and
-- what one run learned starts the next run's bucket. Every import is bounded in time.
local T = require "t"
local task = require "cartwright.task"
local store = require "cartwright.store"
local limiter = require "cartwright.limiter"

local dir = T.tmpdir()

-- A config with one cart "acme" of `connector` at `url`; `extra` goes into its settings.
local function config(name, connector, url, settings)
  return T.write(dir .. "/" .. name .. ".lua", string.format([[
db = %q
cart "acme" {
  connector = %q, url = %q, %s
}
]], dir .. "/" .. name .. ".db", connector, url, settings))
end

-- Runs `cartwright -c cfg import acme` as a process, the simulator serving meanwhile (this
-- task sleeps between looks). Returns exit code (nil: killed after `limit` s), seconds, stderr.
local function import(cfg, limit)
  local p = T.spawn({ "-c", cfg, "import", "acme" })
  local t0 = task.monotonic()
  local rc
  for _ = 1, math.ceil(limit / 0.02) do -- bounded by count and by the time below
    rc = T.slurp(p.dir .. "/rc"):match("%d+")
    if rc or task.monotonic() - t0 > limit then break end
    task.sleep(0.02)
  end
  local took, err = task.monotonic() - t0, p.err()
  p.clean()
  return tonumber(rc), took, err
end

local function quota_row(cfg)
  local db = assert(store.open(T.slurp(cfg):match('db = "([^"]+)"')))
  local row = db:cart_quota_get{ cart = "acme" }
  db:close()
  return row or {}
end

---------------------------------------------------------------- BigCommerce Pro: 450 / 30 s
do
  -- as many orders as make about 400 requests (more than 150, fewer than 450), whatever the
  -- connector's calls per order: counted first on 60 orders of a simulator without a quota
  -- (pages of 5: for most orders the page is the only call, and at most 3,000 orders are made)
  local settings = 'token = "bc_test", store_hash = "abc123", concurrency = 8, batch_size = 5,'
  local cal = require("sim.bigcommerce").start{ port = 0, orders = 60, seed = 3, rate = false }
  T.eq(import(config("pro_count", "bigcommerce", cal.url, settings), 10), 0, "Pro: counting import exit 0")
  local orders = math.min(3000, math.floor(400 / (cal.stats.requests / 60)))
  cal:close()
  local sim = require("sim.bigcommerce").start{ port = 0, orders = orders, seed = 3, plan = "pro" }
  local cfg = config("pro", "bigcommerce", sim.url, settings)
  local rc, took, err = import(cfg, 25)
  local n = sim.stats.requests
  local rate = n / took
  T.eq(rc, 0, "Pro: import exit 0", err)
  T.ok(n > 300 and n < 450, "Pro: the import needs more than the connector's default 150 and fits one Pro window",
       n .. " requests")
  T.eq(sim.stats.throttled, 0, "Pro: no 429")
  -- without learning: 150 at once, then 5/s (the Standard rate): 250 more would take 50 s
  T.ok(rate > 30, "Pro: driven at its size (well above the Standard 5/s)",
       string.format("%d requests in %.2f s = %.0f/s", n, took, rate))
  print(string.format("     Pro: %d orders, %d requests in %.2f s = %.0f requests/s, %d throttled", orders, n, took, rate,
                      sim.stats.throttled))
  local row = quota_row(cfg)
  T.eq(row.capacity, 450.0, "Pro: learned capacity 450 kept in the store")
  T.eq(row.per_second, 15.0, "Pro: learned 450 / 30 s = 15 per second kept")
  T.ok(row.window_left and math.abs(row.window_left - (450 - n)) < 1, "Pro: what the window has left kept",
       tostring(row.window_left) .. " vs " .. (450 - n))
  sim:close()
end

---------------------------------------------------------------- BigCommerce Standard: 150 / 30 s
do
  local sim = require("sim.bigcommerce").start{ port = 0, orders = 40, seed = 4, plan = "standard" }
  local cfg = config("standard", "bigcommerce", sim.url, 'token = "bc_test", store_hash = "abc123", concurrency = 8,')
  local rc, took, err = import(cfg, 25)
  T.eq(rc, 0, "Standard: import exit 0", err)
  T.eq(sim.stats.throttled, 0, "Standard: no 429", sim.stats.requests .. " requests")
  local row = quota_row(cfg)
  T.eq(row.capacity, 150.0, "Standard: learned capacity 150")
  T.eq(row.per_second, 5.0, "Standard: learned 5 per second")
  print(string.format("     Standard: %d requests in %.2f s, %d throttled", sim.stats.requests, took, sim.stats.throttled))
  sim:close()
end

---------------------------------------------------------------- windows waited for, not hit
-- A quota of 30 per 2 s window (the Standard rate of 15/s, in short windows so the test is
-- short): an import of ~100 requests goes through four windows with no 429.
do
  local sim = require("sim.bigcommerce").start{ port = 0, orders = 40, seed = 5, rate = { quota = 30, window = 2 } }
  local cfg = config("windows", "bigcommerce", sim.url, 'token = "bc_test", store_hash = "abc123", concurrency = 8,')
  local rc, took, err = import(cfg, 25)
  local n = sim.stats.requests
  T.eq(rc, 0, "windows: import exit 0", err)
  T.eq(sim.stats.throttled, 0, "windows: no 429", n .. " requests")
  local windows = math.ceil(n / 30)
  T.ok(took > (windows - 1) * 2 - 0.5 and took < windows * 2 + 3, "windows: one window of 2 s per 30 requests",
       string.format("%d requests in %.2f s", n, took))
  print(string.format("     30 per 2 s: %d requests in %.2f s = %.1f/s (the quota allows 15/s), %d throttled", n, took, n / took,
                      sim.stats.throttled))
  sim:close()
end

---------------------------------------------------------------- a second process starts from the first's bucket
-- Another app of the store has spent most of the window (40 per 5 s) before the first import,
-- which spends the rest: the window is empty when the second process starts, at once. With a
-- fresh bucket its first request would meet a 429; it starts from what the first one saved
-- and waits for the window instead. The first import's requests are counted beforehand on a
-- simulator without a quota (same seed, same orders).
do
  local opts = { port = 0, orders = 4, seed = 6, rate = false }
  local cal = require("sim.bigcommerce").start(opts)
  local settings = 'token = "bc_test", store_hash = "abc123", concurrency = 4,'
  T.eq(import(config("calibrate", "bigcommerce", cal.url, settings), 10), 0, "two runs: counting import exit 0")
  local r1 = cal.stats.requests
  cal:close()
  opts.rate = { quota = 40, window = 5 }
  local sim = require("sim.bigcommerce").start(opts)
  local cfg = config("two", "bigcommerce", sim.url, settings)
  for _ = 1, 40 - r1 do assert(sim.quota:take(sim.clock())) end -- another app of the store
  local rc1, took1, err1 = import(cfg, 10)
  T.eq(rc1, 0, "two runs: first import exit 0", err1)
  local first = sim.stats.requests
  T.eq(first, r1, "two runs: the first import made as many requests as counted")
  T.eq(sim.quota.quota - sim.quota.used, 0, "two runs: the window is spent when the first import ends")
  T.eq(quota_row(cfg).window_left, 0.0, "two runs: the first kept that the window has nothing left")
  sim:add_orders(8) -- the second run has orders to read
  local rc2, took2, err2 = import(cfg, 15)
  local second = sim.stats.requests - first
  T.eq(rc2, 0, "two runs: second import exit 0", err2)
  T.ok(second >= 1, "two runs: the second talked to the cart", second .. " requests")
  T.eq(sim.stats.throttled, 0, "two runs: no 429 at the cart")
  T.ok(took2 > 2 and took2 < 8, "two runs: the second waited for the window's end (under 5 s after the first)",
       string.format("%.2f s", took2))
  print(string.format("     two runs: %d + %d requests (%.2f s + %.2f s), %d throttled", first, second, took1, took2,
                      sim.stats.throttled))
  sim:close()
end

---------------------------------------------------------------- the merchant's rate_limit wins
do
  local sim = require("sim.bigcommerce").start{ port = 0, orders = 10, seed = 7, plan = "pro" }
  local cfg = config("fixed", "bigcommerce", sim.url,
    'token = "bc_test", store_hash = "abc123", rate_limit = { capacity = 8, per_second = 20 },')
  local rc, took, err = import(cfg, 20)
  local n = sim.stats.requests
  T.eq(rc, 0, "rate_limit: import exit 0", err)
  -- 8 at once, then 20/s: (n - 8) / 20 s at least, though the Pro store would take them all at once
  T.ok(took >= (n - 8) / 20 - 0.1, "rate_limit: the merchant's 8 @ 20/s holds over the Pro size",
       string.format("%d requests in %.2f s", n, took))
  T.eq(quota_row(cfg).capacity, 450.0, "rate_limit: what the cart announced is still kept")
  sim:close()
end

---------------------------------------------------------------- Shopify Plus: 400 @ 20/s
do
  local sim = require("sim.shopify").start{ port = 0, orders = 500, seed = 8, plan = "plus" }
  local cfg = config("plus", "shopify", sim.url, 'token = "shpat_test", batch_size = 5,')
  local rc, took, err = import(cfg, 25)
  local n = sim.stats.requests
  T.eq(rc, 0, "Plus: import exit 0", err)
  T.ok(n > 60, "Plus: more requests than the Standard bucket of 40", n .. " requests")
  T.eq(sim.stats.throttled, 0, "Plus: no 429")
  -- the Standard 40 @ 2/s would take (n - 40) / 2 s
  T.ok(took < (n - 40) / 2 / 3, "Plus: driven at its size", string.format("%d requests in %.2f s", n, took))
  print(string.format("     Plus: %d requests in %.2f s = %.0f requests/s, %d throttled", n, took, n / took, sim.stats.throttled))
  local row = quota_row(cfg)
  T.eq(row.capacity, 400.0, "Plus: learned size 400")
  T.eq(row.per_second, 20.0, "Plus: learned leak 20 per second")
  sim:close()
end

---------------------------------------------------------------- the bucket, in process
do
  local b = limiter.get("learn", { capacity = 150, per_second = 5 }, true)
  b:observe{ capacity = 450, per_second = 15, left = 440 }
  T.eq(b.capacity .. "/" .. b.rate .. "/" .. math.floor(b.tokens), "450/15/440", "learned size and left raise the bucket")
  limiter.get("learn", { capacity = 150, per_second = 5 }, true) -- a new ctx of the cart: the learned size stays
  T.eq(b.capacity, 450, "a connector's default does not undo what was learned")
  limiter.get("learn", { capacity = 10, per_second = 1 }) -- the merchant's rate_limit
  T.eq(b.capacity .. "/" .. b.rate .. "/" .. math.floor(b.tokens), "10/1/10", "the merchant's rate_limit wins")
  b:observe{ capacity = 450, per_second = 15, left = 300 }
  T.eq(b.capacity .. "/" .. math.floor(b.tokens), "10/10", "a cart's size and left do not raise the merchant's")
  b:observe{ left = 3 }
  T.eq(math.floor(b.tokens), 3, "the cart's left still lowers it")
  for _, q in ipairs{ { capacity = 0, per_second = 1 }, { capacity = 1 / 0, per_second = 1 }, { capacity = 5, per_second = 0 },
                      { capacity = 0 / 0, per_second = 0 / 0 } } do
    local c = limiter.get("odd" .. tostring(q.capacity), { capacity = 5, per_second = 5 }, true)
    c:observe(q)
    T.eq(c.capacity .. "/" .. c.rate, "5/5", "a size that makes no sense is ignored: " .. tostring(q.capacity) .. "/" .. tostring(q.per_second))
  end
  -- in flight: an answer's left does not count requests sent after the cart counted
  local f = limiter.get("inflight", { capacity = 100, per_second = 1 }, true)
  f:sending(); f:sending(); f:sending(); f:answered()
  f:observe{ left = 10 }
  T.eq(math.floor(f.tokens), 8, "left 10 with 2 still in flight: 8")
  -- a restored window: its left is not exceeded before its end, then the bucket refills
  local w = limiter.get("restored", { capacity = 30, per_second = 15 }, true)
  w:restore{ capacity = 30, per_second = 15, tokens = 1, at = task.now() - 0.2, window_left = 1, window_end = task.now() + 0.4 }
  T.eq(math.floor(w.tokens), 4, "restored: tokens refilled by the time since (1 + 0.2 s x 15)")
  local t0 = task.monotonic()
  w:take(5); w:take(5)
  local waited = task.monotonic() - t0
  T.ok(waited > 0.3 and waited < 0.8, "restored: the second request waits for the window's end",
       string.format("%.2f s", waited))
  w:restore{ capacity = 1, per_second = 1, tokens = 0, at = task.now() }
  T.eq(w.capacity, 30, "restore: a bucket that already knows more keeps it")
  local far = limiter.get("far", { capacity = 10, per_second = 5 }, true)
  far:restore{ tokens = 0, at = task.now(), window_left = 0, window_end = task.now() + 1e9 }
  T.ok(far.window_end - task.monotonic() <= 2.01, "restore: a window end beyond a full refill (clock set back) is cut")
end

os.execute("rm -rf " .. T.q(dir))
return T.done()
