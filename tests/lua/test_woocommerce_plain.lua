-- WooCommerce on a site with plain permalinks: the API answers only at /?rest_route=/wc/v3/…
-- (the simulator with permalinks = "plain" answers /wp-json/… with WordPress's 404 page). An
-- import through each auth (OAuth over http, the query-string keys, Basic) with
-- permalinks = "plain", and with "auto", which finds the plain form after one 404.
local T = require "t"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.flows.orders_in"

local sim = require("sim.woocommerce").start{ port = 0, orders = 300, seed = 5, permalinks = "plain" }

local wanted = 0
for _, rec in ipairs(sim.records) do
  if rec.status == "processing" or rec.status == "on-hold" then wanted = wanted + 1 end
end
T.eq(wanted, 233, "the store (seed 5): downloadable orders")

local function import(settings)
  local dir = T.tmpdir()
  T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "c1" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test",
  batch_size = 100, rate_limit = { capacity = 1000, per_second = 1000 }, max_attempts = 2,
  retry_base_seconds = 0.01, %s }
]], dir .. "/cw.db", sim.url, settings))
  local cfg = assert(config.load(dir .. "/cw.lua"))
  local cart, conn = assert(carts.load(cfg, "c1"))
  local db = assert(carts.open_db(cfg))
  sim:reset_stats()
  local st, err = assert(importer.new(db, cart, conn, {})):run()
  local n = st and assert(db:orders_count{}).n
  db:close()
  os.execute("rm -rf " .. dir)
  return st, err, n, sim.stats
end

for _, case in ipairs{
  { "plain, OAuth", 'permalinks = "plain",', 0 },
  { "plain, query keys", 'permalinks = "plain", auth = "query",', 0 },
  { "plain, Basic", 'permalinks = "plain", auth = "basic",', 0 },
  { "auto, OAuth", "", 1 },
} do
  local name, settings, misses = case[1], case[2], case[3]
  local st, err, n, stats = import(settings)
  T.ok(st ~= nil, name .. ": import succeeds", err)
  T.eq(st and st.seen, 300, name .. ": every order seen")
  T.eq(st and st.imported, wanted, name .. ": imported exactly the downloadable orders")
  T.eq(n, wanted, name .. ": stored")
  T.eq(stats.order_list_requests, 3, name .. ": three pages of 100")
  T.eq(stats.plain_requests, 3, name .. ": every API call by ?rest_route=")
  T.eq(stats.by_status["404"] or 0, misses, name .. ": 404s from /wp-json/")
  T.eq(stats.requests, 3 + misses, name .. ": calls in all")
end

-- pretty permalinks refuse; a wrong secret fails without showing it
local st, err = import('permalinks = "pretty",')
T.eq(st, nil, "pretty on a plain site: the import fails")
T.match(err, "http 404", "pretty on a plain site: the error says 404")
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "c1" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_wrong_secret",
  permalinks = "plain", auth = "query", max_attempts = 1 }
]], dir .. "/cw.db", sim.url))
local cfg = assert(config.load(dir .. "/cw.lua"))
local cart, conn = assert(carts.load(cfg, "c1"))
local db = assert(carts.open_db(cfg))
st, err = assert(importer.new(db, cart, conn, {})):run()
T.eq(st, nil, "wrong secret: the import fails")
T.match(err, "http 401", "wrong secret: 401")
T.eq(tostring(err):find("cs_wrong_secret", 1, true), nil, "wrong secret: the secret is not in the error")
db:close()
os.execute("rm -rf " .. dir)

sim:close()
return T.done()
