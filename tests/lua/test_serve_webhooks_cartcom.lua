-- Cart.com webhooks through `cartwright serve` and the real binary: Cart.com signs nothing, so
-- `cartwright webhooks register` gives the store serve's URL with the cart's webhook_secret as
-- its `key`; the simulator POSTs a NewOrder delivery there for each order placed and serve
-- imports it within seconds (the scheduled poll is an hour away). A delivery with a wrong key
-- or none gets 401 and imports nothing; the key never shows in what register prints. Waits are
-- bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local task = require "cartwright.task"

local dir = T.tmpdir()
local store = T.sim("cartcom", { "--orders", "0", "--plan", "gold" })
local cfg = dir .. "/cw.lua"
local SECRET = "k3y+with/odd&chars"
T.write(cfg, string.format([[
db = %q
cart "cc" { connector = "cartcom", url = %q, token = "ac_test", webhook_secret = env "CC_HOOK",
  download_statuses = { "Pending Processing", "Awaiting Payment", "Shipped", "Cancelled", "Declined",
    "Partially Shipped", "Back Ordered", "Refunded", "On Hold" }, intervals = { orders = 3600, shipments = 3600 } }
]], dir .. "/cw.db", store.url))
local env = { CC_HOOK = SECRET }
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, env, { timeout = 60 }) end
local function stored()
  local _, out = cw{ "orders", "--json" }
  local n = 0
  for _ in out:gmatch("[^\n]+") do n = n + 1 end
  return n
end

local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" }, env)
local url = serve.listening()
T.ok(url ~= nil, "serve listens", serve.err())
os.execute("sleep 2.5") -- its first scheduled run (within 2 s of start) is over: the next is an hour away

local code, out, err = cw{ "webhooks", "register", "cc", url .. "/webhooks/cc" }
T.eq(code, 0, "webhooks register: exit 0", tostring(err) .. tostring(out))
T.ok(not (out .. err):find(SECRET, 1, true) and not (out .. err):find(http.urlencode(SECRET), 1, true),
  "the key is not printed")
local hooks = json.decode(assert(http.request{ url = store.url .. "/_sim/webhooks" }).body).hooks
T.eq(#hooks, 3, "three hooks at the store")
local topics = {}
for i, h in ipairs(hooks) do topics[i] = h.topic end
T.eq(table.concat(topics, ","), "NewOrder,OrderUpdated,OrderStatusChanged", "NewOrder, OrderUpdated, OrderStatusChanged")
T.eq(hooks[1].url, url .. "/webhooks/cc?key=" .. http.urlencode(SECRET), "the URL carries the key, encoded")
-- registering again changes nothing; with a new secret the three hooks are updated, not added
code = cw{ "webhooks", "register", "cc", url .. "/webhooks/cc" }
T.eq(code, 0, "register again: exit 0")
T.eq(#json.decode(assert(http.request{ url = store.url .. "/_sim/webhooks" }).body).hooks, 3, "register again: still three hooks")
code = T.cw({ "-c", cfg, "webhooks", "register", "cc", url .. "/webhooks/cc" }, { CC_HOOK = "rotated" }, { timeout = 60 })
T.eq(code, 0, "register with a new secret: exit 0")
hooks = json.decode(assert(http.request{ url = store.url .. "/_sim/webhooks" }).body).hooks
T.eq(#hooks, 3, "a new secret: the three hooks updated, none added")
T.eq(hooks[2].url, url .. "/webhooks/cc?key=rotated", "a new secret: the URL's key replaced")
code = cw{ "webhooks", "register", "cc", url .. "/webhooks/cc" }
T.eq(code, 0, "back to the first secret")

-- wrong key, no key: 401, nothing imported
local body = '{"order":{"id":1}}'
local h = { ["Content-Type"] = "application/json" }
local bad = http.request{ method = "POST", url = url .. "/webhooks/cc?key=" .. http.urlencode(SECRET .. "x"), body = body, headers = h }
T.eq(bad and bad.status, 401, "a wrong key: 401")
local none = http.request{ method = "POST", url = url .. "/webhooks/cc", body = body, headers = h }
T.eq(none and none.status, 401, "no key: 401")
T.eq(stored(), 0, "nothing imported by them")
T.ok(not serve.err():find(SECRET, 1, true), "serve's log never holds the secret")

-- an order at the store: its NewOrder delivery makes serve import it
assert(http.request{ method = "POST", url = store.url .. "/_sim/orders", body = '{"count":1}', headers = h })
local t0, n = task.monotonic(), 0
for _ = 1, 40 do -- bounded: 10 s
  n = stored()
  if n >= 1 then break end
  os.execute("sleep 0.25")
end
local took = task.monotonic() - t0
T.eq(n, 1, "the webhook made serve import the new order (the poll is an hour away)")
T.ok(took < 5, "within seconds of the order", string.format("%.2f s", took))
local sent = json.decode(assert(http.request{ url = store.url .. "/_sim/webhooks" }).body)
T.eq(sent.sent, 1, "one delivery (NewOrder), accepted")
T.eq(sent.failed, 0, "none refused")

serve.signal("TERM")
T.eq(serve.wait(12), 0, "SIGTERM: exit 0", serve.err())
serve.clean()
store.stop()
os.execute("rm -rf " .. dir)
return T.done()
