-- Webhooks end to end: each connector's verify (right signature, wrong one, missing header, a
-- body changed by one byte); `cartwright webhooks register` against the three simulators (each
-- its own process); then POST /webhooks/{cart} through real HTTP (cartwright.httpd in this
-- script, service/webhooks.lua's handler): an order placed at each simulator arrives as a signed
-- webhook and calls on_valid(cart) within a second; forged or unsigned ones get 401 and no call.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"
local task = require "cartwright.task"
local crypto = require "cartwright.crypto"
local carts = require "cartwright.carts"
local config = require "cartwright.config"
local ops = require "cartwright.ops"
local webhooks = require "cartwright.service.webhooks"

local function b64hmac(key, body) return crypto.base64(crypto.hmac_sha256(key, body)) end

---------------------------------------------------------------- verify, per connector
local body = '{"id":820982911946154508,"name":"#1042","total_price":"54.90"}'
local changed = body:gsub("54%.90", "54.91") -- one byte
T.eq(#changed, #body, "the changed body is as long")
local cart = { webhook_secret = "s3cret-Ab" }
local cases = {
  { "shopify", "x-shopify-hmac-sha256", b64hmac(cart.webhook_secret, body), b64hmac("s3cret-Ac", body), true },
  { "woocommerce", "x-wc-webhook-signature", b64hmac(cart.webhook_secret, body), b64hmac("other", body), true },
  -- BigCommerce echoes the secret header it was given: the body is not signed
  { "bigcommerce", "x-cartwright-webhook-secret", cart.webhook_secret, "s3cret-Ac", false },
}
for _, c in ipairs(cases) do
  local name, header, good, bad, signs_body = table.unpack(c)
  local conn = assert(carts.connector(name))
  T.eq(conn.capabilities.webhooks, true, name .. ": declares webhooks")
  local v = conn.webhooks.verify
  T.eq(v(cart, { [header] = good }, body), true, name .. ": right signature accepted")
  local ok, why = v(cart, { [header] = bad }, body)
  T.eq(ok, nil, name .. ": wrong signature refused")
  T.ok(why and not why:find(cart.webhook_secret, 1, true), name .. ": the reason does not carry the secret", why)
  ok, why = v(cart, {}, body)
  T.eq(ok, nil, name .. ": missing header refused")
  T.eq(why, "no " .. header .. " header", name .. ": missing header: says so")
  T.eq(v(cart, { [header] = "" }, body), nil, name .. ": empty header refused")
  T.eq(v({}, { [header] = good }, body), nil, name .. ": a cart without webhook_secret refuses everything")
  if signs_body then
    T.eq(v(cart, { [header] = good }, changed), nil, name .. ": a body changed by one byte refused")
    T.eq(v(cart, { [header] = "not base64!!" }, body), nil, name .. ": garbage refused")
  else
    T.eq(v(cart, { [header] = good }, changed), true, name .. ": the body is not what is checked")
  end
end
local shop = assert(carts.connector("shopify"))
T.eq(shop.webhooks.verify({ client_secret = "app-secret" }, { ["x-shopify-hmac-sha256"] = b64hmac("app-secret", body) }, body),
  true, "shopify: without webhook_secret the app's client_secret signs")
T.eq(shop.webhooks.verify(cart, { ["shopify-hmac-sha256"] = b64hmac(cart.webhook_secret, body) }, body),
  true, "shopify: the header without X- is accepted too")

---------------------------------------------------------------- the simulators and the service
local dir = T.tmpdir()
local sims = { shop = T.sim("shopify", { "--orders", "0" }), big = T.sim("bigcommerce", { "--orders", "0" }),
  woo = T.sim("woocommerce", { "--orders", "0" }) }
local cfg_path = dir .. "/cw.lua"
T.write(cfg_path, string.format([[
db = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", webhook_secret = "shpss_sim_webhook_secret" }
cart "big" { connector = "bigcommerce", url = %q, token = "bc_test", store_hash = "abc123", webhook_secret = "bc-hook-5ecret" }
cart "woo" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test",
  webhook_secret = "wc-hook-5ecret" }
cart "nosecret" { connector = "woocommerce", url = %q, consumer_key = "ck_test", consumer_secret = "cs_test" }
]], dir .. "/cw.db", sims.shop.url, sims.big.url, sims.woo.url, sims.woo.url))

local calls = {}
local s = ops.session(assert(config.load(cfg_path)))
local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  return webhooks.handler(s, req, function(name) calls[#calls + 1] = { cart = name, at = task.monotonic() } end)
    or { status = 404, body = "not mine" }
end })
local base = "http://127.0.0.1:" .. srv.port

local function get(url)
  local res = assert(http.request{ url = url })
  return json.decode(res.body), res.status
end

-- register through the CLI (a separate process: this one serves nothing meanwhile, and needs not)
local want_topics = { shop = 3, big = 3, woo = 2 }
for _, name in ipairs{ "shop", "big", "woo" } do
  local code, out, err = T.cw({ "-c", cfg_path, "webhooks", "register", name, base .. "/webhooks/" .. name }, {}, { timeout = 60 })
  T.eq(code, 0, name .. ": webhooks register exits 0", err .. out)
  T.match(out, "^Registered %a+ webhooks at " .. name .. " for " .. base:gsub("%p", "%%%0") .. "/webhooks/" .. name, name .. ": says so")
  local hooks = get(sims[name].url .. "/_sim/webhooks")
  T.eq(#hooks.hooks, want_topics[name], name .. ": the cart holds one hook per topic")
  T.eq(hooks.hooks[1].url, base .. "/webhooks/" .. name, name .. ": pointing at the service")
end
local code, _, err = T.cw({ "-c", cfg_path, "webhooks", "register", "nosecret", base .. "/webhooks/nosecret" })
T.eq(code, 2, "register without webhook_secret: exit 2")
T.match(err, "set webhook_secret", "register without webhook_secret: says what to set")
code, _, err = T.cw({ "-c", cfg_path, "webhooks", "register", "woo", "ftp://x" })
T.eq(code, 2, "register with a bad URL: exit 2")
T.match(err, "URL must be an http", "register with a bad URL: says why")
T.eq(#get(sims.woo.url .. "/_sim/webhooks").hooks, 2, "nothing more registered by the refused commands")

-- an order placed at each cart: its signed webhook reaches the handler within a second
for _, name in ipairs{ "shop", "big", "woo" } do
  local before = #calls
  local t0 = task.monotonic()
  local res = assert(http.request{ method = "POST", url = sims[name].url .. "/_sim/orders", body = '{"count":1}',
    headers = { ["Content-Type"] = "application/json" } })
  T.eq(json.decode(res.body).webhooks, 1, name .. ": the simulator queued one delivery")
  for _ = 1, 100 do -- bounded: 100 x 10 ms
    if #calls > before then break end
    task.sleep(0.01)
  end
  T.eq(#calls, before + 1, name .. ": exactly one on_valid call")
  T.eq(calls[before + 1] and calls[before + 1].cart, name, name .. ": for this cart")
  if calls[before + 1] then print(string.format("     %s: webhook delivered in %.1f ms", name, (calls[before + 1].at - t0) * 1000)) end
  T.ok(calls[before + 1] and calls[before + 1].at - t0 < 1, name .. ": within a second",
    calls[before + 1] and string.format("%.3f s", calls[before + 1].at - t0))
  local st
  for _ = 1, 100 do -- the simulator counts the delivery once our 200 reached it
    st = get(sims[name].url .. "/_sim/webhooks")
    if st.sent == 1 then break end
    task.sleep(0.01)
  end
  T.eq(st.sent, 1, name .. ": the simulator saw a 200")
  T.eq(st.failed, 0, name .. ": and no failed delivery")
end

-- forged, unsigned, unknown, wrong method: refused, no call
local function post(path, headers, b)
  local res = assert(http.request{ method = "POST", url = base .. path, headers = headers, body = b or body })
  return res.status, json.decode(res.body)
end
local before = #calls
local status, doc = post("/webhooks/shop", { ["X-Shopify-Hmac-Sha256"] = b64hmac("guess", body) })
T.eq(status, 401, "shopify forged: 401")
T.eq(doc.error.code, "unauthorized", "shopify forged: code unauthorized")
T.eq((post("/webhooks/shop", { ["X-Shopify-Hmac-Sha256"] = b64hmac("shpss_sim_webhook_secret", body) }, changed)), 401,
  "shopify: a body changed after signing: 401")
T.eq((post("/webhooks/woo", {})), 401, "woocommerce unsigned: 401")
T.eq((post("/webhooks/big", { ["X-Cartwright-Webhook-Secret"] = "bc-hook-5ecreT" })), 401, "bigcommerce wrong secret: 401")
T.eq((post("/webhooks/nosecret", { ["X-WC-Webhook-Signature"] = b64hmac("", body) })), 401,
  "a cart without webhook_secret: 401 (an empty key signs nothing)")
status, doc = post("/webhooks/nope", {})
T.eq(status, 404, "unknown cart: 404")
T.eq(doc.error.code, "not_found", "unknown cart: code not_found")
T.eq((post("/webhooks/", {})), 404, "no cart named: 404")
T.eq((post("/webhooks/shop/x", {})), 404, "a deeper path: 404")
local res = assert(http.request{ url = base .. "/webhooks/shop" })
T.eq(res.status, 405, "GET: 405")
T.eq(res.headers.allow, "POST", "GET: Allow names POST")
T.eq(#calls, before, "no on_valid call for any of them")
-- a valid one signed here: 200 and a call
status = post("/webhooks/woo", { ["X-WC-Webhook-Signature"] = b64hmac("wc-hook-5ecret", body) })
T.eq(status, 200, "woocommerce signed here: 200")
T.eq(#calls, before + 1, "woocommerce signed here: one call")
T.eq(calls[#calls].cart, "woo", "woocommerce signed here: for woo")
T.eq(webhooks.handler(s, { method = "POST", path = "/api/v1/carts", headers = {}, body = "" }), nil,
  "another path: nil (not this module's route)")

srv:close()
for _, sim in pairs(sims) do sim.stop() end
os.execute("rm -rf " .. dir)
T.done()
