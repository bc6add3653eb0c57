-- `cartwright serve` through the real binary against a Shopify simulator (separate processes):
-- scheduled imports of new orders; sync stop/start per cart; a CLI import while another
-- process holds the cart's lease says so and imports nothing; SIGTERM lets the run in flight
-- finish within its 10 s grace, exits 0, and a restart loses nothing. Every wait is bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local store = require "cartwright.store"

local dir = T.tmpdir()
local shop = T.sim("shopify", { "--orders", "0" })
local cfg, dbpath = dir .. "/cw.lua", dir .. "/cw.db"
T.write(cfg, string.format([[
db = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", download_statuses = { "open", "closed", "cancelled" },
  intervals = { orders = 1, shipments = 1 } }
cart "woo" { connector = "woocommerce", url = "http://127.0.0.1:9", consumer_key = "ck_test_0123456789", consumer_secret = "cs_test_0123456789",
  active = false, intervals = { shipments = 7 } }
]], dbpath, shop.url))
local _
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 60 }) end
local function place(n)
  local res = assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = json.encode{ count = n } })
  return #json.decode(res.body).ids
end
local function stored()
  local _, out = cw{ "orders", "--json" }
  local n = 0
  for _ in out:gmatch("[^\n]+") do n = n + 1 end
  return n
end
local function until_stored(want, max)
  local got
  for _ = 1, max * 4 do -- bounded: max seconds
    got = stored()
    if got >= want then break end
    os.execute("sleep 0.25")
  end
  return got
end

-- intervals: the cart's setting, else its connector's default (WooCommerce orders: 120), else 60
do
  local code, out = cw{ "sync", "status", "--json" }
  T.eq(code, 0, "sync status: exit 0")
  local got = {}
  for line in out:gmatch("[^\n]+") do
    local r = json.decode(line)
    got[#got + 1] = string.format("%s/%s=%d", r.cart, r.service, r.interval)
  end
  T.eq(table.concat(got, " "), "shop/orders=1 shop/shipments=1 woo/orders=120 woo/shipments=7",
    "intervals from the cart, its connector, then the defaults")
end

local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" })
T.eq(place(3), 3, "3 orders placed at the simulator")
T.eq(until_stored(3, 10), 3, "serve imported the 3 new orders on its own")

-- sync stop: no more imports of that cart; start: it resumes
local code, out = cw{ "sync", "stop", "shop", "orders" }
T.eq(code, 0, "sync stop: exit 0")
T.eq(out, "shop orders: STOPPED\n", "sync stop says so")
os.execute("sleep 1.5") -- a run in flight when it was stopped ends
place(2)
os.execute("sleep 3")
T.eq(stored(), 3, "stopped: the 2 new orders are not imported")
_, out = cw{ "sync", "status", "--json" }
local st = json.decode(out:match("[^\n]+"))
T.eq(st and st.state, "STOPPED", "sync status: STOPPED")
code = cw{ "sync", "start", "shop", "orders" }
T.eq(code, 0, "sync start: exit 0")
T.eq(until_stored(5, 10), 5, "started again: the 2 orders are imported")

-- another process holds the lease: a CLI import says so, serve waits, nothing imported twice
local db = assert(store.open(dbpath))
local got
for _ = 1, 100 do -- bounded: serve may hold it for a moment
  got = db:lease_take{ cart = "shop", service = "orders", holder = "test", expires = os.time() + 60, at = os.time() }
  if got then break end
  os.execute("sleep 0.05")
end
T.ok(got, "the test process takes the orders lease")
place(1)
local err
code, _, err = cw{ "import", "shop", "--wait", "0" }
T.eq(code, 1, "import while another process holds the lease: exit 1", err)
T.match(err, "another process is importing shop %(test%)", "import says another process is importing")
os.execute("sleep 2")
T.eq(stored(), 5, "while the lease is held nobody imports")
db:lease_release{ cart = "shop", service = "orders", holder = "test" }
T.eq(until_stored(6, 10), 6, "lease released: serve imports the new order")

-- a lease whose holder process is gone on this host (a kill -9) is taken over at once, not
-- waited out for its 30 s
local _, host = require("cartwright.task").process()
local gone = string.format("import/%s/%d/deadbeef", host, 2147483646)
local planted
for _ = 1, 100 do -- bounded: take it when serve is between runs
  planted = db:lease_take{ cart = "shop", service = "orders", holder = gone, expires = os.time() + 60, at = os.time() }
  if planted then break end
  os.execute("sleep 0.05")
end
T.ok(planted, "a dead process's lease planted (expires in 60 s)")
local t_dead = os.time()
code, _, err = cw{ "import", "shop", "--wait", "0" }
T.eq(code, 0, "import takes over the lease of a process that is gone: exit 0", err)
T.ok(os.time() - t_dead < 10, "at once, not after the lease's 30 s")
db:close()

-- runs: one audit row per run with its figures
code, out = cw{ "runs", "shop", "--json" }
T.eq(code, 0, "runs: exit 0")
local imported = 0
for line in out:gmatch("[^\n]+") do
  local r = json.decode(line)
  if r.service == "orders" then imported = imported + (r.imported or 0) end
end
T.eq(imported, 6, "runs: the orders runs imported 6 in all")

-- SIGTERM mid-run: the service stops taking work (503) but lets the run in flight finish,
-- then exits 0; nothing is left to a restart. The cart answers the run's list request 3 s late.
local base = serve.listening()
T.ok(base, "serve says where it listens")
local function sim_stats()
  return json.decode(assert(http.request{ url = shop.url .. "/_sim/stats" }).body)
end
local faults0 = sim_stats().faults
assert(http.request{ method = "POST", url = shop.url .. "/_sim/faults", body = '{"delay":3,"count":1}' })
place(4)
local in_flight
for _ = 1, 100 do -- bounded: 10 s (the orders interval is 1 s)
  in_flight = sim_stats().faults > faults0
  if in_flight then break end
  os.execute("sleep 0.1")
end
T.ok(in_flight, "a scheduled run is waiting on the cart's late answer")
local t_term = require("cartwright.task").monotonic()
serve.signal("TERM")
os.execute("sleep 0.3")
local hres = http.request{ url = base .. "/healthz", timeout = 5 }
T.eq(hres and hres.status, 503, "while stopping, new requests get 503")
T.eq(serve.wait(12), 0, "SIGTERM: exit 0", serve.err())
local waited = require("cartwright.task").monotonic() - t_term
T.ok(waited >= 2 and waited < 11.5, "the stop waited for the run in flight, within the 10 s grace", waited)
T.eq(stored(), 10, "the run in flight finished: its 4 orders are stored before the exit")
T.match(serve.err(), "stopped cleanly", "the log says the stop was clean")
serve.clean()
serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" })
T.eq(until_stored(10, 10), 10, "after a restart every order is there, once")
serve.signal("TERM")
T.eq(serve.wait(12), 0, "SIGTERM again: exit 0")
serve.clean()

shop.stop()
os.execute("rm -rf " .. dir)
os.exit(T.done())
