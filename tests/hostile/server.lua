-- A hostile cart: just enough Shopify, BigCommerce and WooCommerce (all three at once, on
-- their own paths) for `cartwright test` and `cartwright import`, misbehaving the way the
-- scenario says. A second listener on another port stands in for "another host": it answers
-- like the first and records every request that reached it, and those carrying credentials.
-- Uses cartwright.httpd, cartwright.crypto, cjson.
--
-- Start it as its own process (it prints both URLs, like the simulators):
--
--   build/cartwright run tests/hostile/serve.lua --port 0 --scenario NAME [--status N]
--   hostile cart (scenario NAME) listening on http://127.0.0.1:PORT, other host http://127.0.0.1:PORT2
--
-- or in-process: local srv = require("hostile.server").start{ scenario = NAME }. A cart points
-- its url at the first URL: Shopify (any token, any api_version), BigCommerce (any token,
-- store_hash), WooCommerce (any keys, Basic, OAuth or query). Five orders (ids 1..5, each
-- cart's own format, all in a downloadable status, modified in January 2025) in pages of the
-- size asked for (limit / per_page).
--
-- Scenarios (the cart they apply to; "any" = whichever cart is asked):
--   ok                  any          behaves
--   link-other-host     Shopify      page 1's next link leads to the other listener
--   link-userinfo       Shopify      page 1's next link is http://127.0.0.1:PORT@127.0.0.1:PORT2/…
--                                    (the first host is only userinfo: curl goes to the second)
--   link-scheme         Shopify      page 1's next link is https://127.0.0.1:PORT/… (same host and
--                                    port, another scheme)
--   link-uppercase      Shopify      every next link spelled HTTP://127.0.0.1:PORT/… (the same
--                                    origin: must be followed)
--   link-loop           Shopify      the last page's next link points back to page 2
--   empty-pages         Shopify      after page 1, endless empty pages, each with a next link
--   ignore-min-id       BigCommerce  every orders request gets the first page, whatever min_id
--   ignore-page         WooCommerce  every page number gets page 1 again (X-WP-TotalPages: 50)
--   total-pages-huge    WooCommerce  X-WP-TotalPages: 999999999
--   retry-after-huge    any          the first order-list request gets 429, Retry-After: 99999999
--   retry-after-1e308   any          the same with Retry-After: 1e308
--   call-limit-nonsense Shopify      every answer says X-Shopify-Shop-Api-Call-Limit: 999999/1
--   redirect            any          every API request gets 302 to the other listener, with
--                                    ?token=hostile-query-secret in the Location
--   malformed-skipped   Shopify      each order carries "client_details": {], "x": tru — invalid JSON
--                                    in members the connector's shape skips (the probe's page)
--   big-ids             any          order ids start at 2^53 + 1 (9007199254740993…): a decoder that
--                                    reads numbers as doubles rounds them onto each other
--   echo-credentials    any          every API request gets a 401 (opts.status / --status 500
--                                    for a 500) whose body quotes the credentials it received:
--                                    the X-Shopify-Access-Token / X-Auth-Token header, the
--                                    Authorization header (and the key:secret a Basic one
--                                    carries), the consumer_key / consumer_secret and
--                                    oauth_consumer_key / oauth_signature query parameters
--
-- Control (no auth, JSON): GET /_hostile/stats -> { requests, order_lists, other_requests,
-- other_credentials, scenario }; POST /_hostile/scenario {"scenario":NAME,"status":N} switches
-- the scenario and zeroes the counters.
local httpd = require "cartwright.httpd"
local crypto = require "cartwright.crypto"
local json = require "cjson.safe"

local M = {}

M.scenarios = {
  ok = true, ["link-other-host"] = true, ["link-userinfo"] = true, ["link-scheme"] = true,
  ["link-uppercase"] = true, ["link-loop"] = true, ["empty-pages"] = true, ["ignore-min-id"] = true,
  ["ignore-page"] = true, ["total-pages-huge"] = true, ["retry-after-huge"] = true,
  ["retry-after-1e308"] = true, ["call-limit-nonsense"] = true, redirect = true, ["echo-credentials"] = true,
  ["big-ids"] = true, ["malformed-skipped"] = true,
}

M.BIG = 9007199254740992 -- 2^53: ids of the big-ids scenario are BIG + 1 … BIG + ORDERS

M.ORDERS = 5
M.QUERY_SECRET = "hostile-query-secret" -- in the redirect's Location: must never be shown

---------------------------------------------------------------- documents (hand-written, small)

local function shopify_order(id)
  return string.format([[{"id":%d,"order_number":%d,"name":"#%d","email":"buyer%d@example.com",
"created_at":"2025-01-02T10:00:00-05:00","updated_at":"2025-01-02T10:00:%02d-05:00",
"cancelled_at":null,"closed_at":null,"currency":"USD","financial_status":"paid","fulfillment_status":null,
"total_price":"12.50","subtotal_price":"12.50","total_tax":"0.00","total_discounts":"0.00",
"customer":{"id":77,"email":"buyer%d@example.com","first_name":"Ann","last_name":"Lee"},
"billing_address":{"first_name":"Ann","last_name":"Lee","address1":"1 Main St","city":"Austin","zip":"78701","country_code":"US"},
"shipping_address":{"first_name":"Ann","last_name":"Lee","address1":"1 Main St","city":"Austin","zip":"78701","country_code":"US"},
"shipping_lines":[{"code":"Standard","title":"Standard Shipping","price":"0.00"}],
"line_items":[{"id":%d,"sku":"MUG-RED","name":"Red mug","quantity":1,"price":"12.50","tax_lines":[{"price":"0.00"}]}]}]],
    id, 1000 + id, 1000 + id, id, id % 60, id, 5000 + id)
end

local function bigcommerce_order(id)
  return string.format([[{"id":%d,"status_id":11,"status":"Awaiting Fulfillment","payment_status":"captured",
"date_created":"Thu, 02 Jan 2025 10:00:00 +0000","date_modified":"Thu, 02 Jan 2025 10:00:%02d +0000",
"currency_code":"USD","total_inc_tax":"12.5000","subtotal_ex_tax":"12.5000","total_tax":"0.0000",
"shipping_cost_ex_tax":"0.0000","discount_amount":"0.0000","coupon_discount":"0.0000","customer_id":0,
"billing_address":{"first_name":"Ann","last_name":"Lee","email":"buyer%d@example.com","country_iso2":"US"},
"products":{"url":"https://api.bigcommerce.com/stores/x/v2/orders/%d/products","resource":"/orders/%d/products"}}]],
    id, id % 60, id, id, id)
end

local function bigcommerce_products(id)
  return string.format('[{"id":%d,"order_id":%d,"sku":"MUG-RED","name":"Red mug","quantity":1,'
    .. '"price_ex_tax":"12.5000","total_tax":"0.0000","product_options":[]}]', 5000 + id, id)
end

local function bigcommerce_addresses(id)
  return string.format('[{"id":%d,"order_id":%d,"first_name":"Ann","last_name":"Lee","street_1":"1 Main St",'
    .. '"city":"Austin","zip":"78701","country_iso2":"US","shipping_method":"Standard","cost_ex_tax":"0.0000"}]',
    6000 + id, id)
end

local function woocommerce_order(id)
  return string.format([[{"id":%d,"number":"%d","status":"processing","currency":"USD",
"date_created_gmt":"2025-01-02T15:00:00","date_modified_gmt":"2025-01-02T15:00:%02d","date_paid_gmt":"2025-01-02T15:00:00",
"total":"12.50","total_tax":"0.00","shipping_total":"0.00","discount_total":"0.00","customer_id":0,
"billing":{"first_name":"Ann","last_name":"Lee","email":"buyer%d@example.com","country":"US"},
"shipping":{"first_name":"Ann","last_name":"Lee","address_1":"1 Main St","city":"Austin","postcode":"78701","country":"US"},
"line_items":[{"id":%d,"sku":"MUG-RED","name":"Red mug","quantity":1,"price":12.5,"subtotal":"12.50","total_tax":"0.00","meta_data":[]}],
"shipping_lines":[{"method_id":"flat_rate","method_title":"Flat rate","total":"0.00"}],"meta_data":[],"coupon_lines":[]}]],
    id, id, id % 60, id, 5000 + id)
end

---------------------------------------------------------------- helpers

local function reply(status, body, headers)
  headers = headers or {}
  headers["Content-Type"] = headers["Content-Type"] or "application/json"
  return { status = status, headers = headers, body = body }
end

-- The credentials a request carries, as "where: value" strings (empty when none).
local function credentials(req)
  local found = {}
  local h, q = req.headers, req.query
  for _, name in ipairs{ "X-Shopify-Access-Token", "X-Auth-Token", "Authorization" } do
    local v = h[name:lower()]
    if v then found[#found + 1] = name .. ": " .. v end
  end
  local basic = (h.authorization or ""):match("^[Bb]asic%s+(%S+)")
  if basic then found[#found + 1] = "basic credentials: " .. tostring(crypto.unbase64(basic)) end
  for _, name in ipairs{ "consumer_key", "consumer_secret", "oauth_consumer_key", "oauth_signature" } do
    if q[name] then found[#found + 1] = name .. "=" .. q[name] end
  end
  return found
end

-- Page `page` (1-based) of `per` orders: list of ids, and whether more follow.
local function slice(page, per)
  local ids = {}
  for id = (page - 1) * per + 1, math.min(page * per, M.ORDERS) do ids[#ids + 1] = id end
  return ids, page * per < M.ORDERS
end

-- The first id of the scenario's orders, less one.
local function base(srv) return srv.scenario == "big-ids" and M.BIG or 0 end

local function join(ids, doc, offset)
  local out = {}
  for i, id in ipairs(ids) do out[i] = doc((offset or 0) + id) end
  return "[" .. table.concat(out, ",") .. "]"
end

---------------------------------------------------------------- the three carts

local function shopify(srv, req, rest)
  local headers = {}
  if srv.scenario == "call-limit-nonsense" then headers["X-Shopify-Shop-Api-Call-Limit"] = "999999/1" end
  if rest == "shop.json" then
    return reply(200, '{"shop":{"name":"Hostile Shop","myshopify_domain":"hostile.myshopify.com"}}', headers)
  end
  if rest ~= "orders.json" then return reply(404, '{"errors":"Not Found"}') end
  local page = tonumber(req.query.page_info) or 1
  local per = math.max(1, tonumber(req.query.limit) or 50)
  local ids, more = slice(page, per)
  local sc = srv.scenario
  if sc == "empty-pages" and page > 1 then ids, more = {}, true end
  local next_page = more and page + 1 or nil
  if sc == "link-loop" and not more then next_page = 2 end
  if next_page then
    local base = srv.url
    if page == 1 and sc == "link-other-host" then base = srv.other_url end
    if page == 1 and sc == "link-userinfo" then base = "http://127.0.0.1:" .. srv.port .. "@127.0.0.1:" .. srv.other_port end
    if page == 1 and sc == "link-scheme" then base = "https://127.0.0.1:" .. srv.port end
    if sc == "link-uppercase" then base = "HTTP://127.0.0.1:" .. srv.port end
    local path = req.path
    headers.Link = string.format('<%s%s?limit=%d&page_info=%d>; rel="next"', base, path, per, next_page)
  end
  local body = '{"orders":' .. join(ids, shopify_order, base(srv)) .. "}"
  if sc == "malformed-skipped" then body = body:gsub('"currency":', '"client_details": {], "x": tru, "currency":') end
  return reply(200, body, headers)
end

local function bigcommerce(srv, req, rest)
  if rest == "store" then return reply(200, '{"id":"abc123","name":"Hostile Store","domain":"hostile.example"}') end
  local id, sub = rest:match("^orders/(%d+)/([%w_]+)$")
  if id then
    id = math.tointeger(tonumber(id))
    if sub == "products" then return reply(200, bigcommerce_products(id)) end
    if sub == "shipping_addresses" then return reply(200, bigcommerce_addresses(id)) end
    return { status = 204, body = "" }
  end
  if rest ~= "orders" then return reply(404, '[{"status":404,"message":"The requested resource was not found."}]') end
  local per = math.max(1, tonumber(req.query.limit) or 50)
  local first = base(srv) + 1
  local min_id = math.tointeger(tonumber(req.query.min_id)) or first
  if srv.scenario == "ignore-min-id" then min_id = first end
  local ids = {}
  for oid = math.max(first, min_id), first + M.ORDERS - 1 do
    if #ids < per then ids[#ids + 1] = oid end
  end
  if #ids == 0 then return { status = 204, body = "" } end
  return reply(200, join(ids, bigcommerce_order))
end

local function woocommerce(srv, req, rest)
  if rest == "system_status" then return reply(200, '{"environment":{"site_url":"' .. srv.url .. '"}}') end
  if rest ~= "orders" then return reply(404, '{"code":"rest_no_route","message":"No route was found."}') end
  local per = math.max(1, tonumber(req.query.per_page) or 10)
  local page = tonumber(req.query.page) or 1
  local pages = (M.ORDERS + per - 1) // per
  if srv.scenario == "ignore-page" then page, pages = 1, 50 end
  if srv.scenario == "total-pages-huge" then pages = 999999999 end
  local ids = slice(page, per)
  return reply(200, join(ids, woocommerce_order, base(srv)),
    { ["X-WP-Total"] = tostring(M.ORDERS), ["X-WP-TotalPages"] = tostring(pages) })
end

-- The cart an API path belongs to and the rest of the path.
local function route(path)
  local rest = path:match("^/admin/api/[^/]+/(.+)$")
  if rest then return shopify, rest, rest == "orders.json" end
  rest = path:match("^/stores/[^/]+/v2/(.+)$")
  if rest then return bigcommerce, rest, rest == "orders" end
  rest = path:match("^/wp%-json/wc/v3/(.+)$")
  if rest then return woocommerce, rest, rest == "orders" end
  return nil
end

---------------------------------------------------------------- the server

local function control(srv, req)
  if req.path == "/_hostile/stats" then
    return reply(200, json.encode{ requests = srv.requests, order_lists = srv.order_lists,
      other_requests = srv.other_requests, other_credentials = srv.other_credentials, scenario = srv.scenario })
  end
  if req.path == "/_hostile/scenario" and req.method == "POST" then
    local body = json.decode(req.body) or {}
    if not M.scenarios[body.scenario] then return reply(400, '{"error":"unknown scenario"}') end
    srv.scenario, srv.status = body.scenario, tonumber(body.status) or 401
    srv.requests, srv.order_lists, srv.other_requests, srv.other_credentials = 0, 0, 0, 0
    return reply(200, '{"ok":true}')
  end
  return reply(404, '{"error":"no such control"}')
end

local function handle(srv, req, other)
  if req.path:match("^/_hostile/") then return control(srv, req) end
  if other then
    srv.other_requests = srv.other_requests + 1
    if #credentials(req) > 0 then srv.other_credentials = srv.other_credentials + 1 end
  else
    srv.requests = srv.requests + 1
  end
  local cart, rest, is_list = route(req.path)
  if not cart then return reply(404, '{"error":"not an API path"}') end
  if is_list then srv.order_lists = srv.order_lists + 1 end
  local sc = srv.scenario
  if sc == "echo-credentials" then
    local found = credentials(req)
    local said = #found > 0 and table.concat(found, "; ") or "none"
    return reply(srv.status, json.encode{ errors = "[API] Invalid API key or access token (credentials received: "
      .. said .. ")" })
  end
  if sc == "redirect" and not other then
    return reply(302, '{"moved":true}', { Location = srv.other_url .. req.path .. "?token=" .. M.QUERY_SECRET })
  end
  if is_list and not other and (sc == "retry-after-huge" or sc == "retry-after-1e308") and srv.order_lists == 1 then
    return reply(429, '{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}',
      { ["Retry-After"] = sc == "retry-after-huge" and "99999999" or "1e308" })
  end
  return cart(srv, req, rest)
end

--- Starts both listeners. opts: { scenario = NAME (default "ok"), port = 0, status = 401 }.
--- Returns srv { url, port, other_url, other_port, close() }.
function M.start(opts)
  opts = opts or {}
  local scenario = opts.scenario or "ok"
  if not M.scenarios[scenario] then error("unknown scenario '" .. tostring(scenario) .. "'", 2) end
  local srv = { scenario = scenario, status = tonumber(opts.status) or 401, requests = 0, order_lists = 0,
                other_requests = 0, other_credentials = 0 }
  local main, err = httpd.listen{ host = "127.0.0.1", port = tonumber(opts.port) or 0,
                                  handler = function(req) return handle(srv, req, false) end }
  if not main then error("hostile cart: cannot listen: " .. tostring(err), 2) end
  local other, oerr = httpd.listen{ host = "127.0.0.1", port = 0,
                                    handler = function(req) return handle(srv, req, true) end }
  if not other then
    main:close()
    error("hostile cart: cannot listen: " .. tostring(oerr), 2)
  end
  srv.port, srv.other_port = main.port, other.port
  srv.url, srv.other_url = "http://127.0.0.1:" .. main.port, "http://127.0.0.1:" .. other.port
  function srv.close()
    main:close()
    other:close()
  end
  return srv
end

--- Starts `cartwright run tests/hostile/serve.lua` as its own process (tests whose binary
--- under test blocks this one need that). opts: { bin = CW_BIN, scenario = NAME, status = N }.
--- Returns { url, other_url, pid, stats() -> table, scenario(name [, status]), stop() }.
function M.spawn(opts)
  opts = opts or {}
  local http = require "cartwright.http"
  local bin = opts.bin or os.getenv("CW_BIN") or "build/cartwright"
  local tmp = os.tmpname()
  local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
  os.execute(string.format("%s run tests/hostile/serve.lua --port 0 --scenario %s --status %d >%s 2>&1 </dev/null & echo $! >%s.pid",
    q(bin), q(opts.scenario or "ok"), tonumber(opts.status) or 401, q(tmp), q(tmp)))
  local function slurp(path)
    local f = io.open(path, "rb")
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
  end
  local pid = slurp(tmp .. ".pid"):match("%d+")
  local url, other
  for _ = 1, 200 do -- bounded: 200 x 50 ms
    url, other = slurp(tmp):match("listening on (http://[%d.:]+), other host (http://[%d.:]+)")
    if url then break end
    os.execute("sleep 0.05")
  end
  if not url then error("hostile cart did not start: " .. slurp(tmp), 2) end
  local s = { url = url, other_url = other, pid = pid }
  function s.stats()
    local res = assert(http.request{ url = url .. "/_hostile/stats" })
    return json.decode(res.body)
  end
  function s.scenario(name, status)
    local res = assert(http.request{ method = "POST", url = url .. "/_hostile/scenario",
                                     body = json.encode{ scenario = name, status = status } })
    assert(res.status == 200, "hostile cart: cannot switch to scenario " .. tostring(name))
  end
  function s.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")
    os.remove(tmp)
    os.remove(tmp .. ".pid")
  end
  return s
end

return M
