-- `cartwright serve` and webhooks, through the real binary: the scheduled poll is an hour away,
-- so only a webhook can bring an order in. The Shopify simulator, with serve's webhook URL
-- registered (`cartwright webhooks register`), signs a webhook for each order placed: serve
-- imports it within seconds; a forged webhook gets 401 and imports nothing. Waits are bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local task = require "cartwright.task"

local dir = T.tmpdir()
local shop = T.sim("shopify", { "--orders", "0" })
local cfg = dir .. "/cw.lua"
T.write(cfg, string.format([[
db = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", webhook_secret = "whsec_test",
  download_statuses = { "open", "closed", "cancelled" }, intervals = { orders = 3600, shipments = 3600 } }
]], dir .. "/cw.db", shop.url))
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 60 }) end
local function stored()
  local _, out = cw{ "orders", "--json" }
  local n = 0
  for _ in out:gmatch("[^\n]+") do n = n + 1 end
  return n
end

local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" })
local url = serve.listening()
T.ok(url ~= nil, "serve listens", serve.err())
os.execute("sleep 2.5") -- its first scheduled run (within 2 s of start) is over: the next is an hour away

-- the shop signs with the app's secret, the one the cart's webhook_secret holds
assert(http.request{ method = "POST", url = shop.url .. "/_sim/webhooks", body = '{"secret":"whsec_test"}',
  headers = { ["Content-Type"] = "application/json" } })
local code, out, err = cw{ "webhooks", "register", "shop", url .. "/webhooks/shop" }
T.eq(code, 0, "webhooks register: exit 0", tostring(err) .. tostring(out))

-- a forged webhook: 401, nothing imported
local forged = http.request{ method = "POST", url = url .. "/webhooks/shop", body = '{"id":1}',
  headers = { ["Content-Type"] = "application/json", ["X-Shopify-Hmac-Sha256"] = "Zm9yZ2Vk" } }
T.eq(forged and forged.status, 401, "a forged webhook: 401")

-- an order at the shop: its signed webhook makes serve import it
assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = '{"count":1}',
  headers = { ["Content-Type"] = "application/json" } })
local t0, n = task.monotonic(), 0
for _ = 1, 40 do -- bounded: 10 s
  n = stored()
  if n >= 1 then break end
  os.execute("sleep 0.25")
end
local took = task.monotonic() - t0
T.eq(n, 1, "the webhook made serve import the new order (the poll is an hour away)")
T.ok(took < 5, "within seconds of the order", string.format("%.2f s", took))

-- a burst of 100 valid webhooks at once is one or two imports, not a hundred
local function orders_runs()
  local _, rout = cw{ "runs", "shop", "--json" }
  local runs = 0
  for line in rout:gmatch("[^\n]+") do
    local r = json.decode(line)
    if r and r.service == "orders" then runs = runs + 1 end
  end
  return runs
end
local before = orders_runs()
local crypto = require "cartwright.crypto"
local body = '{"id":1,"topic":"orders/updated"}'
local sig = crypto.base64(crypto.hmac_sha256("whsec_test", body))
local hs, accepted = {}, 0
for i = 1, 100 do
  hs[i] = task.spawn(function()
    local r = http.request{ method = "POST", url = url .. "/webhooks/shop", body = body,
      headers = { ["Content-Type"] = "application/json", ["X-Shopify-Hmac-Sha256"] = sig } }
    if r and r.status == 200 then accepted = accepted + 1 end
  end)
end
for _, h in ipairs(hs) do h:wait() end
T.eq(accepted, 100, "a burst of 100 signed webhooks: all answered 200")
local after, last, settled = before, -1, 0
for _ = 1, 40 do -- bounded: 10 s; settled once no new run for 1 s
  after = orders_runs()
  if after == last then settled = settled + 1 else settled = 0 end
  last = after
  if settled >= 4 and after > before then break end
  os.execute("sleep 0.25")
end
T.ok(after - before >= 1 and after - before <= 2, "  they made one or two imports", after - before)

serve.signal("TERM")
T.eq(serve.wait(12), 0, "SIGTERM: exit 0", serve.err())
serve.clean()
shop.stop()
os.execute("rm -rf " .. dir)
return T.done()
