-- BigCommerce: one call per page of orders. The list asks for consignments.line_items, so an
-- order costs no call of its own unless a consignment left lines out ("__warning__": then its
-- products) or it used a coupon its lines do not account for (applied_discounts with codes
-- adding up to coupon_discount; else its /coupons). The same simulator orders imported three
-- ways (consignments in the object form, in the legacy array form, and none with no coupon
-- codes on the lines, as a store that ignores include: products, shipping addresses and
-- coupons per order, the connector before consignments) must give the same normalized orders,
-- field for field.
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

-- three stores with the same orders (the same seed and the same clock: their dates are
-- relative to it): consignments and coupon codes on the lines; neither; consignments but no codes
local T0 = math.floor(require("cartwright.task").now())
local function store(opts)
  opts.port, opts.orders, opts.seed, opts.rate = 0, 1000, 11, false
  opts.clock = function() return T0 end
  opts.long_orders = { every = LONG_EVERY, lines = LONG_LINES }
  return require("sim.bigcommerce").start(opts)
end
local sim, plain, nocodes = store{}, store{ consignments = false, coupon_codes = false }, store{ coupon_codes = false }

local function import(name, store)
  store = store or sim
  local dir = T.tmpdir()
  T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "c1" { connector = "bigcommerce", url = %q, token = "bc_test", store_hash = "abc123",
  batch_size = 250, download_statuses = %s, rate_limit = { capacity = 1000, per_second = 1000 } }
]], dir .. "/cw.db", store.url, STATUSES))
  local cfg = assert(config.load(dir .. "/cw.lua"))
  local cart, conn = assert(carts.load(cfg, "c1"))
  local db = assert(carts.open_db(cfg))
  store:reset_stats()
  local st, err = assert(importer.new(db, cart, conn, {})):run()
  T.ok(st ~= nil, name .. ": import succeeds", err)
  local docs = {}
  for _, row in ipairs(assert(db:orders_list{})) do docs[row.external_id] = json.decode(row.doc) end
  db:close()
  os.execute("rm -rf " .. dir)
  return st, store.stats, docs
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

-- 1. the connector before consignments: a store that sends no consignments, and no coupon
-- codes on its lines (the same orders: the same seed)
local st0, s0, before = import("no consignments", plain)
plain:close()
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
T.eq(s1.coupons_requests, nil, "object form: no coupons call (the lines name each coupon)")
T.eq(s1.requests, pages + long, "object form: calls in all")
same_orders("object form", object, before)

-- 3. a store that answers in the legacy array form whatever is asked
sim.consignments = "array"
local _, s2, array = import("array form")
T.eq(s2.requests, pages + long, "array form: calls in all")
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

-- 5. a store that sends consignments but no coupon codes on the lines: /coupons per coupon order
local _, s3, fetched = import("no codes on lines", nocodes)
nocodes:close()
T.eq(s3.coupons_requests, coupons, "no codes on lines: one coupons call per order with a coupon")
T.eq(s3.requests, pages + long + coupons, "no codes on lines: calls in all")
same_orders("no codes on lines", fetched, before)
local with_code = 0
for _, doc in pairs(object) do if doc.discounts[1] and doc.discounts[1].code then with_code = with_code + 1 end end
T.eq(with_code, coupons, "every order with a coupon has its code (read from its lines)")

sim:close()
return T.done()
