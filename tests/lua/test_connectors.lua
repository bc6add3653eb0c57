-- Connector packages: the table carts.connector gives the pipeline; what the loader says about
-- a package that is wrong (file, and line when the file raised); the test tree off the module
-- path of the commands; the quota headers each package's observe hook reads; and the per-cart
-- limiter, one bucket per cart name in the process, shared by every ctx of the cart.
local T = require "t"
local task = require "cartwright.task"
local httpd = require "cartwright.httpd"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local limiter = require "cartwright.limiter"

---------------------------------------------------------------- the surface
local EXPECT = {
  shopify = { api_version = "2026-10", page_max = 250, rate = "40/2", sorted = true, peek = true, observe = true },
  bigcommerce = { api_version = "v2", page_max = 250, rate = "150/5", sorted = nil, peek = false, observe = true },
  woocommerce = { api_version = "wc/v3", page_max = 100, rate = "10/5", sorted = nil, peek = false, observe = false },
}
for name, e in pairs(EXPECT) do
  local conn, err = carts.connector(name)
  T.ok(conn ~= nil, name .. ": loads", err)
  if conn then
    T.eq(conn.name, name, name .. ": name")
    T.eq(conn.api_version, e.api_version, name .. ": api_version")
    T.eq(conn.file, "connectors/" .. name .. "/init.lua", name .. ": its file")
    T.eq(conn.capabilities.orders, true, name .. ": the orders capability")
    T.eq(conn.orders.normalize, conn.normalize, name .. ": the orders hooks are the pipeline's")
    T.eq(type(conn.fetch_orders), "function", name .. ": fetch_orders")
    T.eq(type(conn.test), "function", name .. ": test")
    T.eq(conn.page_max, e.page_max, name .. ": page_max")
    T.eq(conn.rate.capacity .. "/" .. conn.rate.per_second, e.rate, name .. ": rate")
    T.eq(conn.sorted_by_updated, e.sorted, name .. ": sorted_by_updated")
    T.eq(conn.peek ~= nil, e.peek, name .. ": peek")
    T.eq(conn.observe ~= nil, e.observe, name .. ": observe")
    T.eq(type(conn.schema.url), "table", name .. ": the schema declares url")
    T.ok(#conn.statuses > 0 and #conn.default_download_statuses > 0, name .. ": statuses and their default")
    T.eq(carts.connector(name), conn, name .. ": loaded once")
  end
end
T.eq(carts.connector("shopify").origin({ url = "acme.myshopify.com/" }), "https://acme.myshopify.com",
     "shopify: the origin hook adds https://")

---------------------------------------------------------------- packages that are wrong
-- Each in a home of its own (CARTWRIGHT_HOME): the engine's lua/ and these connectors/.
local home = T.tmpdir()
os.execute("ln -s " .. T.q(package.cartwright_home .. "/lua") .. " " .. T.q(home .. "/lua"))
local function pkg(name, files)
  os.execute("mkdir -p " .. T.q(home .. "/connectors/" .. name))
  for file, src in pairs(files) do T.write(home .. "/connectors/" .. name .. "/" .. file, src) end
end
local GOOD_INIT = 'return { name = "%s", schema = { url = { type = "string", required = true, description = "x" } },'
  .. ' capabilities = { orders = true }%s }\n'
local GOOD_ORDERS = "return { fetch_orders = function() return true end, normalize = function() end }\n"
local function init(name, extra) return GOOD_INIT:format(name, extra or "") end
pkg("good", { ["init.lua"] = init("good"), ["orders.lua"] = GOOD_ORDERS })
pkg("nohooks", { ["init.lua"] = init("nohooks"), ["orders.lua"] = "return { normalize = function() end }\n" })
pkg("typo", { ["init.lua"] = init("typo", ", shema = {}"), ["orders.lua"] = GOOD_ORDERS })
pkg("badspec", { ["init.lua"] = 'return { name = "badspec", capabilities = { orders = true },\n'
  .. '  schema = { token = { type = "strin", description = "x" } } }\n', ["orders.lua"] = GOOD_ORDERS })
pkg("nodesc", { ["init.lua"] = 'return { name = "nodesc", capabilities = { orders = true },\n'
  .. '  schema = { token = { type = "string", secret = true } } }\n', ["orders.lua"] = GOOD_ORDERS })
pkg("noorders", { ["init.lua"] = init("noorders") })
pkg("raises", { ["init.lua"] = init("raises"), ["orders.lua"] = "local x = 1\nerror('boom ' .. x)\n" })
pkg("syntax", { ["init.lua"] = "return {\n  name = = 1\n}\n" })
pkg("wrongname", { ["init.lua"] = init("other"), ["orders.lua"] = GOOD_ORDERS })
pkg("common", { ["init.lua"] = 'return { name = "common", capabilities = { orders = true },\n'
  .. '  schema = { batch_size = { type = "number", description = "x" } } }\n', ["orders.lua"] = GOOD_ORDERS })
pkg("badrate", { ["init.lua"] = init("badrate", ", rate = { capacity = 0, per_second = 1 }"), ["orders.lua"] = GOOD_ORDERS })
pkg("refunds", { ["init.lua"] = 'return { name = "refunds", schema = {}, capabilities = { refunds = true } }\n' })
pkg("sorted", { ["init.lua"] = init("sorted"), ["orders.lua"] = "return { fetch_orders = print, normalize = print, sorted_by_updated = true }\n" })
pkg("statuses", { ["init.lua"] = init("statuses"), ["orders.lua"] = "return { fetch_orders = print, normalize = print, statuses = { 'open', '' } }\n" })
T.write(home .. "/connectors/legacy.lua", "return { fetch_orders = print, normalize = print }\n")
local script = T.write(home .. "/load.lua", [[
local connector = require "cartwright.connector"
local common = require("cartwright.carts").common
for _, name in ipairs{ ... } do
  local conn, err = connector.load(name, common)
  print(name .. "\t" .. (conn and ("ok " .. conn.file) or err))
end
]])
local names = { "good", "nohooks", "typo", "badspec", "nodesc", "noorders", "raises", "syntax", "wrongname", "common",
                "badrate", "refunds", "sorted", "statuses", "legacy", "nope", "../lua" }
local code, out, err = T.cw({ "run", script, table.unpack(names) }, { CARTWRIGHT_HOME = home })
T.eq(code, 0, "loading broken packages: the script ran", err)
local said = {}
for name, msg in out:gmatch("([^\t\n]+)\t([^\n]*)") do said[name] = msg end
for _, c in ipairs{
  { "good", "ok connectors/good/init.lua" },
  { "nohooks", "connectors/nohooks/orders.lua: fetch_orders is missing (a function)" },
  { "typo", "connectors/typo/init.lua: unknown field 'shema' (api_version, capabilities, check_settings, intervals, name, origin, rate and schema)" },
  { "badspec", "connectors/badspec/init.lua: schema.token: type must be \"string\", \"number\", \"boolean\" or \"table\", not 'strin'" },
  { "nodesc", "connectors/nodesc/init.lua: schema.token: description must say what the setting is (the docs are generated from it)" },
  { "noorders", "connectors/noorders/init.lua: capability orders is declared but connectors/noorders/orders.lua is missing" },
  { "raises", "connectors/raises/orders.lua:2: boom 1" },
  { "wrongname", "connectors/wrongname/init.lua: name is 'other', not the directory's name 'wrongname'" },
  { "common", "connectors/common/init.lua: schema.batch_size is a setting every cart has; pick another name" },
  { "badrate", "connectors/badrate/init.lua: rate capacity must be at least 1, not 0" },
  { "refunds", "connectors/refunds/init.lua: unknown capability 'refunds' (orders, shipments, stock or webhooks)" },
  { "sorted", "connectors/sorted/orders.lua: sorted_by_updated needs updated_at(doc), the time the watermark moves to" },
  { "statuses", "connectors/statuses/orders.lua: statuses must list non-empty strings" },
  { "legacy", "connectors/legacy.lua: a connector is a package: connectors/legacy/init.lua (schema, capabilities) and"
    .. " connectors/legacy/orders.lua (the hooks); see docs/connectors.md" },
  { "nope", "unknown connector 'nope' (looked in " .. home .. "/connectors)" },
  { "../lua", "unknown connector '../lua' (looked in " .. home .. "/connectors)" },
} do
  T.eq(said[c[1]], c[2], "package " .. c[1])
end
T.match(said.syntax, "^connectors/syntax/init%.lua:2: ", "package syntax: a syntax error names file:line")
os.execute("rm -rf " .. T.q(home))

---------------------------------------------------------------- the module path
-- a merchant's config cannot name a test connector: the commands search lua/ and connectors/ only
local dir = T.tmpdir()
local cfg = T.write(dir .. "/cw.lua", string.format([[
db = %q
cart "b" { connector = "brittle_shopify", url = "http://127.0.0.1:9", token = "shpat_test" }
]], dir .. "/cw.db"))
code, _, err = T.cw{ "import", "b", "-c", cfg }
T.eq(code, 2, "a test connector in a config: exit 2")
T.match(err, "cw%.lua:2: cart \"b\": unknown connector 'brittle_shopify'", "a test connector in a config: unknown")
-- a developer's script finds it (tests/ is on its path)
T.eq(select(2, carts.connector("brittle_shopify")), nil, "cartwright run: test connectors load")
local probe = T.write(dir .. "/probe.lua", "package.cartwright_tests = nil\n"
  .. "print(pcall(require, 't'))\n")
code, out = T.cw{ "run", probe }
T.match(out, "^true", "cartwright run: the test tree is on the path")
os.execute("rm -rf " .. T.q(dir))

---------------------------------------------------------------- observe: each cart's quota headers
local shopify, bigcommerce = carts.connector("shopify"), carts.connector("bigcommerce")
local function res(headers) return { status = 200, headers = headers, body = "" } end
local function left(q) return q and tostring(q.left) .. "/" .. tostring(q.reset) or "nil" end
for _, c in ipairs{
  { shopify, { ["x-shopify-shop-api-call-limit"] = "32/40" }, "7/nil", "Shopify 32/40: 7 left" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = " 40 / 40 " }, "-1/nil", "Shopify 40/40: none left (the limiter clamps to 0)" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = "999999/1" }, "nil", "Shopify 999999/1: ignored" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = "0/0" }, "nil", "Shopify 0/0: ignored" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = "many" }, "nil", "Shopify text: ignored" },
  { shopify, {}, "nil", "Shopify without the header" },
  { bigcommerce, { ["x-rate-limit-requests-left"] = "10", ["x-rate-limit-requests-quota"] = "150",
                   ["x-rate-limit-time-reset-ms"] = "2500", ["x-rate-limit-time-window-ms"] = "30000" }, "10/2.5",
    "BigCommerce: left and reset" },
  { bigcommerce, { ["x-rate-limit-requests-left"] = "200", ["x-rate-limit-requests-quota"] = "150" }, "nil",
    "BigCommerce: more left than the quota: ignored" },
  { bigcommerce, { ["x-rate-limit-requests-left"] = "3", ["x-rate-limit-requests-quota"] = "0" }, "nil",
    "BigCommerce: a quota of 0: ignored" },
  { bigcommerce, { ["x-rate-limit-time-reset-ms"] = "999999", ["x-rate-limit-time-window-ms"] = "30000" }, "nil",
    "BigCommerce: a reset beyond the window: ignored" },
  { bigcommerce, { ["x-rate-limit-requests-left"] = "-3", ["x-rate-limit-time-reset-ms"] = "1e9" }, "nil",
    "BigCommerce: not whole numbers: ignored" },
  { bigcommerce, { ["x-rate-limit-time-reset-ms"] = "999999999999" }, "nil/999999999.999", "BigCommerce: a reset alone" },
} do
  T.eq(left(c[1].observe(res(c[2]))), c[3], c[4])
end
-- the size each cart announces: BigCommerce quota per window, Shopify's bucket and a twentieth of it per second
local function size(q) return q and tostring(q.capacity) .. "@" .. tostring(q.per_second) or "nil" end
for _, c in ipairs{
  { shopify, { ["x-shopify-shop-api-call-limit"] = "32/40" }, "40@2.0", "Shopify Standard: 40 @ 2/s" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = "1/80" }, "80@4.0", "Shopify Advanced: 80 @ 4/s" },
  { shopify, { ["x-shopify-shop-api-call-limit"] = "12/400" }, "400@20.0", "Shopify Plus: 400 @ 20/s" },
  { bigcommerce, { ["x-rate-limit-requests-left"] = "449", ["x-rate-limit-requests-quota"] = "450",
                   ["x-rate-limit-time-reset-ms"] = "29990", ["x-rate-limit-time-window-ms"] = "30000" }, "450@15.0",
    "BigCommerce Pro: 450 per 30 s = 15/s" },
  { bigcommerce, { ["x-rate-limit-requests-quota"] = "150", ["x-rate-limit-time-window-ms"] = "30000" }, "150@5.0",
    "BigCommerce Standard: 150 per 30 s, from the quota and window alone" },
  { bigcommerce, { ["x-rate-limit-requests-quota"] = "150", ["x-rate-limit-time-window-ms"] = "0" }, "nil",
    "BigCommerce: a window of 0: no size" },
  { bigcommerce, { ["x-rate-limit-requests-quota"] = "0", ["x-rate-limit-time-window-ms"] = "30000",
                   ["x-rate-limit-requests-left"] = "0" }, "nil", "BigCommerce: a quota of 0: no size" },
} do
  T.eq(size(c[1].observe(res(c[2])) or false), c[3], c[4])
end
T.eq(carts.connector("woocommerce").observe, nil, "WooCommerce: no quota headers, no observe hook")
-- ctx.lua knows no cart by name
local f = assert(io.open(package.cartwright_home .. "/lua/cartwright/ctx.lua"))
local src = f:read("a"):lower()
f:close()
T.ok(not src:find("shopify", 1, true) and not src:find("bigcommerce", 1, true) and not src:find("x-rate-limit", 1, true),
     "ctx.lua names no cart and no cart's header")

---------------------------------------------------------------- the limiter: one bucket per cart
local hits = 0
local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  hits = hits + 1
  if req.path == "/busy" then return { status = 200, headers = { ["X-Shopify-Shop-Api-Call-Limit"] = "40/40" }, body = "ok" } end
  return { status = 200, body = "ok" }
end })
local url = "http://127.0.0.1:" .. srv.port
-- two jobs of one cart (an import and, later, a stock push), each with its own ctx
local cart = { name = "shared", url = url, max_attempts = 1, retry_max_seconds = 0.4,
               rate_limit = { capacity = 2, per_second = 0.5 } }
local import_ctx = context.new(cart, shopify)
local stock_ctx = context.new(cart, shopify)
T.eq(import_ctx.limiter, stock_ctx.limiter, "two ctx of one cart share one limiter")
T.eq(limiter.get("shared"), import_ctx.limiter, "the cart's limiter by name")
local other = context.new({ name = "other", url = url, max_attempts = 1, retry_max_seconds = 0.4,
                            rate_limit = { capacity = 2, per_second = 0.5 } }, shopify)
T.ok(other.limiter ~= import_ctx.limiter, "another cart has its own")
local function timed(ctx, path)
  local t0 = task.monotonic()
  local r = ctx:request{ method = "GET", url = url .. path }
  return task.monotonic() - t0, r and r.status
end
local t1, s1 = timed(import_ctx, "/a")
local t2, s2 = timed(import_ctx, "/b")
T.ok(s1 == 200 and s2 == 200 and t1 + t2 < 0.3, "the import spends the bucket's 2 tokens at once",
     string.format("%.2f + %.2f s", t1, t2))
local t3, s3 = timed(stock_ctx, "/c")
T.ok(s3 == 200 and t3 >= 0.35 and t3 < 1, "the stock job of the same cart waits for a token (cut to retry_max_seconds)",
     string.format("%.2f s", t3))
local t4 = timed(other, "/d")
T.ok(t4 < 0.3, "another cart's job does not wait", string.format("%.2f s", t4))
-- what one job's answer says about the quota holds for the other job
limiter.get("shared", { capacity = 40, per_second = 1000 }) -- the config changed: the bucket follows
local t5 = timed(stock_ctx, "/e")
T.ok(t5 < 0.3, "a larger rate_limit applies to the shared bucket", string.format("%.2f s", t5))
timed(import_ctx, "/busy") -- X-Shopify-Shop-Api-Call-Limit: 40/40
T.eq(math.floor(stock_ctx.limiter.tokens * 1000) <= 1, true, "the import's answer (40/40) emptied the stock job's bucket")
T.eq(hits, 6, "every request reached the cart")
-- a ctx whose cart still has env references refuses to talk to the cart
local unresolved = context.new({ name = "u", url = url, token = { env = "CW_NOT_READ", where = "cw.lua:1" } }, shopify)
local ok, rerr = pcall(unresolved.request, unresolved, { method = "GET", url = url .. "/x" })
T.ok(not ok and tostring(rerr):find("token is read with env and not resolved yet", 1, true),
     "a cart not resolved cannot send a request", rerr)
T.eq(hits, 6, "nothing was sent")
srv:close()
return T.done()
