-- BigCommerce shipments capability (connectors/bigcommerce/shipments.lua) against the simulator
-- over real HTTP, through a ctx as the engine makes it, with each order's raw document as the
-- import stored it: one full shipment -> exactly one at the store with carrier code, number and
-- every line; a carrier without a code is named in the text fields; partial then final (the
-- order Partially Shipped, then Shipped); more than is left refused by the store -> permanent
-- error; a 504 after the store applied the POST -> not sent again, and find finds it; statuses
-- set by status_id and read back.
local T = require "t"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local http = require "cartwright.http"
local jraw = require "cartwright.jsonraw"
local json = require "cjson.safe"

local sim = require("sim.bigcommerce").start{ port = 0, orders = 40, seed = 12 }
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "bc" { connector = "bigcommerce", url = %q, store_hash = "abc123", token = "bc_test",
  retry_base_seconds = 0.05, timeout = 2 }
]], sim.url))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "bc"))
local ctx = context.new(cart, conn)
local sh = conn.shipments

local function sim_get(path)
  local res = assert(http.request{ url = sim.url .. path })
  return res.status, json.decode(res.body)
end
local function sim_post(path, body)
  local res = assert(http.request{ method = "POST", url = sim.url .. path, body = json.encode(body),
    headers = { ["Content-Type"] = "application/json" } })
  return res.status, json.decode(res.body)
end

T.eq(conn.capabilities.shipments, true, "bigcommerce declares the shipments capability")
T.eq(type(sh.ship) .. type(sh.find) .. type(sh.set_status) .. type(sh.get_status),
  "functionfunctionfunctionfunction", "ship, find, set_status and get_status")

---------------------------------------------------------------- the orders, as the import stored them
-- every order's raw document (the bytes fetch_orders hands the import, decoded with jsonraw)
local raws = {}
local ok, ferr = conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2100-01-01T00:00:00Z",
  page_size = 250 }, function(page)
  for _, r in ipairs(page) do
    local doc = assert(jraw.decode(r))
    raws[tostring(math.tointeger(doc.order.id))] = doc
  end
  return true
end)
T.ok(ok, "the orders fetched", ferr)

-- An order for the engine: { external_id, raw, lines = its lines (external_id, sku, quantity) }
local function order_of(id)
  local raw = raws[tostring(id)]
  local n = assert(conn.normalize(ctx, raw))
  local lines = {}
  for i, l in ipairs(n.lines) do lines[i] = { external_id = l.external_id, sku = l.sku, quantity = l.quantity } end
  return { external_id = tostring(id), raw = raw, lines = lines }
end

-- Orders nothing was shipped of (not Shipped or Completed), with two lines or more; the one
-- used for the partial shipment has a line of 2 or more.
local fresh, partial_id = {}, nil
for _, rec in ipairs(sim.records) do
  local st = rec.status_id
  local o = raws[tostring(rec.id)] and order_of(rec.id)
  if o and st ~= 2 and st ~= 10 and st ~= 0 and #o.lines >= 2 then
    local big = false
    for _, l in ipairs(o.lines) do big = big or l.quantity >= 2 end
    if big and not partial_id then partial_id = rec.id else fresh[#fresh + 1] = rec.id end
  end
end
T.ok(partial_id ~= nil and #fresh >= 4, "orders to ship", #fresh)

local function items_of(lines)
  local parts = {}
  for i, l in ipairs(lines) do parts[i] = l.external_id .. ":" .. l.quantity end
  table.sort(parts)
  return table.concat(parts, ",")
end
local function shipped_items(s)
  local parts = {}
  for i, it in ipairs(s.items) do parts[i] = math.tointeger(it.order_product_id) .. ":" .. math.tointeger(it.quantity) end
  table.sort(parts)
  return table.concat(parts, ",")
end
local function status_of(id) return sim:order(id).status end
local function stats() return sim.stats end

---------------------------------------------------------------- one full shipment
sim_post("/_sim/reset-stats", {})
local A = order_of(fresh[1])
local address = math.tointeger(raws[A.external_id].order.consignments.shipping[1].id)
local r, err, permanent = sh.ship(ctx, A, { carrier = "UPS", tracking = "1Z999AA10123456784", service = "UPS Ground",
  key = "ship-1", notify = true })
T.eq(r and r.state, "created", "full shipment: created", err)
local _, list = sim_get("/_sim/shipments/" .. A.external_id)
T.eq(#list, 1, "exactly one shipment at the store")
local s = list[1]
T.eq(r and r.id, tostring(math.tointeger(s.id)), "ship answers the store's shipment id")
T.eq(s.tracking_number .. " " .. s.tracking_carrier .. " [" .. s.shipping_provider .. "] " .. s.shipping_method,
  "1Z999AA10123456784 ups [] UPS Ground", "tracking number, carrier code ups, no provider module, the service")
T.eq(math.tointeger(s.order_address_id), address, "to the consignment's address (order_address_id)")
T.eq(shipped_items(s), items_of(A.lines), "every line with its whole quantity")
T.eq(s.generated_tracking_link, "https://www.ups.com/track?tracknum=1Z999AA10123456784", "the store links the tracking")
T.eq(status_of(A.external_id), "Shipped", "the order is Shipped")
T.eq(stats().shipment_requests, 1, "in one POST")
T.eq(permanent, nil, "no error")
local found = sh.find(ctx, A, { carrier = "UPS", tracking = "1Z999AA10123456784" })
T.eq(found and found.id, r and r.id, "find: the shipment with that tracking number")

-- a carrier BigCommerce has no code for: empty codes, its name where the customer sees it
local E = order_of(fresh[2])
r, err = sh.ship(ctx, E, { carrier = "Acme Freight", tracking = "AF-77", url = "https://acme.example/t/AF-77", key = "ship-2" })
T.eq(r and r.state, "created", "unknown carrier: created", err)
_, list = sim_get("/_sim/shipments/" .. E.external_id)
s = list[1]
T.eq(#list .. " [" .. s.tracking_carrier .. "] [" .. s.shipping_provider .. "] " .. s.shipping_method .. " / " .. s.comments,
  "1 [] [] Acme Freight / Shipped with Acme Freight", "unknown carrier: no codes, named in shipping_method and comments")
T.eq(s.tracking_link, "https://acme.example/t/AF-77", "the URL given is the tracking link")
T.eq(table.concat({ sh._carrier_codes("FedEx") }, "/") .. " " .. table.concat({ sh._carrier_codes("usps") }, "/") .. " "
  .. table.concat({ sh._carrier_codes("DHL Express") }, "/") .. " " .. table.concat({ sh._carrier_codes("Royal Mail") }, "/"),
  "fedex/ usps/ dhl/ /royalmail", "carrier names mapped to tracking_carrier (Royal Mail: shipping_provider)")

---------------------------------------------------------------- partial, then final
sim_post("/_sim/reset-stats", {})
local B = order_of(partial_id)
local first, rest, ibig = {}, {}, nil
for i, l in ipairs(B.lines) do
  if not ibig and l.quantity >= 2 then ibig = i end
end
for i, l in ipairs(B.lines) do
  if i == ibig then
    first[#first + 1] = { external_id = l.external_id, sku = l.sku, quantity = 1 }
    rest[#rest + 1] = { external_id = l.external_id, sku = l.sku, quantity = l.quantity - 1 }
  else
    rest[#rest + 1] = l
  end
end
local B1 = { external_id = B.external_id, raw = B.raw, lines = first }
local B2 = { external_id = B.external_id, raw = B.raw, lines = rest }
r, err = sh.ship(ctx, B1, { carrier = "FedEx", tracking = "FX-1", key = "ship-3" })
T.eq(r and r.state, "created", "partial: created", err)
T.eq(status_of(B.external_id), "Partially Shipped", "partial: the order is Partially Shipped")
-- the final shipment under the same tracking number is not the partial one
T.eq(sh.find(ctx, B2, { carrier = "FedEx", tracking = "FX-1" }), false,
  "find: the same tracking number with other items is not this shipment")
local r2
r2, err = sh.ship(ctx, B2, { carrier = "FedEx", tracking = "FX-1", key = "ship-4" })
T.eq(r2 and r2.state, "created", "final: created", err)
_, list = sim_get("/_sim/shipments/" .. B.external_id)
T.eq(#list, 2, "two shipments at the store")
T.eq(shipped_items(list[1]) .. " | " .. shipped_items(list[2]), items_of(first) .. " | " .. items_of(rest),
  "the partial one's item, then everything left")
T.eq(status_of(B.external_id), "Shipped", "final: the order is Shipped")
local all_shipped = 0
local pres = assert(http.request{ url = sim.url .. "/stores/abc123/v2/orders/" .. B.external_id .. "/products",
  headers = { ["X-Auth-Token"] = "bc_test" } })
for _, p in ipairs(json.decode(pres.body)) do
  if p.quantity_shipped == p.quantity then all_shipped = all_shipped + 1 end
end
T.eq(all_shipped, #B.lines, "every product's quantity_shipped is its quantity")
T.eq(stats().shipment_requests, 2, "two POSTs")

---------------------------------------------------------------- more than is left
r, err, permanent = sh.ship(ctx, B, { carrier = "FedEx", tracking = "FX-2", key = "ship-5" })
T.eq(r, nil, "over quantity: refused")
T.match(err or "", "^http 400: .*greater than the quantity", "with the store's message")
T.eq(permanent, true, "a permanent error (4xx)")
T.eq(stats().shipment_requests, 3, "sent once, not retried")
_, list = sim_get("/_sim/shipments/" .. B.external_id)
T.eq(#list, 2, "still two shipments")
r, err, permanent = sh.ship(ctx, { external_id = "999999", raw = B.raw, lines = B.lines }, { tracking = "X", key = "k" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an order the store does not have: permanent", err)

---------------------------------------------------------------- accepted, then the answer lost
sim_post("/_sim/reset-stats", {})
local C = order_of(fresh[3])
T.eq(sh.find(ctx, C, { tracking = "9400100000000000000001" }), false, "find before: nothing there")
sim_post("/_sim/faults", { status = 504, after_apply = true, on = "any" })
r, err, permanent = sh.ship(ctx, C, { carrier = "USPS", tracking = "9400100000000000000001", key = "ship-6" })
T.eq(r, nil, "504 after the store applied it: a failure")
T.eq(permanent, nil, "not permanent: the engine tries again, asking find first")
T.match(err or "", "not sent again", "the message says why", err)
T.eq(stats().shipment_requests, 1, "the POST was not sent a second time")
_, list = sim_get("/_sim/shipments/" .. C.external_id)
T.eq(#list, 1, "the store holds exactly one")
found, err = sh.find(ctx, C, { carrier = "USPS", tracking = "9400100000000000000001" })
T.eq(found and found.id, tostring(math.tointeger(list[1].id)), "find: found it", err)

-- the same with the answer late (after the store applied it, past the cart's timeout of 2 s)
local D = order_of(fresh[4])
sim_post("/_sim/faults", { delay = 3, after_apply = true, on = "any" })
r, err, permanent = sh.ship(ctx, D, { carrier = "DHL", tracking = "JD0001", key = "ship-7" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil nil", "a timeout after the store applied it: a failure, not permanent", err)
_, list = sim_get("/_sim/shipments/" .. D.external_id)
T.eq(#list, 1, "the store holds exactly one")
found = sh.find(ctx, D, { carrier = "DHL", tracking = "JD0001" })
T.eq(found and found.id, tostring(math.tointeger(list[1].id)), "find: found it")
T.eq(stats().shipment_requests, 2, "one POST each")

---------------------------------------------------------------- status
sim_post("/_sim/reset-stats", {})
local F = order_of(fresh[5] or fresh[1])
T.eq(sh.set_status(ctx, F, "Shipped", { key = "st-1", notify = false }), true, "set_status Shipped")
T.eq(math.tointeger(sim:order(F.external_id).status_id), 2, "status_id 2 at the store")
T.eq(sh.get_status(ctx, F), "Shipped", "get_status reads it")
T.eq(sh.set_status(ctx, F, "cancelled", { key = "st-2", notify = true }), true, "set_status cancelled")
T.eq(math.tointeger(sim:order(F.external_id).status_id), 5, "status_id 5 at the store")
T.eq(sh.get_status(ctx, F), "Cancelled", "get_status: Cancelled")
T.eq(sh.set_status(ctx, F, "Awaiting Fulfillment", { key = "st-3" }), true, "set_status Awaiting Fulfillment")
T.eq(math.tointeger(sim:order(F.external_id).status_id), 11, "status_id 11")
T.eq(stats().status_requests, 3, "one PUT each")
r, err, permanent = sh.set_status(ctx, F, "Lost In Space", { key = "st-4" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an unknown status: permanent, never sent", err)
T.eq(stats().status_requests, 3, "nothing sent for it")
r, err, permanent = sh.set_status(ctx, { external_id = "999999" }, "Shipped", { key = "st-5" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an order the store does not have: permanent", err)
T.eq(sh._status_id("partially_shipped") .. " " .. sh._status_id("Awaiting Payment") .. " " .. sh._status_id("10"),
  "3 7 10", "status names, words and ids")

sim:close()
os.execute("rm -rf " .. T.q(dir))
T.done()
