-- Stock out across real connectors, through the real binary: Shopify, BigCommerce and
-- WooCommerce simulators (each its own process, no order history) sync one stock file.
-- stock import -> exact figures at every cart (warehouse choice and minimum honoured, an
-- unaliased SKU left alone); an order placed at Shopify and imported lowers the other carts by
-- exactly its lines; a sale made at Shopify after our figures went out is never overwritten.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local common = require "sim.common"

local dir = T.tmpdir()
local shop, big, woo = T.sim("shopify", { "--orders", "0" }), T.sim("bigcommerce", { "--orders", "0" }),
  T.sim("woocommerce", { "--orders", "0" })
local cfg = dir .. "/cw.lua"
T.write(cfg, string.format([[
db = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", sync_inventory = true,
  order_prefix = "SH-" }
cart "big" { connector = "bigcommerce", url = %q, token = "bc_test", store_hash = "abc123",
  sync_inventory = true, inventory = { warehouses = { "main" } } }
cart "woo" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test",
  sync_inventory = true, inventory = { minimum = 5, alias = "woo" } }
]], dir .. "/cw.db", shop.url, big.url, woo.url))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end

local function get(url)
  local res = assert(http.request{ url = url })
  return assert(json.decode(res.body), res.body)
end
-- the figure a cart shows for sku: Shopify and BigCommerce at their primary location
local function shopify_figure(sku)
  local s = get(shop.url .. "/_sim/stock")
  local primary
  for _, l in ipairs(s.locations) do if l.primary then primary = l.id end end
  return (s.stock[sku] or {})[primary]
end
local function woo_figure(sku) return get(woo.url .. "/_sim/stock")[sku] end

-- every catalog SKU: 50 in main; SKU 1 also 10 in east (big counts only main); SKU 2 at 4
-- (below woo's minimum of 5); woo knows items by the alias "woo" = the same SKU, except SKU 3,
-- which has no alias (left alone at woo)
local skus = {}
for i, item in ipairs(common.catalog) do skus[i] = item.sku end
local csv, aliases = { "sku,warehouse,quantity" }, { "sku,type,alias" }
for i, sku in ipairs(skus) do
  csv[#csv + 1] = sku .. ",main," .. (i == 2 and 4 or 50)
  if i ~= 3 then aliases[#aliases + 1] = sku .. ",woo," .. sku end
end
csv[#csv + 1] = skus[1] .. ",east,10"
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
T.write(dir .. "/alias.csv", table.concat(aliases, "\n") .. "\n")
local woo_before3 = woo_figure(skus[3])

local code, out, err, _ = cw{ "alias", "import", dir .. "/alias.csv" } -- luacheck: ignore out
T.eq(code, 0, "alias import: exit 0", err)
code, out, err = cw{ "stock", "import", dir .. "/stock.csv" }
T.eq(code, 0, "stock import: exit 0", err .. out)

local function expect(name, want)
  local wrong, first = 0, nil
  for i, sku in ipairs(skus) do
    local got, w = want(i, sku)
    if got ~= w then wrong, first = wrong + 1, first or (sku .. ": got " .. tostring(got) .. ", want " .. tostring(w)) end
  end
  T.eq(wrong, 0, name, first)
end
expect("shopify shows every figure (all warehouses: SKU 1 60)", function(i, sku)
  return shopify_figure(sku), i == 1 and 60 or i == 2 and 4 or 50
end)
local bstock = get(big.url .. "/_sim/stock")
expect("bigcommerce shows main only (SKU 1 50)", function(i, sku)
  local per = bstock.stock and bstock.stock[sku] or bstock[sku]
  local v = type(per) == "table" and (per["1"] or per[1]) or per
  return v, i == 2 and 4 or 50
end)
expect("woocommerce: minimum 5 gives 0 for SKU 2; SKU 3 has no alias and is left alone", function(i, sku)
  return woo_figure(sku), i == 2 and 0 or i == 3 and woo_before3 or (i == 1 and 60 or 50)
end)
code, out = cw{ "outbox", "--json" }
T.eq(code, 0, "outbox --json: exit 0")
local pending = 0
for line in out:gmatch("[^\n]+") do
  local e = json.decode(line)
  if e and e.state ~= "done" then pending = pending + 1 end
end
T.eq(pending, 0, "outbox: every batch done")

-- an order at Shopify lowers big and woo by exactly its lines once imported
local placed = get(shop.url .. "/_sim/orders")
local before_ids = #placed.ids
local res = assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = '{"count":1}',
  headers = { ["Content-Type"] = "application/json" } })
local id = string.format("%.0f", assert(json.decode(res.body)).ids[1])
local order = get(shop.url .. "/_sim/orders/" .. id)
local sold = {}
for _, li in ipairs(order.line_items) do
  if li.sku and li.sku ~= "" then sold[li.sku] = (sold[li.sku] or 0) + math.tointeger(li.quantity) end
end
T.ok(next(sold) ~= nil and before_ids == 0, "an order with known SKUs was placed at shopify")
code, _, err = cw{ "import", "shop" }
T.eq(code, 0, "import shop: exit 0", err)
expect("woocommerce lowered by exactly the order's lines", function(i, sku)
  local base = i == 1 and 60 or i == 2 and 4 or 50
  local want = base - (sold[sku] or 0)
  if want < 5 then want = 0 end
  if i == 3 then want = woo_before3 end
  return woo_figure(sku), want
end)
bstock = get(big.url .. "/_sim/stock")
expect("bigcommerce lowered by exactly the order's lines", function(i, sku)
  local per = bstock.stock and bstock.stock[sku] or bstock[sku]
  local v = type(per) == "table" and (per["1"] or per[1]) or per
  return v, (i == 2 and 4 or 50) - (sold[sku] or 0)
end)
expect("shopify keeps its own sale (not pushed back over it)", function(i, sku)
  return shopify_figure(sku), (i == 1 and 60 or i == 2 and 4 or 50) - (sold[sku] or 0)
end)

-- a sale at Shopify that we have not imported, then a stock change: the push finds the figure
-- moved, imports the order first, and Shopify ends at on hand - every order
res = assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = '{"count":1}',
  headers = { ["Content-Type"] = "application/json" } })
local id2 = string.format("%.0f", assert(json.decode(res.body)).ids[1])
local sold2 = {}
for _, li in ipairs(get(shop.url .. "/_sim/orders/" .. id2).line_items) do
  if li.sku and li.sku ~= "" then sold2[li.sku] = (sold2[li.sku] or 0) + math.tointeger(li.quantity) end
end
local target = next(sold2)
code, _, err = cw{ "stock", "set", target, "70" }
T.eq(code, 0, "stock set after an unimported sale: exit 0", err)
local ti
for i, sku in ipairs(skus) do if sku == target then ti = i end end
local want = 70 + (ti == 1 and 10 or 0) - (sold[target] or 0) - sold2[target]
T.eq(shopify_figure(target), want, "shopify ends at on hand - every order, the unimported one included")
code, out = cw{ "orders", "--json" }
T.eq(code, 0, "orders --json: exit 0")
local n = 0
for line in out:gmatch("[^\n]+") do if line:find('"shop"', 1, true) then n = n + 1 end end
T.eq(n, 2, "the sale was imported before the push")

shop.stop() big.stop() woo.stop()
os.execute("rm -rf " .. dir)
return T.done()
