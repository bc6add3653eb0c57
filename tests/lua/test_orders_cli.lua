-- The orders-in commands as a merchant runs them: test, import, orders, ship-map, rules,
-- against a Shopify simulator process; and kill -9 in the middle of an import.
local T = require "t"
local task = require "cartwright.task"
local http = require "cartwright.http"
local json = require "cjson.safe"
local store = require "cartwright.store"
local common = require "sim.common"

local dir = T.tmpdir()
local sim = T.sim("shopify", { "--orders", "300", "--seed", "5" })
local env = { ACME_TOKEN = "shpat_test" }

-- the back office's catalog: every simulator SKU, so UNKNOWN-… lines stand out
local csv = { "sku,name" }
for _, item in ipairs(common.catalog) do csv[#csv + 1] = item.sku .. "," .. (item.title or item.sku) end
T.write(dir .. "/products.csv", table.concat(csv, "\n") .. "\n")

local function config(name, extra)
  return T.write(dir .. "/" .. name, string.format([[
db = %q
catalog = %q
cart "acme" {
  connector = "shopify", url = %q, token = env "ACME_TOKEN",
  order_prefix = "SH-", batch_size = 100, %s
}
]], dir .. "/cw.db", dir .. "/products.csv", sim.url, extra or ""))
end
local cfg = config("cw.lua")
local function cw(args, e) return T.cw({ "-c", cfg, table.unpack(args) }, e or env) end

-- test: passed, and each way it can fail
local code, out, err = cw{ "test", "acme" }
T.eq(code, 0, "test: exit 0")
T.match(out, "^Test passed: shopify 2026%-10 %(.+%)", "test: passed line")
code, out = cw({ "test", "acme" }, { ACME_TOKEN = "shpat_wrong" })
T.eq(code, 1, "test with a bad token: exit 1")
T.match(out, "^Test failed: credentials rejected", "test: says the credentials were rejected")
T.ok(not out:find("shpat_wrong"), "test: never prints the token")
local refused = config("refused.lua"):gsub("refused.lua", "refused.lua")
T.write(refused, T.slurp(cfg):gsub(sim.url:gsub("%p", "%%%0"), "http://127.0.0.1:1"))
code, out = T.cw({ "-c", refused, "test", "acme" }, env)
T.eq(code, 1, "test against a closed port: exit 1")
T.match(out, "^Test failed: connection refused", "test: says refused")
local wrong = dir .. "/wrong.lua"
T.write(wrong, T.slurp(cfg):gsub(sim.url:gsub("%p", "%%%0"), sim.url .. "/not-a-shop"))
code, out = T.cw({ "-c", wrong, "test", "acme" }, env)
T.eq(code, 1, "test against a wrong URL: exit 1")
T.match(out, "^Test failed: wrong URL or store", "test: says not found")
code, _, err = cw{ "test", "nosuch" }
T.eq(code, 2, "test of an unknown cart: exit 2")

-- a config whose after-import status would be downloaded again is refused
local loop = config("loop.lua", 'after_import_status = "open",')
code, _, err = T.cw({ "-c", loop, "import", "acme" }, env)
T.eq(code, 2, "after_import_status = a download status: exit 2")
T.match(err, "after_import_status \"open\" is also a download status", "and says why")

-- import
code, out, err = cw{ "import", "acme" }
T.eq(code, 0, "import: exit 0")
local seen, imported, updated, unchanged, held, skipped, sk_status, sk_early = out:match(
  "^acme: seen (%d+), imported (%d+), updated (%d+), unchanged (%d+), held (%d+), skipped (%d+) %(status (%d+), before earliest date (%d+)%)")
T.ok(seen ~= nil, "import: summary line", out)
T.eq(tonumber(seen), 300, "import: saw every order")
T.eq(tonumber(imported) + tonumber(sk_status), 300, "import: imported + skipped by status = seen")

-- orders --json
code, out = cw{ "orders", "--json" }
T.eq(code, 0, "orders --json: exit 0")
local orders, bad, unknown_flagged, held_freight = {}, {}, 0, 0
local function wrong(o, what) bad[#bad + 1] = (o and o.external_id or "?") .. ": " .. what end
for line in out:gmatch("[^\n]+") do
  local o = json.decode(line)
  if not o then wrong(nil, "not JSON") else
    orders[#orders + 1] = o
    for _, k in ipairs{ "cart", "external_id", "number", "status", "cart_status", "created_at", "updated_at" } do
      if type(o[k]) ~= "string" then wrong(o, k .. " is " .. type(o[k])) end
    end
    if not (o.created_at or ""):match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") then wrong(o, "created_at not UTC ISO") end
    if type(o.customer) ~= "table" or type(o.customer.email) ~= "string" then wrong(o, "customer.email") end
    if type(o.shipping) ~= "table" or type(o.lines) ~= "table" then wrong(o, "shipping/lines") end
    if o.number:sub(1, 3) ~= "SH-" then wrong(o, "number without prefix") end
    for _, l in ipairs(o.lines) do
      if type(l.sku) ~= "string" then wrong(o, "line sku") end
      -- cjson decodes every JSON number as a float: check it is whole
      if type(l.quantity) ~= "number" or l.quantity ~= math.floor(l.quantity) or l.quantity < 1 then
        wrong(o, "line quantity " .. tostring(l.quantity))
      end
      if not tostring(l.price):match("^%d+%.%d%d$") then wrong(o, "line price " .. tostring(l.price)) end
      if l.sku and l.sku:match("^UNKNOWN") then
        if l.unknown_sku == true then unknown_flagged = unknown_flagged + 1 else wrong(o, "unknown sku not flagged") end
      elseif l.unknown_sku then wrong(o, "known sku flagged " .. tostring(l.sku)) end
    end
    if o.hold ~= json.null and (type(o.hold) ~= "table" or not o.hold.rule or not o.hold.reason) then wrong(o, "hold") end
    if o.hold ~= json.null and o.hold.rule == "reject_unmapped_shipping" and o.shipping.code == "FREIGHT-LTL" then
      held_freight = held_freight + 1
    end
  end
end
T.eq(#orders, tonumber(imported), "orders --json: one line per imported order")
T.eq(#bad, 0, "orders --json: every order has the documented fields", table.concat(bad, "; "):sub(1, 300))
T.ok(unknown_flagged >= 1, "unknown SKUs kept on their line and flagged", unknown_flagged)
T.ok(held_freight >= 1, "orders with an unmapped shipping code are held", held_freight)
code, out = cw{ "orders", "--held" }
T.match(out, "HELD %[reject_unmapped_shipping%]", "orders --held shows the rule")

-- rules replay with edited rules: shows what would change, writes nothing
os.execute("mkdir -p " .. dir .. "/rules")
T.write(dir .. "/rules/order_prefix.lua", "return { apply = function(order, ctx) order.number = 'NEW-' .. order.number end }\n")
local edited = config("edited.lua"):gsub("edited.lua", "edited.lua")
T.write(edited, T.slurp(edited) .. "rules_dir = " .. string.format("%q", dir .. "/rules") .. "\n")
local before = T.slurp(dir .. "/cw.db")
code, out = T.cw({ "-c", edited, "rules", "replay" }, env)
T.eq(code, 0, "rules replay: exit 0")
local nchanged = tonumber(out:match("replayed %d+ orders: (%d+) would change"))
T.eq(nchanged, #orders, "rules replay: every order's number would change")
T.match(out, "number SH%-%d+ %-> NEW%-%d+", "rules replay: shows before -> after")
code, out = cw{ "orders", "--json" }
T.ok(not out:find('"number":"NEW%-'), "rules replay wrote nothing")
_ = before

-- rules check
code, out = cw{ "rules", "check" }
T.eq(code, 0, "rules check: exit 0")
T.match(out, "ok   [^\n]*/rules/status_map%.lua", "rules check: lists each rule by its real path")
T.write(dir .. "/broken.lua", "return { apply = function(order)\n  return order.lines[1].sku:upper() .. nil\nend }\n")
code, _, err = cw{ "rules", "check", dir .. "/broken.lua" }
T.eq(code, 2, "rules check of a broken rule: exit 2")
T.match(err, "broken%.lua:2:", "rules check: names file:line")
T.write(dir .. "/syntax.lua", "return { apply = function(order) if then end }\n")
code, _, err = cw{ "rules", "check", dir .. "/syntax.lua" }
T.eq(code, 2, "rules check of a syntax error: exit 2")
T.match(err, "syntax%.lua:1:", "syntax error names file:line")

-- ship-map releases every order held for the code
code, out = cw{ "ship-map", "FREIGHT-LTL", "LTL Freight" }
T.eq(code, 0, "ship-map: exit 0")
T.eq(tonumber(out:match("released (%d+) orders")), held_freight, "ship-map: released every order held for the code")
code, out = cw{ "orders", "--json", "--held" }
T.ok(not out:find('"code":"FREIGHT%-LTL"'), "no order held for the mapped code any more")
code, out = cw{ "orders", "--json" }
local flagged_after = 0
for line in out:gmatch("[^\n]+") do
  for _, l in ipairs((json.decode(line) or {}).lines or {}) do
    if l.unknown_sku == true then flagged_after = flagged_after + 1 end
  end
end
T.eq(flagged_after, unknown_flagged, "released orders keep their unknown-SKU flags")
code, out = cw{ "ship-map", "--list" }
T.match(out, "FREIGHT%-LTL%s+%(all carts%)%s+LTL Freight", "ship-map --list")
local db = assert(store.open(dir .. "/cw.db"))
local released_one
for _, r in ipairs(assert(db:orders_list{ cart = "acme" })) do
  local o = json.decode(r.doc)
  if o.shipping.code == "FREIGHT-LTL" then released_one = o end
end
T.eq(released_one and released_one.shipping.method, "LTL Freight", "released orders carry the ship method")
db:close()

-- a second import changes nothing
code, out = cw{ "import", "acme" }
T.match(out, "imported 0, updated 0", "second import: nothing new, nothing rewritten")
code, out = cw{ "carts", "--json" }
local c = json.decode(out)
T.ok(c and c.watermark ~= json.null and c.last_import ~= json.null, "carts shows watermark and last import")
sim.stop()

-- kill -9 in the middle of an import, then rerun: exactly the cart's orders, no duplicates
local big = T.sim("shopify", { "--orders", "2000", "--seed", "9" })
local kcfg = T.write(dir .. "/kill.lua", string.format([[
db = %q
cart "acme" { connector = "shopify", url = %q, token = env "ACME_TOKEN", batch_size = 100 }
]], dir .. "/kill.db", big.url))
assert(http.request{ method = "POST", url = big.url .. "/_sim/faults", body = json.encode{ delay = 0.3, count = 12 } })
os.execute(string.format("ACME_TOKEN=shpat_test %s -c %s import acme >%s/kill.out 2>&1 & echo $! >%s/kill.pid",
  T.q(T.bin), T.q(kcfg), dir, dir))
local pid = T.slurp(dir .. "/kill.pid"):match("%d+")
local partial = 0
for _ = 1, 300 do -- at most 15 s
  task.sleep(0.05)
  local kdb = store.open(dir .. "/kill.db")
  if kdb then
    partial = (kdb:orders_count{} or { n = 0 }).n
    kdb:close()
  end
  if partial > 0 then break end
end
os.execute("kill -9 " .. pid)
task.sleep(0.2)
T.ok(partial > 0, "kill -9 landed after some pages were stored", partial)
code, out = T.cw({ "-c", kcfg, "import", "acme" }, env)
T.eq(code, 0, "rerun after kill -9 succeeds")
local fresh = T.write(dir .. "/fresh.lua", (T.slurp(kcfg):gsub("kill%.db", "fresh.db")))
code = T.cw({ "-c", fresh, "import", "acme" }, env)
T.eq(code, 0, "a clean import for comparison")
local a, b = assert(store.open(dir .. "/kill.db")), assert(store.open(dir .. "/fresh.db"))
local ca, cb = a:orders_count{}, b:orders_count{}
T.ok(ca.n > partial, "the rerun finished the job", ca.n)
T.eq(ca.n, cb.n, "after kill -9 + rerun: the same number of orders as a clean run")
T.eq(ca.n, ca.distinct_n, "no duplicates")
local ids = {}
for _, r in ipairs(b:orders_list{}) do ids[r.external_id] = true end
local missing = 0
for _, r in ipairs(a:orders_list{}) do if not ids[r.external_id] then missing = missing + 1 end end
T.eq(missing, 0, "the same orders as a clean run")
a:close()
b:close()
big.stop()
os.execute("rm -rf " .. dir)
return T.done()
