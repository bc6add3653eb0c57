-- tests/sim/selftest.lua: checks the three cart simulators over real HTTP.
-- Run: build/cartwright run tests/sim/selftest.lua   (prints "N passed, N failed")
-- Uses cartwright.http as the client and cartwright.crypto to sign WooCommerce OAuth requests.

local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"
local json = require "cjson.safe"
local common = require "sim.common"

local passed, failed = 0, 0

local function check(cond, what, detail)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    print("FAIL " .. what .. (detail and (": " .. tostring(detail)) or ""))
  end
end

local function get(url, headers, method, body)
  local res, err = http.request{ method = method or "GET", url = url, headers = headers or {}, body = body,
    timeout = 10 }
  assert(res, "request failed: " .. tostring(err) .. " " .. url)
  return res, json.decode(res.body)
end

local function post(url, tbl) return get(url, { ["Content-Type"] = "application/json" }, "POST", json.encode(tbl)) end

-- <url>; rel="next" out of a Link header
local function link(res, rel)
  return (res.headers["link"] or ""):match('<([^>]*)>; rel="' .. rel .. '"')
end

---------------------------------------------------------------------------------------------
-- common
---------------------------------------------------------------------------------------------

local function test_common()
  check(common.iso(1741101322, -300) == "2025-03-04T10:15:22-05:00", "iso with offset", common.iso(1741101322, -300))
  check(common.rfc2822(1544041015) == "Wed, 05 Dec 2018 20:16:55 +0000", "rfc2822", common.rfc2822(1544041015))
  check(common.local_time(1741101322, -300) == "2025-03-04T10:15:22", "woo local time")
  check(common.parse_iso("2025-03-04T10:15:22-05:00") == 1741101322, "parse iso offset")
  check(common.parse_iso("2025-03-04T15:15:22Z") == 1741101322, "parse iso Z")
  check(common.parse_iso("2025-03-04T15:15:22.123+00:00") == 1741101322, "parse iso fraction")
  check(common.parse_iso("2025-03-04T10:15:22 05:00") == nil, "iso with a '+' turned to space is invalid")
  check(common.parse_rfc2822("Thu, 20 Apr 2017 11:32:00 -0400") == 1492702320, "parse rfc2822")
  check(common.parse_rfc2822("20 Apr 2017 15:32:00 +0000") == 1492702320, "parse rfc2822 no weekday")
  local a, b = common.rng(5), common.rng(5)
  local same = true
  for _ = 1, 100 do if a:int(1, 1000) ~= b:int(1, 1000) then same = false end end
  check(same, "rng deterministic per seed")
  check(#common.catalog >= 190 and #common.catalog <= 210, "catalog ~200 SKUs", #common.catalog)
  check(common.catalog_by_sku["MUG-RED"] and common.catalog_by_sku["TEE-BLK-M"], "catalog SKU names")
  check(common.unb64url(common.b64url("hello?/+")) == "hello?/+", "b64url round trip")
  check(common.encode({ a = common.EMPTY, b = "x/y" }, true):find('"a":[]', 1, true) ~= nil, "empty array encodes as []")
end

---------------------------------------------------------------------------------------------
-- Shopify
---------------------------------------------------------------------------------------------

local function test_shopify()
  local sim = require("sim.shopify").start{ orders = 120, seed = 11, rate = false }
  local base = sim.url .. "/admin/api/2025-01/"
  local auth = { ["X-Shopify-Access-Token"] = "shpat_test" }

  local res, body = get(base .. "orders.json", { ["X-Shopify-Access-Token"] = "nope" })
  check(res.status == 401 and body.errors:match("Invalid API key"), "shopify 401")
  res, body = get(base .. "shop.json", auth)
  check(res.status == 200 and body.shop.myshopify_domain, "shopify shop.json")
  check(res.headers["x-shopify-api-version"] == "2026-01", "shopify retired version served as the oldest supported one",
    res.headers["x-shopify-api-version"])
  res = get(sim.url .. "/admin/api/2026-07/shop.json", auth)
  check(res.status == 200 and res.headers["x-shopify-api-version"] == "2026-07", "shopify supported version echoed")

  -- the client-credentials grant: a token that expires, 400 for a wrong secret
  local app = post(sim.url .. "/_sim/app", { client_id = "cid-1", client_secret = "sec-1", token_ttl = 60 })
  check(app.status == 200, "shopify /_sim/app sets the app")
  local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  res, body = get(sim.url .. "/admin/oauth/access_token", form, "POST", "grant_type=client_credentials&client_id=cid-1&client_secret=nope")
  check(res.status == 400 and body.error == "invalid_client", "shopify grant refuses a wrong secret")
  res, body = get(sim.url .. "/admin/oauth/access_token", form, "POST", "grant_type=client_credentials&client_id=cid-1&client_secret=sec-1")
  check(res.status == 200 and body.expires_in == 60 and body.access_token:match("^shpat_%x+$"), "shopify grant issues a token")
  local granted = { ["X-Shopify-Access-Token"] = body.access_token }
  check(get(base .. "shop.json", granted).status == 200, "shopify accepts an issued token")
  post(sim.url .. "/_sim/app", { expire = true })
  check(get(base .. "shop.json", granted).status == 401, "shopify refuses an expired token")

  -- default status=open hides closed/cancelled orders; status=any pages through everything
  local open = 0
  for _, d in ipairs(sim.orders) do
    if d.closed_at == common.null and d.cancelled_at == common.null then open = open + 1 end
  end
  res, body = get(base .. "orders/count.json", auth)
  check(body.count == open, "shopify count defaults to open", body.count .. " vs " .. open)

  local seen, pages, url = {}, 0, base .. "orders.json?status=any&limit=50"
  while url do
    res, body = get(url, auth)
    pages = pages + 1
    for _, o in ipairs(body.orders) do seen[#seen + 1] = o.id end
    url = link(res, "next")
    if pages == 2 then check(link(res, "previous") ~= nil, "shopify previous link on page 2") end
  end
  check(#seen == 120 and pages == 3, "shopify cursor paging sees every order once", #seen .. " in " .. pages)
  local ascending = true
  for i = 2, #seen do if seen[i] <= seen[i - 1] then ascending = false end end
  check(ascending, "shopify id asc")

  -- previous undoes next
  res, body = get(base .. "orders.json?status=any&limit=10", auth)
  local page1 = body.orders[1].id
  local res2 = get(link(res, "next"), auth)
  local _, back = get(link(res2, "previous"), auth)
  check(#back.orders == 10 and back.orders[1].id == page1, "shopify previous link returns page 1")

  -- sorted by updated_at, an order changed mid-sync moves behind the cursor and comes again
  local seen_upd, n_pages, moved = {}, 0, sim.orders[5].id
  url = base .. "orders.json?status=any&limit=40&order=updated_at%20asc"
  while url do
    res, body = get(url, auth)
    n_pages = n_pages + 1
    for _, o in ipairs(body.orders) do seen_upd[#seen_upd + 1] = o.id end
    if n_pages == 1 then sim:change_order(moved, { status = "paid" }) end
    url = link(res, "next")
  end
  local twice = 0
  for _, id in ipairs(seen_upd) do if id == moved then twice = twice + 1 end end
  check(#seen_upd == 121 and twice == 2, "shopify updated_at cursor: changed order seen again", #seen_upd)

  local a = require("sim.shopify").start{ orders = 30, seed = 99 }
  local b = require("sim.shopify").start{ orders = 30, seed = 99 }
  local same = true
  for i = 1, 30 do
    local x, y = a.orders[i], b.orders[i]
    if x.id ~= y.id or x.email ~= y.email or x.total_price ~= y.total_price
        or x.line_items[1].sku ~= y.line_items[1].sku then same = false end
  end
  check(same, "shopify same seed, same orders")
  a:close()
  b:close()

  res, body = get(base .. "orders.json?status=any&limit=10", auth)
  local next_url = link(res, "next")
  res, body = get(next_url .. "&status=any", auth)
  check(res.status == 400 and body.errors:match("^status cannot be passed when page_info is present"),
    "shopify page_info + filter -> 400", body and body.errors)
  res = get(base .. "orders.json?limit=251", auth)
  check(res.status == 400, "shopify limit 251 -> 400")

  -- updated_at_min with an offset, sorted by updated_at
  local mid = sim.records[60].updated
  local since = http.urlencode(common.iso(mid, -300))
  res, body = get(base .. "orders.json?status=any&limit=250&order=updated_at%20asc&updated_at_min=" .. since, auth)
  local ok = #body.orders > 0
  local prev = 0
  for _, o in ipairs(body.orders) do
    local t = common.parse_iso(o.updated_at)
    if t < mid or t < prev then ok = false end
    prev = t
  end
  check(ok, "shopify updated_at_min + order=updated_at asc")

  res, body = get(base .. "orders/" .. sim.orders[3].id .. ".json?fields=id,name", auth)
  check(res.status == 200 and body.order.name == sim.orders[3].name and body.order.email == nil, "shopify single order with fields")

  -- sizes and the deliberate oddities
  local total, freight, unknown = 0, 0, 0
  for i, r in ipairs(sim.records) do
    total = total + #r.json
    local doc = sim.orders[i]
    if doc.shipping_lines[1].code == "FREIGHT-LTL" then freight = freight + 1 end
    for _, l in ipairs(doc.line_items) do if l.sku:match("^UNKNOWN") then unknown = unknown + 1 end end
  end
  check(total / #sim.records > 7000 and total / #sim.records < 11000, "shopify ~8 KB orders", total // #sim.records)
  check(freight >= 4 and unknown >= 1, "shopify unusual shipping and unknown SKU present", freight .. "/" .. unknown)

  -- control endpoints and on_page
  local r2, added = post(sim.url .. "/_sim/orders", { count = 3 })
  check(r2.status == 200 and #added.ids == 3, "control: add orders")
  local _, listed = get(sim.url .. "/_sim/orders")
  check(listed and #listed.ids == #sim.records and listed.ids[1] == sim.records[1].id
        and listed.ids[#listed.ids] == added.ids[3], "control: list every order id, oldest first")
  local cancel_id = sim.orders[1].id
  r2 = post(sim.url .. "/_sim/orders/" .. cancel_id, { status = "cancelled" })
  check(r2.status == 200 and sim.orders[1].cancelled_at ~= common.null, "control: cancel order")
  res, body = get(base .. "orders.json?status=cancelled&limit=250&ids=" .. cancel_id, auth)
  check(#body.orders == 1, "cancelled order visible with status=cancelled")

  post(sim.url .. "/_sim/faults", { status = 429, count = 1 })
  res = get(base .. "orders.json", auth)
  check(res.status == 429 and res.headers["retry-after"] == "2.0", "fault 429 with Retry-After")
  post(sim.url .. "/_sim/faults", { truncate = true })
  res = get(base .. "orders.json?status=any", auth)
  check(res.status == 200 and json.decode(res.body) == nil, "fault truncate gives cut JSON")
  post(sim.url .. "/_sim/faults", { malformed = true })
  res = get(base .. "orders.json?status=any", auth)
  check(res.status == 200 and json.decode(res.body) == nil, "fault malformed")
  post(sim.url .. "/_sim/faults", { delay = 0.3 })
  local t0 = task.monotonic()
  res = get(base .. "orders.json?status=any", auth)
  check(res.status == 200 and task.monotonic() - t0 >= 0.25, "fault delay")
  local _, stats = get(sim.url .. "/_sim/stats")
  check(stats.throttled >= 1 and stats.by_status["429"] >= 1 and stats.order_list_requests >= 5, "stats")
  post(sim.url .. "/_sim/reset-stats", {})
  _, stats = get(sim.url .. "/_sim/stats")
  check(stats.requests == 0, "reset-stats")

  local hits = 0
  sim.on_page = function(s, n)
    hits = n
    if n == 1 then s:add_orders(1) end
  end
  url, seen = base .. "orders.json?status=any&limit=100", {}
  while url do
    res, body = get(url, auth)
    for _, o in ipairs(body.orders) do seen[#seen + 1] = o.id end
    url = link(res, "next")
  end
  check(hits >= 2 and #seen == #sim.orders, "on_page adds an order mid-sync, cursor still sees it", #seen .. "/" .. #sim.orders)
  sim:close()

  -- the leaky bucket: 3 calls, the 4th is refused
  sim = require("sim.shopify").start{ orders = 5, rate = { capacity = 3, per_second = 0.01 } }
  base = sim.url .. "/admin/api/2024-10/"
  local statuses = {}
  for i = 1, 4 do statuses[i] = get(base .. "orders.json", auth) end
  check(statuses[3].headers["x-shopify-shop-api-call-limit"] == "3/3" and statuses[4].status == 429
    and statuses[4].body:match("Exceeded 0.01 calls per second"), "shopify leaky bucket")
  sim:close()
end

---------------------------------------------------------------------------------------------
-- BigCommerce
---------------------------------------------------------------------------------------------

local function test_bigcommerce()
  local sim = require("sim.bigcommerce").start{ orders = 130, seed = 4 }
  local base = sim.url .. "/stores/abc123/v2"
  local auth = { ["X-Auth-Token"] = "bc_test", Accept = "application/json" }
  check(get(sim.url .. "/stores/zzz/v2/orders", auth).status == 404, "bc other hash 404")
  local res, body = get(base .. "/orders", { ["X-Auth-Token"] = "x" })
  check(res.status == 401 and body[1].status == 401, "bc 401")
  res, body = get(base .. "/orders", auth)
  check(res.status == 200 and #body == 50 and res.headers["x-rate-limit-requests-quota"] == "150"
    and res.headers["x-rate-limit-time-window-ms"] == "30000", "bc list default 50 + rate headers")
  check(body[1].date_created:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d %+0000$")
    and body[1].total_inc_tax:match("^%d+%.%d%d%d%d$"), "bc formats")
  check(body[1].products.url == base .. "/orders/" .. math.tointeger(body[1].id) .. "/products", "bc products link")

  local incomplete = 0
  for _, d in ipairs(sim.orders) do if d.status_id == 0 then incomplete = incomplete + 1 end end
  local seen, page = 0, 1
  while true do
    res, body = get(base .. "/orders?limit=100&page=" .. page, auth)
    if res.status == 204 then break end
    seen, page = seen + #body, page + 1
  end
  check(res.body == "" and seen == 130 - incomplete, "bc paging to 204 (incomplete hidden)", seen .. "+" .. incomplete)
  res, body = get(base .. "/orders?status_id=0", auth)
  check(incomplete == 0 and res.status == 204 or (body and #body == incomplete), "bc status_id=0 lists incomplete")

  local mid = sim.records[65].updated
  res, body = get(base .. "/orders?sort=date_modified:asc&limit=250&min_date_modified=" ..
    http.urlencode(common.rfc2822(mid)), auth)
  local ok, prev = #body > 0, 0
  for _, o in ipairs(body) do
    local t = common.parse_rfc2822(o.date_modified)
    if t < mid or t < prev then ok = false end
    prev = t
  end
  check(ok, "bc min_date_modified (RFC 2822) + sort=date_modified:asc")
  res = get(base .. "/orders?min_date_modified=" .. http.urlencode(common.iso(mid, 0)), auth)
  check(res.status == 200, "bc min_date_modified ISO 8601")
  res = get(base .. "/orders?min_date_modified=yesterday", auth)
  check(res.status == 400, "bc bad date 400")

  local id = sim.orders[2].id
  res, body = get(base .. "/orders/" .. id .. "/products", auth)
  check(res.status == 200 and body[1].order_id == id and body[1].sku, "bc products")
  res, body = get(base .. "/orders/" .. id .. "/shipping_addresses", auth)
  check(res.status == 200 and body[1].shipping_method and body[1].id, "bc shipping_addresses")
  res, body = get(base .. "/orders/count", auth)
  check(res.status == 200 and body.count == 130 - incomplete and #body.statuses == 15, "bc count")
  res, body = get(base .. "/time", auth)
  check(res.status == 200 and math.abs(body.time - os.time()) < 5, "bc time")
  res, body = get(base .. "/store", auth)
  check(res.status == 200 and body.name, "bc store")

  local with_coupon, without
  for _, r in ipairs(sim.records) do
    if r.coupons_json then with_coupon = with_coupon or r.id else without = without or r.id end
  end
  res, body = get(base .. "/orders/" .. without .. "/coupons", auth)
  check(res.status == 204, "bc no coupons -> 204")
  res, body = get(base .. "/orders/" .. with_coupon .. "/coupons", auth)
  check(res.status == 200 and body[1].code, "bc coupons")

  post(sim.url .. "/_sim/orders/" .. id, { status = "cancelled" })
  res, body = get(base .. "/orders/" .. id, auth)
  check(body.status_id == 5 and body.status == "Cancelled", "bc change status")
  sim:close()

  -- prerender caches whole pages, and a change drops them
  sim = require("sim.bigcommerce").start{ orders = 10, seed = 4, prerender = true, rate = false }
  base = sim.url .. "/stores/abc123/v2"
  local _, first = get(base .. "/orders?status_id=11&limit=250", auth)
  local _, again = get(base .. "/orders?status_id=11&limit=250", auth)
  sim:add_orders(30)
  local _, after = get(base .. "/orders?status_id=11&limit=250", auth)
  check(#first == #again and #after > #first, "bc prerender cache invalidated by a change", #first .. "/" .. #after)
  sim:close()

  sim = require("sim.bigcommerce").start{ orders = 5, rate = { quota = 2, window = 30 } }
  base = sim.url .. "/stores/abc123/v2"
  get(base .. "/orders", auth)
  local r2 = get(base .. "/orders", auth)
  local r3 = get(base .. "/orders", auth)
  check(r2.headers["x-rate-limit-requests-left"] == "0" and r3.status == 429
    and tonumber(r3.headers["x-rate-limit-time-reset-ms"]) > 0, "bc quota 429")
  sim:close()
end

---------------------------------------------------------------------------------------------
-- WooCommerce
---------------------------------------------------------------------------------------------

-- Signs url's query with OAuth 1.0a the RFC 5849 way (independent of the simulator's code).
local function oauth_url(method, url, params, secret, nonce, ts)
  local enc = http.urlencode
  local all = {}
  for k, v in pairs(params) do all[#all + 1] = { k, v } end
  for k, v in pairs({ oauth_consumer_key = "ck_test", oauth_nonce = nonce,
    oauth_signature_method = "HMAC-SHA256", oauth_timestamp = tostring(ts) }) do
    all[#all + 1] = { k, v }
  end
  local encoded = {}
  for i, kv in ipairs(all) do encoded[i] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  table.sort(encoded)
  local base = method .. "&" .. enc(url) .. "&" .. enc(table.concat(encoded, "&"))
  local sig = crypto.base64(crypto.hmac_sha256(secret .. "&", base))
  return url .. "?" .. table.concat(encoded, "&") .. "&oauth_signature=" .. enc(sig)
end

local function test_woocommerce()
  local woo = require "sim.woocommerce"
  -- RFC 5849 / OAuth 1.0 appendix example through the simulator's base-string builder
  local bs = woo.base_string("GET", "http://photos.example.net/photos", {
    { "file", "vacation.jpg" }, { "size", "original" }, { "oauth_consumer_key", "dpf43f3p2l4k3l03" },
    { "oauth_token", "nnch734d00sl2jdk" }, { "oauth_signature_method", "HMAC-SHA1" },
    { "oauth_timestamp", "1191242096" }, { "oauth_nonce", "kllo9940pd9333jh" }, { "oauth_version", "1.0" } })
  check(crypto.base64(crypto.hmac_sha1("kd94hf93k423kf44&pfkkdhi9sl3r4s00", bs)) == "tR3+Ty81lMeYAr/Fid0kMTYa/WM=",
    "OAuth spec example signature", bs)

  local sim = woo.start{ orders = 57, seed = 9 }
  local base = sim.url .. "/wp-json/wc/v3"
  local basic = { Authorization = "Basic " .. crypto.base64("ck_test:cs_test") }
  local res, body = get(base .. "/orders")
  check(res.status == 401 and body.code == "woocommerce_rest_cannot_view", "woo no credentials")
  res, body = get(base .. "/orders", { Authorization = "Basic " .. crypto.base64("ck_test:wrong") })
  check(res.status == 401 and body.message == "Consumer secret is invalid.", "woo bad secret")
  res, body = get(base .. "/orders", basic)
  check(res.status == 200 and #body == 10 and res.headers["x-wp-total"] == "57"
    and res.headers["x-wp-totalpages"] == "6", "woo list defaults + totals")
  check(body[1].date_created:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$") and type(body[1].number) == "string",
    "woo formats")
  check(body[1].id > body[2].id, "woo default order date desc")
  check(link(res, "next") and link(res, "next"):match("page=2"), "woo next link")
  res, body = get(base .. "/orders?per_page=101", basic)
  check(res.status == 400 and body.code == "rest_invalid_param" and body.data.params.per_page, "woo per_page 101")
  res, body = get(base .. "/orders?per_page=100&page=2", basic)
  check(res.status == 200 and res.body == "[]" and link(res, "prev"), "woo past the end is []")

  -- modified_after is strict, in the gmt column with dates_are_gmt
  local mid = sim.records[30].updated
  res, body = get(base .. "/orders?per_page=100&orderby=modified&order=asc&dates_are_gmt=true&modified_after="
    .. common.local_time(mid, 0), basic)
  local ok = #body > 0
  for _, o in ipairs(body) do
    if common.parse_iso(o.date_modified_gmt) <= mid then ok = false end
  end
  check(ok, "woo modified_after strict (gmt)")

  -- OAuth 1.0a in the query, HMAC-SHA256, with a list parameter
  local now = os.time()
  local url = oauth_url("GET", base .. "/orders", { per_page = "5", ["status"] = "processing,completed" },
    "cs_test", "nonce-1", now)
  res, body = get(url)
  check(res.status == 200 and #body <= 5, "woo OAuth query signature accepted", res.body:sub(1, 200))
  res, body = get(url)
  check(res.status == 401 and body.message:match("nonce has already been used"), "woo nonce reuse rejected")
  url = oauth_url("GET", base .. "/orders", {}, "cs_wrong", "nonce-2", now)
  res, body = get(url)
  check(res.status == 401 and body.message == "Invalid signature - provided signature does not match.", "woo bad signature")
  url = oauth_url("GET", base .. "/orders", {}, "cs_test", "nonce-3", now - 3600)
  res, body = get(url)
  check(res.status == 401 and body.message == "Invalid timestamp.", "woo old timestamp")

  -- a status change at the cart shows up after the watermark
  local target = sim.orders[3].id
  local watermark = common.local_time(sim:now() - 1, 0)
  post(sim.url .. "/_sim/orders/" .. target, { status = "completed" })
  res, body = get(base .. "/orders?dates_are_gmt=true&modified_after=" .. watermark, basic)
  check(#body == 1 and body[1].id == target and body[1].status == "completed" and body[1].date_completed,
    "woo changed order after watermark")

  res, body = get(base .. "/system_status", basic)
  check(res.status == 200 and body.environment.version, "woo system_status")
  res, body = get(sim.url .. "/wp-json/")
  check(res.status == 200 and body.namespaces, "woo index")
  post(sim.url .. "/_sim/faults", { malformed = true })
  res = get(base .. "/orders", basic)
  check(res.status == 200 and res.body:match("^<br />"), "woo malformed = PHP notice")
  post(sim.url .. "/_sim/faults", { status = 503 })
  res = get(base .. "/orders", basic)
  check(res.status == 503, "woo 503 fault")
  sim:close()
end

test_common()
test_shopify()
test_bigcommerce()
test_woocommerce()
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then os.exit(1) end
