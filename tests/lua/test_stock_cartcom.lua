-- The Cart.com stock capability (connectors/cartcom/stock.lua) against the simulator, over real
-- HTTP through ctx: lookup of variants and products with OR-ed item_number queries (50 SKUs a
-- call), read by id, one inventory/set per figure, an order at the cart lowering its stock,
-- per-item errors, a 429 retried, a 5xx failing the whole call; then the engine's stock flow
-- through the real binary (stock import + stock push) reaching the cart.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local common = require "sim.common"

local function connect(sim, settings)
  return T.connect("cc", "cartcom", sim.url, 'token = "ac_test", ' .. (settings or ""))
end

local function sim_stock(sim)
  local res = assert(http.request{ url = sim.url .. "/_sim/stock" })
  return json.decode(res.body)
end

local sim = require("sim.cartcom").start{ port = 0, orders = 10, seed = 3, stock_skus = 60, rate = false,
  named_skus = { "BOX OF 12" } }
local ctx, conn = connect(sim)
local stock = conn.stock
T.eq(conn.capabilities.stock, true, "the package declares stock")
T.eq(stock.batch_max, 25, "batch_max 25 (one call per figure)")
T.eq(stock.multi_location, false, "no locations")
T.eq(stock.compare, false, "no compare: the engine reads before it pushes")

-- 60 products without variants, 40 variants of the catalog, the catalog's one product without
-- variants, a SKU in other case, two the cart does not have
local skus, variants = {}, {}
for i = 1, 60 do skus[#skus + 1] = string.format("STK-%05d", i) end
for _, item in ipairs(common.catalog) do
  if #variants < 40 and item.sku ~= "GIFTCARD-25" then variants[#variants + 1] = item.sku end
end
for _, s in ipairs(variants) do skus[#skus + 1] = s end
for _, s in ipairs{ "GIFTCARD-25", "mug-blu", "NOPE-1", "NOPE-2" } do skus[#skus + 1] = s end

sim:reset_stats()
local refs, missing = stock.lookup(ctx, skus)
T.ok(refs ~= nil, "lookup succeeds", missing)
T.eq(sim.stats.stock_lookup_requests, 6, "104 SKUs: three groups of at most 50, each on variant_inventory and products")
T.eq(sim.stats.requests, 6, "and nothing else")
T.eq(json.encode(refs["STK-00007"]), '{"product_id":50007}', "a product without variants: its id")
T.eq(refs["MUG-RED"].variant_inventory_id, 1001, "a variant: its variant_inventory id")
T.eq(refs["MUG-RED"].product_id, 101, "a variant: and its product")
T.eq(refs["GIFTCARD-25"].product_id, 128, "the catalog's product without variants")
T.eq(refs["GIFTCARD-25"].variant_inventory_id, nil, "which has no variant id")
T.eq(refs["mug-blu"] and refs["mug-blu"].variant_inventory_id, 1002, "SKUs compare without case, as at the cart")
T.eq(table.concat(missing, " "), "NOPE-1 NOPE-2", "unknown SKUs are missing, in order")

-- a SKU with a space cannot go in an OR list: it is asked alone, exactly
sim:reset_stats()
local r2, m2 = stock.lookup(ctx, { "BOX OF 12", "MUG-RED", "NO SUCH THING" })
T.eq(r2 and r2["BOX OF 12"] and r2["BOX OF 12"].product_id, 60001, "a SKU with spaces: found alone")
T.eq(r2 and r2["MUG-RED"] and r2["MUG-RED"].variant_inventory_id, 1001, "the others in the list")
T.eq(m2 and table.concat(m2, ","), "NO SUCH THING", "a missing SKU with spaces: missing")
T.eq(sim.stats.stock_lookup_requests, 2, "one list call on each resource")
T.eq(sim.stats.stock_read_requests, 2, "and one GET inventory per SKU with spaces")

-- long SKUs with characters the URL encodes: each OR list stays under the 2,048 characters of
-- query a default IIS server takes (the simulator refuses longer ones with a 404.15)
sim:reset_stats()
local long = {}
for i = 1, 50 do long[i] = string.format("LONG/SKU/NAME-%020d", i) end
local r3, m3 = stock.lookup(ctx, long)
T.ok(r3 ~= nil, "50 long SKUs: the lookup succeeds", m3)
T.eq(m3 and #m3, 50, "  each one missing (none in the catalog)")
T.eq(sim.stats.by_status and sim.stats.by_status["404"] or 0, 0, "  no query was refused as too long")

-- the engine keeps refs as JSON
local function stored(ref) return json.decode(json.encode(ref)) end

-- push 100 figures in batches of 25: one inventory/set each
local want, items = {}, {}
for i, sku in ipairs(skus) do
  if refs[sku] and sku ~= "mug-blu" then
    want[sku] = (i * 37) % 101
    items[#items + 1] = { sku = sku, ref = stored(refs[sku]), quantity = want[sku], previous = 50 }
  end
end
sim:reset_stats()
local pushed, all_ok = 0, true
for first = 1, #items, stock.batch_max do
  local batch = { table.unpack(items, first, math.min(#items, first + stock.batch_max - 1)) }
  local results, err = stock.push(ctx, batch, { key = "k" .. first })
  T.ok(results ~= nil, "push of items " .. first .. "..: succeeds", err)
  for _, it in ipairs(batch) do
    pushed = pushed + 1
    if not results or results[it.sku] ~= "ok" then all_ok = false end
  end
end
T.eq(pushed, 101, "101 figures pushed")
T.ok(all_ok, "every result is ok")
T.eq(sim.stats.stock_push_requests, 101, "one inventory/set per figure")
T.eq(sim.stats.requests, 101, "no other call")
local at_cart, exact = sim_stock(sim), 0
for sku, q in pairs(want) do if at_cart[sku] == q then exact = exact + 1 end end
T.eq(exact, 101, "every figure at the cart is the one pushed")
T.eq(at_cart["STK-00060"], (60 * 37) % 101, "the last product")
T.eq(at_cart["MUG-BLU"], want["MUG-BLU"], "a variant's figure")

-- read: by id, OR-ed, variants and products apart
sim:reset_stats()
local read_items = {}
for _, it in ipairs(items) do read_items[#read_items + 1] = { sku = it.sku, ref = it.ref } end
local figures, rerr = stock.read(ctx, read_items)
T.ok(figures ~= nil, "read succeeds", rerr)
exact = 0
for sku, q in pairs(want) do if figures and figures[sku] == q then exact = exact + 1 end end
T.eq(exact, 101, "read gives every figure")
T.eq(sim.stats.stock_read_requests, 3, "read: 40 variants in one call, 61 products in two")
T.eq(sim.stats.stock_lookup_requests, 0, "read: no lookup by SKU")

-- an order placed at the cart lowers its stock
local before = sim_stock(sim)
local placed = json.decode(assert(http.request{ method = "POST", url = sim.url .. "/_sim/orders", body = '{"count":3}' }).body).ids
local taken = {}
for _, id in ipairs(placed) do
  for _, s in ipairs(sim.by_id[id].item_strings) do
    local it = json.decode(s)
    if not it.is_discount_item and before[it.item_number] then
      taken[it.item_number] = (taken[it.item_number] or 0) + it.quantity
    end
  end
end
local after, right, moved = sim_stock(sim), 0, 0
for sku, q in pairs(taken) do if after[sku] == before[sku] - q then right = right + 1 end end
for sku, q in pairs(after) do if q ~= before[sku] then moved = moved + 1 end end
local n_taken = 0
for _ in pairs(taken) do n_taken = n_taken + 1 end
T.ok(n_taken > 0, "the new orders have lines that take stock", n_taken)
T.eq(right, n_taken, "every figure lowered by exactly what the orders took")
T.eq(moved, n_taken, "and no other figure moved")

-- per-item errors: a product gone is that item's error, the others are set
sim:reset_stats()
local results = stock.push(ctx, {
  { sku = "STK-00010", ref = { product_id = 50010 }, quantity = 7 },
  { sku = "GONE", ref = { product_id = 99999 }, quantity = 3 },
  { sku = "MUG-BLK", ref = stored(refs["MUG-BLK"]), quantity = 9 },
}, { key = "e" })
T.eq(results and results["STK-00010"], "ok", "per-item errors: the product is set")
T.eq(results and results["MUG-BLK"], "ok", "per-item errors: the variant is set")
T.match(results and type(results.GONE) == "table" and results.GONE.error, "^http 404: .*No product was found",
  "a product gone: its error, the cart's message")
T.eq(sim_stock(sim)["STK-00010"], 7, "per-item errors: the figure set")

-- a 429 during a push: ctx retries, nothing is lost
sim:reset_stats()
sim:fault{ status = 429, count = 1, on = "any" }
results = stock.push(ctx, { { sku = "STK-00011", ref = { product_id = 50011 }, quantity = 11 },
  { sku = "STK-00012", ref = { product_id = 50012 }, quantity = 12 } }, { key = "r" })
T.ok(results and results["STK-00011"] == "ok" and results["STK-00012"] == "ok", "push through a 429 succeeds")
T.eq(sim.stats.by_status["429"], 1, "the cart answered 429 once")
T.eq(sim_stock(sim)["STK-00011"], 11, "after the 429 the figure is set")

-- a cart that keeps failing: the whole call fails (retryable), with the status
sim:fault{ status = 503, count = 100, on = "any" }
local none, ferr = stock.push(ctx, { { sku = "STK-00013", ref = { product_id = 50013 }, quantity = 13 } }, { key = "f" })
T.eq(none, nil, "persistent 503: the push fails")
T.match(ferr, "^http 503 after %d+ attempts", "with the status and the attempts")
sim.faults = {}
sim:close()

-- the engine's stock flow through the binary: stock import, stock push to the cart
local dir = T.tmpdir()
local bsim = T.sim("cartcom", { "--orders", "0", "--plan", "gold" })
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "cc" { connector = "cartcom", url = %q, token = "ac_test", sync_inventory = true }
]], dir .. "/cw.db", bsim.url))
local csv = { "sku,warehouse,quantity" }
for i = 1, 12 do csv[#csv + 1] = common.catalog[i].sku .. ",main," .. (i + 3) end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
local code, out, err = T.cw({ "-c", cfg, "stock", "import", dir .. "/stock.csv" }, {}, { timeout = 60 })
T.eq(code, 0, "stock import: exit 0", err .. out)
code, out, err = T.cw({ "-c", cfg, "stock", "push", "cc", "--json" }, {}, { timeout = 120 })
T.eq(code, 0, "stock push: exit 0", err .. out)
local figs = json.decode(assert(http.request{ url = bsim.url .. "/_sim/stock" }).body)
local good = 0
for i = 1, 12 do if figs[common.catalog[i].sku] == i + 3 then good = good + 1 end end
T.eq(good, 12, "every figure reached the cart")
T.eq(figs[common.catalog[13].sku], 50, "a SKU without stock of ours is not touched")
return T.done()
