-- The PrestaShop stock capability (connectors/prestashop/stock.lua) against the simulator, over
-- real HTTP through ctx: lookup of combinations and products by reference in batched calls,
-- one PATCH per row with an XML body, read by row id in batches, an order at the cart lowering
-- its stock, per-item errors, a 429 retried, SKUs a filter cannot carry, a product with
-- combinations refused, and PrestaShop 1.7 (no PATCH: read the row, PUT it whole).
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local common = require "sim.common"

local KEY = "PS8SIMKEY0000000000000000000TEST"

local function connect(sim)
  return T.connect("p", "prestashop", sim.url, string.format('key = %q, timezone = "+01:00"', KEY))
end

local function sim_stock(sim)
  return json.decode(assert(http.request{ url = sim.url .. "/_sim/stock" }).body)
end

-- the engine keeps refs as JSON: numbers come back as floats
local function stored(ref) return json.decode(json.encode(ref)) end

local sim = require("sim.prestashop").start{ port = 0, orders = 10, seed = 3 }
local ctx, conn = connect(sim)
local stock = conn.stock
T.eq(conn.capabilities.stock, true, "the package declares stock")
T.eq(stock.batch_max, 50, "batch_max 50 (one request per row)")
T.eq(stock.multi_location, false, "no locations")
T.eq(stock.compare, false, "no compare: the engine reads before it pushes")

-- every catalog SKU (combinations, and GIFTCARD-25: a product without combinations), one in
-- other case, two unknown, one a filter cannot carry, and a product with combinations (MUG)
local skus = {}
for _, item in ipairs(common.catalog) do skus[#skus + 1] = item.sku end
local ncat = #skus
for _, s in ipairs{ "tee-blk-m", "NOPE-1", "NOPE-2", "A|B", "MUG" } do skus[#skus + 1] = s end
sim:reset_stats()
local refs, missing = stock.lookup(ctx, skus)
T.ok(refs ~= nil, "lookup succeeds", missing)
-- combinations: ceil((ncat + 4) / 100) calls; products: one for the 5 not found; rows: 28 products, one call
local want_calls = (ncat + 4 + 99) // 100 + 1 + 1
T.eq(sim.stats.stock_lookup_requests, want_calls, "lookup: combinations 100 a call, then products, then the rows")
T.eq(sim.stats.requests, want_calls, "and nothing else")
T.eq(json.encode(refs["MUG-RED"]), json.encode({ stock_id = 1, product_id = 1, attribute_id = 1 }), "a combination: its row")
local gift = sim.stock_by_sku["giftcard-25"]
T.eq(refs["GIFTCARD-25"] and refs["GIFTCARD-25"].stock_id, gift.id, "a product without combinations: its own row")
T.eq(refs["GIFTCARD-25"] and refs["GIFTCARD-25"].attribute_id, 0, "with attribute 0")
T.eq(refs["tee-blk-m"] and refs["tee-blk-m"].stock_id, sim.stock_by_sku["tee-blk-m"].id, "references compare without case")
T.eq(table.concat(missing, " "), "A|B NOPE-1 NOPE-2 MUG", "unaskable first, then the unknown, and a product with combinations")
local found = 0
for _ in pairs(refs) do found = found + 1 end
T.eq(found, ncat + 1, "every other SKU found")

-- push 50 figures (one batch): one PATCH each
local want, items = {}, {}
for i = 1, 50 do
  local sku = skus[i]
  want[sku] = (i * 37) % 101
  items[i] = { sku = sku, ref = stored(refs[sku]), quantity = want[sku], previous = 50 }
end
sim:reset_stats()
local results, err = stock.push(ctx, items, { key = "k1" })
T.ok(results ~= nil, "push succeeds", err)
local ok_n = 0
for _, it in ipairs(items) do if results and results[it.sku] == "ok" then ok_n = ok_n + 1 end end
T.eq(ok_n, 50, "every result is ok")
T.eq(sim.stats.stock_push_requests, 50, "one request per row")
T.eq(sim.stats.requests, 50, "no other call")
local at_cart, exact = sim_stock(sim), 0
for sku, q in pairs(want) do if at_cart[sku:upper()] == q then exact = exact + 1 end end
T.eq(exact, 50, "every figure at the cart is the one pushed")
T.eq(at_cart[skus[51]:upper()], 50, "a SKU not pushed keeps its figure")
local mug = 0
for i = 1, 6 do mug = mug + want[skus[i]] end
T.eq(sim.stock_rows[sim.products[1].stock.id].quantity, mug, "the product's own row is the sum of its combinations")

-- read: 100 rows a call
sim:reset_stats()
local all = {}
for i = 1, 120 do all[i] = { sku = skus[i], ref = stored(refs[skus[i]]) } end
local figures, rerr = stock.read(ctx, all)
T.ok(figures ~= nil, "read succeeds", rerr)
exact = 0
for i = 1, 120 do
  local s = skus[i]
  if figures and figures[s] == (want[s] or 50) then exact = exact + 1 end
end
T.eq(exact, 120, "read gives every figure")
T.eq(sim.stats.stock_read_requests, 2, "read: 120 rows in two calls")
figures = stock.read(ctx, { { sku = "GONE", ref = { stock_id = 99999 } } })
T.eq(figures and figures.GONE, nil, "a row gone has no figure")

-- an order placed at the cart lowers its stock
local before = sim_stock(sim)
local res = assert(http.request{ method = "POST", url = sim.url .. "/_sim/orders", body = '{"count":5}' })
local taken = {}
for _, id in ipairs(json.decode(res.body).ids) do
  for _, row in ipairs(sim:order(id).associations.order_rows) do
    local sku = row.product_reference:upper()
    if before[sku] then taken[sku] = (taken[sku] or 0) + tonumber(row.product_quantity) end
  end
end
local after, right, changed, nbefore, ntaken = sim_stock(sim), 0, 0, 0, 0
for sku, q in pairs(before) do
  nbefore = nbefore + 1
  if after[sku] == q - (taken[sku] or 0) then right = right + 1 end
  if after[sku] ~= q then changed = changed + 1 end
end
for _ in pairs(taken) do ntaken = ntaken + 1 end
T.ok(ntaken > 0, "the orders took stock", ntaken)
T.eq(right, nbefore, "every figure lowered by exactly what the orders took")
T.eq(changed, ntaken, "and no other figure moved")
local some = next(taken)
local some_ref = refs[some] or refs[some:lower()] or stock.lookup(ctx, { some })[some]
figures = stock.read(ctx, { { sku = some, ref = stored(some_ref) } })
T.eq(figures and figures[some], before[some] - taken[some], "read sees the order's sale")

-- cancelling an order at the cart gives its stock back
local placed = json.decode(res.body).ids
local mid_fig = sim_stock(sim)
local back = {}
for _, row in ipairs(sim:order(placed[1]).associations.order_rows) do
  local sku = row.product_reference:upper()
  if mid_fig[sku] then back[sku] = (back[sku] or 0) + tonumber(row.product_quantity) end
end
local cres = assert(http.request{ method = "POST", url = sim.url .. "/_sim/orders/" .. string.format("%d", placed[1]),
  body = '{"status":"cancelled"}' })
T.eq(cres.status, 200, "the order cancelled at the cart")
local after_cancel, restored, nback = sim_stock(sim), 0, 0
for sku, q in pairs(back) do
  nback = nback + 1
  if after_cancel[sku] == mid_fig[sku] + q then restored = restored + 1 end
end
T.ok(nback > 0, "the first order took stock", nback)
T.eq(restored, nback, "cancelling it gives back exactly what it took")

-- per-item errors: a row gone is that SKU's error; the others are set
sim:reset_stats()
results = stock.push(ctx, {
  { sku = "MUG-BLU", ref = stored(refs["MUG-BLU"]), quantity = 7 },
  { sku = "GONE", ref = { stock_id = 99999 }, quantity = 1 },
  { sku = "BAD", ref = {}, quantity = 1 },
  { sku = "MUG-GRN", ref = stored(refs["MUG-GRN"]), quantity = 9 },
}, { key = "errors" })
T.eq(results and results["MUG-BLU"], "ok", "per-item errors: the first is set")
T.eq(results and results["MUG-GRN"], "ok", "per-item errors: the last is set")
T.match(results and results.GONE and results.GONE.error or "", "^http 404: .*Id%(s%) not exists: 99999", "a row gone: the cart's message")
T.eq(results and results.BAD and results.BAD.error, "no stock_availables id or quantity for BAD", "a ref without id: refused before sending")
T.eq(sim:stock("MUG-BLU"), 7, "the figure set")
T.eq(sim.stats.stock_push_requests, 3, "three requests (the bad ref sent nothing)")

-- a 429 (a host's limit: PrestaShop has none) is retried by ctx; nothing is lost
sim:fault{ status = 429, on = "any", count = 1 }
local retries = ctx.stats.retries
results = stock.push(ctx, { { sku = "MUG-WHT", ref = stored(refs["MUG-WHT"]), quantity = 11 } }, { key = "429" })
T.eq(results and results["MUG-WHT"], "ok", "push through a 429 succeeds")
T.eq(sim:stock("MUG-WHT"), 11, "and the figure is set")
T.eq(ctx.stats.retries - retries, 1, "ctx retried once")

-- a cart that keeps failing: the whole push fails (the engine retries the batch; figures are absolute)
sim:fault{ status = 500, on = "any", count = 100 }
local nores, perr = stock.push(ctx, { { sku = "MUG-YEL", ref = stored(refs["MUG-YEL"]), quantity = 3 } }, { key = "5xx" })
T.eq(nores, nil, "persistent 500s: nil")
T.match(perr, "^http 500 after %d+ attempts.*stock push %(stock_availables %d+%)", "naming the row")
sim.faults = {}
sim:close()

-- PrestaShop 1.7: no PATCH. The row is read and PUT whole, its settings kept.
local old = require("sim.prestashop").start{ port = 0, orders = 2, seed = 4, patch = false }
local octx = connect(old)
local orefs = assert(stock.lookup(octx, { "CAP-RED" }))
old.stock_by_sku["cap-red"].out_of_stock = 1
old:reset_stats()
results = stock.push(octx, {
  { sku = "CAP-RED", ref = stored(orefs["CAP-RED"]), quantity = 4 },
  { sku = "CAP-RED2", ref = stored(orefs["CAP-RED"]), quantity = 5 },
}, {})
T.eq(results and results["CAP-RED"], "ok", "1.7: set with PUT")
T.eq(old:stock("CAP-RED"), 5, "1.7: the last figure")
T.eq(old.stock_by_sku["cap-red"].out_of_stock, 1, "1.7: the row's other settings kept")
T.eq(old.stats.by_status["405"], 1, "1.7: one PATCH refused, then PUT only")
T.eq(old.stats.stock_push_requests, 3, "1.7: the refused PATCH and two PUTs")
old:close()

-- through the engine: `stock import` makes every catalog figure true at the cart
local bin = T.sim("prestashop", { "--orders", "0" })
local dir = T.tmpdir()
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "ps" { connector = "prestashop", url = %q, key = %q, timezone = "+01:00", sync_inventory = true,
  rate_limit = { capacity = 1000, per_second = 1000 } }
]], dir .. "/cw.db", bin.url, KEY))
local csv, expect_fig = { "sku,warehouse,quantity" }, {}
for i, item in ipairs(common.catalog) do
  expect_fig[item.sku] = i % 17
  csv[#csv + 1] = item.sku .. ",main," .. (i % 17)
end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
local code, out, cerr = T.cw({ "-c", cfg, "stock", "import", dir .. "/stock.csv" }, {}, { timeout = 120 })
T.eq(code, 0, "stock import: exit 0", tostring(cerr) .. tostring(out))
local fig = sim_stock(bin)
right = 0
for sku, q in pairs(expect_fig) do if fig[sku] == q then right = right + 1 end end
T.eq(right, #common.catalog, "every catalog figure at the cart is the back office's")
local stats = json.decode(assert(http.request{ url = bin.url .. "/_sim/stats" }).body)
T.eq(stats.stock_push_requests, #common.catalog, "one request per figure (each differed from the cart's 50)")
T.eq(stats.stock_read_requests, (#common.catalog + 49) // 50, "one read before each batch of 50")
bin.stop()
os.execute("rm -rf " .. dir)

return T.done()
