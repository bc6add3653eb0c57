-- The Magento stock capability (connectors/magento/stock.lua) against the simulator, over real
-- HTTP through ctx (OAuth 1.0a): sources as locations, lookup of our SKUs (a
-- configurable's SKU holds no stock: missing), 100 a call, a push of 250 figures in the fewest source-item
-- calls, a second source, read, an order at the cart (MSI reserves; the source drops when it
-- ships), a batch with a bad item split until it stands alone (Magento saves none of a refused
-- batch), a 429 retried, a store with Web API input limits (20 items a call), and the legacy
-- stock items of a store without MSI.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local common = require "sim.common"

local function connect(sim, settings)
  return T.connect("m", "magento", sim.url, 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at",'
    .. ' access_token_secret = "mg_ats", ' .. (settings or ""))
end

local function sim_get(sim, path)
  local res = assert(http.request{ url = sim.url .. path })
  return json.decode(res.body)
end

-- the engine keeps refs as JSON: numbers come back as floats
local function stored(ref) return json.decode(json.encode(ref)) end

local sim = require("sim.magento").start{ port = 0, orders = 10, seed = 3, simple_products = 160 }
local ctx, conn = connect(sim)
local stock = conn.stock
T.eq(conn.capabilities.stock, true, "the package declares stock")
T.eq(stock.batch_max, 100, "batch_max 100")
T.eq(stock.multi_location, true, "sources are locations")
T.eq(stock.compare, false, "no compare: the engine reads before it pushes")

local locs, lerr = stock.locations(ctx)
T.ok(locs ~= nil, "locations", lerr)
T.eq(locs and #locs, 2, "two sources")
T.eq(locs and (locs[1].id .. "/" .. locs[1].name .. "/" .. tostring(locs[1].primary)), "default/Default Source/true",
  "the default source is primary")
T.eq(locs and (locs[2].id .. "/" .. tostring(locs[2].primary)), "warehouse_east/nil", "the other is not")

-- 150 simple products, 100 variations (configurable children), the catalog's simple product,
-- a SKU in other case, a configurable's own SKU, two the cart does not have
local simple, variations = {}, {}
for i = 1, 150 do simple[i] = string.format("SIMPLE-%04d", i) end
for _, item in ipairs(common.catalog) do
  if #variations < 100 and item.sku ~= "GIFTCARD-25" then variations[#variations + 1] = item.sku end
end
local skus = {}
for _, s in ipairs(simple) do skus[#skus + 1] = s end
for _, s in ipairs(variations) do skus[#skus + 1] = s end
for _, s in ipairs{ "GIFTCARD-25", "mug-blu", "TEE", "NOPE-1", "NOPE-2" } do skus[#skus + 1] = s end

sim:reset_stats()
local refs, missing = stock.lookup(ctx, skus)
T.ok(refs ~= nil, "lookup succeeds", missing)
T.eq(sim.stats.stock_lookup_requests, 3, "255 SKUs: three calls of 100")
T.eq(sim.stats.requests, 3, "and nothing else")
local r7 = refs["SIMPLE-0007"]
T.eq(r7.id .. " " .. r7.item_id .. " " .. r7.sku, "5007 35007 SIMPLE-0007", "a simple product: id, stock item, SKU")
T.eq(refs["MUG-RED"].id, 1001, "a configurable's child")
T.eq(refs["mug-blu"] and refs["mug-blu"].sku, "MUG-BLU", "SKUs compare without case; the cart's spelling kept")
T.eq(table.concat(missing, " "), "TEE NOPE-1 NOPE-2", "a configurable holds no stock; unknown SKUs missing, in order")

-- push 250 figures at the default source: 100 a call
local want, items = {}, {}
for i, sku in ipairs(skus) do
  if i <= 250 then
    want[sku] = (i * 37) % 101
    items[#items + 1] = { sku = sku, ref = stored(refs[sku]), location = "default", quantity = want[sku], previous = 50 }
  end
end
sim:reset_stats()
local all_ok = true
for first = 1, #items, 100 do
  local batch = table.move(items, first, math.min(#items, first + 99), 1, {})
  local results, err = stock.push(ctx, batch, { key = "k" .. first })
  T.ok(results ~= nil, "push of items " .. first .. "..: succeeds", err)
  for _, it in ipairs(batch) do if not results or results[it.sku] ~= "ok" then all_ok = false end end
end
T.ok(all_ok, "every result is ok")
T.eq(sim.stats.stock_push_requests, 3, "250 figures: three calls")
T.eq(sim.stats.requests, 3, "no other call")
local exact = 0
for sku, q in pairs(want) do
  if sim:stock(sku, "default") == q then exact = exact + 1 end
end
T.eq(exact, 250, "every figure at the default source is the one pushed")
T.eq(sim:stock("MUG-BLU", "warehouse_east"), 10, "the other source untouched")
T.eq(sim:stock("SIMPLE-0151", "default"), 50, "a product not pushed keeps its figure")

-- another source
local east = { { sku = "SIMPLE-0001", ref = stored(refs["SIMPLE-0001"]), location = "warehouse_east", quantity = 4 },
  { sku = "mug-blu", ref = stored(refs["mug-blu"]), location = "warehouse_east", quantity = 0 } }
local r = stock.push(ctx, east, { key = "east" })
T.eq(r and r["SIMPLE-0001"], "ok", "a figure at warehouse_east")
T.eq(sim:stock("SIMPLE-0001", "warehouse_east"), 4, "set there")
T.eq(sim:stock("MUG-BLU", "warehouse_east"), 0, "zero: set, by the cart's spelling")
T.eq(sim:stock("SIMPLE-0001", "default"), want["SIMPLE-0001"], "the default source keeps its figure")

-- read: per source, 50 SKUs a call
sim:reset_stats()
local figures, rerr = stock.read(ctx, items)
T.ok(figures ~= nil, "read succeeds", rerr)
exact = 0
for sku, q in pairs(want) do if figures and figures[sku] == q then exact = exact + 1 end end
T.eq(exact, 250, "read gives every figure")
T.eq(sim.stats.stock_read_requests, 3, "250 SKUs at one source: three calls")
figures = stock.read(ctx, east)
T.eq(figures and figures["SIMPLE-0001"], 4, "read at warehouse_east")
T.eq(figures and figures["mug-blu"], 0, "read by our SKU at warehouse_east")

-- a sale at the cart shows
assert(http.request{ method = "POST", url = sim.url .. "/_sim/stock", body = '{"sku":"SIMPLE-0003","quantity":2}' })
figures = stock.read(ctx, { { sku = "SIMPLE-0003", ref = stored(refs["SIMPLE-0003"]) } })
T.eq(figures and figures["SIMPLE-0003"], 2, "read: the cart's sale (no location: the default source)")

-- an order placed at the cart: MSI reserves it (the salable quantity drops), the sources drop
-- only when it ships
local before, salable0 = sim_get(sim, "/_sim/stock"), sim_get(sim, "/_sim/salable")
local res = assert(http.request{ method = "POST", url = sim.url .. "/_sim/orders", body = '{"count":4}' })
local taken, order_id = {}, nil
for _, id in ipairs(json.decode(res.body).ids) do
  local o = sim:order(id)
  local holds = o.status ~= "canceled" and o.status ~= "closed" and o.status ~= "complete"
  for _, it in ipairs(o.items) do
    if holds and not it.parent_item_id and before[it.sku] then
      taken[it.sku] = (taken[it.sku] or 0) + it.qty_ordered
      if o.status == "processing" then order_id = order_id or math.tointeger(id) end
    end
  end
end
local after, salable1 = sim_get(sim, "/_sim/stock"), sim_get(sim, "/_sim/salable")
local same, lowered = 0, 0
for sku, q in pairs(before) do
  if after[sku].default == q.default then same = same + 1 end
  if salable1[sku] == salable0[sku] - (taken[sku] or 0) then lowered = lowered + 1 end
end
local n = 0
for _ in pairs(before) do n = n + 1 end
T.eq(same, n, "MSI: the sources' quantities do not move when orders are placed")
T.eq(lowered, n, "MSI: the salable quantities drop by exactly what the orders reserve")
T.ok(order_id ~= nil, "a processing order among them")
local o = sim:order(order_id)
local line = o.items[1]
local src0 = sim:stock(line.sku, "default")
res = assert(http.request{ method = "POST", url = sim.url .. "/rest/default/V1/order/" .. order_id .. "/ship",
  headers = { Authorization = "Bearer " .. json.decode(assert(http.request{ method = "POST",
    url = sim.url .. "/rest/V1/integration/admin/token", body = '{"username":"admin","password":"admin123"}' }).body),
    ["Content-Type"] = "application/json" }, body = "{}" })
T.eq(res.status, 200, "the order ships at the cart")
T.eq(sim:stock(line.sku, "default"), src0 - line.qty_ordered, "MSI: the default source drops when it ships")

-- a batch with a bad item: Magento saves none of it; the connector splits it until the bad one
-- stands alone, and every other figure is set
sim:reset_stats()
local mixed = {}
for i = 1, 8 do mixed[i] = { sku = simple[i], ref = stored(refs[simple[i]]), quantity = 60 + i } end
mixed[6] = { sku = "GONE", ref = { id = 99999, sku = "GONE", item_id = 99999 }, quantity = 1 }
mixed[9] = { sku = "BADQ", ref = stored(refs[simple[9]]), quantity = 1.5 }
local results = stock.push(ctx, mixed, { key = "mixed" })
T.ok(results ~= nil, "a batch with bad items: no whole-call error")
T.eq(results and type(results.GONE) == "table" and results.GONE.error,
  'Validation Failed: Product with SKU "GONE" does not exist.', "the bad item's own error, as Magento words it")
T.eq(results and type(results.BADQ) == "table" and results.BADQ.error, "quantity must be a whole number (got 1.5)",
  "a fractional quantity refused before sending")
local good = 0
for i = 1, 8 do if i ~= 6 and results and results[simple[i]] == "ok" and sim:stock(simple[i]) == 60 + i then good = good + 1 end end
T.eq(good, 7, "every other figure set")
T.eq(sim.stats.stock_push_requests, 7, "8 items, one bad: 1 refused + halves 4/4 (1 ok, 1 refused) + 2/2 + 1/1")
T.eq(sim.stats.by_status["400"], 4, "four refusals: 1-8, 5-8, 5-6, 6")

-- a 429 during a push: ctx retries, nothing is lost
sim:fault{ status = 429, on = "any", count = 1 }
sim:reset_stats()
local retries = ctx.stats.retries
local batch = {}
for i = 1, 10 do batch[i] = { sku = simple[i], ref = stored(refs[simple[i]]), quantity = 100 + i } end
results = stock.push(ctx, batch, { key = "after-429" })
exact = 0
for _, it in ipairs(batch) do
  if results and results[it.sku] == "ok" and sim:stock(it.sku) == it.quantity then exact = exact + 1 end
end
T.eq(exact, 10, "after the 429 every figure is set")
T.eq(sim.stats.by_status["429"], 1, "the cart answered 429 once")
T.eq(ctx.stats.retries - retries, 1, "ctx retried once")

-- a 500 on every try: the push fails as a whole, to be retried by the engine
sim:fault{ status = 500, on = "any", count = 100 }
local none, perr = stock.push(ctx, batch, { key = "down" })
T.eq(none, nil, "a store that keeps failing: nil")
T.match(perr, "^http 500 after %d+ attempts: .*Internal Error", "the status, the attempts and Magento's message")
sim.faults = {}

-- Web API input limits on: 20 source items a call
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"input_limit":true}' })
sim:reset_stats()
local fifty = {}
for i = 1, 50 do fifty[i] = { sku = simple[i], ref = stored(refs[simple[i]]), quantity = 7 } end
results = stock.push(ctx, fifty, { key = "limited" })
exact = 0
for _, it in ipairs(fifty) do if results and results[it.sku] == "ok" and sim:stock(it.sku) == 7 then exact = exact + 1 end end
T.eq(exact, 50, "input limits: every figure set")
T.eq(sim.stats.stock_push_requests, 4, "input limits: one refused call, then 20 + 20 + 10")
sim:close()

---------------------------------------------------------------- legacy stock items (no MSI)
local lsim = require("sim.magento").start{ port = 0, orders = 5, seed = 4, simple_products = 5, msi = false }
local lctx = connect(lsim, 'stock_api = "legacy",')
locs = stock.locations(lctx)
T.eq(locs and #locs == 1 and locs[1].id .. "/" .. tostring(locs[1].primary), "default/true", "legacy: one default stock")
local lrefs = stock.lookup(lctx, { "SIMPLE-0002", "TEE-BLK-M", "NOPE" })
T.eq(lrefs and lrefs["TEE-BLK-M"] and lrefs["TEE-BLK-M"].item_id, 30000 + 1000 + common.catalog_by_sku["TEE-BLK-M"].variant_no,
  "legacy: the stock item id")
lsim:reset_stats()
results = stock.push(lctx, {
  { sku = "SIMPLE-0002", ref = stored(lrefs["SIMPLE-0002"]), quantity = 4 },
  { sku = "TEE-BLK-M", ref = stored(lrefs["TEE-BLK-M"]), quantity = 5 },
  { sku = "GONE", ref = { id = 1, sku = "GONE", item_id = 1 }, quantity = 5 },
}, {})
T.eq(results and results["TEE-BLK-M"], "ok", "legacy: push succeeds")
T.eq(lsim:stock("TEE-BLK-M"), 5, "legacy: set")
T.eq(results and type(results.GONE) == "table" and results.GONE.error,
  "The product that was requested doesn't exist. Verify the product and try again. (PUT stockItems of GONE)",
  "legacy: a product gone, its own error")
T.eq(lsim.stats.stock_push_requests, 3, "legacy: one PUT per product")
local lfig = stock.read(lctx, { { sku = "SIMPLE-0002", ref = stored(lrefs["SIMPLE-0002"]) },
  { sku = "TEE-BLK-M", ref = stored(lrefs["TEE-BLK-M"]) } })
T.eq(lfig and lfig["SIMPLE-0002"], 4, "legacy: read")
T.eq(lfig and lfig["TEE-BLK-M"], 5, "legacy: read the child")
-- without MSI an order deducts at once
local lbefore = sim_get(lsim, "/_sim/stock")
res = assert(http.request{ method = "POST", url = lsim.url .. "/_sim/orders", body = '{"count":4}' })
local ltaken = {}
for _, id in ipairs(json.decode(res.body).ids) do
  local lo = lsim:order(id)
  if lo.status ~= "canceled" and lo.status ~= "closed" and lo.status ~= "complete" then
    for _, it in ipairs(lo.items) do
      if not it.parent_item_id and lbefore[it.sku] then ltaken[it.sku] = (ltaken[it.sku] or 0) + it.qty_ordered end
    end
  end
end
local lafter, right, total = sim_get(lsim, "/_sim/stock"), 0, 0
for sku, q in pairs(lbefore) do
  total = total + 1
  if lafter[sku].default == q.default - (ltaken[sku] or 0) then right = right + 1 end
end
T.eq(right, total, "legacy: every figure lowered by exactly what the orders took")
lsim:close()

---------------------------------------------------------------- through the binary
-- stock import -> every figure at its source: warehouse main to the default source (named by
-- its name), east to warehouse_east (by its code); the outbox ends done
local bsim = T.sim("magento", { "--orders", "0" })
local dir = T.tmpdir()
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "mg" { connector = "magento", url = %q, consumer_key = "mg_ck", consumer_secret = "mg_cs",
  access_token = "mg_at", access_token_secret = "mg_ats", sync_inventory = true,
  inventory = { locations = { main = "Default Source", east = "warehouse_east" } } }
]], dir .. "/cw.db", bsim.url))
local csv = { "sku,warehouse,quantity" }
for i, item in ipairs(common.catalog) do
  csv[#csv + 1] = item.sku .. ",main," .. (i % 40)
  if i <= 5 then csv[#csv + 1] = item.sku .. ",east," .. (100 + i) end
end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
local code, out, err = T.cw({ "-c", cfg, "stock", "import", dir .. "/stock.csv" }, {}, { timeout = 120 })
T.eq(code, 0, "stock import: exit 0", (err or "") .. (out or ""))
local at = sim_get(bsim, "/_sim/stock")
local wrong, first = 0, nil
for i, item in ipairs(common.catalog) do
  local want_main, want_east = i % 40, i <= 5 and (100 + i) or 0
  local got = at[item.sku] or {}
  if got.default ~= want_main or got.warehouse_east ~= want_east then
    wrong = wrong + 1
    first = first or (item.sku .. ": " .. tostring(got.default) .. "/" .. tostring(got.warehouse_east))
  end
end
T.eq(wrong, 0, "every figure at its source (east: the first five, 0 for the SKUs it does not hold)", first)
code, out = T.cw({ "-c", cfg, "outbox", "--json" }, {}, { timeout = 60 })
local pending = 0
for l in out:gmatch("[^\n]+") do
  local e = json.decode(l)
  if e.state ~= "done" then pending = pending + 1 end
end
T.eq(pending, 0, "outbox: every batch done")
bsim.stop()
os.execute("rm -rf " .. dir)

return T.done()
