-- The admin API (service/api.lua) over real HTTP: cartwright.httpd in this script on 127.0.0.1
-- port 0 answering with api.handler on a session of a temporary config and database, the
-- Shopify simulator its own process. Authentication (missing, wrong, no token configured),
-- orders listed, shown, released and held with exact values, an import, a stock batch, a
-- shipment, the ship map, the outbox, bad JSON, a body too big, and every route of api.lua
-- in docs/openapi.json and back.
-- luacheck: ignore 311 (each step reads only the parts of a reply it checks)
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"
local config = require "cartwright.config"
local ops = require "cartwright.ops"
local api = require "cartwright.service.api"

local TOKEN = "cw-api-test-token-0123456789"
local dir = T.tmpdir()
local shop = T.sim("shopify", { "--orders", "3" })
local path = T.write(dir .. "/cw.lua", string.format([[
db = %q
api_token = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", order_prefix = "SH-", sync_inventory = true }
]], dir .. "/cw.db", TOKEN, shop.url))
local cfg = assert(config.load(path))
local s = ops.session(cfg)
local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  return api.handler(s, req) or { status = 404, body = "not the api" }
end })
local base = "http://127.0.0.1:" .. srv.port

local function call(method, p, body, token)
  local headers = { ["Content-Type"] = "application/json" }
  if token ~= false then headers["Authorization"] = "Bearer " .. (token or TOKEN) end
  local res = assert(http.request{ method = method, url = base .. p, headers = headers, body = body, timeout = 60 })
  return res.status, json.decode(res.body), res.body
end

local function err_of(value) return type(value) == "table" and type(value.error) == "table" and value.error or {} end

---------------------------------------------------------------- authentication
local st, v, raw = call("GET", "/api/v1/orders", nil, false) -- luacheck: ignore v
T.eq(st, 401, "no Authorization header: 401")
T.eq(err_of(v).code, "unauthorized", "  error code unauthorized")
T.ok(not raw:find(TOKEN, 1, true), "  the answer holds no secret")
st, v, raw = call("GET", "/api/v1/orders", nil, TOKEN .. "x")
T.eq(st, 401, "a wrong token: 401")
T.ok(not raw:find(TOKEN, 1, true), "  the answer holds no secret")
st = call("GET", "/api/v1/orders", nil, TOKEN:sub(1, -2))
T.eq(st, 401, "a token one byte short: 401")
st = call("GET", "/api/v1/no-such-route", nil, false)
T.eq(st, 401, "an unknown route without a token: 401 (no route list for strangers)")
local res = assert(http.request{ url = base .. "/elsewhere" })
T.eq(res.body, "not the api", "a path outside /api: the handler returns nil")

-- a config whose token variable is not set: every /api route refuses with 503 and says why
local path2 = T.write(dir .. "/cw2.lua", string.format([[
db = %q
api_token = env "CW_TEST_API_TOKEN_NOT_SET"
]], dir .. "/cw2.db"))
local cfg2 = assert(config.load(path2))
local s2 = ops.session(cfg2)
local srv2 = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req) return api.handler(s2, req) end })
res = assert(http.request{ url = "http://127.0.0.1:" .. srv2.port .. "/api/v1/carts",
                           headers = { Authorization = "Bearer anything" } })
T.eq(res.status, 503, "no token configured: 503")
local e2 = err_of(json.decode(res.body))
T.eq(e2.code, "no_token", "  code no_token")
T.match(e2.message, "CW_TEST_API_TOKEN_NOT_SET is not set", "  names the variable")
srv2:close()
s2:close()

---------------------------------------------------------------- import and orders
st, v = call("POST", "/api/v1/carts/shop/import", "{}")
T.eq(st, 200, "import through the API: 200")
local r1 = v.results[1]
T.eq(string.format("%s seen %d imported %d held %d skipped %d", r1.cart, r1.seen, r1.imported, r1.held, r1.skipped),
     "shop seen 3 imported 2 held 2 skipped 1", "  the import's counts")
st, v = call("POST", "/api/v1/carts/nope/import", "{}")
T.eq(st, 404, "import of an unknown cart: 404")

st, v = call("GET", "/api/v1/orders")
T.eq(st, 200, "orders: 200")
T.eq(#v.orders, 2, "  two orders")
T.eq(v.orders[1].number .. " " .. v.orders[2].number, "SH-1001 SH-1003", "  in order")
T.eq(v.orders[1].hold.rule, "reject_unmapped_shipping", "  SH-1001 held by reject_unmapped_shipping")
T.eq(v.orders[1].lines[1].sku, "HOOD-GRY-L", "  its first line")
T.eq(v.next_cursor, json.null, "  no next page")
st, v = call("GET", "/api/v1/orders?limit=1")
T.eq(#v.orders .. " " .. v.orders[1].number .. " " .. tostring(v.next_cursor), "1 SH-1001 1", "limit=1: one order and a cursor")
st, v = call("GET", "/api/v1/orders?limit=1&cursor=1")
T.eq(#v.orders .. " " .. v.orders[1].number .. " " .. tostring(v.next_cursor == json.null), "1 SH-1003 true",
     "the cursor: the next page, the last (next_cursor null)")
st, v = call("GET", "/api/v1/orders?status=shipped")
T.eq(#v.orders == 1 and v.orders[1].number, "SH-1003", "status=shipped: SH-1003 only")
st, v = call("GET", "/api/v1/orders?cart=other")
T.eq(#v.orders, 0, "cart=other: none")
st, v = call("GET", "/api/v1/orders?limit=0")
T.eq(st, 400, "limit=0: 400")
T.eq(err_of(v).code, "bad_request", "  bad_request")

st, v = call("GET", "/api/v1/orders/SH-1001")
T.eq(st, 200, "order SH-1001: 200")
T.eq(v.number .. " " .. v.cart .. " " .. v.external_id, "SH-1001 shop 5120000122179", "  its identity")
T.eq(#v.stored_lines .. " " .. v.stored_lines[1].sku .. " " .. v.stored_lines[2].sku, "2 HOOD-GRY-L PUZZLE-500-DUNE", "  its lines")
local kinds = {}
for i, e in ipairs(v.events) do kinds[i] = e.kind end
T.eq(table.concat(kinds, ","), "held", "  with its events (held on import)")
st, v = call("GET", "/api/v1/orders/shop:5120000122179")
T.eq(v and v.number, "SH-1001", "an order by CART:EXTERNAL_ID")
st, v = call("GET", "/api/v1/orders/SH-9999")
T.eq(st, 404, "an unknown order: 404")
T.eq(err_of(v).code, "not_found", "  not_found")

st, v = call("POST", "/api/v1/orders/SH-1001/release", '{"note":"checked by phone"}')
T.eq(st, 200, "release SH-1001: 200")
T.eq(v.outcome .. " " .. v.waived.rule .. " " .. tostring(v.hold == json.null), "released reject_unmapped_shipping true",
     "  released, the rule's hold waived")
st, v, raw = call("POST", "/api/v1/orders/SH-1001/release", "{}")
T.eq(st, 409, "release of an order not held: 409")
T.eq(err_of(v).code, "conflict", "  conflict")
st, v = call("POST", "/api/v1/orders/SH-1001/hold", "{}")
T.eq(st, 400, "a hold without a reason: 400")
st, v = call("POST", "/api/v1/orders/SH-1001/hold", '{"reason":"address check"}')
T.eq(st, 200, "hold SH-1001: 200")
T.eq(v.outcome .. " " .. v.hold.kind .. " " .. v.hold.reason, "held operator address check", "  held")
st, v = call("GET", "/api/v1/orders/SH-1001")
T.eq(v.hold.kind .. " " .. v.hold.reason, "operator address check", "  held by the operator")

---------------------------------------------------------------- ship map, stock, shipment, outbox
st, v = call("POST", "/api/v1/ship-map", '{"code":"Standard","method":"UPS Ground"}')
T.eq(st, 200, "ship-map: 200")
T.eq(v.code .. " -> " .. v.method .. ", released " .. math.tointeger(v.released), "Standard -> UPS Ground, released 1", "  SH-1003 released")
st, v = call("GET", "/api/v1/orders/SH-1003")
T.eq(v.hold, json.null, "  SH-1003 is not held any more")
st, v, raw = call("POST", "/api/v1/stock", json.encode{ items = { { sku = "HOOD-GRY-L", warehouse = "main", quantity = 7 },
  { sku = "CANDLE-CEDAR", quantity = 3 } } })
T.eq(st, 200, "stock batch: 200")
T.eq(string.format("%s/%s=%d %s/%s=%d", v.rows[1].sku, v.rows[1].warehouse, v.rows[1].on_hand, v.rows[2].sku,
     v.rows[2].warehouse, v.rows[2].on_hand), "HOOD-GRY-L/main=7 CANDLE-CEDAR/main=3", "  both rows written (default warehouse main)")
T.eq(#v.pushed .. " " .. v.pushed[1].cart .. " " .. tostring(v.pushed[1].ok) .. " " .. math.tointeger(v.pushed[1].sent), "1 shop true 2",
     "  pushed to shop: 2 items")
st, v = call("POST", "/api/v1/stock", '{"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":-1}]}')
T.eq(st, 400, "a batch with a bad item: 400")
T.match(err_of(v).message, "^item 2: quantity", "  names the item")
st, v, raw = call("POST", "/api/v1/shipments", json.encode{ order = "SH-1001", carrier = "UPS", tracking = "1Z999AA10123456784" })
T.eq(st, 200, "a shipment: 200")
T.eq(string.format("%s %s %s %d lines, sent %d", v.shipment.number, v.shipment.state, v.shipment.tracking,
     #v.shipment.lines, v.sent.sent), "SH-1001 sent 1Z999AA10123456784 2 lines, sent 1", "  sent to the cart")
st, v = call("POST", "/api/v1/shipments", json.encode{ order = "SH-1001", carrier = "UPS", tracking = "again" })
T.eq(st, 400, "a second shipment of the same lines: 400")
st, v = call("GET", "/api/v1/outbox")
T.eq(st, 200, "outbox: 200")
T.eq(string.format("%d %s/%s/%d %s/%s", #v.entries, v.entries[1].kind, v.entries[1].state, v.entries[1].items,
     v.entries[2].kind, v.entries[2].state), "2 stock/done/2 shipment/done", "  the stock batch and the shipment, done")
st, v = call("POST", "/api/v1/outbox/1/retry")
T.eq(st, 409, "retry of an entry that is done: 409")
st, v = call("POST", "/api/v1/outbox/abc/retry")
T.eq(st, 400, "retry of a non-number: 400")
st, v = call("POST", "/api/v1/outbox/9999/retry")
T.eq(st, 404, "retry of no entry: 404")

---------------------------------------------------------------- bad requests
st, v = call("POST", "/api/v1/orders/SH-1003/hold", "{not json")
T.eq(st, 400, "bad JSON: 400")
T.eq(err_of(v).code, "bad_json", "  bad_json")
st, v = call("POST", "/api/v1/ship-map", "[1,2]")
T.eq(st, 400, "a JSON array body: 400")
st, v = call("POST", "/api/v1/stock", string.rep(" ", api.MAX_BODY + 1))
T.eq(st, 413, "a body one byte too big: 413")
T.eq(err_of(v).code, "too_large", "  too_large")
-- the listener's own cap (serve sets it above the API's): a longer body is refused unread,
-- the handler never runs; one at the cap is read whole
local calls = 0
local capped = assert(httpd.listen{ host = "127.0.0.1", port = 0, max_body = 4096, handler = function(req)
  calls = calls + 1
  return { status = 200, body = tostring(#req.body) }
end })
local capped_url = "http://127.0.0.1:" .. capped.port .. "/api/v1/stock"
local cres = http.request{ method = "POST", url = capped_url, body = string.rep("x", 64 * 1024) }
T.eq(cres and cres.status, 413, "a body past the listener's max_body: 413")
T.eq(calls, 0, "  the handler never saw it")
cres = assert(http.request{ method = "POST", url = capped_url, body = string.rep("x", 4096) })
T.eq(cres.status .. " " .. cres.body, "200 4096", "a body at max_body is read whole")
capped:close()
st, v = call("DELETE", "/api/v1/orders")
T.eq(st, 405, "DELETE on the orders: 405")
st, v = call("GET", "/api/v1/nothing")
T.eq(st, 404, "no such route: 404")
st, v = call("GET", "/api/v1/runs")
T.eq(st, 200, "runs: 200")
T.eq(type(v.runs) == "table" and #v.runs, 0, "runs: none (only the scheduler records runs)")
st, v = call("POST", "/api/v1/sync/shop/orders/stop", "{}")
T.eq(st, 200, "sync stop: 200")
T.eq(v.services and v.services[1] and v.services[1].state, "STOPPED", "sync stop: shop orders STOPPED")
st, v = call("POST", "/api/v1/sync/shop/orders/start", "{}")
T.eq(v.services and v.services[1] and v.services[1].state, "RUNNING", "sync start: shop orders RUNNING")
st, v = call("POST", "/api/v1/sync/shop/nothing/start", "{}")
T.eq(st, 400, "sync of an unknown service: 400")
st, v = call("POST", "/api/v1/sync/nobody/orders/start", "{}")
T.eq(st, 404, "sync of an unknown cart: 404")

---------------------------------------------------------------- the routes against docs/openapi.json
local doc = json.decode(T.slurp(T.home .. "/docs/openapi.json"))
T.ok(doc and doc.openapi == "3.1.0", "docs/openapi.json is OpenAPI 3.1")
local in_code, in_doc = {}, {}
for _, r in ipairs(api.routes) do in_code[r[1] .. " " .. r[2]] = true end
for p, methods in pairs(doc and doc.paths or {}) do
  for m in pairs(methods) do in_doc[m:upper() .. " " .. p] = true end
end
local missing, extra = {}, {}
for k in pairs(in_code) do if not in_doc[k] then missing[#missing + 1] = k end end
for k in pairs(in_doc) do if not in_code[k] then extra[#extra + 1] = k end end
T.eq(#api.routes, 14, "api.lua has 14 routes")
T.eq(table.concat(missing, ", "), "", "every route of api.lua is in openapi.json")
T.eq(table.concat(extra, ", "), "", "every path of openapi.json is a route of api.lua")

srv:close()
s:close()
shop.stop()
os.exit(T.done())
