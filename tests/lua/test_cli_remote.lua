-- The CLI's state changes go through a running `serve` of the same database (its admin API),
-- through the real binary against a Shopify simulator: import, hold, release, stock set, stock
-- import, ship-map, ship, outbox retry and sync stop/start each reach the service (its log names
-- the API call) and print what they print without it. Without the API token here, or once the
-- service stopped (or was killed -9), the same commands run here. Every wait is bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local store = require "cartwright.store"

local dir = T.tmpdir()
local shop = T.sim("shopify", { "--orders", "0" })
local cfg, dbpath = dir .. "/cw.lua", dir .. "/cw.db"
T.write(cfg, string.format([[
db = %q
api_token = env "CW_TEST_API_TOKEN"
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", order_prefix = "SH-",
  download_statuses = { "open" }, intervals = { orders = 3600, shipments = 3600 } }
]], dbpath, shop.url))
local TOKEN = { CW_TEST_API_TOKEN = "test-api-token-0123456789" }
local function cw(args, env) return T.cw({ "-c", cfg, table.unpack(args) }, env or TOKEN, { timeout = 60 }) end

local res = assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = '{"count":2}' })
local ids = json.decode(res.body).ids
T.eq(#ids, 2, "2 orders placed at the simulator")

-- the service's own scheduled runs stay out of the way: only the CLI's requests import
T.eq((cw{ "sync", "stop", "shop" }), 0, "sync stop before serve starts (no service yet: here)")
local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" }, TOKEN)
local base = serve.listening()
T.ok(base, "serve listens", serve.err())

-- the API calls the service's log shows, as "METHOD PATH STATUS"
local function api_log()
  local calls = {}
  for line in serve.err():gmatch("[^\n]+") do
    if line:find('msg=api ', 1, true) then
      calls[#calls + 1] = (line:match("method=(%S+)") or "?") .. " " .. (line:match("path=(%S+)") or "?") .. " "
        .. (line:match('status=(%d+)') or "?")
    end
  end
  return calls
end
local function last_call() local c = api_log() return c[#c] end

local code, out, err = cw{ "import", "shop", "--json" }
T.eq(code, 0, "import through the service: exit 0", err)
local r = json.decode(out:match("[^\n]+") or "")
T.eq(r and r.imported, 2, "  imported 2, as printed without a service")
T.eq(last_call(), "POST /api/v1/carts/shop/import 200", "  the service ran it")
T.match(err, "done by the running service", "  the CLI says where it ran")

code, out, err = cw{ "hold", "SH-1001", "--reason", "call the customer" }
T.eq(code, 0, "hold through the service: exit 0", err)
T.match(out, "^held SH%-1001 %(shop:%d+%): call the customer", "  prints the hold")
T.eq(last_call(), "POST /api/v1/orders/SH-1001/hold 200", "  the service held it")
code, out = cw{ "release", "SH-1001", "--note", "called" }
T.eq(code, 0, "release through the service: exit 0")
T.match(out, "^released SH%-1001", "  prints the release")
T.eq(last_call(), "POST /api/v1/orders/SH-1001/release 200", "  the service released it")
code, _, err = cw{ "release", "SH-9999" }
T.eq(code, 1, "release of an unknown order through the service: exit 1")
T.match(err, "SH%-9999", "  the service's error names the order")

code, out = cw{ "stock", "set", "MUG-RED", "12", "--warehouse", "east" }
T.eq(code, 0, "stock set through the service: exit 0")
T.eq(out, "MUG-RED in east: on hand 12\n", "  prints the figure")
T.eq(last_call(), "POST /api/v1/stock 200", "  the service set it")
T.write(dir .. "/stock.csv", "sku,warehouse,quantity\nMUG-RED,main,5\nTEE-BLK-M,main,7\n")
code, out = cw{ "stock", "import", dir .. "/stock.csv" }
T.eq(code, 0, "stock import through the service: exit 0")
T.eq(out, "2 figures set\n", "  prints the count")
T.eq(last_call(), "POST /api/v1/stock 200", "  the service set them")
T.write(dir .. "/bad.csv", "sku,warehouse,quantity\nMUG-RED,main,lots\n")
local calls_before = #api_log()
code, _, err = cw{ "stock", "import", dir .. "/bad.csv" }
T.eq(code, 2, "a bad stock file: exit 2")
T.match(err, "bad%.csv:2: quantity must be a whole number", "  names file:line, read here")
T.eq(#api_log(), calls_before, "  nothing sent to the service")

code, out = cw{ "ship-map", "FREIGHT-LTL", "LTL Freight" }
T.eq(code, 0, "ship-map through the service: exit 0")
T.match(out, "^mapped FREIGHT%-LTL %-> LTL Freight; released %d+ orders", "  prints the mapping")
T.eq(last_call(), "POST /api/v1/ship-map 200", "  the service mapped it")

code, out, err = cw{ "ship", "SH-1002", "--carrier", "UPS", "--tracking", "1Z999AA10123456784" }
T.eq(code, 0, "ship through the service: exit 0", err)
T.match(out, "^shipment %d+ of SH%-1002 %(shop:%d+%): UPS 1Z999AA10123456784", "  prints the shipment")
T.eq(last_call(), "POST /api/v1/shipments 200", "  the service recorded and sent it")
local shipped = json.decode(assert(http.request{ url = shop.url .. "/_sim/shipments/" .. string.format("%.0f", ids[2]) }).body)
T.eq(shipped and shipped.fulfillments and #shipped.fulfillments, 1, "  the cart holds it once")
T.eq(shipped.fulfillments[1].tracking_number, "1Z999AA10123456784", "  with its number")

code, _, err = cw{ "outbox", "retry", "999999" }
T.eq(code, 1, "outbox retry of no entry through the service: exit 1")
T.eq(last_call(), "POST /api/v1/outbox/999999/retry 404", "  the service answered it")

code, out = cw{ "sync", "stop", "shop" }
T.eq(code, 0, "sync stop through the service: exit 0")
T.eq(out, "shop orders: STOPPED\nshop shipments: STOPPED\n", "  both services stopped")
T.eq(last_call(), "POST /api/v1/sync/shop/shipments/stop 200", "  the service stopped them")
code, out = cw{ "sync", "start", "shop", "orders" }
T.eq(out, "shop orders: RUNNING\n", "sync start of one service through the service")
T.eq(last_call(), "POST /api/v1/sync/shop/orders/start 200", "  the service started it")

-- no API token here: the same command runs here, and says why
calls_before = #api_log()
code, out, err = cw({ "hold", "SH-1002", "--reason", "no token here" }, {})
T.eq(code, 0, "hold without the API token: exit 0 (run here)", err)
T.match(out, "^held SH%-1002", "  held")
T.match(err, "has no API token: it runs here", "  says it runs here")
T.eq(#api_log(), calls_before, "  the service got nothing")

-- the service stopped: its address is withdrawn, the CLI runs here without a word about it
serve.signal("TERM")
T.eq(serve.wait(15), 0, "serve stops: exit 0", serve.err())
serve.clean()
local db = assert(store.open(dbpath))
T.eq(#db:endpoint_list{}, 0, "the stopped service withdrew its address")
code, out, err = cw{ "release", "SH-1002" }
T.eq(code, 0, "release with no service: exit 0")
T.match(out, "^released SH%-1002", "  released here")
T.ok(not err:find("service", 1, true), "  no word of a service", err)

-- a service killed -9 leaves its address behind: the CLI sees its process is gone, runs here
serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" }, TOKEN)
local published
for _ = 1, 100 do -- bounded: 10 s
  published = #db:endpoint_list{} == 1
  if published then break end
  os.execute("sleep 0.1")
end
T.ok(published, "a new serve published its address")
serve.signal("KILL")
T.eq(serve.wait(5), 137, "serve killed -9")
local t0 = os.time()
code, out = cw{ "hold", "SH-1001", "--reason", "after a crash" }
T.eq(code, 0, "hold after the service was killed: exit 0")
T.match(out, "^held SH%-1001", "  held here")
T.ok(os.time() - t0 < 10, "  at once")
T.eq(#db:endpoint_list{}, 0, "  the dead service's address is gone")
serve.clean()

-- the token goes to no address but a service of this host on loopback: rows naming another
-- host, or this host on another address, are passed over (nothing is asked of them)
local httpd = require "cartwright.httpd"
local asked = 0
local trap = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function()
  asked = asked + 1
  return { status = 200, body = "{}" }
end })
local task = require "cartwright.task"
local pid, host = task.process()
local now = os.time()
db:endpoint_set{ holder = "serve/another-host/1/0badc0de", url = "http://127.0.0.1:" .. trap.port, started = now, seen = now }
db:endpoint_set{ holder = string.format("serve/%s/%d/0badf00d", host, pid), url = "http://192.0.2.1:8484",
  started = now, seen = now }
code, out, err = cw{ "hold", "SH-1002", "--reason", "forged rows" }
T.eq(code, 0, "hold with forged service rows: exit 0 (run here)", err)
T.match(out, "^held SH%-1002", "  held here")
task.sleep(0.2)
T.eq(asked, 0, "  the row of another host was never sent the token")
T.ok(not err:find("service", 1, true), "  nor was the LAN address tried", err)
trap:close()
db:close()

shop.stop()
os.execute("rm -rf " .. dir)
os.exit(T.done())
