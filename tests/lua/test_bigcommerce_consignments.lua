-- BigCommerce: one call per page of orders. The list asks for consignments.line_items, so an
-- order costs no call of its own unless a consignment left lines out ("__warning__": then its
-- products) or it used a coupon (its coupons: no include has them). The same simulator orders
-- imported three ways (consignments in the object form, in the legacy array form, and none, as
-- a store that ignores include: products and shipping addresses per order, the connector before
-- consignments) must give the same normalized orders, field for field.
local T = require "t"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local importer = require "cartwright.flows.orders_in"
local cd = require "cartwright.cartdata"
local json = require "cjson.safe"

local LONG_EVERY, LONG_LINES = 40, 75
-- every status a listed order can have, so every order is stored and compared
local STATUSES = '{ "Pending", "Shipped", "Partially Shipped", "Refunded", "Cancelled", "Declined",'
  .. ' "Awaiting Payment", "Awaiting Pickup", "Awaiting Shipment", "Completed", "Awaiting Fulfillment",'
  .. ' "Manual Verification Required", "Disputed", "Partially Refunded" }'

local sim = require("sim.bigcommerce").start{ port = 0, orders = 1000, seed = 11, rate = false,
  long_orders = { every = LONG_EVERY, lines = LONG_LINES } }

local function import(name)
  local dir = T.tmpdir()
  T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "c1" { connector = "bigcommerce", url = %q, token = "bc_test", store_hash = "abc123",
  batch_size = 250, download_statuses = %s, rate_limit = { capacity = 1000, per_second = 1000 } }
]], dir .. "/cw.db", sim.url, STATUSES))
  local cfg = assert(config.load(dir .. "/cw.lua"))
  local cart, conn = assert(carts.load(cfg, "c1"))
  local db = assert(carts.open_db(cfg))
  sim:reset_stats()
  local st, err = assert(importer.new(db, cart, conn, {})):run()
  T.ok(st ~= nil, name .. ": import succeeds", err)
  local docs = {}
  for _, row in ipairs(assert(db:orders_list{})) do docs[row.external_id] = json.decode(row.doc) end
  db:close()
  os.execute("rm -rf " .. dir)
  return st, sim.stats, docs
end

-- What the list holds (Incomplete orders are left out of it), counted from the simulator.
local listed, long, coupons = 0, 0, 0
for i, rec in ipairs(sim.records) do
  if rec.status_id ~= 0 then
    listed = listed + 1
    if i % LONG_EVERY == 0 then long = long + 1 end
    if (cd.cents(rec.doc.coupon_discount) or 0) ~= 0 then coupons = coupons + 1 end
  end
end
local pages = listed // 250 + 1 -- full pages, then a short one or the 204 after the last full one
T.eq(listed .. " listed, " .. long .. " long, " .. coupons .. " with a coupon",
  "989 listed, 25 long, 146 with a coupon", "the store (seed 11)")

-- a canonical text of a decoded document, to compare two of them
local function canon(v)
  if type(v) ~= "table" then return json.encode(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
  local out = {}
  for i, k in ipairs(keys) do out[i] = tostring(k) .. "=" .. canon(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local function same_orders(name, a, b)
  local n, differ, first = 0, 0, nil
  for id, doc in pairs(b) do
    n = n + 1
    if not a[id] or canon(a[id]) ~= canon(doc) then
      differ = differ + 1
      first = first or id
    end
  end
  for id in pairs(a) do if not b[id] then differ = differ + 1 first = first or id end end
  T.eq(differ, 0, name .. ": every normalized order is the same (" .. n .. " orders)", first)
end

-- 1. today's connector path: a store that sends no consignments
sim.consignments = false
local st0, s0, before = import("no consignments")
T.eq(st0.seen, listed, "no consignments: every listed order seen")
T.eq(s0.order_list_requests, pages, "no consignments: list calls")
T.eq(s0.products_requests, listed, "no consignments: one products call per order")
T.eq(s0.addresses_requests, listed, "no consignments: one shipping addresses call per order")
T.eq(s0.coupons_requests, coupons, "no consignments: one coupons call per order with a coupon")
T.eq(s0.requests, pages + 2 * listed + coupons, "no consignments: calls in all")

-- 2. consignments in the object form
sim.consignments = "object"
local st1, s1, object = import("object form")
T.eq(st1.seen, listed, "object form: every listed order seen")
T.eq(s1.order_list_requests, pages, "object form: one call per page")
T.eq(s1.products_requests, long, "object form: products only for orders over 50 lines")
T.eq(s1.addresses_requests, nil, "object form: no shipping addresses call")
T.eq(s1.coupons_requests, coupons, "object form: coupons for orders with a coupon")
T.eq(s1.requests, pages + long + coupons, "object form: calls in all")
same_orders("object form", object, before)

-- 3. a store that answers in the legacy array form whatever is asked
sim.consignments = "array"
local _, s2, array = import("array form")
T.eq(s2.requests, pages + long + coupons, "array form: calls in all")
T.eq(s2.products_requests, long, "array form: products only for orders over 50 lines")
same_orders("array form", array, before)

-- 4. orders over 50 lines are complete, every other order has its own lines
local full, checked = 0, 0
for i, rec in ipairs(sim.records) do
  if rec.status_id ~= 0 then
    local doc = object[string.format("%d", rec.id)]
    local want = #rec.product_strings
    if doc and #doc.lines == want then full = full + 1 end
    if i % LONG_EVERY == 0 then
      checked = checked + 1
      T.eq(doc and #doc.lines, LONG_LINES, "order " .. rec.id .. ": all " .. LONG_LINES .. " lines")
    end
  end
end
T.eq(checked, long, "every long order checked")
T.eq(full, listed, "every order has exactly its lines")

sim:close()
return T.done()
