-- The Shopify shipments capability (connectors/shopify/shipments.lua) against the Shopify
-- simulator over real HTTP on 127.0.0.1, through a ctx of a cart from a real config: a full
-- shipment is exactly one fulfillment with the carrier, number, url and every line; partial then
-- final leaves the right remaining quantities; no @idempotent on fulfillmentCreate, find before a retry; a 504 or a
-- timeout after the shop applied it, then find, finds it; notifyCustomer false reaches the shop;
-- "cancelled" is orderCancel, other statuses no-ops; errors are permanent or retryable.
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"
local carts = require "cartwright.carts"
local config = require "cartwright.config"
local context = require "cartwright.ctx"

local sim = require("sim.shopify").start{ port = 0, orders = 60, seed = 23, rate = false,
                                          graphql = { maximum = 20000, restore = 1000 } }
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "s" { connector = "shopify", url = %q, token = "shpat_test", retry_base_seconds = 0.05, retry_max_seconds = 2 }
cart "once" { connector = "shopify", url = %q, token = "shpat_test", max_attempts = 1, timeout = 0.5 }
]], sim.url, sim.url))
local cfg = assert(config.load(dir .. "/cw.lua"))
local cart, conn = assert(carts.connect(cfg, "s"))
local ctx = context.new(cart, conn)
local once_cart, once_conn = assert(carts.connect(cfg, "once"))
local once = context.new(once_cart, once_conn)
local ship = conn.shipments

local function sim_call(method, path, body)
  local res = assert(http.request{ method = method, url = sim.url .. path, body = body and json.encode(body),
    headers = { ["Content-Type"] = "application/json", ["X-Shopify-Access-Token"] = "shpat_test" } })
  return json.decode(res.body), res.status
end
local function stats() return (sim_call("GET", "/_sim/stats")) end
local function reset() sim_call("POST", "/_sim/reset-stats") end
local function held(o) return (sim_call("GET", "/_sim/shipments/" .. o.external_id)) end

-- Unshipped, uncancelled orders of the simulator with at least `min_lines` lines, as the engine
-- hands them over: { external_id, raw, lines = { { external_id, sku, quantity } } }.
local pool = {}
for i = 1, #sim.orders do
  local d = sim.orders[i]
  if d.fulfillment_status == json.null and d.cancelled_at == json.null and #d.line_items >= 2 then
    local lines = {}
    for k, li in ipairs(d.line_items) do
      lines[k] = { external_id = string.format("%d", li.id), sku = li.sku, quantity = li.quantity }
    end
    pool[#pool + 1] = { external_id = string.format("%d", d.id), raw = d, lines = lines }
  end
end
T.ok(#pool >= 8, "the simulator has 8 unshipped orders of 2 lines or more", #pool)
local function take() return table.remove(pool, 1) end

---------------------------------------------------------------- the capability as loaded
T.eq(conn.capabilities.shipments, true, "shopify declares the shipments capability")
for _, k in ipairs{ "ship", "find", "set_status", "get_status" } do T.eq(type(ship[k]), "function", k) end

---------------------------------------------------------------- a full shipment
local a = take()
reset()
local res, err, perm = ship.ship(ctx, a, { carrier = "UPS", tracking = "1ZFULL0001", url = "https://ups.test/1ZFULL0001",
                                           key = "outbox-1", notify = true })
T.ok(res ~= nil, "a full shipment", err, perm)
res = res or {}
T.ok(tostring(res.id):match("^gid://shopify/Fulfillment/%d+$") ~= nil, "the fulfillment's GID", res.id)
T.eq(res.state, "created", "state created")
local h = held(a)
T.eq(#h.fulfillments, 1, "exactly one fulfillment")
local f = h.fulfillments[1] or {}
T.eq(f.tracking_company, "UPS", "carrier")
T.eq(f.tracking_number, "1ZFULL0001", "number")
T.eq(f.tracking_url, "https://ups.test/1ZFULL0001", "url")
T.eq(f.notify_customer, true, "notifyCustomer true")
local want, got = {}, {}
for _, l in ipairs(a.lines) do want[#want + 1] = l.external_id .. "x" .. l.quantity end
for _, l in ipairs(f.line_items or {}) do got[#got + 1] = string.format("%dx%d", l.id, l.quantity) end
table.sort(want); table.sort(got)
T.eq(table.concat(got, ","), table.concat(want, ","), "every line, its whole quantity")
T.eq(h.fulfillment_order.status, "CLOSED", "the fulfillment order is closed")
T.eq(h.fulfillment_status, "fulfilled", "the order is fulfilled")
local st = stats()
T.eq(st.shipment_requests, 1, "one fulfillmentCreate")
T.eq(st.order_reads, 1, "one read of the fulfillment orders")
local rest = sim_call("GET", "/admin/api/2026-10/orders/" .. a.external_id .. ".json")
local rf = rest and rest.order and rest.order.fulfillments or {}
T.eq(#rf, 1, "REST: one fulfillment on the order")
T.eq(rf[1] and rf[1].tracking_number, "1ZFULL0001", "REST: its tracking number")
local found = ship.find(ctx, a, { tracking = "1ZFULL0001" })
T.eq(found and found.id, res.id, "find: the fulfillment with that number")
T.eq(ship.find(ctx, a, { tracking = "1ZOTHER" }), false, "find: another number is not there")

---------------------------------------------------------------- partial, then final
local b = take()
local first = b.lines[1]
local part = { external_id = b.external_id, raw = b.raw, lines = { { external_id = first.external_id, sku = first.sku, quantity = 1 } } }
res, err = ship.ship(ctx, part, { carrier = "USPS", tracking = "9400PART1", key = "outbox-2", notify = true })
T.ok(res ~= nil, "a partial shipment", err)
h = held(b)
local remaining = {}
for _, l in ipairs(h.fulfillment_order.lines) do remaining[string.format("%d", l.line_item_id)] = l.remaining end
T.eq(remaining[first.external_id], first.quantity - 1, "the shipped line: one less remaining")
for k = 2, #b.lines do T.eq(remaining[b.lines[k].external_id], b.lines[k].quantity, "line " .. k .. ": all remaining") end
T.eq(h.fulfillment_order.status, "IN_PROGRESS", "the fulfillment order is in progress")
T.eq(h.fulfillment_status, "partial", "the order is partially fulfilled")
local over = { external_id = b.external_id, raw = b.raw, lines = { { external_id = first.external_id, sku = first.sku, quantity = first.quantity } } }
local no, oerr, operm = ship.ship(ctx, over, { carrier = "USPS", tracking = "9400OVER", key = "outbox-2b" })
T.ok(no == nil and operm == true and tostring(oerr):find("remaining to fulfill", 1, true),
     "more than the line has left: refused by the shop, permanent", oerr)
T.eq(#held(b).fulfillments, 1, "and nothing created")
local rest_lines = {}
if first.quantity > 1 then rest_lines[1] = { external_id = first.external_id, sku = first.sku, quantity = first.quantity - 1 } end
for k = 2, #b.lines do rest_lines[#rest_lines + 1] = b.lines[k] end
res, err = ship.ship(ctx, { external_id = b.external_id, raw = b.raw, lines = rest_lines },
                     { carrier = "USPS", tracking = "9400PART2", key = "outbox-3", notify = true })
T.ok(res ~= nil, "the final shipment", err)
h = held(b)
T.eq(#h.fulfillments, 2, "two fulfillments")
local left = 0
for _, l in ipairs(h.fulfillment_order.lines) do left = left + l.remaining end
T.eq(left, 0, "nothing remaining")
T.eq(h.fulfillment_order.status, "CLOSED", "closed")
T.eq(h.fulfillment_status, "fulfilled", "fulfilled")
local none, merr, mperm = ship.ship(ctx, part, { carrier = "USPS", tracking = "9400PART3", key = "outbox-4" })
T.ok(none == nil and mperm == true and tostring(merr):find("unfulfillable status= closed", 1, true),
     "more than remains: refused by the shop, permanent", merr)
T.eq(#held(b).fulfillments, 2, "and nothing created")

---------------------------------------------------------------- a retry looks first
-- fulfillmentCreate takes no @idempotent (the simulator refuses one): what keeps a retry from
-- shipping twice is find, which the engine calls before it sends an entry again
local c = take()
reset()
local r1, e1 = ship.ship(ctx, c, { carrier = "FedEx", tracking = "FX-KEY-1", key = "outbox-5", notify = true })
T.ok(r1 ~= nil, "fulfillmentCreate without an @idempotent directive", e1)
local seen = ship.find(ctx, c, { tracking = "FX-KEY-1" })
T.eq(seen and seen.id, r1 and r1.id, "before a retry, find answers the fulfillment made")
T.eq(#held(c).fulfillments, 1, "one fulfillment")
T.eq(stats().shipment_requests, 1, "one fulfillmentCreate")

---------------------------------------------------------------- accepted, then 504: find finds it
local d = take()
sim_call("POST", "/_sim/faults", { status = 504, after_apply = true, on = "any", op = "fulfillmentCreate" })
res, err, perm = ship.ship(once, d, { carrier = "DHL", tracking = "DHL-504", key = "outbox-6", notify = true })
T.ok(res == nil and perm == nil, "a 504 after the shop applied it: an error to retry", err)
T.eq(#held(d).fulfillments, 1, "the shop has it")
found, err = ship.find(ctx, d, { tracking = "DHL-504" })
T.ok(found and tostring(found.id):match("^gid://shopify/Fulfillment/") ~= nil, "find: found", err)
T.eq(found and found.id, "gid://shopify/Fulfillment/" .. string.format("%d", held(d).fulfillments[1].id), "its id")

-- and a timeout: the shop answers after the client gave up
local e = take()
sim_call("POST", "/_sim/faults", { delay = 1.5, after_apply = true, on = "any", op = "fulfillmentCreate" })
res, err = ship.ship(once, e, { carrier = "DHL", tracking = "DHL-LATE", key = "outbox-7", notify = true })
T.ok(res == nil, "a timeout: an error to retry", err)
found = ship.find(ctx, e, { tracking = "DHL-LATE" })
T.ok(found and found.id ~= nil, "find after the timeout: found")
T.eq(#held(e).fulfillments, 1, "one fulfillment")

---------------------------------------------------------------- notifyCustomer false
local g = take()
res = ship.ship(ctx, g, { carrier = "UPS", tracking = "1ZQUIET", key = "outbox-8", notify = false })
T.ok(res ~= nil, "a shipment with notify = false")
T.eq(held(g).fulfillments[1] and held(g).fulfillments[1].notify_customer, false, "the shop was told not to notify")

---------------------------------------------------------------- status
local k = take()
reset()
T.eq(ship.get_status(ctx, k), "open", "an open order")
T.eq(ship.set_status(ctx, k, "shipped", { key = "s1" }), true, "shipped: a no-op")
T.eq(ship.set_status(ctx, k, "closed", { key = "s2" }), true, "closed: a no-op")
T.eq(stats().status_requests, 0, "no request for them")
local ok, serr = ship.set_status(ctx, k, "cancelled", { key = "s3", notify = false })
T.eq(ok, true, "cancelled: orderCancel", serr)
T.eq(ship.get_status(ctx, k), "cancelled", "the order is cancelled")
h = held(k)
T.eq(#h.cancels, 1, "one cancellation")
T.eq(h.cancels[1] and h.cancels[1].notify_customer, false, "without notifying the customer")
T.eq(h.cancels[1] and h.cancels[1].restock, false, "without restock")
T.eq(h.cancels[1] and h.cancels[1].reason, "OTHER", "reason OTHER")
T.eq(h.fulfillment_order.status, "CLOSED", "its fulfillment order closed")
T.eq(ship.set_status(ctx, k, "cancelled", { key = "s3" }), true, "cancelled again: already so, true")
T.eq(#held(k).cancels, 1, "still one cancellation")
T.eq(stats().status_requests, 2, "two orderCancel calls")
none, merr, mperm = ship.ship(ctx, k, { carrier = "UPS", tracking = "1ZCANC", key = "outbox-9" })
T.ok(none == nil and mperm == true, "a cancelled order cannot be shipped: permanent", merr)

---------------------------------------------------------------- errors
none, merr, mperm = ship.ship(ctx, { external_id = "1", lines = {} }, { carrier = "UPS", tracking = "X", key = "outbox-10" })
T.ok(none == nil and mperm == true and tostring(merr):find("has no order", 1, true), "an order the shop lacks: permanent", merr)
local m = take()
none, merr, mperm = ship.ship(ctx, { external_id = m.external_id, raw = m.raw, lines = { { external_id = "999", sku = "NOPE", quantity = 1 } } },
                              { carrier = "UPS", tracking = "X", key = "outbox-11" })
T.ok(none == nil and mperm == true and tostring(merr):find("no fulfillment order", 1, true), "a line the order lacks: permanent", merr)
sim_call("POST", "/_sim/graphql", { throttle = 50 })
none, merr, mperm = ship.ship(ctx, m, { carrier = "UPS", tracking = "X", key = "outbox-12" })
T.ok(none == nil and mperm == nil and tostring(merr):find("^throttled"), "THROTTLED throughout: retryable", merr)
sim_call("POST", "/_sim/graphql", { throttle = 0 })
sim_call("POST", "/_sim/faults", { status = 503, on = "any", count = 1 })
none, merr, mperm = ship.ship(once, m, { carrier = "UPS", tracking = "X", key = "outbox-13" })
T.ok(none == nil and mperm == nil, "a 503: retryable", merr)
T.eq(#held(m).fulfillments, 0, "nothing created by these")
-- by SKU when the engine has no line id
res = ship.ship(ctx, { external_id = m.external_id, raw = m.raw, lines = { { sku = m.lines[1].sku, quantity = m.lines[1].quantity } } },
                { carrier = "UPS", tracking = "1ZSKU", key = "outbox-14" })
T.ok(res ~= nil, "a line named by SKU only")
T.eq(held(m).fulfillments[1] and held(m).fulfillments[1].line_items[1].sku, m.lines[1].sku, "the line of that SKU shipped")

sim:close()
os.execute("rm -rf " .. dir)
return T.done()
