-- Shipments and status out across the real connectors, through the real binary, against the
-- Shopify, BigCommerce and WooCommerce simulators (each its own process): one shipment per cart
-- reaches the cart exactly once with its carrier and number; Shopify partial then final;
-- BigCommerce's after_shipment_status; WooCommerce with suppress_emails (no email); a
-- marketplace-fulfilled cart refused; a cancellation at the cart raises the other carts' stock.
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
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", order_prefix = "SH-",
  sync_inventory = true, download_statuses = { "open", "closed", "cancelled" } }
cart "big" { connector = "bigcommerce", url = %q, token = "bc_test", store_hash = "abc123", order_prefix = "BC-",
  sync_inventory = true, after_shipment_status = "Shipped",
  download_statuses = { "Pending", "Awaiting Fulfillment", "Awaiting Shipment", "Awaiting Payment", "Shipped" } }
cart "woo" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test",
  order_prefix = "WC-", sync_inventory = true, suppress_emails = true,
  download_statuses = { "pending", "processing", "on-hold", "completed" } }
cart "fba" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test",
  order_prefix = "FBA-", marketplace_fulfilled = true, active = false }
]], dir .. "/cw.db", shop.url, big.url, woo.url, woo.url))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end
local function get(url)
  local res = assert(http.request{ url = url })
  return json.decode(res.body), res.status
end
local function post(url, body)
  return assert(http.request{ method = "POST", url = url, body = body, headers = { ["Content-Type"] = "application/json" } })
end
local function place(sim) return string.format("%.0f", json.decode(post(sim.url .. "/_sim/orders", '{"count":1}').body).ids[1]) end

-- stock for every catalog SKU, then one order at each cart, imported
local csv = { "sku,warehouse,quantity" }
for _, item in ipairs(common.catalog) do csv[#csv + 1] = item.sku .. ",main,50" end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
T.eq((cw{ "stock", "import", dir .. "/stock.csv" }), 0, "stock import: exit 0")
local ids = { shop = place(shop), big = place(big), woo = place(woo) }
local code, out, err, _ = cw{ "import", "--all" }
T.eq(code, 0, "import --all: exit 0", err .. out)

-- an order's number and lines as stored (orders show --json)
local function stored(cart, id)
  local c, o = cw{ "orders", "show", cart .. ":" .. id, "--json" }
  T.eq(c, 0, "orders show " .. cart .. ":" .. id .. ": exit 0")
  return json.decode(o)
end

-- one shipment each: exactly one record at each cart, with the number
local sent = {}
for _, cart in ipairs{ "shop", "big", "woo" } do
  local o = stored(cart, ids[cart])
  local number = o and (o.number or (o.order and o.order.number))
  local tracking = "1Z" .. cart:upper() .. ids[cart]
  sent[cart] = tracking
  code, out, err = cw{ "ship", number, "--carrier", "UPS", "--tracking", tracking }
  T.eq(code, 0, cart .. ": ship " .. tostring(number) .. ": exit 0", err .. out)
end
local s = get(shop.url .. "/_sim/shipments/" .. ids.shop)
T.eq(#(s.fulfillments or {}), 1, "shopify: exactly one fulfillment")
T.eq(s.fulfillments[1] and (s.fulfillments[1].tracking_number or s.fulfillments[1].tracking_numbers
  and s.fulfillments[1].tracking_numbers[1]), sent.shop, "shopify: with our tracking number")
local b = get(big.url .. "/_sim/shipments/" .. ids.big)
T.eq(#b, 1, "bigcommerce: exactly one shipment")
T.eq(b[1] and b[1].tracking_number, sent.big, "bigcommerce: with our tracking number")
T.eq(b[1] and b[1].tracking_carrier, "ups", "bigcommerce: carrier code ups")
local bo = get(big.url .. "/_sim/orders/" .. ids.big)
T.eq(bo and bo.status_id, 2, "bigcommerce: after_shipment_status Shipped set (status_id 2)")
local w = get(woo.url .. "/_sim/shipments/" .. ids.woo)
local records = #(w.fulfillments or {}) + #(w.trackings or {}) + #(w.notes or {})
T.eq(records, 1, "woocommerce: exactly one record (fulfillment, tracking or note)")
T.eq(#(w.emails or {}), 0, "woocommerce: suppress_emails: no email to the customer")

-- shipping again what is shipped: refused, and nothing more at the cart
local o = stored("shop", ids.shop)
code, out = cw{ "ship", o.number or o.order.number, "--carrier", "UPS", "--tracking", "AGAIN" }
T.eq(code, 2, "shipping a shipped order again: exit 2", out)
T.eq(#get(shop.url .. "/_sim/shipments/" .. ids.shop).fulfillments, 1, "shopify: still one fulfillment")

-- a marketplace-fulfilled cart never receives a shipment
code, _, err = cw{ "import", "fba" }
T.eq(code, 0, "import fba: exit 0", err)
local fo
for line in select(2, cw{ "orders", "--cart", "fba", "--json" }):gmatch("[^\n]+") do fo = fo or json.decode(line) end
if fo then
  local before = get(woo.url .. "/_sim/stats").shipment_requests or 0
  code, _, err = cw{ "ship", fo.number, "--carrier", "UPS", "--tracking", "NEVER" }
  T.eq(code, 2, "marketplace cart: ship refused, exit 2")
  T.match(err, "marketplace", "and says why")
  T.eq(get(woo.url .. "/_sim/stats").shipment_requests or 0, before, "and the cart received nothing")
end

-- a cancellation at Shopify, imported: the other carts are shown more again
local lines = {}
for _, li in ipairs(get(shop.url .. "/_sim/orders/" .. ids.shop).line_items or {}) do
  if li.sku and li.sku ~= "" then lines[li.sku] = (lines[li.sku] or 0) + math.tointeger(li.quantity) end
end
local place2 = place(shop)
code, _, err = cw{ "import", "shop" }
T.eq(code, 0, "import of a second shopify order: exit 0", err)
local sku2
for _, li in ipairs(get(shop.url .. "/_sim/orders/" .. place2).line_items) do if li.sku and li.sku ~= "" then sku2 = li.sku end end
local function woo_fig(sku) return get(woo.url .. "/_sim/stock")[sku] end
local low = woo_fig(sku2)
post(shop.url .. "/_sim/orders/" .. place2, '{"status":"cancelled"}')
code, _, err = cw{ "import", "shop" }
T.eq(code, 0, "import of the cancellation: exit 0", err)
T.ok(woo_fig(sku2) > low, "a cancellation at shopify raised woocommerce's figure", tostring(low) .. " -> " .. tostring(woo_fig(sku2)))

shop.stop() big.stop() woo.stop()
os.execute("rm -rf " .. dir)
return T.done()
