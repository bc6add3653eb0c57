-- The connector kit through the real binary: `connector check` passes every check for every
-- shipped connector against its simulator and fails with exact messages for broken test
-- connectors (a repeated order, a quantity as text); `connector new` writes a package that
-- loads and passes the check against its own simulator skeleton (found through connectors_dir);
-- bad and taken names; unknown connectors say where they were looked for; a connector's own
-- status table is what status_map uses when it has none for that connector.
local T = require "t"
local jraw = require "cartwright.jsonraw"

local dir = T.tmpdir()
local env = { SHOP_TOKEN = "shpat_test" }
local CHECKS = { "connection", "paging", "model", "reimport", "overlap", "faults" }

local function check_all_ok(name, out, code, err)
  T.eq(code, 0, name .. ": connector check exits 0", err)
  for _, c in ipairs(CHECKS) do T.match(out, "\nok   " .. c .. " %(" , name .. ": ok   " .. c) end
  T.ok(not out:find("FAIL", 1, true) and not out:find("skip", 1, true), name .. ": no FAIL, no skip", out)
end

local function cli(args, cfg, e)
  return T.cw({ "run", T.home .. "/tests/tools/cli.lua", "-c", cfg, table.unpack(args) }, e or env, { timeout = 120 })
end

-- every shipped connector with a test adapter (tests/carts/), each against its simulator
-- (`check_orders`: a cart whose quota is spent by sub-requests per order gets fewer)
local shipped = {}
do
  local p = assert(io.popen("ls " .. T.home .. "/tests/carts"))
  for file in p:lines() do
    local name = file:match("^([%w_]+)%.lua$")
    if name and name ~= "common" then shipped[#shipped + 1] = name end
  end
  p:close()
  table.sort(shipped)
end
T.ok(#shipped >= 3, "connectors with a test adapter: " .. table.concat(shipped, ", "))
local sims = {}
for _, name in ipairs(shipped) do
  local a = require("carts." .. name)
  local args = { "--orders", tostring(a.check_orders or 25), "--seed", "5", table.unpack(a.sim_args or {}) }
  sims[name] = { T.sim(a.connector, args),
                 name == "shopify" and 'token = env "SHOP_TOKEN",' or a.settings }
end
local carts = {}
for _, name in ipairs(shipped) do
  carts[#carts + 1] = string.format('cart "%s" { connector = "%s", url = %q, %s retry_base_seconds = 0.05 }',
    name, name, sims[name][1].url, sims[name][2])
end
local shop = sims.shopify[1].url
carts[#carts + 1] = string.format('cart "rep" { connector = "repeating_shopify", url = %q, token = "shpat_test", batch_size = 10 }', shop)
carts[#carts + 1] = string.format('cart "txt" { connector = "text_quantity_shopify", url = %q, token = "shpat_test" }', shop)
carts[#carts + 1] = 'cart "down" { connector = "shopify", url = "http://127.0.0.1:9", token = "shpat_test", max_attempts = 1 }'
local cfg = T.write(dir .. "/cw.lua", string.format("db = %q\n%s\n", dir .. "/merchant.db", table.concat(carts, "\n")))

for _, name in ipairs(shipped) do
  local t0 = os.time()
  local code, out, err = T.cw({ "-c", cfg, "connector", "check", name }, env, { timeout = 120 })
  check_all_ok(name, "\n" .. out, code, err)
  T.match(out, "faults %(429 and 500 survived%)", name .. ": a 429 and a 500 survived")
  print("     (" .. name .. ": " .. (os.time() - t0) .. " s)")
end
T.ok(not io.open(dir .. "/merchant.db", "rb"), "the merchant's database is never opened or created by the check")

-- --json: one object per check, then the summary
local code, out = T.cw({ "-c", cfg, "connector", "check", "shopify", "--json", "--write" }, env, { timeout = 120 })
T.eq(code, 0, "--json --write: exit 0")
local lines = {}
for l in out:gmatch("[^\n]+") do lines[#lines + 1] = jraw.decode(l) end
T.eq(#lines, 7, "--json: 6 checks and a summary")
T.eq(lines[1].check, "connection", "--json: the first check is connection")
T.eq(lines[7].ok, true, "--json: summary ok")
T.eq(lines[7].written, false, "--json --write: nothing written")
code, out = T.cw({ "-c", cfg, "connector", "check", "shopify", "--write" }, env, { timeout = 120 })
T.match(out, "^note: %-%-write: this connector has no write capabilities yet; nothing is written", "--write says nothing is written")

-- broken test connectors: the failure named exactly
code, out = cli({ "connector", "check", "rep" }, cfg)
T.eq(code, 1, "repeating connector: exit 1")
T.match(out, "ok   connection", "repeating connector: the connection is fine")
local rep = out:match("FAIL paging: ([^\n]*)")
T.ok(rep ~= nil, "repeating connector: FAIL paging", out)
local first = rep and rep:match("^order (%d+) on page 1 and again on page 2 %(pages of 10%)")
T.ok(first ~= nil, "the repeated order named with its pages: " .. tostring(rep))

code, out = cli({ "connector", "check", "txt" }, cfg)
T.eq(code, 1, "text quantity connector: exit 1")
local txt = out:match("FAIL model: ([^\n]*)")
T.ok(txt ~= nil, "text quantity connector: FAIL model", out)
T.match(txt or "", '^order %d*3: lines%[%d+%]%.quantity: expected integer, got string "%d"',
  "the model error with the order id: " .. tostring(txt))
T.match(out, "ok   paging", "text quantity connector: its paging is fine")

code, out = T.cw({ "-c", cfg, "connector", "check", "down" }, env, { timeout = 60 })
T.eq(code, 1, "unreachable cart: exit 1")
T.match(out, "^FAIL connection: test failed: ", "unreachable cart: FAIL connection")
T.match(out, "\nskip paging: not run: the connection failed", "the rest not run")

code, _, err = T.cw({ "-c", cfg, "connector", "check", "nope" }, env)
T.eq(code, 2, "no such cart: exit 2")

-- connector new
local cdir = T.tmpdir()
code, out, err = T.cw({ "connector", "new", "acme_cart", "--dir", cdir })
T.eq(code, 0, "connector new: exit 0", err)
T.eq(out, string.format("wrote %s/acme_cart/init.lua\nwrote %s/acme_cart/orders.lua\nwrote %s/acme_cart/sim.lua\n"
  .. "next: fill in %s/acme_cart/orders.lua, then `cartwright connector check CART` (docs/connectors.md)\n",
  cdir, cdir, cdir, cdir), "connector new: the files written")
code, _, err = T.cw({ "connector", "new", "acme_cart", "--dir", cdir })
T.eq(code, 2, "connector new: an existing name, exit 2")
T.eq(err, "cartwright: connector 'acme_cart' exists already: " .. cdir .. "/acme_cart\n", "connector new: says so")
code, _, err = T.cw({ "connector", "new", "shopify", "--dir", cdir })
T.eq(code, 2, "connector new: a shipped name, exit 2")
T.match(err, "connector 'shopify' exists already: .*/connectors/shopify\n$", "connector new: the shipped one named")
code, _, err = T.cw({ "connector", "new", "Bad-Name", "--dir", cdir })
T.eq(code, 2, "connector new: a bad name, exit 2")
T.match(err, "bad connector name 'Bad%-Name'", "connector new: the bad name said")

-- the generated package loads (connector.load) through connectors_dir
local connector = require "cartwright.connector"
local c = require "cartwright.carts"
local conn, lerr = connector.load("acme_cart", c.common, cdir)
T.ok(conn ~= nil, "the generated package loads", lerr)
T.eq(conn and conn.file, cdir .. "/acme_cart/init.lua", "from connectors_dir")
T.eq(conn and conn.statuses.paid, "payment_received", "with its status table")
local _, uerr = connector.load("nothing_here", c.common, cdir)
T.eq(uerr, "unknown connector 'nothing_here' (looked in " .. package.cartwright_home .. "/connectors and " .. cdir .. ")",
  "unknown connector: where it looked")

-- and passes the check against its simulator skeleton
local gsim = T.sim(cdir .. "/acme_cart/sim.lua", { "--orders", "12" })
local gcfg = T.write(dir .. "/gen.lua", string.format([[
db = %q
connectors_dir = %q
cart "acme" { connector = "acme_cart", url = %q, token = "acme_cart_test", retry_base_seconds = 0.05 }
]], dir .. "/gen.db", cdir, gsim.url))
code, out, err = T.cw({ "-c", gcfg, "connector", "check", "acme" }, {}, { timeout = 120 })
check_all_ok("generated", "\n" .. out, code, err)
T.match(out, "paging %(12 orders: ", "generated: its simulator's 12 orders")

-- status_map uses the connector's own table: no order held for its status
code, out, err = T.cw({ "-c", gcfg, "import", "acme", "--json" }, {}, { timeout = 60 })
T.eq(code, 0, "generated: import exit 0", err)
code, out = T.cw({ "-c", gcfg, "orders", "--json" }, {})
local n, by_status, held = 0, {}, 0
for l in out:gmatch("[^\n]+") do
  local o = jraw.decode(l)
  n = n + 1
  by_status[o.status] = (by_status[o.status] or 0) + 1
  if type(o.hold) == "table" and tostring(o.hold.rule) == "status_map" then held = held + 1 end
end
T.ok(n > 0, "generated: orders imported", n)
T.eq(held, 0, "generated: none held by status_map")
T.eq(by_status.payment_received, n, "generated: its paid orders are payment_received (the connector's table)")
local bad = T.write(dir .. "/bad.lua", string.format([[
connectors_dir = %q
cart "x" { connector = "missing_one", url = "http://127.0.0.1:9", token = "tttt" }
]], cdir))
code, _, err = T.cw({ "-c", bad, "connector", "check", "x" }, {})
T.eq(code, 2, "a config naming an unknown connector: exit 2")
T.match(err, "unknown connector 'missing_one' %(looked in .*/connectors and " .. cdir:gsub("%p", "%%%0") .. "%)",
  "the config error says where it looked")

gsim.stop()
for _, s in pairs(sims) do s[1].stop() end
os.execute("rm -rf " .. dir .. " " .. cdir)
os.exit(T.done())
