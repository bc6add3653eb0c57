-- The Magento shipments capability (connectors/magento/shipments.lua) against the simulator, over
-- real HTTP through ctx (OAuth 1.0a): a partial then a final shipment (order_item_id + qty, one
-- track each, Magento's carrier codes), over-shipping refused for good, find by tracking number,
-- a 504 after the cart made the shipment then find, statuses (a comment, hold, cancel, complete
-- left to Magento), notify; then through the real binary: import, `ship`, `status`.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"

local SETTINGS = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats"'

local function connect(sim)
  local ctx, conn = T.connect("m", "magento", sim.url, SETTINGS)
  ctx.writes_once = true -- as the shipments flow's ctx
  return ctx, conn
end

local function held(sim, id)
  local res = assert(http.request{ url = sim.url .. "/_sim/shipments/" .. id })
  return json.decode(res.body)
end

local function sid(v) return tostring(math.tointeger(v) or v) end

-- An order of the simulator with `status` and at least two lines (parent lines only), as the
-- engine passes it: its lines' external ids are the parent item ids.
local function pick_order(sim, skip, status)
  for _, rec in ipairs(sim.records) do
    local doc = rec.doc
    local lines = {}
    for _, it in ipairs(doc.items) do
      if not it.parent_item_id then
        lines[#lines + 1] = { external_id = sid(it.item_id), sku = it.sku, quantity = math.tointeger(it.qty_ordered) }
      end
    end
    if #lines >= 2 and doc.status == (status or "processing") and not skip[rec.id] then
      skip[rec.id] = true
      return { external_id = sid(rec.id), raw = doc, lines = lines }
    end
  end
  error("no " .. (status or "processing") .. " order with two lines")
end

local used = {}
local sim = require("sim.magento").start{ port = 0, orders = 80, seed = 5 }
local ctx, conn = connect(sim)
local ship = conn.shipments
T.eq(conn.capabilities.shipments, true, "the package declares shipments")

-- partial: the first line, then the rest
local order = pick_order(sim, used)
local first, rest = { order.lines[1] }, {}
for i = 2, #order.lines do rest[#rest + 1] = order.lines[i] end
sim:reset_stats()
local r1, err1 = ship.ship(ctx, { external_id = order.external_id, raw = order.raw, lines = first },
  { carrier = "UPS", service = "Ground", tracking = "1ZPART0001", key = "k1", notify = false })
T.ok(r1 ~= nil, "partial shipment created", err1)
T.eq(r1 and r1.state, "created", "state created")
T.eq(sim.stats.shipment_requests, 1, "one POST order/{id}/ship")
T.eq(sim.stats.requests, 1, "nothing else")
local h = held(sim, order.external_id)
T.eq(#h.shipments, 1, "exactly one shipment")
local s1 = h.shipments[1]
T.eq(sid(s1.entity_id), r1 and r1.id, "its id returned")
T.eq(#s1.items, 1, "one item")
T.eq(sid(s1.items[1].order_item_id) .. "x" .. sid(s1.items[1].qty), first[1].external_id .. "x" .. first[1].quantity,
  "the first line, its quantity")
T.eq(#s1.tracks, 1, "one track")
T.eq(s1.tracks[1].track_number .. "|" .. s1.tracks[1].carrier_code .. "|" .. s1.tracks[1].title,
  "1ZPART0001|ups|UPS Ground", "number, Magento's carrier code, the title")
T.eq(s1.comments[1] and s1.comments[1].comment, "Shipped via UPS Ground, tracking 1ZPART0001", "the comment")
T.eq(#h.emails, 0, "notify false: no email")
T.eq(h.status, "processing", "partly shipped: still processing")

local r2, err2 = ship.ship(ctx, { external_id = order.external_id, raw = order.raw, lines = rest },
  { carrier = "Royal Mail", tracking = "RM123GB", url = "https://rm.example/RM123GB", key = "k2", notify = true })
T.ok(r2 ~= nil, "final shipment created", err2)
h = held(sim, order.external_id)
T.eq(#h.shipments, 2, "two shipments: partial then final")
T.eq(h.shipments[2].tracks[1].carrier_code .. "|" .. h.shipments[2].tracks[1].title, "custom|Royal Mail",
  "a carrier Magento does not know: custom, named in the title")
T.eq(h.shipments[2].comments[1].comment, "Shipped via Royal Mail, tracking RM123GB (https://rm.example/RM123GB)",
  "the tracking link in the comment (Magento's tracks have no URL)")
T.eq(#h.shipments[2].items, #rest, "the other lines")
T.eq(h.status, "complete", "invoiced and all shipped: Magento completes it")
T.eq(#h.emails, 1, "notify true: one email")
T.eq(h.emails[1].template, "shipment_new", "the new shipment email")

-- shipping more than the order has left: refused, permanent, nothing added
local o2 = pick_order(sim, used)
local over = { { external_id = o2.lines[1].external_id, sku = o2.lines[1].sku, quantity = o2.lines[1].quantity + 1 } }
local r3, err3, perm3 = ship.ship(ctx, { external_id = o2.external_id, raw = o2.raw, lines = over },
  { carrier = "UPS", tracking = "1ZTOOMANY3", key = "k3", notify = false })
T.eq(r3, nil, "over-shipping refused")
T.eq(perm3, true, "a 400 is permanent")
T.eq(err3, 'http 400: Shipment Document Validation Error(s):\nWe found an invalid quantity to ship for item "'
  .. o2.lines[1].sku .. '". (POST order/' .. o2.external_id .. "/ship)", "Magento's message and the call")
T.eq(#held(sim, o2.external_id).shipments, 0, "nothing added")
local r4, err4, perm4 = ship.ship(ctx, order, { carrier = "UPS", tracking = "1ZDONE", key = "k4", notify = false })
T.eq(r4, nil, "a complete order cannot ship again")
T.eq(perm4, true, "permanent")
T.match(err4, "The order does not allow a shipment to be created%.", "Magento's reason")

-- find: by tracking number
T.eq((ship.find(ctx, order, { tracking = "RM123GB" }) or {}).id, r2 and r2.id, "find: the shipment with that number")
T.eq(ship.find(ctx, order, { tracking = "RM123" }), false, "find: a prefix is not it")
T.eq((ship.find(ctx, { external_id = order.external_id, raw = order.raw, lines = first }, {}) or {}).id, r1 and r1.id,
  "find without a tracking number: the shipment of those items")

-- the cart makes the shipment, then answers 504: not sent again; find sees it
sim:fault{ status = 504, after_apply = true, on = "any" }
sim:reset_stats()
local r5, err5, perm5 = ship.ship(ctx, o2, { carrier = "FedEx", tracking = "FX504", key = "k5", notify = false })
T.eq(r5, nil, "a 504 is a failure")
T.ok(perm5 ~= true, "not permanent", err5)
T.match(err5, "^http 504", "the status named")
T.eq(sim.stats.shipment_requests, 1, "the POST sent once, not retried")
h = held(sim, o2.external_id)
T.eq(#h.shipments, 1, "the cart has it")
T.eq(h.shipments[1].tracks[1].carrier_code, "fedex", "FedEx: fedex")
local f5 = ship.find(ctx, o2, { tracking = "FX504" })
T.eq(f5 and f5.id, sid(h.shipments[1].entity_id), "find after the 504: found")
T.eq(#held(sim, o2.external_id).shipments, 1, "still exactly one")

-- statuses
local o3 = pick_order(sim, used)
sim:reset_stats()
T.eq(ship.set_status(ctx, o3, "processing", { key = "s1", notify = true }), true, "a comment with the status")
T.eq(sim.stats.status_requests, 1, "one POST orders/{id}/comments")
T.eq(ship.get_status(ctx, o3), "processing", "read back")
local doc3 = sim:order(tonumber(o3.external_id))
T.eq(doc3.status_histories[1].comment, "Status set to processing by the back office", "the comment in the history")
T.eq(doc3.status_histories[1].is_customer_notified, 1, "notify: the customer is told")
local s6, e6, p6 = ship.set_status(ctx, o3, "pending", {})
T.eq(s6, nil, "a status of another state: refused")
T.eq(p6, true, "permanent")
T.match(e6, "^http 400: The order status \"pending\" is not assigned to the order state \"processing\"%.", "the reason")
T.eq(ship.set_status(ctx, o3, "holded", {}), true, "holded: Magento's hold action")
T.eq(ship.get_status(ctx, o3), "holded", "on hold")
local s7, e7, p7 = ship.set_status(ctx, o3, "canceled", {})
T.eq(s7, nil, "Magento cannot cancel an order on hold")
T.eq(p7, true, "permanent")
T.match(e7, "^Magento refused to cancel order " .. o3.external_id .. " %(its status is holded", "said so")
local o4 = pick_order(sim, used, "pending")
T.eq(ship.set_status(ctx, o4, "canceled", { key = "s4" }), true, "a pending order canceled")
T.eq(ship.get_status(ctx, o4), "canceled", "canceled")
T.eq(held(sim, o4.external_id).state, "canceled", "state canceled")
T.eq(ship.set_status(ctx, o4, "canceled", {}), true, "canceling again: already there")
sim:reset_stats()
T.eq(ship.set_status(ctx, o4, "complete", {}), true, "complete: Magento's own, nothing sent")
T.eq(sim.stats.requests, 0, "no call")
local g, gerr = ship.get_status(ctx, { external_id = "999999" })
T.eq(g, nil, "no such order")
T.match(gerr, "^http 404: The entity that was requested doesn't exist", "Magento's 404")
sim:close()

---------------------------------------------------------------- through the binary
local dir = T.tmpdir()
local bsim = T.sim("magento", { "--orders", "0" })
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "mg" { connector = "magento", url = %q, %s, order_prefix = "MG-", send_status = true,
  download_statuses = { "pending", "processing", "complete" } }
]], dir .. "/cw.db", bsim.url, SETTINGS))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end
local id
for _ = 1, 20 do -- bounded: until a processing order is placed
  local res = assert(http.request{ method = "POST", url = bsim.url .. "/_sim/orders", body = '{"count":1}' })
  id = string.format("%.0f", json.decode(res.body).ids[1])
  local o = json.decode(assert(http.request{ url = bsim.url .. "/_sim/orders/" .. id }).body)
  if o.status == "processing" then break end
end
local code, out, err = cw{ "import", "mg" }
T.eq(code, 0, "import: exit 0", err .. out)
local c, shown = cw{ "orders", "show", "mg:" .. id, "--json" }
T.eq(c, 0, "orders show: exit 0")
local o = json.decode(shown)
local number = o and (o.number or (o.order and o.order.number))
T.eq(number, string.format("MG-%09d", tonumber(id)), "the number people see: the increment_id")
code, out, err = cw{ "ship", number, "--carrier", "USPS", "--tracking", "9400100000000000000001" }
T.eq(code, 0, "ship: exit 0", err .. out)
h = json.decode(assert(http.request{ url = bsim.url .. "/_sim/shipments/" .. id }).body)
T.eq(#h.shipments, 1, "exactly one shipment at the cart")
T.eq(h.shipments[1].tracks[1].track_number .. "|" .. h.shipments[1].tracks[1].carrier_code,
  "9400100000000000000001|usps", "with our number and Magento's carrier code")
T.eq(h.status, "complete", "the whole order shipped: complete")
code, out, err = cw{ "ship", number, "--carrier", "USPS", "--tracking", "AGAIN" }
T.ok(code ~= 0, "shipping a shipped order again is refused", out)
T.eq(#json.decode(assert(http.request{ url = bsim.url .. "/_sim/shipments/" .. id }).body).shipments, 1, "still one")
bsim.stop()
os.execute("rm -rf " .. dir)

return T.done()
