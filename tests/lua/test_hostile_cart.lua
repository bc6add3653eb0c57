-- The real binary against a hostile cart (tests/hostile/server.lua, its own process): next
-- links to another host, loops, endless pages, waits a cart asks for, nonsense quota headers,
-- redirects. Each run must end quickly with a clear error (or succeed), keep what it stored,
-- store nothing twice and send no credential anywhere but the cart's own origin.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"
local store = require "cartwright.store"
local context = require "cartwright.ctx"
local hostile = require "hostile.server"

local started = task.monotonic()
local dir = T.tmpdir()
local srv = hostile.spawn{ bin = T.bin }
local other_origin = srv.other_url -- http://127.0.0.1:PORT: the default port is never used here
local own_origin = srv.url

local SECRETS = { "shpat_hostile_token", "bc_hostile_token", "ck_hostile_key", "cs_hostile_secret" }
local CREDS = {
  shopify = 'token = "shpat_hostile_token",',
  bigcommerce = 'store_hash = "abc123", token = "bc_hostile_token",',
  woocommerce = 'consumer_key = "ck_hostile_key", consumer_secret = "cs_hostile_secret",',
}

local n = 0
-- A config for one run (its own database): cart "c1" of `cart` at the hostile cart.
local function config(cart, extra, url)
  n = n + 1
  return T.write(dir .. "/cw" .. n .. ".lua", string.format([[
db = %q
cart "c1" {
  connector = %q, url = %q, %s
  batch_size = 2, timeout = 5, retry_base_seconds = 0.05, retry_max_seconds = 1, max_attempts = 3,
  %s
}
]], dir .. "/cw" .. n .. ".db", cart, url or srv.url, CREDS[cart], extra or "")), dir .. "/cw" .. n .. ".db"
end

-- T.cw under `timeout`: a regression that loops or sleeps fails (exit 124) instead of hanging.
local function cw(args)
  local dir_ = T.tmpdir()
  local words = {}
  for i, a in ipairs(args) do words[i] = T.q(a) end
  local _, _, code = os.execute(string.format("timeout -k 1 20 %s %s >%s/out 2>%s/err </dev/null", T.q(T.bin),
    table.concat(words, " "), dir_, dir_))
  local out, err = T.slurp(dir_ .. "/out"), T.slurp(dir_ .. "/err")
  os.execute("rm -rf " .. dir_)
  return code, out, err
end

-- Runs `cartwright <command> c1` against `scenario`: exit code, output, seconds, the hostile
-- cart's counters, and the orders stored (count, distinct).
local function run(cart, scenario, opts)
  opts = opts or {}
  srv.scenario(scenario, opts.status)
  local cfg, db = config(cart, opts.extra)
  local t0 = task.monotonic()
  local code, out, err = cw{ opts.command or "import", "c1", "-c", cfg }
  local r = { code = code, out = out, err = err, secs = task.monotonic() - t0, stats = srv.stats(),
              stored = 0, distinct = 0 }
  local d = store.open(db)
  if d then
    local c = d:orders_count{}
    r.stored, r.distinct = c.n, c.distinct_n
    d:close()
  end
  return r
end

local function no_secret(r, name)
  local leaked = {}
  for _, s in ipairs(SECRETS) do
    if (r.out .. r.err):find(s, 1, true) then leaked[#leaked + 1] = s end
  end
  T.eq(table.concat(leaked, ","), "", name .. ": no credential in the output")
end

-- The common checks of a run the cart made fail.
local function failed(r, name, pattern, stored)
  T.eq(r.code, 1, name .. ": exit 1")
  T.match(r.err, pattern, name .. ": says why")
  T.ok(r.secs < 5, name .. ": ends within 5 s", string.format("%.2f s", r.secs))
  T.eq(r.stored, stored, name .. ": orders stored before the failure are kept")
  T.eq(r.distinct, r.stored, name .. ": nothing stored twice")
  T.eq(r.stats.other_requests, 0, name .. ": the other host got no request")
  T.eq(r.stats.other_credentials, 0, name .. ": the other host got no credential")
  no_secret(r, name)
end

local function p(s) return (s:gsub("%p", "%%%0")) end

-- The log line with message `msg` in `text`, and whether it has each field of `fields`
-- (fields come in any order).
local function logged(text, msg, fields, name)
  local line = text:match("[^\n]*msg=\"" .. p(msg) .. "\"[^\n]*")
  T.ok(line ~= nil, name .. ": logged \"" .. msg .. "\"", text)
  for _, f in ipairs(fields) do T.match(line and (line .. " ") or "", " " .. p(f) .. " ", name .. ": logged with " .. f) end
end

-- 0. the hostile cart behaves when told to: every connector imports its 5 orders
for _, cart in ipairs{ "shopify", "bigcommerce", "woocommerce" } do
  local r = run(cart, "ok")
  T.eq(r.code, 0, cart .. " ok: exit 0", r.err)
  T.eq(r.stored, 5, cart .. " ok: 5 orders stored")
end

-- 1. next links that lead off the cart's origin are never followed
local r = run("shopify", "link-other-host")
failed(r, "link to another host", "origin: the cart's next link after orders page 1 leads to " .. p(other_origin)
  .. ", not to the cart's origin " .. p(own_origin) .. "; stopping", 2)
r = run("shopify", "link-userinfo")
failed(r, "link with the shop as userinfo", "next link after orders page 1 leads to " .. p(other_origin)
  .. ", not to the cart's origin " .. p(own_origin), 2)
r = run("shopify", "link-scheme")
failed(r, "link to another scheme", "next link after orders page 1 leads to "
  .. p(own_origin:gsub("^http:", "https:")) .. ", not to the cart's origin " .. p(own_origin), 2)
T.eq(r.stats.requests, 1, "link to another scheme: nothing sent after page 1")
r = run("shopify", "link-uppercase")
T.eq(r.code, 0, "HTTP://… is the same origin: followed", r.err)
T.eq(r.stored, 5, "HTTP://…: every order stored")

-- 2. loops: a link back, endless empty pages, min_id ignored, page ignored, absurd totals
r = run("shopify", "link-loop")
failed(r, "link back to page 2", "orders page 4: the cart sent a next link already read %(page 2%); stopping", 5)
T.eq(r.stats.order_lists, 3, "link back to page 2: page 2 is not read twice")
r = run("shopify", "empty-pages")
failed(r, "endless empty pages", "orders page 6: 5 empty pages in a row, each pointing to a next one; stopping", 2)
T.eq(r.stats.order_lists, 6, "endless empty pages: 6 pages read")
r = run("bigcommerce", "ignore-min-id")
failed(r, "BigCommerce ignoring min_id", "orders page 2: the cart ignored min_id=3 %(the page starts at id 1%); stopping", 2)
r = run("woocommerce", "ignore-page")
failed(r, "WooCommerce ignoring page", "orders page 2: every item on it %(2%) was on an earlier page %(the cart"
  .. " ignores the page number%); stopping", 2)
r = run("woocommerce", "total-pages-huge")
failed(r, "X-WP-TotalPages 999999999", "orders page 1: the cart announces X%-WP%-TotalPages = 999999999 pages, more"
  .. " than max_pages %(10000%); stopping", 0)
r = run("shopify", "ok", { extra = "max_pages = 2," })
failed(r, "max_pages = 2", "orders page 3: more than max_pages %(2%) pages in one run %(raise the cart's max_pages", 4)

-- 3. waits the cart asks for are cut to retry_max_seconds (1 s here), and logged
for _, c in ipairs{ { "shopify", "retry-after-huge", "99999999" }, { "woocommerce", "retry-after-1e308", "1e+308" } } do
  r = run(c[1], c[2])
  local name = c[2] .. " (" .. c[1] .. ")"
  T.eq(r.code, 0, name .. ": the run goes on after one capped wait", r.err)
  T.ok(r.secs >= 0.9 and r.secs < 5, name .. ": waited retry_max_seconds, not what the cart asked",
       string.format("%.2f s", r.secs))
  logged(r.err, "cart asked for a wait longer than retry_max_seconds",
    { "level=warn", "cart=c1", "status=429", "asked=" .. c[3], "wait=1" }, name)
  T.eq(r.stored, 5, name .. ": every order stored")
end
r = run("shopify", "call-limit-nonsense")
T.eq(r.code, 0, "X-Shopify-Shop-Api-Call-Limit 999999/1: ignored", r.err)
T.ok(r.secs < 5, "X-Shopify-Shop-Api-Call-Limit 999999/1: no stall", string.format("%.2f s", r.secs))
T.eq(r.stored, 5, "X-Shopify-Shop-Api-Call-Limit 999999/1: every order stored")
r = run("shopify", "ok", { extra = "rate_limit = { capacity = 1, per_second = 0.001 }, retry_max_seconds = 0.3," })
T.eq(r.code, 0, "a token every 1000 s: the run goes on", r.err)
T.ok(r.secs >= 0.5 and r.secs < 5, "a token every 1000 s: each wait cut to retry_max_seconds",
     string.format("%.2f s", r.secs))
logged(r.err, "rate limit wait cut to retry_max_seconds", { "level=warn", "cart=c1", "asked=1000", "wait=0.3" },
       "a token every 1000 s")

-- 4. a redirect is explained, never followed, its query never shown
r = run("shopify", "redirect")
failed(r, "302 on import", "http 302: the cart redirected to " .. p(other_origin)
  .. "/admin/api/2026%-10/orders%.json %(Cartwright does not follow redirects; check the cart's url setting%)", 0)
T.ok(not (r.out .. r.err):find(hostile.QUERY_SECRET, 1, true), "302: the Location's query is not shown")
r = run("bigcommerce", "redirect", { command = "test" })
T.eq(r.code, 1, "302 on test: exit 1")
T.match(r.out, "^Test failed: http 302: the cart redirected to " .. p(other_origin) .. "/stores/abc123/v2/store %(",
        "302 on test: says where to")
T.eq(r.stats.other_requests, 0, "302 on test: the other host got no request")

-- 5. echo-credentials (for the redaction fix): the hostile cart quotes what it received
srv.scenario("echo-credentials")
local res = assert(http.request{ url = srv.url .. "/admin/api/2025-01/shop.json",
                                 headers = { ["X-Shopify-Access-Token"] = "shpat_echo_me" } })
T.eq(res.status, 401, "echo-credentials: 401")
T.match(res.body, "X%-Shopify%-Access%-Token: shpat_echo_me", "echo-credentials: the token is in the body")
res = assert(http.request{ url = srv.url .. "/wp-json/wc/v3/orders?consumer_key=ck_q&consumer_secret=cs_q" })
T.match(res.body, "consumer_key=ck_q; consumer_secret=cs_q", "echo-credentials: query keys are in the body")
srv.scenario("echo-credentials", 500)
res = assert(http.request{ url = srv.url .. "/stores/abc123/v2/orders", headers = { ["X-Auth-Token"] = "bc_echo" } })
T.eq(res.status, 500, "echo-credentials with status 500")
T.match(res.body, "X%-Auth%-Token: bc_echo", "echo-credentials 500: the token is in the body")
r = run("shopify", "echo-credentials", { command = "test" })
T.eq(r.code, 1, "echo-credentials: cartwright test fails")
T.match(r.out, "^Test failed: credentials rejected: http 401", "echo-credentials: as rejected credentials")

-- 2. a cart that echoes our credentials in its error bodies: they are redacted at every way
-- out, for every connector and both error statuses: test (human and --json), import (human and
-- --json), carts --json (last_error), and what the database stores
for _, cart in ipairs{ "shopify", "bigcommerce", "woocommerce" } do
  for _, status in ipairs{ 401, 500 } do
    local name = "2: echoed credentials, " .. cart .. " " .. status
    srv.scenario("echo-credentials", status)
    local cfg, db = config(cart, "max_attempts = 1,")
    local outs = {}
    for _, args in ipairs{ { "test", "c1" }, { "test", "c1", "--json" }, { "import", "c1" },
                           { "import", "c1", "--json" }, { "carts", "--json" } } do
      local code, out, err = cw{ "-c", cfg, table.unpack(args) }
      outs[#outs + 1] = { args = table.concat(args, " "), code = code, text = out .. err }
    end
    T.eq(outs[3].code, 1, name .. ": import fails")
    T.match(outs[3].text, "%[redacted%]", name .. ": the echo is shown with the marker")
    T.match(outs[5].text, '"last_error":"http ' .. status .. '[^\n]*%[redacted%]', name .. ": carts --json shows the redacted last_error")
    for _, o in ipairs(outs) do no_secret({ out = o.text, err = "" }, name .. ": " .. o.args) end
    -- every text column of the database file: the sqlite3 CLI dumps it all
    local f = io.popen("sqlite3 " .. T.q(db) .. " .dump 2>&1")
    local dump = f:read("a")
    f:close()
    T.match(dump, "%[redacted%]", name .. ": the stored error is there, redacted")
    no_secret({ out = dump, err = "" }, name .. ": database")
  end
end

-- 12. invalid JSON in the parts of an order the connector's shape skips: refused, nothing stored
do
  local r = run("shopify", "malformed-skipped")
  T.eq(r.code, 1, "12: a page with invalid JSON in skipped members: import fails")
  T.match(r.err, "bad JSON in orders page 1: bad JSON at byte %d+", "12: says where")
  T.eq(r.stored, 0, "12: nothing imported from it")
end

-- 13. ids above 2^53: imported, released by ship-map and replayed with every digit, for the
-- three carts (a decoder reading numbers as doubles rounds 9007199254740993 to …992 and
-- merges neighbours)
local METHOD_CODE = { shopify = "Standard", bigcommerce = "Standard", woocommerce = "flat_rate" }
for _, cart in ipairs{ "shopify", "bigcommerce", "woocommerce" } do
  local name = "13: big ids, " .. cart
  srv.scenario("big-ids")
  local cfg, db = config(cart, "batch_size = 2,")
  local code, out, err = cw{ "-c", cfg, "import", "c1" }
  T.eq(code, 0, name .. ": import exit 0", err)
  local function ids()
    local d = assert(store.open(db))
    local got, docs = {}, 0
    for _, row in ipairs(assert(d:orders_list{})) do
      got[#got + 1] = row.external_id
      if row.doc:find('"external_id":"' .. row.external_id .. '"', 1, true) then docs = docs + 1 end
    end
    d:close()
    table.sort(got)
    return table.concat(got, ","), docs
  end
  local want = {}
  for i = 1, hostile.ORDERS do want[i] = string.format("%d", hostile.BIG + i) end
  local got, docs = ids()
  T.eq(got, table.concat(want, ","), name .. ": five orders stored with exact ids", out)
  T.eq(docs, hostile.ORDERS, name .. ": each stored document carries its own id")
  code, out = cw{ "-c", cfg, "ship-map", METHOD_CODE[cart], "UPS Ground" }
  T.eq(code, 0, name .. ": ship-map exit 0")
  T.match(out, "released " .. hostile.ORDERS .. " orders", name .. ": ship-map released all five")
  got, docs = ids()
  T.eq(got, table.concat(want, ","), name .. ": ids unchanged after the release")
  T.eq(docs, hostile.ORDERS, name .. ": documents re-read from the raw keep their ids")
  code, out = cw{ "-c", cfg, "rules", "replay" }
  T.eq(code, 0, name .. ": rules replay exit 0")
  T.match(out, "replayed " .. hostile.ORDERS .. " orders: 0 would change", name .. ": replay re-reads them unchanged")
end

-- 6. rate_limit, max_pages and retry_max_seconds are checked: exit 2, naming cart and line
for _, c in ipairs{
  { "rate_limit = { capacity = 0, per_second = 0 },", "rate_limit capacity must be at least 1, not 0" },
  { "rate_limit = { capacity = 5, per_second = 0 },", "rate_limit per_second must be more than 0" },
  { "rate_limit = { capacity = 1/0, per_second = 1 },", "rate_limit capacity must be a finite number, not inf" },
  { "rate_limit = { capacity = 5, per_second = -1 },", "rate_limit per_second must be at least 0, not %-1" },
  { "rate_limit = { capacity = 5, per_second = 1, burst = 9 },", "rate_limit has an unknown key 'burst'" },
  { "rate_limit = { capacity = '5', per_second = 1 },", "rate_limit needs capacity and per_second, both numbers" },
  { "max_pages = 0,", "max_pages must be at least 1, not 0" },
  { "retry_max_seconds = math.huge,", "retry_max_seconds must be a finite number, not inf" },
} do
  local cfg = config("shopify", c[1])
  local code, _, err = cw{ "import", "c1", "-c", cfg }
  T.eq(code, 2, c[1] .. " exit 2")
  T.match(err, "config error: " .. p(cfg) .. ':2: cart "c1": ' .. c[2], c[1] .. " says why, with cart and line")
end

-- 7. in this process: the origin guarantee of ctx:request and http.request themselves
local hits = 0
local plain = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function()
  hits = hits + 1
  return { status = 200, body = "{}" }
end })
local port = plain.port
local ctx = context.new({ name = "x", url = "https://127.0.0.1:" .. port, max_attempts = 1, retry_max_seconds = 1 },
                        { rate = { capacity = 5, per_second = 5 } })
local got, err = ctx:request{ method = "GET", url = "http://127.0.0.1:" .. port .. "/admin/orders.json",
                              headers = { ["X-Shopify-Access-Token"] = "tok" } }
T.eq(got, nil, "https cart, http URL: refused")
T.eq(err, "origin: refused to send a request to http://127.0.0.1:" .. port .. ", which is not the cart's origin"
  .. " https://127.0.0.1:" .. port .. " (Cartwright sends requests and credentials only to the cart's own origin)",
  "https cart, http URL: names both origins")
local pager = ctx:pager("orders")
T.eq(pager:next("first"), 1, "pager: page 1")
local page, perr = pager:link("https://127.0.0.1:" .. port .. "@127.0.0.1:1/x?page_info=secret")
T.eq(page, nil, "pager: a userinfo link to another host is refused")
T.match(perr, "leads to https://127%.0%.0%.1:1, not to the cart's origin https://127%.0%.0%.1:" .. port,
        "pager: names both origins")
T.ok(not perr:find("secret", 1, true), "pager: no query in the message")
got, err = http.request{ url = "http://127.0.0.1:" .. port .. "@127.0.0.1:1/", origin = "http://127.0.0.1:" .. port }
T.eq(got, nil, "http.request{origin}: another origin is refused")
T.eq(err, "origin: refused to send a request to http://127.0.0.1:1 (only http://127.0.0.1:" .. port .. " is allowed)",
     "http.request{origin}: refuses what curl would send elsewhere")
got = http.request{ url = "HTTP://127.0.0.1:" .. port .. "/ok", origin = "http://127.0.0.1:" .. port }
T.eq(got and got.status, 200, "http.request{origin}: the same origin spelled otherwise goes")
T.eq(hits, 1, "only the allowed request reached the server")
plain:close()

-- a Retry-After that is no number is ignored; a date far ahead and BigCommerce's reset time
-- (read by its connector's observe hook) are cut to retry_max_seconds
local answers = 0
local throttling = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  answers = answers + 1
  if answers == 1 then return { status = 429, headers = { ["Retry-After"] = "soon, maybe" } } end
  if answers == 2 then return { status = 429, headers = { ["Retry-After"] = "Fri, 31 Dec 2099 23:59:59 GMT" } } end
  if answers == 3 then return { status = 503, headers = { ["X-Rate-Limit-Time-Reset-Ms"] = "999999999999" } } end
  return { status = 200, body = req.path }
end })
local bigcommerce = assert(require("cartwright.carts").connector("bigcommerce"))
ctx = context.new({ name = "x", url = "http://127.0.0.1:" .. throttling.port, max_attempts = 4, retry_max_seconds = 0.2,
                    retry_base_seconds = 0.01 }, { rate = { capacity = 5, per_second = 5 }, observe = bigcommerce.observe })
local t0 = task.monotonic()
got, err = ctx:request{ method = "GET", url = "http://127.0.0.1:" .. throttling.port .. "/after" }
local took = task.monotonic() - t0
T.eq(got and got.body, "/after", "Retry-After dates and reset times: the request goes through", err)
T.ok(took >= 0.35 and took < 1.5, "Retry-After dates and reset times: at most retry_max_seconds each",
     string.format("%.2f s", took))
throttling:close()

-- Retry-After as an HTTP date two seconds ahead is waited for (whole seconds: 1 to 2 s); one
-- in the past is no wait
local dated = 0
local dating = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  dated = dated + 1
  local tm = require "cartwright.time"
  if dated == 1 then return { status = 429, headers = { ["Retry-After"] = tm.format_rfc2822(math.floor(task.now()) + 2) } } end
  if dated == 2 then return { status = 429, headers = { ["Retry-After"] = "Mon, 01 Jan 2001 00:00:00 GMT" } } end
  return { status = 200, body = req.path }
end })
ctx = context.new({ name = "d", url = "http://127.0.0.1:" .. dating.port, max_attempts = 4, retry_max_seconds = 10,
                    retry_base_seconds = 0.01 }, { rate = { capacity = 5, per_second = 5 } })
t0 = task.monotonic()
got, err = ctx:request{ method = "GET", url = "http://127.0.0.1:" .. dating.port .. "/dated" }
took = task.monotonic() - t0
T.eq(got and got.body, "/dated", "Retry-After as an HTTP date: the request goes through", err)
T.eq(dated, 3, "Retry-After as an HTTP date: three answers (two 429s, then 200)")
T.ok(took >= 0.9 and took < 2.6, "Retry-After as an HTTP date: waits until that second, a past date not at all",
     string.format("%.2f s", took))
dating:close()
for _, c in ipairs{
  { "https://shop.myshopify.com@evil.example/x?t=1", "https://evil.example:443", "/x" },
  { "HTTPS://Shop.Example", "https://shop.example:443", "/" },
  { "https://shop.example:0443/a", "https://shop.example:443", "/a" },
  { "http://[::1]:8080/a", "http://[::1]:8080", "/a" },
  { "https://evil.example\\@shop.example/", "https://shop.example:443", "/" },
  { "https://shop.example\\evil/", nil, nil },
  { "shop.example/x", nil, nil },
} do
  local o, path = http.origin(c[1])
  T.eq(o, c[2], "http.origin(" .. c[1] .. ")")
  if c[2] then T.eq(path, c[3], "http.origin(" .. c[1] .. ") path") end
end
T.eq(select(2, http.origin("../b?q=1", "https://shop.example/a/c")), "/b", "http.origin: relative to a base")

-- 8. task.sleep takes any number without undefined behaviour (UBSan aborts on it)
local script = T.write(dir .. "/sleep.lua", [[
local task = require "cartwright.task"
for _, s in ipairs{ 0/0, -1, -math.huge } do task.sleep(s) end
task.spawn(function() task.sleep(1e308) end)
task.spawn(function() task.sleep(math.huge) end)
task.sleep(0.02)
print("armed")
]])
os.execute(string.format("%s run %s >%s/sleep.out 2>&1 & echo $! >%s/sleep.pid", T.q(T.bin), T.q(script), dir, dir))
local spid = T.slurp(dir .. "/sleep.pid"):match("%d+")
for _ = 1, 100 do -- at most 5 s
  if T.slurp(dir .. "/sleep.out"):find("armed") then break end
  task.sleep(0.05)
end
T.match(T.slurp(dir .. "/sleep.out"), "^armed\n", "task.sleep(NaN, -1, -inf, 1e308, inf): accepted")
os.execute("kill " .. spid .. " 2>/dev/null")

srv.stop()
os.execute("rm -rf " .. dir)
T.ok(task.monotonic() - started < 30, "the whole test takes under 30 s", string.format("%.1f s", task.monotonic() - started))
return T.done()
