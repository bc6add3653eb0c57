-- The shared suite every cart runs: each cart with a test adapter in tests/carts/ (its
-- simulator a process of its own), all syncing one stock, through the real binary.
-- 1. stock import: every cart shows every figure;
-- 2. an order placed at each cart in turn, imported: every other cart is lowered by exactly the
--    lines of the open orders so far;
-- 3. a second order at each cart, imported, then cancelled at the cart and imported again: the
--    other carts get its lines back;
-- 4. each first order shipped: its cart holds exactly one shipment with our tracking number.
-- CARTS=name,name… runs only those. Every wait is bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local common = require "sim.common"

local function adapters()
  local only = {}
  for name in (os.getenv("CARTS") or ""):gmatch("[%w_]+") do only[name] = true end
  local list = {}
  local p = assert(io.popen("ls " .. T.home .. "/tests/carts"))
  for file in p:lines() do
    local name = file:match("^([%w_]+)%.lua$")
    if name and name ~= "common" and (next(only) == nil or only[name]) then
      local a = require("carts." .. name)
      a.name = name
      list[#list + 1] = a
    end
  end
  p:close()
  table.sort(list, function(x, y) return x.name < y.name end)
  return list
end

local carts = adapters()
T.ok(#carts >= (os.getenv("CARTS") and 1 or 3), "carts with a test adapter: " .. #carts)
local dir = T.tmpdir()
local conf = { string.format("db = %q", dir .. "/cw.db") }
for i, a in ipairs(carts) do
  a.sim = T.sim(a.connector, { "--orders", "0", table.unpack(a.sim_args or {}) })
  a.prefix = string.format("C%d-", i)
  conf[#conf + 1] = string.format('cart %q { connector = %q, url = %q, %s order_prefix = %q, sync_inventory = true,'
    .. ' download_statuses = %s, retry_base_seconds = 0.05, rules = { "status_map", "order_prefix" } }',
    a.name, a.connector, a.sim.url, a.settings, a.prefix, require("carts.common").lua_list(a.open))
end
local cfg = T.write(dir .. "/cw.lua", table.concat(conf, "\n") .. "\n")
local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 120 }) end

---------------------------------------------------------------- 1. stock import
local ON_HAND, catalog, csv = 50, {}, { "sku,warehouse,quantity" }
for _, item in ipairs(common.catalog) do
  catalog[item.sku] = true
  csv[#csv + 1] = item.sku .. ",main," .. ON_HAND
end
T.write(dir .. "/stock.csv", table.concat(csv, "\n") .. "\n")
local code, out, err = cw{ "stock", "import", dir .. "/stock.csv" }
T.eq(code, 0, "stock import and the first push to every cart: exit 0", err .. out)
local sample = { common.catalog[1].sku, common.catalog[#common.catalog].sku }
for _, a in ipairs(carts) do
  local function fig(sku) return tostring(math.tointeger(a.figure(a.sim.url, sku) or -1)) end
  T.eq(fig(sample[1]) .. " " .. fig(sample[2]),
    string.format("%d %d", ON_HAND, ON_HAND), a.name .. ": shows the figures")
end

-- places orders at the cart until one it sells as still to ship is imported (the simulators
-- make some new orders closed or cancelled, as stores have them): the stored order | nil
local function place_open(a)
  for _ = 1, 10 do -- bounded
    local res = assert(http.request{ method = "POST", url = a.sim.url .. "/_sim/orders", body = '{"count":1}',
      headers = { ["Content-Type"] = "application/json" } })
    local id = string.format("%.0f", json.decode(res.body).ids[1])
    local c = cw{ "import", a.name }
    if c ~= 0 then return nil end
    local _, shown = cw{ "orders", "show", a.name .. ":" .. id, "--json" }
    local o = json.decode(shown or "")
    if o and o.number then
      o.id = id
      return o
    end
  end
end

local reserved = {}
local function add(o, sign)
  for _, l in ipairs(o.lines or {}) do
    if catalog[l.sku] then reserved[l.sku] = (reserved[l.sku] or 0) + sign * l.quantity end
  end
end
-- every other cart shows on hand - reserved for the order's SKUs
local function others_show(a, o, what)
  local wrong, first = 0, nil
  for _, b in ipairs(carts) do
    if b ~= a then
      for _, l in ipairs(o.lines or {}) do
        if catalog[l.sku] then
          local got, want = b.figure(b.sim.url, l.sku), ON_HAND - (reserved[l.sku] or 0)
          if got ~= want then
            wrong = wrong + 1
            first = first or string.format("%s %s: got %s, want %d", b.name, l.sku, tostring(got), want)
          end
        end
      end
    end
  end
  T.eq(wrong, 0, a.name .. ": " .. what, first)
  if wrong > 0 and os.getenv("CW_DEBUG") then
    local sku = first:match("^%S+ (%S+):")
    print(select(2, cw{ "stock", "--sku", sku }), select(2, cw{ "outbox" }), select(2, cw{ "orders" }))
  end
end

---------------------------------------------------------------- 2. an order at each cart
local firsts = {}
for _, a in ipairs(carts) do
  local o = place_open(a)
  T.ok(o, a.name .. ": an order to ship was placed and imported")
  if o then
    firsts[a.name] = o
    add(o, 1)
    others_show(a, o, "the other carts are lowered by its lines")
  end
end

---------------------------------------------------------------- 3. a cancellation at each cart
for _, a in ipairs(carts) do
  local o = place_open(a)
  if o then
    add(o, 1)
    others_show(a, o, "a second order lowers the others too")
    local res = assert(http.request{ method = "POST", url = a.sim.url .. "/_sim/orders/" .. o.id,
      body = json.encode{ status = a.cancel }, headers = { ["Content-Type"] = "application/json" } })
    T.eq(res.status, 200, a.name .. ": cancelled at the cart")
    code, _, err = cw{ "import", a.name }
    T.eq(code, 0, a.name .. ": import after the cancellation: exit 0", err)
    add(o, -1)
    others_show(a, o, "cancelled at the cart: the other carts get its lines back")
  else
    T.ok(false, a.name .. ": a second order was placed and imported")
  end
end

---------------------------------------------------------------- 4. shipments
for i, a in ipairs(carts) do
  local o = firsts[a.name]
  if o then
    local tracking = string.format("1ZCW%02d%010d", i, 4242)
    code, out, err = cw{ "ship", o.number, "--carrier", "UPS", "--tracking", tracking }
    T.eq(code, 0, a.name .. ": ship " .. o.number .. ": exit 0", err .. out)
    local held = a.shipments(a.sim.url, o.id) or {}
    local ours = 0
    for _, s in ipairs(held) do if s.tracking == tracking then ours = ours + 1 end end
    T.eq(#held .. " " .. ours, "1 1", a.name .. ": the cart holds exactly one shipment, with our tracking number")
    T.ok(a.status(a.sim.url, o.id) ~= nil, a.name .. ": the order's status at the cart reads", a.status(a.sim.url, o.id))
  end
end

for _, a in ipairs(carts) do a.sim.stop() end
os.execute("rm -rf " .. dir)
return T.done()
