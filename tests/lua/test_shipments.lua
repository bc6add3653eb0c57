-- Shipments and status out through the real binary, against a tiny cart over real HTTP
-- (tests/ship/serve.lua, connector tests/connectors/shiptest): one shipment -> exactly one at
-- the cart with its carrier, number and lines; partial then final; more than unshipped refused
-- (exit 2); accepted then timed out -> the retry finds it (still one); kill -9 mid-send then
-- the rerun -> still one; a permanent 4xx fails at once with the cart's message and `outbox
-- retry` sends it; a marketplace-fulfilled cart refused; status pushed only with send_status;
-- after_import_status and after_shipment_status entries sent; suppress_emails honoured.
-- luacheck: ignore 311 (a command's code/out are rebound by the next command when not asserted)
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"

local dir = T.tmpdir()
local _

local function cart(n)
  local p = T.spawn({ "run", "tests/ship/serve.lua", tostring(n) })
  local url
  for _ = 1, 200 do -- bounded: 200 x 25 ms
    url = p.out():match("(http://127%.0%.0%.1:%d+)")
    if url then break end
    os.execute("sleep 0.025")
  end
  assert(url, "ship cart did not start: " .. p.err())
  p.url = url
  return p
end
local main, quiet, fba = cart(6), cart(1), cart(1)

local function call(c, path, body)
  local res = assert(http.request{ method = body and "POST" or "GET", url = c.url .. path,
    body = body and json.encode(body), headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body)
end

local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "main" {
  connector = "shiptest", url = %q, rules = { "status_map" }, max_attempts = 3, retry_base_seconds = 0.01,
  timeout = 1, after_shipment_status = "shipped", send_status = true,
}
cart "quiet" {
  connector = "shiptest", url = %q, rules = { "status_map" }, after_import_status = "waiting", suppress_emails = true,
}
cart "fba" { connector = "shiptest", url = %q, rules = { "status_map" }, marketplace_fulfilled = true, send_status = true }
]], dir .. "/cw.db", main.url, quiet.url, fba.url))
local function cw(...) return T.cw({ "run", "tests/tools/cli.lua", "-c", cfg, ... }, nil, { timeout = 60 }) end
local function lines(out)
  local list = {}
  for l in out:gmatch("[^\n]+") do list[#list + 1] = json.decode(l) end
  return list
end
local function at_cart(c, id) return call(c, "/_t/state").shipments[tostring(id)] end
-- a shipment's lines at the cart as "L1:3,L2:2" (line id: quantity, in the cart's order)
local function lines_of(sh)
  local parts = {}
  for i, l in ipairs(sh and sh.lines or {}) do parts[i] = tostring(l.id) .. ":" .. tostring(math.tointeger(l.quantity) or l.quantity) end
  return table.concat(parts, ",")
end

for _, name in ipairs{ "main", "quiet", "fba" } do
  local code, _, err = cw("import", name)
  T.eq(code, 0, "import " .. name .. ": exit 0", err)
end

-- after_import_status: quiet's new order got its status at the cart, without a notification
local qs = call(quiet, "/_t/state")
T.eq(qs.statuses["1"], "waiting", "after_import_status: the new order's status set at the cart")
T.eq(qs.status_requests, 1, "one status request")
local code, out = cw("outbox", "--cart", "quiet", "--json")
local entries = lines(out)
T.eq(#entries, 1, "quiet: one outbox entry")
T.eq(entries[1] and entries[1].kind, "status", "of kind status")
T.eq(entries[1] and entries[1].state, "done", "done")
cw("import", "quiet")
T.eq(call(quiet, "/_t/state").status_requests, 1, "a second import of the same order: no second status")

-- one shipment of the whole order: exactly one at the cart, with carrier, number and lines
local err
code, out, err = cw("ship", "main:1", "--carrier", "UPS", "--tracking", "1Z001", "--url", "https://ups.example/1Z001",
  "--json")
T.eq(code, 0, "ship main:1: exit 0", err)
local r = lines(out)[1] or {}
T.eq(r.state, "sent", "the shipment is sent")
T.eq(r.sent and r.sent.sent, 2, "two entries sent: the shipment and after_shipment_status")
local list = at_cart(main, 1)
T.eq(#list, 1, "exactly one shipment at the cart")
T.eq(list[1] and list[1].carrier, "UPS", "carrier UPS")
T.eq(list[1] and list[1].tracking, "1Z001", "tracking 1Z001")
T.eq(list[1] and list[1].url, "https://ups.example/1Z001", "tracking url")
T.eq(lines_of(list[1]), "L1:3,L2:2",
  "every unshipped line, by the cart's line ids")
T.eq(r.cart_id, tostring(list[1] and list[1].id), "the cart's shipment id recorded")
T.eq(call(main, "/_t/state").statuses["1"], "shipped", "after_shipment_status set at the cart")
T.eq(call(main, "/_t/state").notify[1], true, "main notifies the customer")
code, _, err = cw("ship", "main:1", "--carrier", "UPS", "--tracking", "1Z002")
T.eq(code, 2, "shipping a shipped order again: exit 2")
T.match(err, "every line of the order is shipped already", "says so")

-- partial then final; more than unshipped refused
code, out, err = cw("ship", "main:2", "--carrier", "FedEx", "--tracking", "F1", "--line", "A:1", "--line", "B:2")
T.eq(code, 0, "partial shipment: exit 0", err)
code, _, err = cw("ship", "main:2", "--carrier", "FedEx", "--tracking", "F2", "--line", "A:3")
T.eq(code, 2, "3 of A when 2 are unshipped: exit 2")
T.match(err, "refused: 3 of A asked, only 2 unshipped %(3 ordered, 1 shipped%)", "a clear refusal")
code, _, err = cw("ship", "main:2", "--carrier", "FedEx", "--tracking", "F2", "--line", "Z:1")
T.eq(code, 2, "a SKU the order does not have: exit 2")
T.match(err, "no line with SKU Z", "says so")
code, _, err = cw("ship", "main:2", "--carrier", "FedEx", "--tracking", "F2")
T.eq(code, 0, "the final shipment (the rest): exit 0", err)
list = at_cart(main, 2)
T.eq(#list, 2, "two shipments at the cart")
T.eq(lines_of(list[1]), "L1:1,L2:2", "the first: A 1, B 2")
T.eq(lines_of(list[2]), "L1:2", "the final: the 2 A left")
code, out = cw("shipments", "main:2", "--json")
local shown = lines(out)
T.eq(#shown, 2, "shipments lists two")
T.eq(shown[2] and shown[2].state, "sent", "both sent")
T.eq(shown[1] and shown[1].cart_id, tostring(list[1] and list[1].id), "with the cart's id")

-- accepted, then the answer never came in time: the retry asks the cart first: still one
call(main, "/_t/hang", { seconds = 3 })
code, out, err = cw("ship", "main:3", "--carrier", "DHL", "--tracking", "D1")
T.eq(code, 1, "a timeout after the cart applied it: exit 1 (recorded, not confirmed)")
T.match(err, "timeout", "says it timed out")
T.eq(#at_cart(main, 3), 1, "the cart holds it (applied before the timeout)")
T.eq(call(main, "/_t/state").ship_requests, 4, "sent once: a write that may have been applied is not tried again")
code, out = cw("outbox", "--failed", "--json")
local failed = lines(out)
T.eq(#failed, 1, "one failed entry")
code, out, err = cw("outbox", "retry", tostring(failed[1] and failed[1].id))
T.eq(code, 0, "outbox retry: exit 0", err)
T.eq(#at_cart(main, 3), 1, "still exactly one shipment at the cart")
T.eq(call(main, "/_t/state").ship_requests, 4, "no second ship request: found by its tracking number")
code, out = cw("shipments", "main:3", "--json")
T.eq((lines(out)[1] or {}).state, "sent", "the shipment is sent, with the cart's id")

-- kill -9 while the cart answers: the entry stays sending; the rerun finds it: still one
call(main, "/_t/hang", { seconds = 30 })
local p = T.spawn({ "run", "tests/tools/cli.lua", "-c", cfg, "ship", "main:4", "--carrier", "USPS", "--tracking", "U1" })
for _ = 1, 300 do -- bounded: 300 x 20 ms
  if #(at_cart(main, 4) or {}) == 1 then break end
  os.execute("sleep 0.02")
end
T.eq(#at_cart(main, 4), 1, "the shipment reached the cart")
p.signal("KILL")
p.wait(10)
p.clean()
code, out = cw("outbox", "--cart", "main", "--json")
local sending
for _, e in ipairs(lines(out)) do if e.state == "sending" then sending = e end end
T.eq(sending and sending.kind, "shipment", "after kill -9: the shipment entry is left sending")
local before = call(main, "/_t/state").ship_requests
code, out, err = cw("import", "main")
T.eq(code, 0, "the rerun (an import sends what is due): exit 0", err)
T.eq(#at_cart(main, 4), 1, "still exactly one shipment at the cart")
T.eq(call(main, "/_t/state").ship_requests, before, "found, not sent again")
code, out = cw("shipments", "main:4", "--json")
T.eq((lines(out)[1] or {}).state, "sent", "recorded as sent")

-- a permanent 4xx: failed at once with the cart's message; outbox retry sends it
call(main, "/_t/fail", { status = 422, count = 1, message = "tracking number is not valid for USPS" })
before = call(main, "/_t/state").ship_requests
code, _, err = cw("ship", "main:5", "--carrier", "USPS", "--tracking", "BAD")
T.eq(code, 1, "refused by the cart: exit 1")
T.eq(call(main, "/_t/state").ship_requests, before + 1, "tried once, not again")
code, out = cw("outbox", "--failed", "--json")
failed = lines(out)
T.eq(#failed, 1, "outbox --failed: one entry")
T.match(failed[1] and failed[1].last_error or "", "http 422: tracking number is not valid for USPS", "with the cart's message")
T.eq(failed[1] and failed[1].next_at, json.null, "no automatic try")
code, out = cw("shipments", "main:5", "--json")
T.eq((lines(out)[1] or {}).state, "failed", "the shipment is failed")
code, out = cw("outbox", "--failed")
T.match(out, "tracking number is not valid for USPS", "the human list shows the message too")
code, _, err = cw("outbox", "retry", tostring(failed[1].id))
T.eq(code, 0, "outbox retry: exit 0", err)
T.eq(#at_cart(main, 5), 1, "the retry sent it: one shipment at the cart")
code, out = cw("shipments", "main:5", "--json")
T.eq((lines(out)[1] or {}).state, "sent", "now sent")

-- marketplace-fulfilled: refused, nothing sent
code, _, err = cw("ship", "fba:1", "--carrier", "UPS", "--tracking", "X")
T.eq(code, 2, "ship at a marketplace-fulfilled cart: exit 2")
T.match(err, "marketplace_fulfilled", "says why")
code, _, err = cw("status", "fba:1", "shipped")
T.eq(code, 2, "status at a marketplace-fulfilled cart: exit 2")
T.eq(call(fba, "/_t/state").ship_requests + call(fba, "/_t/state").status_requests, 0, "the cart got nothing")

-- status: pushed through the status map with send_status (main), recorded only without (quiet)
code, out, err = cw("status", "main:6", "cancelled", "--json")
T.eq(code, 0, "status main:6 cancelled: exit 0", err)
r = lines(out)[1] or {}
T.eq(r.cart_status, "gone", "ours cancelled -> the connector's own status gone")
T.eq(call(main, "/_t/state").statuses["6"], "gone", "set at the cart")
code, out, err = cw("status", "quiet:1", "shipped", "--json")
T.eq(code, 0, "status quiet:1: exit 0", err)
r = lines(out)[1] or {}
T.eq(r.pushed, false, "quiet (send_status off): not pushed")
T.eq(call(quiet, "/_t/state").status_requests, 1, "quiet got no status request")
code, out = cw("orders", "show", "quiet:1", "--json")
T.eq((lines(out)[1] or {}).status, "shipped", "our status recorded")
code, _, err = cw("status", "main:6", "lost")
T.eq(code, 2, "an unknown status: exit 2")

-- suppress_emails: quiet's shipment asks the cart not to notify
code, _, err = cw("ship", "quiet:1", "--carrier", "UPS", "--tracking", "Q1")
T.eq(code, 0, "ship quiet:1: exit 0", err)
T.eq(call(quiet, "/_t/state").notify[1], false, "suppress_emails: notify = false")

main.clean()
quiet.clean()
fba.clean()
os.execute("rm -rf " .. dir)
return T.done()
