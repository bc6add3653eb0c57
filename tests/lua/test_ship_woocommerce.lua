-- The WooCommerce shipments capability (connectors/woocommerce/shipments.lua) against the
-- simulator, over real HTTP through ctx: each of the three ways (core Fulfillments API, the
-- Shipment Tracking extension, an order note) leaves exactly one record at the cart with the
-- carrier and number; partial then final fulfillments; a 504 after the cart applied the POST,
-- then find; statuses set and read; notify = false sends no customer email.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local woo = require "sim.woocommerce"

local function connect(sim, settings)
  return T.connect("w", "woocommerce", sim.url, 'consumer_key = "ck_test", consumer_secret = "cs_test", ' .. (settings or ""))
end

local function held(sim, id)
  local res = assert(http.request{ url = sim.url .. "/_sim/shipments/" .. id })
  T.eq(res.status, 200, "GET /_sim/shipments/" .. id)
  return json.decode(res.body)
end

-- an id as the connector gives it: JSON numbers decode as floats here
local function sid(v) return tostring(math.tointeger(v) or v) end

-- _items as text: "112x1 113x2"
local function items_text(items)
  local out = {}
  for i, it in ipairs(items) do out[i] = sid(it.item_id) .. "x" .. sid(it.qty) end
  return table.concat(out, " ")
end

local function meta(f, key)
  for _, m in ipairs(f.meta_data) do if m.key == key then return m.value end end
end

-- A processing order of the simulator with at least two lines, as the engine passes it.
local function pick_order(sim, skip)
  for _, rec in ipairs(sim.records) do
    local doc = rec.doc
    if #doc.line_items >= 2 and doc.status == "processing" and not skip[rec.id] then
      skip[rec.id] = true
      local lines = {}
      for i, li in ipairs(doc.line_items) do
        lines[i] = { external_id = tostring(li.id), sku = li.sku, quantity = li.quantity }
      end
      return { external_id = tostring(rec.id), raw = doc, lines = lines }
    end
  end
  error("no order with two lines")
end

local used = {}

---------------------------------------------------------------- the Fulfillments API (auto)
local sim = woo.start{ port = 0, orders = 40, seed = 5 }
local ctx, conn = connect(sim)
local ship = conn.shipments
T.eq(conn.capabilities.shipments, true, "the package declares shipments")
T.eq(type(ship.ship), "function", "ship")

-- partial: the first line, then the rest
local order = pick_order(sim, used)
local first, rest = { order.lines[1] }, {}
for i = 2, #order.lines do rest[#rest + 1] = order.lines[i] end
sim:reset_stats()
local r1, err1 = ship.ship(ctx, { external_id = order.external_id, raw = order.raw, lines = first },
  { carrier = "UPS", tracking = "1ZPART0001", url = "https://ups.example/1ZPART0001", key = "k1", notify = false })
T.ok(r1 ~= nil, "partial shipment created", err1)
T.eq(r1.state, "created", "state created")
T.eq(sim.stats.shipment_requests, 2, "auto: one GET to see the Fulfillments API, one POST")
local h = held(sim, order.external_id)
T.eq(#h.fulfillments, 1, "exactly one fulfillment")
T.eq(sid(h.fulfillments[1].id), r1.id, "its id returned")
T.eq(meta(h.fulfillments[1], "_tracking_number"), "1ZPART0001", "tracking number")
T.eq(meta(h.fulfillments[1], "_shipment_provider"), "UPS", "carrier")
T.eq(meta(h.fulfillments[1], "_tracking_url"), "https://ups.example/1ZPART0001", "tracking url")
T.eq(items_text(meta(h.fulfillments[1], "_items")), first[1].external_id .. "x" .. first[1].quantity,
  "the first line only")
T.eq(h.fulfillments[1].is_fulfilled, true, "fulfilled")
T.eq(#h.emails, 0, "notify false: no email to the customer")

local r2, err2 = ship.ship(ctx, { external_id = order.external_id, raw = order.raw, lines = rest },
  { carrier = "UPS", tracking = "1ZFINAL002", key = "k2", notify = true })
T.ok(r2 ~= nil, "final shipment created", err2)
T.eq(sim.stats.shipment_requests, 3, "the site's Fulfillments API is asked about once per ctx")
h = held(sim, order.external_id)
T.eq(#h.fulfillments, 2, "two fulfillments: partial then final")
local want = {}
for i, l in ipairs(rest) do want[i] = l.external_id .. "x" .. l.quantity end
T.eq(items_text(meta(h.fulfillments[2], "_items")), table.concat(want, " "), "the other lines")
T.eq(#h.emails, 1, "notify true: one email")
T.eq(h.emails[1].template, "customer_fulfillment_created", "the fulfillment email")

-- more than the order has left: the cart refuses, permanently
local r3, err3, perm3 = ship.ship(ctx, order, { carrier = "UPS", tracking = "1ZTOOMANY3", key = "k3", notify = false })
T.eq(r3, nil, "over-shipping refused")
T.eq(perm3, true, "a 400 is permanent")
T.ok(err3:match("^http 400: ") and err3:match("fulfillments%)$"), "the cart's message and the call", err3)
T.eq(#held(sim, order.external_id).fulfillments, 2, "nothing added")

-- find: by tracking number
local found = ship.find(ctx, order, { tracking = "1ZFINAL002" })
T.eq(found and found.id, r2.id, "find: the fulfillment with that number")
T.eq(ship.find(ctx, order, { tracking = "1ZNOPE" }), false, "find: no such number")

-- the cart applies the POST, then answers 504: not retried (the engine asks find first)
local o2 = pick_order(sim, used)
sim:fault{ status = 504, after_apply = true, on = "any" }
sim:reset_stats()
local r4, err4, perm4 = ship.ship(ctx, o2, { carrier = "FedEx", tracking = "FX504", key = "k4", notify = false })
T.eq(r4, nil, "a 504 is a failure")
T.ok(perm4 ~= true, "not permanent", err4)
T.ok(err4:match("^http 504"), "the status named", err4)
T.eq(sim.stats.shipment_requests, 1, "the POST sent once, not retried")
h = held(sim, o2.external_id)
T.eq(#h.fulfillments, 1, "the cart has it")
local f4 = ship.find(ctx, o2, { tracking = "FX504" })
T.eq(f4 and f4.id, sid(h.fulfillments[1].id), "find after the 504: found")
T.eq(#held(sim, o2.external_id).fulfillments, 1, "still exactly one")

-- status
sim:reset_stats()
T.eq(ship.set_status(ctx, o2, "completed", { key = "s1", notify = false }), true, "set completed")
T.eq(sim.stats.status_requests, 1, "one PUT")
T.eq(ship.get_status(ctx, o2), "completed", "read back")
T.eq(held(sim, o2.external_id).status, "completed", "the cart's order is completed")
T.eq(ship.set_status(ctx, o2, "cancelled", { key = "s2" }), true, "set cancelled")
T.eq(ship.get_status(ctx, o2), "cancelled", "cancelled")
local s5, e5, p5 = ship.set_status(ctx, o2, "shipped", {})
T.eq(s5, nil, "not a WooCommerce status")
T.eq(p5, true, "permanent")
T.ok(e5:match("^http 400: "), "the cart's message", e5)
local emails = held(sim, o2.external_id).emails
T.eq(#emails, 2, "WooCommerce's own status emails (suppress_emails cannot stop them)")
T.eq(emails[1].template .. " " .. emails[2].template, "customer_completed_order cancelled_order", "which")
local g, gerr = ship.get_status(ctx, { external_id = "999999" })
T.eq(g, nil, "no such order")
T.ok(gerr:match("^http 404"), "404", gerr)
sim:close()

---------------------------------------------------------------- a note (no Fulfillments API)
sim = woo.start{ port = 0, orders = 40, seed = 6, fulfillments = false }
ctx, conn = connect(sim)
ship = conn.shipments
used = {}
local o3 = pick_order(sim, used)
sim:reset_stats()
local r6, err6 = ship.ship(ctx, o3, { carrier = "USPS", tracking = "9400111", url = "https://usps.example/9400111",
  key = "k6", notify = false })
T.ok(r6 ~= nil, "a note when the site has no Fulfillments API", err6)
h = held(sim, o3.external_id)
T.eq(#h.fulfillments, 0, "no fulfillment")
T.eq(#h.notes, 1, "exactly one note")
T.eq(sid(h.notes[1].id), r6.id, "its id")
T.ok(h.notes[1].note:find("Shipped via USPS, tracking 9400111 (https://usps.example/9400111): ", 1, true) == 1,
  "carrier, number and url in the note", h.notes[1].note)
T.eq(h.notes[1].customer_note, false, "notify false: a private note")
T.eq(#h.emails, 0, "no email")
T.eq((ship.find(ctx, o3, { tracking = "9400111" }) or {}).id, r6.id, "find: the note")
T.eq(ship.find(ctx, o3, { tracking = "940011" }), false, "find: a prefix of the number is not it")
local o4 = pick_order(sim, used)
local r7 = ship.ship(ctx, o4, { carrier = "USPS", tracking = "9400222", key = "k7", notify = true })
T.ok(r7 ~= nil, "a customer note")
h = held(sim, o4.external_id)
T.eq(h.notes[1].customer_note, true, "notify true: a customer note")
T.eq(#h.emails, 1, "emailed")
sim:close()

---------------------------------------------------------------- the Shipment Tracking extension
sim = woo.start{ port = 0, orders = 40, seed = 7, fulfillments = false, shipment_tracking = true }
ctx, conn = connect(sim, 'tracking = "shipment_tracking"')
ship = conn.shipments
used = {}
local o5 = pick_order(sim, used)
sim:reset_stats()
local r8, err8 = ship.ship(ctx, o5, { carrier = "DHL", tracking = "JD0001", key = "k8", notify = false })
T.ok(r8 ~= nil, "a tracking", err8)
T.eq(sim.stats.shipment_requests, 1, "one POST, no probe")
h = held(sim, o5.external_id)
T.eq(#h.trackings, 1, "exactly one tracking")
T.eq(h.trackings[1].tracking_id, r8.id, "its id")
T.eq(h.trackings[1].tracking_provider, "DHL", "carrier")
T.eq(h.trackings[1].tracking_number, "JD0001", "number")
T.eq(h.trackings[1].tracking_link, "https://www.dhl.com/track?tracking-id=JD0001", "the provider's link")
T.eq(#h.notes + #h.fulfillments, 0, "nothing else")
local r9 = ship.ship(ctx, o5, { carrier = "Acme Freight", tracking = "AF-9", url = "https://acme.example/t/AF-9",
  key = "k9", notify = false })
T.ok(r9 ~= nil, "a custom provider")
h = held(sim, o5.external_id)
T.eq(h.trackings[2].tracking_provider .. " " .. h.trackings[2].tracking_link, "Acme Freight https://acme.example/t/AF-9",
  "custom provider and its link")
T.eq((ship.find(ctx, o5, { tracking = "AF-9" }) or {}).id, r9.id, "find: the tracking")
T.eq(ship.find(ctx, o5, { tracking = "AF-10" }), false, "find: not there")
sim:close()

return T.done()
