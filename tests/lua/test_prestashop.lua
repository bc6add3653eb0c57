-- The PrestaShop connector and simulator, beside the shared import cases: the webservice's wire
-- format as the simulator serves it (401 bodies, XML by default and JSON on request, date=1,
-- `[]`, JSON write bodies refused), the shop's time zone (DST both ways, the window widened
-- around a change), one order normalized field by field, batched look-ups (a few calls per
-- page, not one per order), XML bodies escaped, and `connector check` through the real binary.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local time = require "cartwright.time"
local tz = require "connectors.prestashop.tz"
local api = require "connectors.prestashop.api"

local KEY = "PS8SIMKEY0000000000000000000TEST"
local AUTH = { Authorization = "Basic " .. crypto.base64(KEY .. ":") }

---------------------------------------------------------------- the shop's time zone
local paris = assert(tz.zone("Europe/Paris"))
local function utc(s) return time.format(assert(paris:utc(s))) end
T.eq(utc("2026-01-15 12:00:00"), "2026-01-15T11:00:00Z", "Paris winter: UTC+1")
T.eq(utc("2026-07-15 12:00:00"), "2026-07-15T10:00:00Z", "Paris summer: UTC+2")
T.eq(paris:wall(time.parse("2026-03-29T00:59:59Z")), "2026-03-29 01:59:59", "last second before the EU change")
T.eq(paris:wall(time.parse("2026-03-29T01:00:00Z")), "2026-03-29 03:00:00", "clocks go forward at 01:00 UTC")
T.eq(utc("2026-10-25 02:30:00"), "2026-10-25T00:30:00Z", "the repeated hour reads as its first (summer) time")
T.eq(utc("2026-10-25 03:30:00"), "2026-10-25T02:30:00Z", "after the change: winter time")
T.eq(utc("2026-03-29 02:30:00"), "2026-03-29T01:30:00Z", "a skipped time reads with the standard offset")
local ny = assert(tz.zone("America/New_York"))
T.eq(time.format(ny:utc("2026-03-08 01:59:59")), "2026-03-08T06:59:59Z", "New York before the US change")
T.eq(time.format(ny:utc("2026-03-08 03:00:00")), "2026-03-08T07:00:00Z", "New York after it (2nd Sunday of March)")
T.eq(time.format(ny:utc("2026-11-01 03:00:00")), "2026-11-01T08:00:00Z", "New York back on standard time (1st Sunday of November)")
local sydney = assert(tz.zone("Australia/Sydney"))
T.eq(time.format(sydney:utc("2026-01-10 12:00:00")), "2026-01-10T01:00:00Z", "Sydney in January: UTC+11")
T.eq(time.format(sydney:utc("2026-07-10 12:00:00")), "2026-07-10T02:00:00Z", "Sydney in July: UTC+10")
T.eq(assert(tz.zone("Etc/GMT-1")).std, 3600, "Etc/GMT-1 is UTC+1 (POSIX signs)")
T.eq(assert(tz.zone("-05:30")).std, -19800, "a fixed offset")
local _, why = tz.zone("Mars/Olympus")
T.match(why, "^unknown time zone 'Mars/Olympus'", "an unknown zone is refused by name")
T.eq(paris:utc("2026-01-15T12:00:00Z"), nil, "a time that is not the shop's wall-clock form is refused")

local orders = require "connectors.prestashop.orders"
local a, b = orders._test.wall_window(paris, "2026-10-24T23:00:00Z", "2026-10-25T02:00:00Z")
T.eq(a, "2026-10-25 00:00:00", "window start: the smaller offset around it (wider)")
T.eq(b, "2026-10-25 04:00:00", "window end: the larger offset around it, so the repeated hour is inside")

---------------------------------------------------------------- XML bodies
local xml = assert(api.xml("order_carrier", { { "id", 7 }, { "tracking_number", "1Z<&>\"'" } }))
T.match(xml, "<tracking_number>1Z&lt;&amp;&gt;&quot;&apos;</tracking_number>", "every markup character escaped")
local bad, berr = api.xml("order_carrier", { { "tracking_number", "A\1B" } })
T.eq(bad, nil, "a control character is refused")
T.eq(berr, "order_carrier.tracking_number holds a control character", "naming the field")
T.eq(api.xml("x", { { "a", "\255\254" } }), nil, "text that is not UTF-8 is refused")

---------------------------------------------------------------- the simulator's wire format
local sim = require("sim.prestashop").start{ port = 0, orders = 120, seed = 11 }
local function get(path, headers)
  return assert(http.request{ url = sim.url .. path, headers = headers or AUTH })
end
local res = get("/api/orders", {})
T.eq(res.status, 401, "no key: 401")
T.match(res.headers["www-authenticate"], "please enter the authentication key as the login", "the realm")
T.match(res.body, "<code><!%[CDATA%[16%]%]></code>", "code 16, XML by default")
res = get("/api/orders?output_format=JSON", { Authorization = "Basic " .. crypto.base64("short:") })
T.eq(json.decode(res.body).errors[1].message, "Invalid authentication key format", "a short key: code 18's message, as JSON")
res = get("/api/orders?display=full&limit=1")
T.match(res.headers["content-type"], "^text/xml", "XML by default")
T.match(res.body, "<order>\n<id><!%[CDATA%[1%]%]></id>", "XML order")
local h = { Authorization = AUTH.Authorization, ["Io-Format"] = "JSON" }
res = get("/api/orders?display=[id,current_state]&limit=2,3", h)
T.eq(type(json.decode(res.body).orders[1].current_state), "string", "Io-Format: JSON and display=[fields]")
T.eq(json.decode(res.body).orders[1].date_upd, nil, "only the fields asked for")
local ids = {}
for i, o in ipairs(json.decode(res.body).orders) do ids[i] = string.format("%d", o.id) end
T.eq(table.concat(ids, ","), "3,4,5", "limit=2,3 is offset 2, count 3")
res = get("/api/orders?output_format=JSON&filter[date_upd]=[2020-01-01%2000:00:00,2030-01-01%2000:00:00]")
T.eq(res.status, 400, "a date filter without date=1: 400")
T.match(json.decode(res.body).errors[1].message, "^This filter does not exist", "the cart's own message")
res = get("/api/orders?output_format=JSON&date=1&filter[date_upd]=[2020-01-01T00:00:00,2030-01-01T00:00:00]")
T.eq(res.body, "[]", "ISO 'T' bounds match nothing, and an empty list is []")
res = get("/api/customers?output_format=JSON&display=[id,email]&filter[id]=[1|3|9999]")
T.eq(#json.decode(res.body).customers, 2, "filter[id]=[a|b|c]: the rows there are")
res = get("/api/carriers?output_format=JSON&display=[id,name]&filter[name]=%25[ess]")
T.eq(json.decode(res.body).carriers[1].name, "Express", "%[v] ends with, without case")
res = get("/api/carriers?output_format=JSON&display=[id,name]&filter[name]=%25[IGHT]%25")
local names = {}
for i, c in ipairs(json.decode(res.body).carriers) do names[i] = c.name end
T.eq(table.concat(names, ","), "Overnight,Freight LTL", "%[v]% contains")
res = assert(http.request{ method = "POST", url = sim.url .. "/api/order_histories?output_format=JSON", headers = AUTH,
  body = '{"order_history":{"id_order":1,"id_order_state":4}}' })
T.eq(res.status, 500, "a JSON body is refused as 8.1 refuses it")
T.eq(json.decode(res.body).errors[1].code, 127, "XML error code 127")

---------------------------------------------------------------- fetch and normalize
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "p" { connector = "prestashop", url = %q, key = %q, timezone = "+01:00",
  rate_limit = { capacity = 1000, per_second = 1000 }, retry_base_seconds = 0.01, retry_max_seconds = 2 }
]], sim.url, KEY))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "p"))
local ctx = context.new(cart, conn)
sim:reset_stats()
local pages, docs, raws = 0, {}, {}
assert(conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = time.format(sim:now() + 60), page_size = 25 },
  function(r, d)
    pages = pages + 1
    for i = 1, #d do docs[#docs + 1], raws[#raws + 1] = d[i], r[i] end
    return true
  end))
T.eq(#docs, 120, "every order read")
T.eq(pages, 5, "in pages of 25")
T.eq(sim.stats.order_list_requests, 5, "5 order pages (the last short one ends the list)")
T.eq(sim.stats.customers_requests, 5, "customers: one batched call per page")
T.eq(sim.stats.addresses_requests, 5, "addresses: one batched call per page")
-- countries, regions, carriers, currencies and order states: only rows not seen earlier in the
-- run (5 calls on the first page, 4 more over the next pages for regions and countries new there)
T.eq(sim.stats.lookup_requests, 9, "other rows: only those not seen earlier in the run")
local first = json.decode(raws[1])
T.eq(first.order.id, 1, "the stored document holds the order")
T.eq(type(first.customer), "table", "and its customer")
T.eq(raws[1]:sub(1, 9), '{"order":', "joined from the cart's own bytes")
T.eq(first.customer.passwd, nil, "the customer's password hash is never read")
T.eq(first.customer.secure_key, nil, "nor its secure key")
local kept = 0
for _, r in ipairs(raws) do
  local k = json.decode(r).order.secure_key
  if k ~= nil and k ~= "" then kept = kept + 1 end
end
T.eq(kept, 0, "nor the order's secure_key (the customer's): blanked in every stored document")
T.eq(type(first.customer.email), "string", "its email is")
local o = assert(conn.normalize(ctx, docs[7]))
local src = sim:order(7)
local c = sim.customers[tonumber(src.id_customer)].doc
T.eq(o.external_id, "7", "external_id")
T.eq(o.number, src.reference, "number = reference")
T.eq(o.cart_status, src.current_state, "cart_status = the state id")
T.eq(o.updated_at, time.format(time.parse(src.date_upd) - 3600), "updated_at: the shop's UTC+1 wall clock to UTC")
T.eq(o.customer.email, c.email, "email from the customer row")
T.eq(o.shipping.code, "Freight LTL", "n % 25 == 7: the unusual carrier, by name")
T.eq(o.currency, "EUR", "currency from its row")
T.eq(o.totals.total, string.format("%.2f", tonumber(src.total_paid_tax_incl)), "total")
T.eq(#o.lines, #src.associations.order_rows, "every line")
T.eq(o.lines[1].sku, src.associations.order_rows[1].product_reference, "sku = product_reference")
T.eq(o.shipping.country, "US", o.shipping.country == "US" and "country ISO code from its row" or "country")
local held = assert(conn.normalize(ctx, docs[42]))
local unknown = 0
for _, l in ipairs(held.lines) do if l.sku:match("^UNKNOWN%-") then unknown = unknown + 1 end end
T.eq(unknown, 1, "n % 100 == 42: the unknown SKU line is there")
sim:close()

---------------------------------------------------------------- the night clocks go back
-- A shop in Europe/Paris on 2026-10-25: 02:00-02:59 happens twice (01:00 UTC back to 02:00).
-- An order every 5 minutes from 23:00 UTC to 03:00 UTC; the window 00:40-01:20 UTC is, on the
-- wall, 02:40 then 02:20: read naively it holds nothing.
local common = require "sim.common"
local night = require("sim.prestashop").start{ port = 0, orders = 0, seed = 8, dst = "eu",
  clock = function() return common.epoch(2026, 10, 25, 4, 0, 0) end }
local t0 = common.epoch(2026, 10, 24, 23, 0, 0)
for i = 0, 48 do night:add_orders(1, t0 + i * 300) end
res = assert(http.request{ url = night.url .. "/api/orders?output_format=JSON&date=1&filter[date_upd]="
  .. "[2026-10-25%2002:40:00,2026-10-25%2002:20:00]", headers = AUTH })
T.eq(res.body, "[]", "the naive wall-clock window holds nothing")
T.write(dir .. "/night.lua", string.format([[
cart "n" { connector = "prestashop", url = %q, key = %q, timezone = "Europe/Paris",
  rate_limit = { capacity = 1000, per_second = 1000 } }
]], night.url, KEY))
local ncart0, nconn0 = assert(carts.connect(assert(config.load(dir .. "/night.lua")), "n"))
local nctx = context.new(ncart0, nconn0)
local seen_ids, in_window = {}, 0
assert(nconn0.fetch_orders(nctx, { since = "2026-10-25T00:40:00Z", ["until"] = "2026-10-25T01:20:00Z", page_size = 50 },
  function(_, d)
    for _, doc in ipairs(d) do seen_ids[#seen_ids + 1] = doc.order.id end
    return true
  end))
for _, id in ipairs(seen_ids) do
  local rec = night.by_id[id]
  if rec.updated >= common.epoch(2026, 10, 25, 0, 40, 0) and rec.updated <= common.epoch(2026, 10, 25, 1, 20, 0) then
    in_window = in_window + 1
  end
end
T.eq(in_window, 9, "every order of the window is read (00:40 to 01:20 UTC, every 5 minutes)")
T.eq(#seen_ids, 33, "within the widened wall window 01:40-03:20 (23:40 to 02:20 UTC)")
local function upd(epoch)
  for _, rec in ipairs(night.records) do
    if rec.updated == epoch then
      return assert(nconn0.normalize(nctx, { order = night:order(rec.id) })).updated_at
    end
  end
end
T.eq(upd(common.epoch(2026, 10, 25, 0, 30, 0)), "2026-10-25T00:30:00Z", "02:30 summer time: 00:30 UTC")
T.eq(upd(common.epoch(2026, 10, 25, 1, 30, 0)), "2026-10-25T00:30:00Z",
  "02:30 winter time reads as the first 02:30 (the documented limit)")
T.eq(upd(common.epoch(2026, 10, 25, 2, 0, 0)), "2026-10-25T02:00:00Z", "03:00 winter time: 02:00 UTC")
night:close()

---------------------------------------------------------------- a key without every permission
local narrow = require("sim.prestashop").start{ port = 0, orders = 3, seed = 2,
  permissions = { orders = true, customers = true, addresses = true, countries = true, carriers = true } }
T.write(dir .. "/narrow.lua", string.format([[
cart "n" { connector = "prestashop", url = %q, key = %q, timezone = "+01:00",
  rate_limit = { capacity = 1000, per_second = 1000 } }
]], narrow.url, KEY))
local ncart, nconn = assert(carts.connect(assert(config.load(dir .. "/narrow.lua")), "n"))
local tres, terr = nconn.test(context.new(ncart, nconn))
T.eq(tres, nil, "a key that may not read every resource the import needs: test fails")
T.eq(terr, "the webservice key may not read states, currencies, order_states (Advanced Parameters > Webservice:"
  .. " tick View (GET) for them)", "naming each one")
narrow:close()

---------------------------------------------------------------- a cart that ignores filter[id]
-- (a proxy or module that drops the filter): the pager stops the run instead of reading the
-- same page until max_pages
local httpd = require "cartwright.httpd"
local served = 0
local deaf = httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  if req.path == "/api/orders" then
    served = served + 1
    return { status = 200, headers = { ["Content-Type"] = "application/json" }, body =
      '{"orders":[{"id":1,"current_state":"2","date_upd":"2026-01-01 10:00:00"},'
      .. '{"id":2,"current_state":"2","date_upd":"2026-01-01 10:00:00"}]}' }
  end
  return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = "[]" }
end }
T.write(dir .. "/deaf.lua", string.format([[
cart "d" { connector = "prestashop", url = "http://127.0.0.1:%d", key = %q, timezone = "UTC",
  rate_limit = { capacity = 1000, per_second = 1000 } }
]], deaf.port, KEY))
local dcart, dconn = assert(carts.connect(assert(config.load(dir .. "/deaf.lua")), "d"))
local dctx = context.new(dcart, dconn)
local got_pages = 0
local ok, derr = dconn.fetch_orders(dctx, { since = "2026-01-01T00:00:00Z", ["until"] = "2026-01-02T00:00:00Z", page_size = 2 },
  function() got_pages = got_pages + 1 return true end)
T.eq(ok, nil, "a cart that ignores filter[id]: the listing fails")
T.eq(derr, "orders page 2: the cart ignored filter[id]=3 (the page starts at id 1); stopping", "saying so")
T.eq(served, 2, "after two pages")
T.eq(got_pages, 1, "the first page was handed on")
deaf:close()

---------------------------------------------------------------- connector check through the binary
local s = T.sim("prestashop", { "--orders", "25", "--seed", "5" })
local cfg = T.write(dir .. "/check.lua", string.format([[
db = %q
cart "ps" { connector = "prestashop", url = %q, key = %q, timezone = "+01:00", retry_base_seconds = 0.05,
  rate_limit = { capacity = 50, per_second = 50 } }
cart "wrongkey" { connector = "prestashop", url = %q, key = "PS8SIMKEY0000000000000000000XXXX", timezone = "+01:00" }
cart "wrongzone" { connector = "prestashop", url = %q, key = %q, timezone = "America/Chicago" }
]], dir .. "/m.db", s.url, KEY, s.url, s.url, KEY))
local code, out, err = T.cw({ "-c", cfg, "connector", "check", "ps" }, {}, { timeout = 120 })
T.eq(code, 0, "connector check: exit 0", err)
for _, check in ipairs{ "connection", "paging", "model", "reimport", "overlap", "faults" } do
  T.match("\n" .. out, "\nok   " .. check .. " %(", "connector check: ok " .. check)
end
T.ok(not out:find("FAIL", 1, true) and not out:find("skip", 1, true), "connector check: no FAIL, no skip", out)
code, out = T.cw({ "-c", cfg, "test", "wrongkey" }, {}, { timeout = 60 })
T.eq(code, 1, "a wrong key: test fails")
T.match(out .. "", "Authentification key is not active", "with PrestaShop's message")
T.ok(not (out .. ""):find("XXXX", 1, true), "and no key in it")
code, out = T.cw({ "-c", cfg, "test", "wrongzone" }, {}, { timeout = 60 })
T.eq(code, 1, "a time zone that is not the shop's: test fails")
T.match(out, 'timezone = America/Chicago but the shop\'s time zone is Etc/GMT%-1', "naming both")
s.stop()
os.execute("rm -rf " .. dir)
return T.done()
