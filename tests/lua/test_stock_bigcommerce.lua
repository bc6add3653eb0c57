-- BigCommerce stock capability (connectors/bigcommerce/stock.lua) against the simulator over
-- real HTTP, through a ctx as the engine makes it: the locations (id 1 primary); a lookup of
-- 1,500 SKUs in the fewest calls (250 a call) with the right ids and the unknown ones missing;
-- a push of 2,500 quantities in 2 calls, exact per location; read gives the figures; an order
-- placed at the store and a figure set at the store show in read; a 429 during a push is
-- retried by ctx; a 422 is answered per item (an item tracked by product sent again by
-- product_id, an unknown one an error).
local T = require "t"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local http = require "cartwright.http"
local json = require "cjson.safe"

local BULK = 1300
local sim = require("sim.bigcommerce").start{ port = 0, orders = 5, seed = 3, stock_skus = BULK }
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "bc" { connector = "bigcommerce", url = %q, store_hash = "abc123", token = "bc_test",
  retry_base_seconds = 0.05 }
]], sim.url))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "bc"))
local ctx = context.new(cart, conn)
local stock = conn.stock

local function stats() return sim.stats end
local function sim_call(method, path, body)
  local res = assert(http.request{ method = method, url = sim.url .. path, body = body and json.encode(body),
    headers = { ["Content-Type"] = "application/json" } })
  return res.status, json.decode(res.body)
end

---------------------------------------------------------------- the capability
T.eq(conn.capabilities.stock, true, "bigcommerce declares the stock capability")
T.eq(stock.batch_max, 2000, "batch_max: 2,000 items an adjustment")
T.eq(stock.multi_location, true, "multi_location")
T.eq(stock.compare, false, "compare: false (the engine reads before it pushes)")

---------------------------------------------------------------- locations
local locs, lerr = stock.locations(ctx)
T.eq(locs and #locs, 2, "locations: the store's two", lerr)
local function loc(l) return l and (l.id .. " " .. l.name .. " " .. tostring(l.primary)) end
T.eq(locs and loc(locs[1]), "1 Fifth Avenue AppleStore true", "location 1 is the default and primary")
T.eq(locs and loc(locs[2]), "2 Berlin Store nil", "location 2, not primary")
T.eq(stats().stock_location_requests, 1, "in one call")

---------------------------------------------------------------- lookup
local skus = {}
for _, v in ipairs(sim.variants) do skus[#skus + 1] = v.sku end
local n = #skus
T.eq(n, #require("sim.common").catalog + BULK, "the store's SKUs: its catalog and the bulk products")
local asked = { "NOPE-1" }
for _, s in ipairs(skus) do asked[#asked + 1] = s end
asked[#asked + 1] = "NO,SUCH" -- a comma cannot go in sku:in: asked alone
asked[#asked + 1] = "NOPE-2"
asked[#asked + 1] = skus[1] -- twice: asked once
local refs, missing = stock.lookup(ctx, asked)
T.ok(refs ~= nil, "lookup answers", missing)
-- n + 2 SKUs in sku:in lists (NOPE-1 and NOPE-2 too): 1,502 -> 7 calls, and NO,SUCH alone
T.eq(stats().stock_lookup_requests, (n + 2 + 249) // 250 + 1, "lookup: ceil(SKUs / 250) calls, and one for the SKU with a comma")
local right, by_product = 0, 0
for _, v in ipairs(sim.variants) do
  local r = refs and refs[v.sku]
  if r and r.variant_id == v.id and r.product_id == v.product_id and r.by_product == (v.by_product or nil) then
    right = right + 1
  end
  if r and r.by_product then by_product = by_product + 1 end
end
T.eq(right, n, "every SKU's variant_id and product_id, and whether it is tracked by product")
T.eq(by_product, BULK, "the products without options are tracked by product")
T.eq(table.concat(missing or {}, " "), "NOPE-1 NO,SUCH NOPE-2", "the unknown SKUs are missing, in order")
local refs_count = 0
for _ in pairs(refs or {}) do refs_count = refs_count + 1 end
T.eq(refs_count, n, "no ref for anything else")

---------------------------------------------------------------- push 2,500
-- 1,250 SKUs (the whole catalog and bulk products) at both locations
local items, want = {}, {}
for i = 1, 1250 do
  local sku = skus[i]
  want[sku] = {}
  for _, loc in ipairs{ "1", "2" } do
    local q = (i * 7) % 500 + 20 + tonumber(loc)
    items[#items + 1] = { sku = sku, ref = refs[sku], location = loc, quantity = q, previous = nil }
    want[sku][loc] = q
  end
end
sim_call("POST", "/_sim/reset-stats")
local results, perr = stock.push(ctx, items, { key = "batch-1" })
T.ok(results ~= nil, "push of 2,500 quantities answers", perr)
T.eq(stats().stock_push_requests, 2, "in 2 calls (2,000 items a call)")
T.eq(stats().stock_adjusted, 2500, "every quantity applied")
local ok_count, exact = 0, 0
for sku, per in pairs(want) do
  if results and results[sku] == "ok" then ok_count = ok_count + 1 end
  local v = sim.variant_by_sku[sku]
  if v.stock[1] == per["1"] and v.stock[2] == per["2"] then exact = exact + 1 end
end
T.eq(ok_count, 1250, "every SKU's result is ok")
T.eq(exact, 1250, "the store's figures are exact at each location")

---------------------------------------------------------------- read
-- every SKU at location 2: the catalog's variants in one call, the bulk products' 1,030
-- product ids in two (1,000 a call)
local reads = {}
for i = 1, 1250 do reads[i] = { sku = skus[i], ref = refs[skus[i]], location = "2" } end
local fig, by_loc = stock.read(ctx, reads)
local same = 0
for sku, per in pairs(want) do
  if fig and fig[sku] == per["2"] and by_loc[sku]["2"] == per["2"] then same = same + 1 end
end
T.eq(same, 1250, "read: every figure at location 2")
T.eq(stats().stock_read_requests, 3, "in 3 calls (variant ids in one, product ids 1,000 a call)")
local none = stock.read(ctx, { { sku = "GONE", ref = { variant_id = 999999, product_id = 999 }, location = "1" } })
T.eq(none and next(none), nil, "read leaves out what the store does not have")

---------------------------------------------------------------- a sale at the store
local before = {}
for _, v in ipairs(sim.variants) do before[v.sku] = v.stock[1] end
local status, placed = sim_call("POST", "/_sim/orders", { count = 4 })
T.eq(status, 200, "orders placed at the store")
local sold, sold_skus = {}, {}
for _, id in ipairs(placed.ids) do
  for _, s in ipairs(sim.by_id[math.tointeger(id)].product_strings) do
    local p = json.decode(s)
    if sim.variant_by_sku[p.sku] then
      if not sold[p.sku] then sold_skus[#sold_skus + 1] = p.sku end
      sold[p.sku] = (sold[p.sku] or 0) + math.tointeger(p.quantity)
    end
  end
end
T.ok(#sold_skus > 0, "the orders sold catalog SKUs", #sold_skus)
local check = {}
for i, sku in ipairs(sold_skus) do check[i] = { sku = sku, ref = refs[sku], location = "1" } end
check[#check + 1] = { sku = skus[1300], ref = refs[skus[1300]] } -- no location: the default
fig = stock.read(ctx, check)
local lowered = 0
for _, sku in ipairs(sold_skus) do
  if fig[sku] == before[sku] - sold[sku] then lowered = lowered + 1 end
end
T.eq(lowered, #sold_skus, "read shows the sale: each sold SKU lowered by its quantity at the default location")
T.eq(fig[skus[1300]], 100, "an item without a location is read at the default location (untouched: 100)")
local _, figures = sim_call("GET", "/_sim/stock?sku=" .. sold_skus[1])
T.eq(figures[sold_skus[1]]["1"], before[sold_skus[1]] - sold[sold_skus[1]], "/_sim/stock shows it too")
T.eq(figures[sold_skus[1]]["2"], want[sold_skus[1]]["2"], "and location 2 untouched")

-- a figure set at the store (by location label) shows in the next read
status = sim_call("POST", "/_sim/stock", { sku = skus[5], location = "Berlin Store", quantity = 3 })
T.eq(status, 200, "/_sim/stock sets a figure")
fig = stock.read(ctx, { { sku = skus[5], ref = refs[skus[5]], location = "2" } })
T.eq(fig[skus[5]], 3, "read shows the figure the store changed")
status = sim_call("POST", "/_sim/stock", { sku = "NOPE-1", quantity = 3 })
T.eq(status, 404, "/_sim/stock refuses an unknown SKU")

---------------------------------------------------------------- a 429 during a push
sim_call("POST", "/_sim/reset-stats")
sim_call("POST", "/_sim/faults", { status = 429, on = "any", count = 1, reset_ms = 200 })
local retries = ctx.stats.retries
results, perr = stock.push(ctx, { { sku = skus[2], ref = refs[skus[2]], location = "1", quantity = 41 },
  { sku = skus[1290], ref = refs[skus[1290]], location = "2", quantity = 42 } }, { key = "batch-2" })
T.eq(results and results[skus[2]], "ok", "push through a 429: ok", perr)
T.eq(results and results[skus[1290]], "ok", "both items")
T.eq(stats().throttled, 1, "the store answered 429 once")
T.eq(stats().stock_push_requests, 2, "and the push was sent again")
T.eq(ctx.stats.retries - retries, 1, "by ctx")
T.eq(sim.variant_by_sku[skus[2]].stock[1] .. "/" .. sim.variant_by_sku[skus[1290]].stock[2], "41/42",
  "nothing lost")

---------------------------------------------------------------- a 422
-- a bulk product whose ref says variant (tracked by product at the store), an unknown variant
-- and a good one: the store refuses the call; the first is sent again by product_id with the
-- good one, the unknown one is an error
sim_call("POST", "/_sim/reset-stats")
local bulk = skus[#skus]
local wrong = { variant_id = refs[bulk].variant_id, product_id = refs[bulk].product_id }
results = stock.push(ctx, {
  { sku = bulk, ref = wrong, location = "1", quantity = 7 },
  { sku = "GONE", ref = { variant_id = 999999, product_id = 999 }, location = "1", quantity = 1 },
  { sku = skus[3], ref = refs[skus[3]], location = "1", quantity = 8 } })
T.eq(results and results[bulk], "ok", "422: the item tracked by product is sent again by product_id")
T.eq(results and results[skus[3]], "ok", "422: the good item is sent again")
T.match(type(results.GONE) == "table" and results.GONE.error or "", "variant_id 999999", "422: the unknown item has the store's error")
T.eq(stats().stock_push_requests, 2, "422: one call refused, one applied")
T.eq(sim.variant_by_sku[bulk].stock[1] .. "/" .. sim.variant_by_sku[skus[3]].stock[1], "7/8", "422: both applied")
results = stock.push(ctx, { { sku = skus[4], ref = refs[skus[4]], location = "1", quantity = -1 } })
T.match(results[skus[4]].error, "quantity", "a negative quantity is an error and never sent")
T.eq(stats().stock_push_requests, 2, "nothing sent for it")

---------------------------------------------------------------- the wire
local res = assert(http.request{ url = sim.url .. "/stores/abc123/v3/inventory/locations",
  headers = { ["X-Auth-Token"] = "bc_test" } })
T.ok(res.headers["x-rate-limit-requests-left"] ~= nil and res.headers["x-rate-limit-time-window-ms"] == "30000",
  "V3 answers carry the quota headers")
res = assert(http.request{ url = sim.url .. "/stores/abc123/v3/inventory/locations",
  headers = { ["X-Auth-Token"] = "wrong" } })
local body = json.decode(res.body)
T.eq(res.status .. " " .. tostring(body and math.tointeger(body.status)), "401 401", "V3 refusals are problem objects")
local big = {}
for i = 1, 2001 do big[i] = { location_id = 1, variant_id = refs[skus[1]].variant_id, quantity = i } end
res = assert(http.request{ method = "PUT", url = sim.url .. "/stores/abc123/v3/inventory/adjustments/absolute",
  headers = { ["X-Auth-Token"] = "bc_test", ["Content-Type"] = "application/json" },
  body = json.encode{ reason = "x", items = big } })
T.eq(res.status, 413, "the store refuses more than 2,000 items an adjustment")

sim:close()
os.execute("rm -rf " .. T.q(dir))
T.done()
