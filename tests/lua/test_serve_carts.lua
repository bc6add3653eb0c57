-- `cartwright serve` with the Shopify, BigCommerce and WooCommerce simulators (each a process of
-- its own), through the real binary: the scheduled imports bring every cart's new orders in on
-- their own; the orders of one cart move the figures at the other two (the inventory service);
-- a cart whose sync is stopped is left alone while the others go on; `sync status` reports
-- every cart's services as run and ok. Every wait is bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"

local dir = T.tmpdir()
local order = { "shopify", "bigcommerce", "woocommerce" }
local carts = {}
for _, name in ipairs(order) do
  local a = require("carts." .. name)
  a.name = name
  a.sim = T.sim(name, { "--orders", "0", table.unpack(a.sim_args or {}) })
  carts[#carts + 1] = a
end
local conf = { string.format("db = %q", dir .. "/cw.db") }
for i, a in ipairs(carts) do
  conf[#conf + 1] = string.format('cart %q { connector = %q, url = %q, %s order_prefix = "S%d-", sync_inventory = true,'
    .. ' download_statuses = %s, intervals = { orders = 1, inventory = 1, shipments = 1 } }',
    a.name, a.connector, a.sim.url, a.settings, i, require("carts.common").lua_list(a.open))
end
local cfg = T.write(dir .. "/cw.lua", table.concat(conf, "\n") .. "\n")
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 60 }) end

-- stock for every catalog SKU, pushed to the three carts before the service starts
local common = require "sim.common"
local csv = { "sku,warehouse,quantity" }
for _, item in ipairs(common.catalog) do csv[#csv + 1] = item.sku .. ",main,60" end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
local code, _, err = cw{ "stock", "import", dir .. "/stock.csv" }
T.eq(code, 0, "stock import: exit 0", err)

-- the ids the store holds of a cart
local function stored(name)
  local _, out = cw{ "orders", "--cart", name, "--json" }
  local ids = {}
  for line in out:gmatch("[^\n]+") do
    local o = json.decode(line)
    if o then ids[o.external_id] = o end
  end
  return ids
end
local function place(a, n)
  local res = assert(http.request{ method = "POST", url = a.sim.url .. "/_sim/orders", body = json.encode{ count = n },
    headers = { ["Content-Type"] = "application/json" } })
  local ids = {}
  for i, id in ipairs(json.decode(res.body).ids) do ids[i] = string.format("%.0f", id) end
  return ids
end
-- waits (bounded) until every id that the cart sells as still open is stored; returns how many
-- of the placed ones are stored
local function until_in(a, ids, want)
  local n = 0
  for _ = 1, 60 do -- bounded: 15 s
    local have = stored(a.name)
    n = 0
    for _, id in ipairs(ids) do if have[id] then n = n + 1 end end
    if n >= want then break end
    os.execute("sleep 0.25")
  end
  return n
end
-- of `ids`, those the cart lets us download now (open): the simulators make some closed
local function open_ids(a, ids)
  local out = {}
  local wanted = {}
  for _, s in ipairs(a.open) do wanted[s] = true end
  for _, id in ipairs(ids) do
    local st = a.status(a.sim.url, id)
    if st and wanted[st] then out[#out + 1] = id end
  end
  return out
end

local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" })

-- 1. scheduled imports at all three carts
local placed = {}
for _, a in ipairs(carts) do placed[a.name] = place(a, 4) end
for _, a in ipairs(carts) do
  local want = #open_ids(a, placed[a.name])
  T.ok(want > 0, a.name .. ": some of the 4 orders are open", want)
  T.eq(until_in(a, placed[a.name], want), want, a.name .. ": serve imported its open orders on its own")
end

-- 2. the sales at one cart move the figures at the other two (import, then the pushes)
local shop, big, woo = carts[1], carts[2], carts[3]
local sold, sku = {}, nil
for _, o in pairs(stored("shopify")) do
  for _, l in ipairs(o.lines or {}) do
    if common.catalog_by_sku[l.sku] then sold[l.sku] = (sold[l.sku] or 0) + l.quantity end
  end
end
for s in pairs(sold) do sku = sku or s end
local figures
for _ = 1, 60 do -- bounded: 15 s; the stock figure each other cart shows for sku
  figures = { big.figure(big.sim.url, sku), woo.figure(woo.sim.url, sku) }
  local reserved = 0
  for _, c in ipairs(carts) do
    for _, o in pairs(stored(c.name)) do
      for _, l in ipairs(o.lines or {}) do if l.sku == sku then reserved = reserved + l.quantity end end
    end
  end
  if figures[1] == 60 - reserved and figures[2] == 60 - reserved then figures.ok = reserved break end
  os.execute("sleep 0.25")
end
T.ok(figures.ok ~= nil, "the other carts show " .. tostring(sku) .. " at 60 less every open order's lines",
  json.encode(figures))

-- 3. a stopped cart is left alone; the others go on
-- the whole cart: with its inventory service running, a push that finds its figure moved (the
-- orders placed there take stock) would import its new orders first
code = cw{ "sync", "stop", "woocommerce" }
T.eq(code, 0, "sync stop woocommerce: exit 0")
os.execute("sleep 1.5") -- a run in flight when it was stopped ends
local woo_new, shop_new = place(woo, 3), place(shop, 3)
local shop_want = #open_ids(shop, shop_new)
T.eq(until_in(shop, shop_new, shop_want), shop_want, "shopify: still imported on its own")
os.execute("sleep 2") -- its interval is 1 s: a run would have come by now
local have, got = stored("woocommerce"), 0
for _, id in ipairs(woo_new) do if have[id] then got = got + 1 end end
T.eq(got, 0, "woocommerce (stopped): none of its new orders imported")
code = cw{ "sync", "start", "woocommerce" }
T.eq(code, 0, "sync start woocommerce: exit 0")
local woo_want = #open_ids(woo, woo_new)
T.eq(until_in(woo, woo_new, woo_want), woo_want, "woocommerce started again: its orders come in")

-- 4. sync status: every cart's services ran, and ok
local _, out = cw{ "sync", "status", "--json" }
local ok_runs, rows, bad = 0, 0, {}
for line in out:gmatch("[^\n]+") do
  local r = json.decode(line)
  if r then
    rows = rows + 1
    if r.result == "ok" and r.state == "RUNNING" then ok_runs = ok_runs + 1 else bad[#bad + 1] = line end
  end
end
T.eq(rows .. " " .. ok_runs, "9 9", "sync status: 3 carts x 3 services, each RUNNING and its last run ok",
  table.concat(bad, "\n"))

serve.signal("TERM")
T.eq(serve.wait(15), 0, "SIGTERM: exit 0", serve.err())
serve.clean()
for _, a in ipairs(carts) do a.sim.stop() end
os.execute("rm -rf " .. dir)
os.exit(T.done())
