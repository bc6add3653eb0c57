-- The WooCommerce stock capability (connectors/woocommerce/stock.lua) against the simulator, over
-- real HTTP through ctx (OAuth 1.0a: the cart is on http): lookup of simple products and
-- variations by sku lists, a push of 250 figures in the fewest batch calls, read by SKU and by
-- id, an order at the cart lowering its stock, per-item errors, a 429 retried, the 100-item
-- limit, and plain permalinks.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local common = require "sim.common"

local function connect(sim, settings)
  return T.connect("w", "woocommerce", sim.url, 'consumer_key = "ck_test", consumer_secret = "cs_test", ' .. (settings or ""))
end

local function sim_stock(sim)
  local res = assert(http.request{ url = sim.url .. "/_sim/stock" })
  return json.decode(res.body)
end

local sim = require("sim.woocommerce").start{ port = 0, orders = 10, seed = 3, simple_products = 160 }
local ctx, conn = connect(sim)
local stock = conn.stock
T.eq(conn.capabilities.stock, true, "the package declares stock")
T.eq(stock.batch_max, 100, "batch_max 100")
T.eq(stock.multi_location, false, "no locations")
T.eq(stock.compare, false, "no compare: the engine reads before it pushes")

-- 150 simple products, the first 100 variations of the catalog, the catalog's one simple
-- product, a SKU in other case, two the cart does not have
local simple, variations = {}, {}
for i = 1, 150 do simple[i] = string.format("SIMPLE-%04d", i) end
for _, item in ipairs(common.catalog) do
  if #variations < 100 and item.sku ~= "GIFTCARD-25" then variations[#variations + 1] = item.sku end
end
local skus = {}
for _, s in ipairs(simple) do skus[#skus + 1] = s end
for _, s in ipairs(variations) do skus[#skus + 1] = s end
for _, s in ipairs{ "GIFTCARD-25", "mug-blu", "NOPE-1", "NOPE-2" } do skus[#skus + 1] = s end

sim:reset_stats()
local refs, missing = stock.lookup(ctx, skus)
T.ok(refs ~= nil, "lookup succeeds", missing)
T.eq(sim.stats.stock_lookup_requests, 3, "254 SKUs: three calls of 100 SKUs")
T.eq(sim.stats.requests, 3, "and nothing else")
T.eq(json.encode(refs["SIMPLE-0007"]), '{"product_id":5007}', "a simple product: its id")
T.eq(refs["MUG-RED"].product_id, 201, "a variation: its product")
T.eq(refs["MUG-RED"].variation_id, 601, "a variation: its own id")
T.eq(refs["GIFTCARD-25"].product_id, 228, "the catalog's simple product")
T.eq(refs["GIFTCARD-25"].variation_id, nil, "a simple product has no variation id")
T.eq(refs["mug-blu"] and refs["mug-blu"].variation_id, 602, "SKUs compare without case, as at the cart")
T.eq(table.concat(missing, " "), "NOPE-1 NOPE-2", "unknown SKUs are missing, in order")
local found = 0
for _ in pairs(refs) do found = found + 1 end
T.eq(found, 252, "every other SKU found")

-- the engine keeps refs as JSON: numbers come back as floats
local function stored(ref) return json.decode(json.encode(ref)) end

-- push 250 figures as the engine would: 100 at most per call, in SKU list order
local want, items = {}, {}
for i, sku in ipairs(skus) do
  if i <= 250 then
    want[sku] = (i * 37) % 101
    items[#items + 1] = { sku = sku, ref = stored(refs[sku]), quantity = want[sku], previous = 50 }
  end
end
-- the fewest calls: per batch, one for its products and one per product whose variations it has
local expected = 0
for first = 1, #items, 100 do
  local paths = {}
  for i = first, math.min(#items, first + 99) do
    local r = items[i].ref
    paths[r.variation_id and r.product_id or "products"] = true
  end
  for _ in pairs(paths) do expected = expected + 1 end
end
T.eq(expected, 15, "250 figures (150 products, the variations of 13 products in two batches): 15 calls")
sim:reset_stats()
local all_ok, pushed = true, 0
for first = 1, #items, 100 do
  local batch = table.move(items, first, math.min(#items, first + 99), 1, {})
  local results, err = stock.push(ctx, batch, { key = "k" .. first })
  T.ok(results ~= nil, "push of items " .. first .. "..: succeeds", err)
  for _, it in ipairs(batch) do
    pushed = pushed + 1
    if not results or results[it.sku] ~= "ok" then all_ok = false end
  end
end
T.eq(pushed, 250, "250 figures pushed")
T.ok(all_ok, "every result is ok")
T.eq(sim.stats.stock_push_requests, expected, "the fewest calls")
T.eq(sim.stats.requests, expected, "no other call")
local at_cart, exact = sim_stock(sim), 0
for sku, q in pairs(want) do
  if at_cart[sku:upper()] == q then exact = exact + 1 end
end
T.eq(exact, 250, "every figure at the cart is the one pushed")
T.eq(at_cart["SIMPLE-0151"], 50, "a product not pushed keeps its figure")

-- read: by SKU, 100 a call, whatever products the variations belong to
sim:reset_stats()
local figures, rerr = stock.read(ctx, items)
T.ok(figures ~= nil, "read succeeds", rerr)
exact = 0
for sku, q in pairs(want) do if figures and figures[sku] == q then exact = exact + 1 end end
T.eq(exact, 250, "read gives every figure")
T.eq(sim.stats.stock_lookup_requests, 3, "read: three calls by SKU")
T.eq(sim.stats.stock_read_requests, 0, "read: none by id")

-- a sale at the cart shows; an object whose SKU changed at the cart is read by its id
assert(http.request{ method = "POST", url = sim.url .. "/_sim/stock", body = '{"sku":"SIMPLE-0003","quantity":2}' })
sim:reset_stats()
figures = stock.read(ctx, {
  { sku = "SIMPLE-0003", ref = stored(refs["SIMPLE-0003"]) },
  { sku = "RENAMED-P", ref = stored(refs["SIMPLE-0005"]) },
  { sku = "RENAMED-V", ref = stored(refs["MUG-RED"]) },
  { sku = "RENAMED-V2", ref = stored(refs["MUG-GRN"]) },
  { sku = "GONE", ref = { product_id = 99999 } },
})
T.eq(figures and figures["SIMPLE-0003"], 2, "read: the cart's sale")
T.eq(figures and figures["RENAMED-P"], want["SIMPLE-0005"], "read by id: a product")
T.eq(figures and figures["RENAMED-V"], want["MUG-RED"], "read by id: a variation")
T.eq(figures and figures["RENAMED-V2"], want["MUG-GRN"], "read by id: another variation of the product")
T.eq(figures and figures["GONE"], nil, "read: a product gone has no figure")
T.eq(sim.stats.stock_lookup_requests, 1, "read: one call by SKU")
T.eq(sim.stats.stock_read_requests, 2, "read: then one for the products and one for the variations of MUG")

-- an order placed at the cart lowers its stock (processing, completed and on-hold orders do)
local before = sim_stock(sim)
local res = assert(http.request{ method = "POST", url = sim.url .. "/_sim/orders", body = '{"count":6}' })
local taken, lines = {}, 0
for _, id in ipairs(json.decode(res.body).ids) do
  local o = sim:order(id)
  local takes = o.status == "processing" or o.status == "completed" or o.status == "on-hold"
  for _, li in ipairs(o.line_items) do
    if takes and before[li.sku] then
      taken[li.sku] = (taken[li.sku] or 0) + li.quantity
      lines = lines + 1
    end
  end
end
T.ok(lines > 0, "the new orders have lines that take stock", lines)
local after, right = sim_stock(sim), 0
local changed = 0
for sku, q in pairs(before) do
  if after[sku] == q - (taken[sku] or 0) then right = right + 1 end
  if after[sku] ~= q then changed = changed + 1 end
end
local n_before = 0
for _ in pairs(before) do n_before = n_before + 1 end
T.eq(right, n_before, "every figure lowered by exactly what the orders took")
local n_taken = 0
for _ in pairs(taken) do n_taken = n_taken + 1 end
T.eq(changed, n_taken, "and no other figure moved")
local some = next(taken)
local order_refs = stock.lookup(ctx, { some })
figures = stock.read(ctx, { { sku = some, ref = stored(order_refs[some]) } })
T.eq(figures and figures[some], before[some] - taken[some], "read sees the order's sale")

-- per-item errors come inside a 200; the other items are set
sim:reset_stats()
local results = stock.push(ctx, {
  { sku = "SIMPLE-0010", ref = stored(refs["SIMPLE-0010"]), quantity = 7 },
  { sku = "GONE", ref = { product_id = 99999 }, quantity = 1 },
  { sku = "WRONG-PARENT", ref = { product_id = 202, variation_id = 601 }, quantity = 1 },
  { sku = "MUG-BLK", ref = stored(refs["MUG-BLK"] or stock.lookup(ctx, { "MUG-BLK" })["MUG-BLK"]), quantity = 9 },
}, { key = "errors" })
T.eq(results and results["SIMPLE-0010"], "ok", "per-item errors: the product is set")
T.eq(results and results["MUG-BLK"], "ok", "per-item errors: the variation is set")
T.eq(results and type(results.GONE) == "table" and results.GONE.error, "Invalid ID.", "a product gone: its error")
T.eq(results and type(results["WRONG-PARENT"]) == "table" and results["WRONG-PARENT"].error, "Invalid ID.",
  "a variation of another product: its error")
T.eq(sim:stock("SIMPLE-0010"), 7, "per-item errors: the figure set")
T.eq(sim:stock("MUG-BLK"), 9, "per-item errors: the variation's figure set")
T.eq(sim.stats.stock_push_requests, 3, "products, variations of 201, variations of 202: three calls")

-- a 429 during a push: ctx retries, nothing is lost
sim:fault{ status = 429, on = "any", count = 1 }
sim:reset_stats()
local retries = ctx.stats.retries
local batch = {}
for i = 1, 10 do batch[i] = { sku = simple[i], ref = stored(refs[simple[i]]), quantity = 100 + i } end
batch[11] = { sku = "MUG-RED", ref = stored(refs["MUG-RED"]), quantity = 111 }
results = stock.push(ctx, batch, { key = "after-429" })
T.ok(results ~= nil, "push through a 429 succeeds")
exact = 0
for _, it in ipairs(batch) do
  if results and results[it.sku] == "ok" and sim:stock(it.sku) == it.quantity then exact = exact + 1 end
end
T.eq(exact, 11, "after the 429 every figure is set")
T.eq(sim.stats.by_status["429"], 1, "the cart answered 429 once")
T.eq(ctx.stats.retries - retries, 1, "ctx retried once")
T.eq(sim.stats.stock_push_requests, 2, "then two calls went through")

-- the cart refuses more than 100 items in one batch, and applies none of them
local updates = {}
for i = 1, 101 do updates[i] = { id = 5000 + i, stock_quantity = 1 } end
res = assert(http.request{ method = "POST", url = sim.url .. "/wp-json/wc/v3/products/batch",
  headers = { Authorization = "Basic " .. crypto.base64("ck_test:cs_test"), ["Content-Type"] = "application/json" },
  body = json.encode({ update = updates }) })
T.eq(res.status, 413, "101 items: 413")
T.eq(json.decode(res.body).code, "woocommerce_rest_request_entity_too_large", "101 items: WooCommerce's code")
T.eq(sim:stock("SIMPLE-0001"), 101, "101 items: none applied")

-- a push larger than batch_max is still cut into calls of 100
sim:reset_stats()
local big = {}
for i = 1, 160 do big[i] = { sku = string.format("SIMPLE-%04d", i), ref = { product_id = 5000 + i }, quantity = 3 } end
results = stock.push(ctx, big, {})
T.eq(results and results["SIMPLE-0160"], "ok", "160 products in one push: set")
T.eq(sim.stats.stock_push_requests, 2, "160 products: two calls of at most 100")
T.eq(sim.stats.by_status["413"], nil, "160 products: no 413")
sim:close()

-- plain permalinks: the same calls at /?rest_route=, found by "auto" after one 404
local plain = require("sim.woocommerce").start{ port = 0, orders = 5, seed = 4, simple_products = 5,
  permalinks = "plain" }
for _, case in ipairs{ { "plain", 'permalinks = "plain",', 0 }, { "auto", "", 1 } } do
  local name, settings, misses = case[1], case[2], case[3]
  local pctx = connect(plain, settings)
  plain:reset_stats()
  local prefs, pmissing = stock.lookup(pctx, { "SIMPLE-0002", "TEE-BLK-M", "NOPE" })
  T.eq(prefs and prefs["TEE-BLK-M"] and prefs["TEE-BLK-M"].product_id, 202, name .. ": lookup finds the variation")
  T.eq(pmissing and pmissing[1], "NOPE", name .. ": and what is missing")
  local presults = prefs and stock.push(pctx, {
    { sku = "SIMPLE-0002", ref = stored(prefs["SIMPLE-0002"]), quantity = 4 },
    { sku = "TEE-BLK-M", ref = stored(prefs["TEE-BLK-M"]), quantity = 5 },
  }, {})
  T.eq(presults and presults["TEE-BLK-M"], "ok", name .. ": push succeeds")
  local pfig = prefs and stock.read(pctx, { { sku = "SIMPLE-0002", ref = stored(prefs["SIMPLE-0002"]) },
    { sku = "TEE-BLK-M", ref = stored(prefs["TEE-BLK-M"]) } })
  T.eq(pfig and pfig["SIMPLE-0002"], 4, name .. ": read gives the product's figure")
  T.eq(pfig and pfig["TEE-BLK-M"], 5, name .. ": read gives the variation's figure")
  T.eq(plain.stats.plain_requests, 4, name .. ": every call by ?rest_route= (lookup, two pushes, read)")
  T.eq(plain.stats.by_status["404"] or 0, misses, name .. ": 404s from /wp-json/")
end
plain:close()

return T.done()
