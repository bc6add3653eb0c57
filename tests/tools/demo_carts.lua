-- `make demo CARTS=a,b,…` (and the end of the default demo): one order flow per cart, each
-- against its local simulator (tests/carts/<name>.lua says how): the connection test, an order
-- placed at the cart and imported, the other carts' stock lowered by it, a shipment sent back.
-- Usage: cartwright run tests/tools/demo_carts.lua CART[,CART…] WORKDIR
-- Loopback only; exits non-zero when a step fails.
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local common = require "sim.common"

local bin = os.getenv("CW_BIN") or "build/cartwright"
local work = assert(arg[2], "usage: demo_carts.lua CART[,CART…] WORKDIR")
local function slurp(p) local f = io.open(p) if not f then return "" end local s = f:read("a") f:close() return s end
local function write(p, s) local f = assert(io.open(p, "w")) f:write(s) f:close() end
local function say(s) io.write("\n\27[1m== ", s, "\27[0m\n") io.flush() end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local carts, pids = {}, {}
for name in arg[1]:gmatch("[%w_]+") do
  local ok, a = pcall(require, "carts." .. name)
  if not ok then
    io.stderr:write("demo: no cart '", name, "' (tests/carts/ has one file per cart)\n")
    os.exit(2)
  end
  a.name = name
  carts[#carts + 1] = a
end

local function cleanup() for _, p in ipairs(pids) do os.execute("kill " .. p .. " 2>/dev/null") end end

-- runs the CLI with the demo's config, echoing the command; returns its output (and whether it
-- succeeded, when may_fail: else a failure ends the demo)
local function cw(args, quiet, may_fail)
  local line = table.concat(args, " ")
  if not quiet then io.write("$ cartwright ", line, "\n") io.flush() end
  local parts = {}
  for i, x in ipairs(args) do parts[i] = q(x) end
  local out = work .. "/cw.out"
  local ok = os.execute(string.format("CARTWRIGHT_CONFIG=%s %s --log-level warn %s >%s 2>&1", q(work .. "/carts.lua"),
    bin, table.concat(parts, " "), out))
  local text = slurp(out)
  if not quiet then io.write(text) end
  if may_fail then return text, ok end
  if not ok then
    io.stderr:write("demo: cartwright ", line, " failed\n", quiet and text or "")
    cleanup()
    os.exit(1)
  end
  return text
end

say("Starting local simulators: " .. arg[1])
for _, a in ipairs(carts) do
  local out = work .. "/" .. a.name .. ".sim"
  os.remove(out) -- an earlier run's file would give the old address
  local extra = {}
  for k, x in ipairs(a.sim_args or {}) do extra[k] = q(x) end
  os.execute(string.format("%s sim %s --port 0 --orders 5 --seed 42 %s >%s 2>%s.err </dev/null & echo $! >%s.pid",
    bin, a.connector, table.concat(extra, " "), out, out, out))
  pids[#pids + 1] = slurp(out .. ".pid"):match("%d+")
  for _ = 1, 400 do -- bounded: 20 s
    a.url = slurp(out):match("(http://127%.0%.0%.1:%d+)")
    if a.url then break end
    task.sleep(0.05)
  end
  if not a.url then
    io.stderr:write("demo: the ", a.name, " simulator did not start: ", slurp(out .. ".err"))
    cleanup()
    os.exit(1)
  end
  io.write(string.format("  %-12s %s\n", a.name, a.url))
end

local conf = { string.format("db = %q", work .. "/carts.db") }
for i, a in ipairs(carts) do
  conf[#conf + 1] = string.format('cart %q { connector = %q, url = %q, %s order_prefix = %q, sync_inventory = true,'
    .. ' download_statuses = %s }', a.name, a.connector, a.url, a.settings,
    string.upper(a.name:sub(1, 2)) .. i .. "-", require("carts.common").lua_list(a.open))
end
write(work .. "/carts.lua", table.concat(conf, "\n") .. "\n")
-- a tenth of the catalog: a Cart.com store takes one call per figure, 5 a second at best
local csv, stocked = { "sku,warehouse,quantity" }, {}
for i, item in ipairs(common.catalog) do
  if i % 10 == 1 then
    csv[#csv + 1] = item.sku .. ",main,40"
    stocked[item.sku] = true
  end
end
write(work .. "/carts.csv", table.concat(csv, "\n") .. "\n")
cw({ "stock", "import", work .. "/carts.csv" }, true)
for _, a in ipairs(carts) do cw({ "import", a.name }, true) end -- each cart's own orders first

-- what the other carts show for sku
local function others(a, sku)
  local parts = {}
  for _, b in ipairs(carts) do
    if b ~= a then
      local n = b.figure(b.url, sku)
      parts[#parts + 1] = string.format("%s %s", b.name, n and string.format("%.0f", n) or "-")
    end
  end
  return #parts > 0 and table.concat(parts, "   ") or "(no other cart)"
end

for i, a in ipairs(carts) do
  say(a.name .. ": an order at the cart comes in, lowers the others, and goes back shipped")
  cw{ "test", a.name }
  local order
  -- bounded: the simulators make some new orders closed or cancelled; the demo wants an open
  -- one with a SKU in stock
  for _ = 1, 30 do
    local res = assert(http.request{ method = "POST", url = a.url .. "/_sim/orders", body = '{"count":1}',
      headers = { ["Content-Type"] = "application/json" } })
    local id = string.format("%.0f", json.decode(res.body).ids[1])
    cw({ "import", a.name }, true)
    local shown, stored = cw({ "orders", "show", a.name .. ":" .. id, "--json" }, true, true)
    order = stored and json.decode(shown) or nil
    local sku
    for _, l in ipairs(order and order.lines or {}) do if stocked[l.sku] then sku = sku or l.sku end end
    if order and order.number and sku then
      order.id, order.sku = id, sku
      break
    end
    order = nil
  end
  if not order then
    io.stderr:write("demo: no order to ship came in from ", a.name, "\n")
    cleanup()
    os.exit(1)
  end
  local sku = order.sku
  io.write(string.format("  a customer bought at %s: order %s (%s), %s\n", a.name, order.number, order.id,
    (function()
      local l = {}
      for k, x in ipairs(order.lines) do l[k] = string.format("%s x%d", tostring(x.sku), x.quantity) end
      return table.concat(l, ", ")
    end)()))
  io.write("  imported; the other carts now show for ", tostring(sku), ": ", others(a, sku), "\n")
  cw{ "ship", order.number, "--carrier", "UPS", "--tracking", string.format("1ZDEMO%02d%06d", i, 4242) }
  local held = a.shipments(a.url, order.id) or {}
  local list = {}
  for k, s in ipairs(held) do list[k] = tostring(s.carrier) .. " " .. tostring(s.tracking) end
  io.write(string.format("  at the cart: order %s is '%s', %d shipment(s): %s\n", order.id,
    tostring(a.status(a.url, order.id)), #held, table.concat(list, "; ")))
end
cleanup()
return 0
