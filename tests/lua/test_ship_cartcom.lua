-- The Cart.com shipments capability (connectors/cartcom/shipments.lua) against the simulator:
-- a shipment with its items, carrier and tracking; partial then final; a resend under the same
-- key (shipment_name) updates the store's shipment instead of adding one; a 504 or a late answer
-- after the store applied the POST -> not sent again, and find finds it; refusals are permanent;
-- statuses set by the store's names (with the store's emails, or quietly with suppress_emails)
-- and read back; then the whole path through the binary: import, ship, status.
local T = require "t"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local http = require "cartwright.http"
local jraw = require "cartwright.jsonraw"
local json = require "cjson.safe"

local sim = require("sim.cartcom").start{ port = 0, orders = 30, seed = 12, rate = false }
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "cc" { connector = "cartcom", url = %q, token = "ac_test", retry_base_seconds = 0.05, timeout = 2,
  rate_limit = { capacity = 1000, per_second = 1000 } }
]], sim.url))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "cc"))
local ctx = context.new(cart, conn)
ctx.writes_once = true -- as the engine's shipments flow sends
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

T.eq(conn.capabilities.shipments, true, "cartcom declares the shipments capability")

-- every order's raw document, as the import stores it
local raws = {}
local ok, ferr = conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2100-01-01T00:00:00Z",
  page_size = 100 }, function(page)
  for _, r in ipairs(page) do
    local doc = assert(jraw.decode(r))
    raws[tostring(math.tointeger(doc.order.id))] = doc
  end
  return true
end)
T.ok(ok, "the orders fetched", ferr)

local function order_of(id)
  local raw = raws[tostring(id)]
  local n = assert(conn.normalize(ctx, raw))
  local lines = {}
  for i, l in ipairs(n.lines) do lines[i] = { external_id = l.external_id, sku = l.sku, quantity = l.quantity } end
  return { external_id = tostring(id), raw = raw, lines = lines }
end
-- orders with two lines or more, in id order
local multi = {}
for i = 1, 30 do
  local o = order_of(100000 + i)
  if #o.lines >= 2 then multi[#multi + 1] = o end
end
T.ok(#multi >= 5, "orders with several lines to ship", #multi)

---------------------------------------------------------------- a whole order
local A = multi[1]
local r, err = sh.ship(ctx, A, { carrier = "UPS", tracking = "1Z999AA10123456784", service = "UPS Ground",
  url = "https://www.ups.com/track?tracknum=1Z999AA10123456784", key = "cw-ship-1", notify = true })
T.ok(r ~= nil, "ship: created", err)
local permanent
T.eq(r and r.state, "created", "state created")
local _, list = sim_get("/_sim/shipments/" .. A.external_id)
T.eq(#list, 1, "the store holds one shipment")
local s = list[1]
T.eq(s.tracking_numbers, "1Z999AA10123456784", "tracking_numbers")
T.eq(s.shipping_provider_name, "UPS", "shipping_provider_name = the carrier")
T.eq(s.shipping_method, "UPS Ground", "shipping_method = the service")
T.eq(s.tracking_url, "https://www.ups.com/track?tracknum=1Z999AA10123456784", "tracking_url")
T.eq(s.shipment_name, "cw-ship-1", "shipment_name = our key")
T.eq(s.email_sent, false, "notify: the store's email is not marked sent")
T.eq(#s.items, #A.lines, "every line shipped")
T.eq(math.tointeger(s.items[1].id), math.tointeger(tonumber(A.lines[1].external_id)), "items by order item id")
T.eq(r and r.id, tostring(math.tointeger(s.id)), "the id returned is the store's")

-- the same entry again (a retry the engine could not be sure about): the store updates, no second one
r, err = sh.ship(ctx, A, { carrier = "UPS", tracking = "1Z999AA10123456784", service = "UPS Ground", key = "cw-ship-1" })
T.ok(r ~= nil, "the same key again: accepted", err)
_, list = sim_get("/_sim/shipments/" .. A.external_id)
T.eq(#list, 1, "still one shipment (shipment_name reused = update)")
T.eq(math.tointeger(list[1].updates), 1, "the store updated it once")

---------------------------------------------------------------- partial, then final
local B = multi[2]
local first = { B.lines[1] }
r, err = sh.ship(ctx, { external_id = B.external_id, raw = B.raw, lines = first },
  { carrier = "FedEx", tracking = "7489", key = "cw-ship-2", notify = false })
T.ok(r ~= nil, "partial: created", err)
local rest = {}
for i = 2, #B.lines do rest[#rest + 1] = B.lines[i] end
r, err = sh.ship(ctx, { external_id = B.external_id, raw = B.raw, lines = rest },
  { carrier = "FedEx", tracking = "7490", key = "cw-ship-3" })
T.ok(r ~= nil, "final: created", err)
_, list = sim_get("/_sim/shipments/" .. B.external_id)
T.eq(#list, 2, "two shipments")
T.eq(#list[1].items .. "+" .. #list[2].items, "1+" .. (#B.lines - 1), "the partial one line, the final the rest")
T.eq(list[1].email_sent, true, "suppress_emails: the shipment is marked emailed, so the store sends none")
-- more than is left: the store refuses, permanently
r, err, permanent = sh.ship(ctx, { external_id = B.external_id, raw = B.raw, lines = first },
  { carrier = "FedEx", tracking = "7491", key = "cw-ship-4" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "over the quantity: permanent")
T.match(err, "^http 409: .*quantity_shipped is more than", "the store's message", err)
r, err, permanent = sh.ship(ctx, { external_id = "999999", lines = first }, { carrier = "UPS", tracking = "x", key = "cw-ship-5" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an order the store does not have: permanent", err)

---------------------------------------------------------------- accepted, then the answer lost
sim_post("/_sim/reset-stats", {})
local C = multi[3]
T.eq(sh.find(ctx, C, { tracking = "9400100000000000000001", key = "cw-ship-6" }), false, "find before: nothing there")
sim_post("/_sim/faults", { status = 504, after_apply = true, on = "any" })
r, err, permanent = sh.ship(ctx, C, { carrier = "USPS", tracking = "9400100000000000000001", key = "cw-ship-6" })
T.eq(r, nil, "504 after the store applied it: a failure")
T.eq(permanent, nil, "not permanent: the engine tries again, asking find first")
T.match(err or "", "^http 504", "the message names the status", err)
T.eq(sim.stats.shipment_requests, 1, "the POST was not sent a second time")
_, list = sim_get("/_sim/shipments/" .. C.external_id)
T.eq(#list, 1, "the store holds exactly one")
local found
found, err = sh.find(ctx, C, { carrier = "USPS", tracking = "9400100000000000000001", key = "cw-ship-6" })
T.eq(found and found.id, tostring(math.tointeger(list[1].id)), "find: found it by its name", err)
found = sh.find(ctx, C, { tracking = "9400100000000000000001", key = "another-key" })
T.eq(found and found.id, tostring(math.tointeger(list[1].id)), "find: found it by its tracking number")

local D = multi[4]
sim_post("/_sim/faults", { delay = 3, after_apply = true, on = "any" })
r, err, permanent = sh.ship(ctx, D, { carrier = "DHL", tracking = "JD0001", key = "cw-ship-7" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil nil", "a timeout after the store applied it: a failure, not permanent", err)
_, list = sim_get("/_sim/shipments/" .. D.external_id)
T.eq(#list, 1, "the store holds exactly one")
found = sh.find(ctx, D, { carrier = "DHL", tracking = "JD0001", key = "cw-ship-7" })
T.eq(found and found.id, tostring(math.tointeger(list[1].id)), "find: found it")
T.eq(sim.stats.shipment_requests, 2, "one POST each")

---------------------------------------------------------------- status
sim_post("/_sim/reset-stats", {})
local F = multi[5]
local function status_id(id) return math.tointeger(sim:order(tonumber(id)).order_status_id) end
local function events() return select(2, sim_get("/_sim/status-events")).events end
local e0 = events()
local put0 = sim.stats.status_requests
T.eq(sh.set_status(ctx, F, "cancelled", { key = "st-2", notify = false }), true, "set_status cancelled (any case)")
T.eq(status_id(F.external_id), 4, "order_status_id 4")
T.eq(events(), e0, "suppress_emails: a plain PUT, no status event")
T.eq(sh.get_status(ctx, F), "Cancelled", "get_status: Cancelled")
T.eq(sh.set_status(ctx, F, "Shipped", { key = "st-1", notify = true }), true, "set_status Shipped")
T.eq(status_id(F.external_id), 3, "order_status_id 3 at the store")
T.eq(events(), e0 + 1, "through /status: the store's status events (its emails) fired")
T.eq(sh.get_status(ctx, F), "Shipped", "get_status reads it by name")
T.eq(sh.set_status(ctx, F, "Shipped", { key = "st-1", notify = true }), true, "set_status Shipped again (a resend)")
T.eq(events(), e0 + 1, "  already so: nothing sent, no second email")
T.eq(sh.set_status(ctx, F, "pending_processing", { key = "st-3" }), true, "set_status by a word form")
T.eq(status_id(F.external_id), 1, "order_status_id 1")
T.eq(sim.stats.status_requests - put0, 3, "one PUT each, none for the status it already had")
T.eq(sim.stats.status_list_requests, 1, "the store's statuses read once per ctx")
r, err, permanent = sh.set_status(ctx, F, "Lost In Space", { key = "st-4" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an unknown status: permanent, never sent")
T.match(err, "no order status 'Lost In Space' %(it has: Pending Processing, Awaiting Payment", "naming the store's statuses")
T.eq(sim.stats.status_requests, 3, "nothing sent for it")
r, err, permanent = sh.set_status(ctx, { external_id = "999999" }, "Shipped", { key = "st-5" })
T.eq(tostring(r) .. " " .. tostring(permanent), "nil true", "an order the store does not have: permanent", err)
sim:close()

---------------------------------------------------------------- through the binary
local bsim = T.sim("cartcom", { "--orders", "0", "--plan", "gold" })
local cfg = T.write(dir .. "/cw2.lua", string.format([[
db = %q
cart "cc" { connector = "cartcom", url = %q, token = "ac_test", order_prefix = "CC-",
  after_shipment_status = "Shipped", download_statuses = { "Pending Processing", "Back Ordered", "Awaiting Payment", "On Hold" } }
]], dir .. "/cw.db", bsim.url))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end
local placed
for _ = 1, 20 do -- an order in a downloaded status
  local res = assert(http.request{ method = "POST", url = bsim.url .. "/_sim/orders", body = '{"count":1}' })
  local id = string.format("%d", json.decode(res.body).ids[1])
  local o = json.decode(assert(http.request{ url = bsim.url .. "/_sim/orders/" .. id }).body)
  if ({ [1] = true, [7] = true, [2] = true, [9] = true })[math.tointeger(o.order_status_id)] then placed = id break end
end
T.ok(placed ~= nil, "an order placed at the store")
local code, out, perr = cw{ "import", "cc" }
T.eq(code, 0, "import: exit 0", perr .. out)
code, out, perr = cw{ "ship", "CC-" .. string.format("%d", placed), "--carrier", "UPS", "--tracking", "1ZCC" .. placed }
T.eq(code, 0, "ship: exit 0", perr .. out)
local held = json.decode(assert(http.request{ url = bsim.url .. "/_sim/shipments/" .. string.format("%d", placed) }).body)
T.eq(#held, 1, "exactly one shipment at the store")
T.eq(held[1] and held[1].tracking_numbers, "1ZCC" .. placed, "with our tracking number")
T.eq(held[1] and held[1].shipping_provider_name, "UPS", "and the carrier")
local after = json.decode(assert(http.request{ url = bsim.url .. "/_sim/orders/" .. string.format("%d", placed) }).body)
T.eq(math.tointeger(after.order_status_id), 3, "after_shipment_status Shipped set at the store")
os.execute("rm -rf " .. T.q(dir))
return T.done()
