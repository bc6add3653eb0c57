-- The PrestaShop shipments capability (connectors/prestashop/shipments.lua) against the
-- simulator, over real HTTP through ctx: the tracking number lands on the order's
-- order_carriers row exactly once (PUT, XML, every value escaped); a partial shipment and a
-- second tracking number are refused, nothing sent; an accepted-then-504 PUT is found by `find`;
-- states set through order_histories (with or without PrestaShop's email), not twice; and the
-- engine's own `ship` and `status` commands through the binary.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local jraw = require "cartwright.jsonraw"

local KEY = "PS8SIMKEY0000000000000000000TEST"

local function connect(sim)
  local ctx, conn = T.connect("p", "prestashop", sim.url, string.format('key = %q, timezone = "+01:00"', KEY))
  ctx.writes_once = true -- as the engine's send loop has it
  return ctx, conn
end

local function held(sim, id)
  local res = assert(http.request{ url = sim.url .. "/_sim/shipments/" .. id })
  return json.decode(res.body)
end

-- An order of the simulator in a state, as the engine passes it (raw = the stored document).
local function pick(sim, state, used)
  for _, rec in ipairs(sim.records) do
    local doc = rec.doc
    if doc.current_state == state and #doc.associations.order_rows >= 2 and not used[rec.id] then
      used[rec.id] = true
      local lines = {}
      for i, r in ipairs(doc.associations.order_rows) do
        lines[i] = { external_id = r.id, sku = r.product_reference, quantity = tonumber(r.product_quantity) }
      end
      return { external_id = tostring(rec.id), raw = jraw.decode('{"order":' .. rec.json .. "}"), lines = lines }
    end
  end
  error("no order in state " .. state)
end

local sim = require("sim.prestashop").start{ port = 0, orders = 60, seed = 5 }
local ctx, conn = connect(sim)
local ship = conn.shipments
T.eq(conn.capabilities.shipments, true, "the package declares shipments")
local used = {}

-- a whole order: one GET of its order carrier, one PUT
local o1 = pick(sim, "2", used)
sim:reset_stats()
local r1, e1 = ship.ship(ctx, o1, { carrier = "UPS", tracking = "1ZWHOLE001", key = "k1", notify = false })
T.ok(r1 ~= nil, "shipment recorded", e1)
T.eq(r1 and r1.state, "created", "state created")
T.eq(r1 and r1.id, o1.external_id, "the order carrier's id")
T.eq(sim.stats.shipment_requests, 1, "one PUT")
T.eq(sim.stats.requests, 2, "and the GET of the row before it")
local h = held(sim, o1.external_id)
T.eq(h.order_carrier.tracking_number, "1ZWHOLE001", "the tracking number at the cart")
T.eq(#h.emails, 0, "notify false: no sendemail, no email")

-- sent again (the engine's retry of the same entry): found on the row, nothing written
sim:reset_stats()
local again = ship.ship(ctx, o1, { carrier = "UPS", tracking = "1ZWHOLE001", key = "k1", notify = false })
T.eq(again and again.id, r1.id, "the same tracking again: the same row")
T.eq(sim.stats.shipment_requests, 0, "nothing written again")

-- a second tracking number: refused, the first kept
local r2, e2, p2 = ship.ship(ctx, o1, { carrier = "UPS", tracking = "1ZOTHER002", key = "k2", notify = false })
T.eq(r2, nil, "a second tracking number is refused")
T.eq(p2, true, "permanently")
T.eq(e2, "order " .. o1.external_id .. " already has tracking number 1ZWHOLE001 at PrestaShop (one per order carrier): not replaced",
  "saying why")
T.eq(held(sim, o1.external_id).order_carrier.tracking_number, "1ZWHOLE001", "the first is kept")

-- part of an order: refused before anything is sent
local o2 = pick(sim, "2", used)
sim:reset_stats()
local part = { external_id = o2.external_id, raw = o2.raw, lines = { o2.lines[1] } }
local r3, e3, p3 = ship.ship(ctx, part, { carrier = "UPS", tracking = "1ZPART003", key = "k3" })
T.eq(r3, nil, "a partial shipment is refused")
T.eq(p3, true, "permanently")
T.match(e3, "^PrestaShop keeps one tracking number per order and no shipped quantities per line: ship order "
  .. o2.external_id .. " whole", "saying why")
T.eq(sim.stats.requests, 0, "nothing sent")

-- tracking numbers PrestaShop would refuse: refused before sending; markup is escaped
local r4, e4, p4 = ship.ship(ctx, o2, { carrier = "UPS", tracking = string.rep("9", 65), key = "k4" })
T.ok(r4 == nil and p4 == true and e4:match("^tracking number refused before sending"), "65 characters refused", e4)
local r5, _, p5 = ship.ship(ctx, o2, { carrier = "UPS", tracking = "AB<script>", key = "k5" })
T.ok(r5 == nil and p5 == true, "markup is not a tracking number")
T.eq(sim.stats.requests, 0, "still nothing sent")
local r6, e6 = ship.ship(ctx, o2, { carrier = "La Poste", tracking = "6A&12 (B)", key = "k6", notify = true })
T.ok(r6 ~= nil, "& and brackets are escaped in the XML and accepted", e6)
h = held(sim, o2.external_id)
T.eq(h.order_carrier.tracking_number, "6A&12 (B)", "the number exactly as sent")

-- the cart applies the PUT, then answers 504: one try, not permanent; find sees it
local o3 = pick(sim, "3", used)
sim:fault{ status = 504, after_apply = true, on = "any" }
sim:reset_stats()
local r7, e7, p7 = ship.ship(ctx, o3, { carrier = "DHL", tracking = "JD504", key = "k7", notify = false })
T.eq(r7, nil, "a 504 is a failure")
T.ok(p7 ~= true, "not permanent", e7)
T.match(e7, "^http 504", "naming the status")
T.eq(sim.stats.shipment_requests, 1, "the PUT sent once, not retried")
local f7 = ship.find(ctx, o3, { tracking = "JD504" })
T.eq(f7 and f7.id, o3.external_id, "find after the 504: found")
T.eq(ship.find(ctx, o3, { tracking = "JD50" }), false, "find: another number is not it")
T.eq(ship.find(ctx, o1, { tracking = "JD504" }), false, "find: another order's row is not it")

-- status: an order_histories row, none when the order is in that state already
sim:reset_stats()
T.eq(ship.set_status(ctx, o3, "4", { key = "s1", notify = true }), true, "set Shipped (4)")
T.eq(sim.stats.status_requests, 1, "one POST order_histories")
T.eq(ship.get_status(ctx, o3), "4", "read back")
h = held(sim, o3.external_id)
T.eq(#h.histories, 1, "one history row")
T.eq(h.emails[1] and h.emails[1].template, "shipped", "sendemail=1: PrestaShop's Shipped email")
T.eq(ship.set_status(ctx, o3, "4", { key = "s1", notify = true }), true, "set Shipped again")
T.eq(sim.stats.status_requests, 1, "no second row, no second email")
T.eq(ship.set_status(ctx, o3, "cancelled", { key = "s2", notify = false }), true, "a word for a fresh-install state")
h = held(sim, o3.external_id)
T.eq(h.current_state, 6, "Canceled")
T.eq(#h.emails, 1, "notify false: no email for it")
local s8, e8, p8 = ship.set_status(ctx, o3, "Awaiting pickup", {})
T.ok(s8 == nil and p8 == true, "not a state: permanent", e8)
local s9, e9, p9 = ship.set_status(ctx, o3, "999", {})
T.ok(s9 == nil and p9 == true, "an unknown state id: the cart's 400, permanent", e9)
T.match(e9, "^http 400: .*id_order_state", "the cart's message")
local g, gerr = ship.get_status(ctx, { external_id = "99999" })
T.eq(g, nil, "no such order")
T.match(gerr, "^http 404", "404")
sim:close()

---------------------------------------------------------------- through the engine
local bin = T.sim("prestashop", { "--orders", "30", "--seed", "9" })
local dir = T.tmpdir()
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "ps" { connector = "prestashop", url = %q, key = %q, timezone = "+01:00", send_status = true,
  after_shipment_status = "shipped", download_statuses = { "2", "3" }, rate_limit = { capacity = 1000, per_second = 1000 } }
]], dir .. "/cw.db", bin.url, KEY))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end
local code, out, err = cw{ "import", "ps" }
T.eq(code, 0, "import: exit 0", tostring(err) .. tostring(out))
local target
for line in select(2, cw{ "orders", "--json" }):gmatch("[^\n]+") do
  local o = jraw.decode(line)
  if type(o) == "table" and o.cart_status == "2" then target = target or o end
end
T.ok(target ~= nil, "an imported order in Payment accepted")
if target then
  code, out, err = cw{ "ship", target.number, "--carrier", "UPS", "--tracking", "1ZENGINE01" }
  T.eq(code, 0, "ship: exit 0", tostring(err) .. tostring(out))
  local s = json.decode(assert(http.request{ url = bin.url .. "/_sim/shipments/" .. target.external_id }).body)
  T.eq(s.order_carrier.tracking_number, "1ZENGINE01", "the engine's shipment reached the cart")
  T.eq(s.current_state, 4, "after_shipment_status = shipped: the state is Shipped (4)")
  T.eq(#s.histories, 1, "one state change")
  -- the adapter the cross-cart suites use reads the same
  local adapter = require "carts.prestashop"
  local held_now = adapter.shipments(bin.url, target.external_id)
  T.eq(#held_now, 1, "adapter: one shipment at the cart")
  T.eq(held_now[1].tracking, "1ZENGINE01", "adapter: its tracking number")
  T.eq(adapter.status(bin.url, target.external_id), "4", "adapter: the state id")
  T.eq(adapter.figure(bin.url, "TEE-BLK-M"), 50, "adapter: the figure of a catalog SKU (seeded orders took none)")
  T.eq(adapter.figure(bin.url, "NOPE-1"), nil, "adapter: none for an unknown SKU")

  -- the cart takes the PUT, then answers 504: the entry waits; its retry finds the number and
  -- sends nothing again
  local second
  for line in select(2, cw{ "orders", "--json" }):gmatch("[^\n]+") do
    local o = jraw.decode(line)
    if type(o) == "table" and o.cart_status == "2" and o.external_id ~= target.external_id then second = second or o end
  end
  assert(http.request{ method = "POST", url = bin.url .. "/_sim/faults", body = '{"status":504,"after_apply":true,"on":"any"}' })
  assert(http.request{ method = "POST", url = bin.url .. "/_sim/reset-stats" })
  code = cw{ "ship", second.number, "--carrier", "UPS", "--tracking", "1ZTIMEOUT2" }
  T.eq(code, 1, "ship: exit 1 when the cart answered 504 (recorded, to be retried)")
  local st = json.decode(assert(http.request{ url = bin.url .. "/_sim/stats" }).body)
  T.eq(st.shipment_requests, 1, "504 after apply: the PUT went once")
  _, out = cw{ "outbox", "--failed", "--json" }
  T.match(out, "http 504", "the entry failed with the cart's 504, to be retried")
  code, out, err = cw{ "outbox", "retry", "--all" }
  T.eq(code, 0, "outbox retry: exit 0", tostring(err) .. tostring(out))
  st = json.decode(assert(http.request{ url = bin.url .. "/_sim/stats" }).body)
  T.eq(st.shipment_requests, 1, "the retry found the number at the cart and sent no second PUT")
  s = json.decode(assert(http.request{ url = bin.url .. "/_sim/shipments/" .. second.external_id }).body)
  T.eq(s.order_carrier.tracking_number, "1ZTIMEOUT2", "the number at the cart")
  T.eq(s.current_state, 4, "and the after-shipment state set")
  _, out = cw{ "outbox", "--failed", "--json" }
  T.eq(out, "", "nothing failed any more")
end
bin.stop()
os.execute("rm -rf " .. dir)

return T.done()
