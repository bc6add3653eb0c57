-- The Cart.com connector against its simulator, beyond the shared import cases: `connector check`
-- through the real binary; the wire format (the first request's query, no-cache, keyset paging,
-- addresses and customers batched per page); normalize on the assembled document (offsets to
-- UTC, money, the discount item, addresses, the customer's email); a 401 without the token in
-- the error; the server cache a poll must bypass; an empty first page answered 404; the plan's
-- call limit read from X-AC-Call-Limit (no 429 at Silver) and a 429 with an HTTP-date
-- Retry-After waited out.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local importer = require "cartwright.flows.orders_in"
local simmod = require "sim.cartcom"

-- 1. connector check through the binary (a Gold store: the check reads the listing ~8 times)
do
  local sim = T.sim("cartcom", { "--orders", "14", "--seed", "5", "--plan", "gold" })
  local dir = T.tmpdir()
  local cfg = T.write(dir .. "/cw.lua", string.format(
    'db = %q\ncart "cc" { connector = "cartcom", url = %q, token = env "CC_TOKEN", retry_base_seconds = 0.05 }\n',
    dir .. "/cw.db", sim.url))
  local code, out, err = T.cw({ "-c", cfg, "connector", "check", "cc" }, { CC_TOKEN = "ac_test" }, { timeout = 120 })
  T.eq(code, 0, "connector check exits 0", err)
  for _, c in ipairs{ "connection", "paging", "model", "reimport", "overlap", "faults" } do
    T.match("\n" .. out, "\nok   " .. c .. " %(", "connector check: ok   " .. c)
  end
  T.ok(not out:find("FAIL", 1, true) and not out:find("skip", 1, true), "connector check: no FAIL, no skip", out)
end

-- rate: the merchant's rate_limit, unless the test is about the store's own limit
-- each env its own cart name: the limiter is one bucket per cart name in the process
local envs = 0
local function env_for(sim, extra, own_limit)
  local dir = T.tmpdir()
  envs = envs + 1
  if not own_limit then extra = (extra or "") .. " rate_limit = { capacity = 100, per_second = 100 }," end
  local cfgpath = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "c%d" { connector = "cartcom", url = %q, token = "ac_test", retry_base_seconds = 0.02, retry_max_seconds = 3,
  download_statuses = { "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined",
    "Partially Shipped", "Back Ordered", "Refunded", "On Hold" }, %s }
]], dir .. "/cw.db", envs, sim.url, extra or ""))
  local cfg = assert(config.load(cfgpath))
  local cart, conn = assert(carts.load(cfg, "c" .. envs))
  return { cart = cart, conn = conn, db = assert(carts.open_db(cfg)), dir = dir }
end

-- 2. the wire format, page by page, and normalize
do
  local sim = simmod.start{ port = 0, orders = 45, seed = 3, rate = false }
  local env = env_for(sim, "batch_size = 20,")
  local seen = {}
  local orig = simmod.handle
  simmod.handle = function(s, req)
    seen[#seen + 1] = { path = req.path, q = req.query_string, cc = req.headers["cache-control"] }
    return orig(s, req)
  end
  local ctx = context.new(env.cart, env.conn)
  local docs, raws = {}, {}
  local ok, err = env.conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2099-01-01T00:00:00Z", page_size = 20 },
    function(r, d) for i = 1, #d do docs[#docs + 1], raws[#raws + 1] = d[i], r[i] end return true end)
  simmod.handle = orig
  T.ok(ok, "fetch_orders over the whole history", err)
  T.eq(#docs, 45, "every order once")
  local paths = {}
  for _, s in ipairs(seen) do paths[#paths + 1] = s.path end
  T.eq(table.concat(paths, " "), table.concat({ "/api/v1/order_statuses",
    "/api/v1/orders", "/api/v1/order_addresses/select_many", "/api/v1/customers/select_many",
    "/api/v1/orders", "/api/v1/order_addresses/select_many", "/api/v1/customers/select_many",
    "/api/v1/orders", "/api/v1/order_addresses/select_many", "/api/v1/customers/select_many" }, " "),
    "statuses once, then per page of 20: the orders, one addresses call, one customers call")
  T.eq(seen[2].q, "updated_at=gte%3A2000-01-01T00%3A00%3A00Z%20AND%20lt%3A2099-01-01T00%3A00%3A01Z&id=gt%3A0&sort=id"
    .. "&count=20&page=1&expand=items%2Ccustom_fields", "first orders request: window, keyset, sort, count, expand")
  T.match(seen[5].q, "id=gt%%3A100020&", "second page asks for ids above the first page's last")
  local nocache = 0
  for _, s in ipairs(seen) do if s.cc == "no-cache" then nocache = nocache + 1 end end
  T.eq(nocache, #seen, "every GET says Cache-Control: no-cache")
  T.ok(raws[1]:sub(1, 10) == '{"order":{' and raws[1]:find(',"customer":{', 1, true) ~= nil,
    "raw = the cart's bytes joined: order, status, addresses, customer")

  -- normalize the 5th order against the simulator's own records
  local rec = sim.by_id[100005]
  local n = assert(env.conn.normalize(ctx, docs[5]))
  local o = sim:order(100005)
  T.eq(n.external_id, "100005", "external_id")
  T.eq(n.number, "100005", "number = the id (order_number is empty)")
  local common = require "sim.common"
  T.eq(n.updated_at, common.iso_utc(rec.updated), "updated_at in UTC, milliseconds dropped")
  T.eq(n.created_at, common.iso_utc(rec.created), "created_at from ordered_at, offset applied")
  T.eq(n.totals.total, string.format("%.2f", o.grand_total), "grand_total as money")
  T.eq(n.currency, "USD", "currency from the setting")
  local cust = json.decode(sim.customers[o.customer_id])
  T.eq(n.customer.email, cust.email, "customer email from customers/select_many")
  local addr = json.decode(sim.addresses[o.order_shipping_address_id])
  T.eq(n.shipping.address1, addr.address_line_1, "ship-to from order_addresses")
  T.eq(n.shipping.region, addr.state_code, "region = state_code")
  T.eq(n.shipping.country, addr.country_code, "country = country_code")
  local want_status = ({ "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined",
    "Partially Shipped", "Back Ordered", "Refunded", "On Hold" })[o.order_status_id]
  T.eq(n.cart_status, want_status, "cart_status = the store's status name")
  -- an order with a discount item: the item is a discount, not a line
  local with_discount
  for i, d in ipairs(docs) do if d.order.discount_total > 0 then with_discount = i break end end
  T.ok(with_discount ~= nil, "the simulator has an order with a discount")
  if with_discount then
    local dn = assert(env.conn.normalize(ctx, docs[with_discount]))
    local d = docs[with_discount].order
    T.eq(dn.discounts[1] and dn.discounts[1].code, d.coupon_code, "discount code from the discount item")
    T.eq(dn.discounts[1] and dn.discounts[1].amount, string.format("%.2f", d.discount_total), "discount amount")
    local items = 0
    for _, it in ipairs(d.items) do if not it.is_discount_item then items = items + 1 end end
    T.eq(#dn.lines, items, "the discount item is not a line")
  end
  -- a time that crosses midnight in UTC: 2026-03-08T20:30:00-05:00 (DST started that morning)
  local odd = json.decode(json.encode(docs[1]))
  odd.order.updated_at = "2026-03-08T20:30:00.5-05:00"
  T.eq(assert(env.conn.normalize(ctx, odd)).updated_at, "2026-03-09T01:30:00Z", "an offset across midnight")
  odd.order.updated_at = json.null
  local none, nerr = env.conn.normalize(ctx, odd)
  T.ok(none == nil and nerr:find("bad updated_at", 1, true) ~= nil, "no updated_at: refused with a reason", nerr)

  -- the server cache: a GET without no-cache is answered from it, stale
  sim:change_order(100001, { status = "cancelled" })
  local h = { ["X-AC-Auth-Token"] = "ac_test" }
  local first = http.request{ url = sim.url .. "/api/v1/orders/100002", headers = h }
  sim:change_order(100002, { status = "cancelled" })
  local again = http.request{ url = sim.url .. "/api/v1/orders/100002", headers = h }
  T.eq(again.body, first.body, "the cart answers a plain GET from its cache (stale)")
  local fresh = http.request{ url = sim.url .. "/api/v1/orders/100002", headers = { ["X-AC-Auth-Token"] = "ac_test", ["Cache-Control"] = "no-cache" } }
  T.eq(json.decode(fresh.body).order_status_id, 4, "Cache-Control: no-cache sees the change")

  -- a bad token: the cart's 401 body in the error, never the token
  local bad = env_for(sim, "")
  bad.cart.token = "ac_wrong_secret"
  local bctx = context.new(bad.cart, bad.conn)
  local r, terr = bad.conn.test(bctx)
  T.eq(r, nil, "a wrong token fails the test")
  T.match(terr, "^http 401: .*Missing or invalid X%-AC%-Auth%-Token header", "the cart's 401 message")
  T.ok(not terr:find("ac_wrong_secret", 1, true), "the token is not in the error")
  local t = assert(env.conn.test(ctx))
  T.eq(t.api_version, "v1", "test: v1")
  sim:close()
end

-- 2b. a store whose pages are smaller than asked (count cut to 20): next_page is followed, for
-- the orders and for the batched look-ups
do
  local sim = simmod.start{ port = 0, orders = 45, seed = 3, rate = false, page_max = 20 }
  local env = env_for(sim, "")
  local ctx = context.new(env.cart, env.conn)
  local n, emails = 0, 0
  local ok, err = env.conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2099-01-01T00:00:00Z", page_size = 100 },
    function(_, d)
      for _, doc in ipairs(d) do
        n = n + 1
        if doc.customer and doc.customer.email and doc.shipping_address then emails = emails + 1 end
      end
      return true
    end)
  T.ok(ok, "pages cut to 20: the listing completes", err)
  T.eq(n, 45, "pages cut to 20: every order once")
  T.eq(emails, 45, "pages cut to 20: every order has its customer and ship-to")
  sim:close()
end

-- 2c. customers = false: no customers call, no email; the rest as before
do
  local sim = simmod.start{ port = 0, orders = 12, seed = 3, rate = false }
  local env = env_for(sim, "customers = false,")
  local ctx = context.new(env.cart, env.conn)
  local docs = {}
  assert(env.conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2099-01-01T00:00:00Z", page_size = 100 },
    function(_, d) for _, x in ipairs(d) do docs[#docs + 1] = x end return true end))
  T.eq(#docs, 12, "customers = false: every order")
  T.eq(sim.stats.customer_requests, 0, "customers = false: no customers call")
  local n = assert(env.conn.normalize(ctx, docs[1]))
  T.eq(n.customer.email, nil, "customers = false: no email")
  T.ok(n.customer.first_name ~= nil and n.shipping.address1 ~= nil, "customers = false: names from the addresses")
  sim:close()
end

-- 2d. webhooks: verify reads the URL's key (constant time), nothing else
do
  local conn = assert(carts.connector("cartcom"))
  local v = conn.webhooks.verify
  local cart = { webhook_secret = "s3cret" }
  T.eq(v(cart, {}, "{}", { query = { key = "s3cret" } }), true, "verify: the key is the secret")
  local ok, why = v(cart, {}, "{}", { query = { key = "s3creT" } })
  T.eq(ok, nil, "verify: another key refused")
  T.eq(why, "the URL's key is not the secret", "verify: says why, without the secret")
  why = select(2, v(cart, { key = "s3cret" }, "{}", { query = {} }))
  T.eq(why, "no key in the webhook URL's query", "verify: a header is not the key")
  why = select(2, v({}, {}, "{}", { query = { key = "x" } }))
  T.eq(why, "the cart has no webhook_secret", "verify: a cart without a secret takes none")
  T.eq(v(cart, {}, "{}", nil), nil, "verify: no request, no key")
end

-- 3. an empty first page answered 404 is the end of the list, not an error
do
  local sim = simmod.start{ port = 0, orders = 3, seed = 2, rate = false, empty_404 = true }
  local env = env_for(sim, "")
  local ctx = context.new(env.cart, env.conn)
  local n = 0
  local ok, err = env.conn.fetch_orders(ctx, { since = "2099-01-01T00:00:00Z", ["until"] = "2099-01-02T00:00:00Z", page_size = 50 },
    function(_, d) n = n + #d return true end)
  T.ok(ok == true and n == 0, "an empty window answered 404: done, nothing", err)
  sim:close()
end

-- 4. the plan's limit: a Silver store (20 calls / 10 s) announces it in X-AC-Call-Limit; with no
-- rate_limit set the limiter takes that size (the package's default is Steel's 5) and paces the
-- import without one 429
do
  local sim = simmod.start{ port = 0, orders = 60, seed = 4, plan = "silver" }
  local env = env_for(sim, "batch_size = 5, retry_max_seconds = 12,", true)
  local t0 = task.monotonic()
  local st, err = assert(importer.new(env.db, env.cart, env.conn, {})):run()
  local took = task.monotonic() - t0
  T.ok(st ~= nil, "Silver: the import succeeds", err)
  T.eq(st and st.imported, 60, "Silver: every order imported")
  T.eq(sim.stats.throttled, 0, "Silver: no 429 (the limiter followed X-AC-Call-Limit)")
  T.eq(sim.stats.requests, 37, "Silver: 37 calls (statuses + 12 pages x 3)")
  T.ok(took > 5 and took < 25, "Silver: paced at 20 per 10 s, not at Steel's 5", string.format("%.1f s", took))
  sim:close()
end

-- 5. over the limit: the store's own 429 (X-AC-Call-Limit full, Retry-After an HTTP date: when
-- the window resets) and queued 429s are waited out
do
  local sim = simmod.start{ port = 0, orders = 30, seed = 6, rate = false }
  local env = env_for(sim, "batch_size = 5,")
  sim:fault{ status = 429, count = 3 }
  local st, err = assert(importer.new(env.db, env.cart, env.conn, {})):run()
  T.ok(st ~= nil, "429s with a date Retry-After: the import succeeds", err)
  T.eq(st and st.imported, 30, "429s: every order imported")
  T.ok(st and st.retries >= 3, "429s: retried", st and st.retries)
  sim:close()
  sim = simmod.start{ port = 0, orders = 1, seed = 6, rate = { quota = 4, window = 10 } }
  local res
  for _ = 1, 10 do
    res = http.request{ url = sim.url .. "/api/v1/order_statuses", headers = { ["X-AC-Auth-Token"] = "ac_test" } }
    if res.status == 429 then break end
  end
  T.eq(res.status, 429, "the store answers 429 over its limit")
  T.match(res.headers["retry-after"], "^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", "Retry-After is an HTTP date")
  T.eq(res.headers["x-ac-call-limit"], "4/4", "X-AC-Call-Limit used/allowed")
  local reset = require("cartwright.time").parse_rfc2822(res.headers["retry-after"])
  T.ok(reset and reset - task.now() > 8 and reset - task.now() <= 11, "Retry-After: when the 10 s window resets")
  T.eq(json.decode(res.body).status_code, 429, "the cart's error body")
  sim:close()
end

-- 6. observe reads only sane headers
do
  local conn = assert(carts.connector("cartcom"))
  local o = conn.observe{ headers = { ["x-ac-call-limit"] = "3/20" } }
  T.eq(o and o.capacity, 20, "observe: capacity = allowed")
  T.eq(o and o.per_second, 2, "observe: allowed per 10 s")
  T.eq(o and o.left, 17, "observe: left = allowed - used")
  T.eq(o and o.reset, 10, "observe: a window of unknown age ends a whole window from now")
  local o1 = conn.observe{ url = "http://x.example/api/v1/orders", headers = { ["x-ac-call-limit"] = "1/20" } }
  local o2 = conn.observe{ url = "http://x.example/api/v1/orders", headers = { ["x-ac-call-limit"] = "2/20" } }
  T.ok(o1.reset == 10 and o2.reset <= 10 and o2.reset > 9, "observe: the window opened with the call counted 1", o2.reset)
  T.eq(conn.observe{ headers = { ["x-ac-call-limit"] = "30/20" } }, nil, "observe: more used than allowed ignored")
  T.eq(conn.observe{ headers = { ["x-ac-call-limit"] = "1/0" } }, nil, "observe: an allowance of 0 ignored")
  T.eq(conn.observe{ headers = {} }, nil, "observe: no header, nothing")
end

return T.done()
