-- What an operator does with orders, through the real binary against a Shopify simulator
-- process: orders show, release and hold (and what re-imports do to them), folders and tags
-- set by rules, rules replay --apply, rules check --sample, import --json counts, a connector's
-- Lua error failing only its cart, JSON lists that stay lists, and the command table.
local T = require "t"
local http = require "cartwright.http"
local json = require "cjson.safe"

local dir = T.tmpdir()
local sim = T.sim("shopify", { "--orders", "40", "--seed", "3" })
local env = { ACME_TOKEN = "shpat_test" }

-- rules: orders over 150.00 go to the folder "big" with the tag "vip"
local rdir = T.tmpdir()
T.write(rdir .. "/big.lua", [[
return { apply = function(order, ctx)
  if (tonumber(order.totals.total) or 0) > 150 then
    order.folder = "big"
    ctx.tag(order, "vip")
  end
end }
]])

local function config(name, extra, carts_extra)
  return T.write(dir .. "/" .. name, string.format([[
db = %q
rules_dir = %q
cart "acme" {
  connector = "shopify", url = %q, token = env "ACME_TOKEN", order_prefix = "SH-",
  rules = { "status_map", "order_prefix", "big", "reject_unmapped_shipping" }, %s
}
%s
]], dir .. "/cw.db", rdir, sim.url, extra or "", carts_extra or ""))
end
local cfg = config("cw.lua")
local function cw(args, c) return T.cw({ "-c", c or cfg, table.unpack(args) }, env, { timeout = 60 }) end
local function sim_post(path, body)
  local res = assert(http.request{ method = "POST", url = sim.url .. path, body = json.encode(body),
                                   headers = { ["Content-Type"] = "application/json" } })
  return json.decode(res.body)
end

-- import --json: counts as numbers
local code, out, err = cw{ "import", "acme", "--json" }
T.eq(code, 0, "import --json: exit 0", err)
local r = require("cartwright.jsonraw").decode(out) -- (integers stay integers, unlike cjson)
T.ok(r and math.type(r.seen) == "integer" and r.seen == 40, "import --json: seen is a number (40)", out)
for _, k in ipairs{ "imported", "updated", "unchanged", "held", "skipped" } do
  T.eq(math.type(r and r[k]), "integer", "import --json: " .. k .. " is a number")
end
T.eq(r.imported + r.skipped, 40, "import --json: imported + skipped = seen")

-- the listing: folders, tags, filters
code, out = cw{ "orders", "--json" }
local all, big_n, held_n = {}, 0, 0
for line in out:gmatch("[^\n]+") do
  local o = json.decode(line)
  all[#all + 1] = o
  if o.folder == "big" then big_n = big_n + 1 end
  if o.hold ~= json.null then held_n = held_n + 1 end
end
T.eq(#all, r.imported, "orders --json: every order")
T.ok(big_n > 0 and big_n < #all, "a rule put some orders in the folder big", big_n)
local vip_ok = 0
for _, o in ipairs(all) do
  if o.folder == "big" and o.tags[1] == "vip" and #o.tags == 1 then vip_ok = vip_ok + 1 end
  if o.folder ~= "big" and not (out:find('"tags":[]', 1, true)) then vip_ok = -1000 end
end
T.eq(vip_ok, big_n, "and tagged them vip; the others have tags [] (a list, never {})")
T.ok(out:find('"properties":[]', 1, true) ~= nil, "an empty list of the order stays [] in --json")
T.ok(not out:find('"properties":{}', 1, true) and not out:find('"discounts":{}', 1, true), "never {}")
code, out = cw{ "orders", "--folder", "big", "--json" }
local n = 0
for _ in out:gmatch("[^\n]+") do n = n + 1 end
T.eq(n, big_n, "orders --folder big: only those")
code, out = cw{ "orders", "--tag", "vip" }
T.match(out, "#vip", "the listing shows the tags")
T.eq(tonumber(out:match("(%d+) orders\n$")), big_n, "orders --tag vip: only those")

-- orders show: by number and by CART:ID, human and JSON, with the history
local one
for _, o in ipairs(all) do if o.hold ~= json.null then one = o break end end
code, out = cw{ "orders", "show", one.number }
T.eq(code, 0, "orders show NUMBER: exit 0")
T.match(out, "HELD%s+%[rule reject_unmapped_shipping%]", "orders show: the hold, with its kind")
T.match(out, "history\n%s+%S+%s+held%s+shipping code", "orders show: the history starts with the held event")
T.match(out, "lines\n%s+1%s+%S+", "orders show: the lines")
code, out = cw{ "orders", "show", "acme:" .. one.external_id, "--json" }
T.eq(code, 0, "orders show CART:ID --json: exit 0")
local shown = json.decode(out)
T.ok(shown and shown.number == one.number and shown.hold.kind == "rule" and #shown.events == 1
  and shown.events[1].kind == "held", "orders show --json: the order, its hold kind and its events", out:sub(1, 200))
code, _, err = cw{ "orders", "show", "SH-999999" }
T.eq(code, 1, "orders show of an unknown number: exit 1")
T.match(err, "no order numbered SH%-999999", "and says so")

-- release: waives the hold, recorded with the note
code, out = cw{ "release", one.number, "--note", "checked by Ann" }
T.eq(code, 0, "release: exit 0")
T.match(out, "released " .. one.number:gsub("%-", "%%-") .. " .*waived %[rule reject_unmapped_shipping%]", "release: says what it waived")
code, out = cw{ "orders", "show", one.number, "--json" }
shown = json.decode(out)
T.ok(shown.hold == json.null, "released: no hold")
local last = shown.events[#shown.events]
T.ok(last.kind == "released" and last.note == "checked by Ann" and last.detail:find("waived"), "released: an event with the note", out:sub(-300))
code, _, err = cw{ "release", one.number }
T.eq(code, 1, "release of an order not held: exit 1")
T.match(err, "is not held", "and says so")

-- re-importing it unchanged keeps it released; a change at the cart runs the rules again
code = cw{ "import", "acme" }
T.eq(code, 0, "re-import: exit 0")
code, out = cw{ "orders", "show", one.number, "--json" }
T.ok(json.decode(out).hold == json.null, "re-imported unchanged: still released")
sim_post("/_sim/orders/" .. one.external_id, { fields = { note = "gift wrap please" } })
code = cw{ "import", "acme" }
code, out = cw{ "orders", "show", one.number, "--json" }
shown = json.decode(out)
T.ok(shown.hold ~= json.null and shown.hold.rule == "reject_unmapped_shipping", "changed at the cart: the rules hold it again")
local kinds = {}
for _, e in ipairs(shown.events) do kinds[#kinds + 1] = e.kind end
T.eq(table.concat(kinds, ","), "held,released,updated,held", "and the history says so")

-- hold: an operator's hold stays through changes at the cart until an operator releases it
local other
for _, o in ipairs(all) do if o.hold == json.null then other = o break end end
if not other then
  code, out = cw{ "ship-map", "Standard", "UPS Ground" }
  for _, o in ipairs(all) do if o.shipping.code == "Standard" then other = o break end end
end
code, _, err = cw{ "hold", other.number }
T.eq(code, 2, "hold without --reason: exit 2")
T.match(err, "%-%-reason is required", "and says what is missing")
code, out = cw{ "hold", other.number, "--reason", "fraud check", "--note", "call the customer" }
T.eq(code, 0, "hold: exit 0")
sim_post("/_sim/orders/" .. other.external_id, { status = "paid", touch = true })
code = cw{ "import", "acme" }
code, out = cw{ "orders", "show", other.number, "--json" }
shown = json.decode(out)
T.ok(shown.hold ~= json.null and shown.hold.kind == "operator" and shown.hold.reason == "fraud check",
  "an operator's hold stays through a change at the cart", out:sub(1, 300))
code, out = cw{ "orders", "--held" }
T.match(out, "HELD %[operator%] fraud check", "the listing shows the operator's hold")
code = cw{ "release", other.number, "--note", "cleared" }
code, out = cw{ "orders", "show", other.number, "--json" }
shown = json.decode(out)
T.ok(shown.hold == json.null or shown.hold.kind ~= "operator", "released by an operator: the operator's hold is gone")

-- rules replay: every changed field, and --apply writes them
T.write(rdir .. "/big.lua", [[
return { apply = function(order, ctx)
  if (tonumber(order.totals.total) or 0) > 100 then
    order.folder = "big"
    ctx.tag(order, "vip")
    ctx.tag(order, "over100")
  end
end }
]])
code, out = cw{ "rules", "replay" }
T.eq(code, 0, "rules replay: exit 0")
local would = tonumber(out:match("replayed %d+ orders: (%d+) would change"))
T.ok(would and would > 0, "rules replay: the new threshold changes orders", out:sub(-200))
T.match(out, "tags vip %-> over100,vip", "rules replay: shows tag changes")
T.match(out, "folder new %-> big", "rules replay: shows folder changes")
code, out = cw{ "rules", "replay", "--apply" }
T.match(out, "replayed %d+ orders: " .. would .. " changed, " .. would .. " written", "rules replay --apply: writes them")
code, out = cw{ "rules", "replay" }
T.match(out, "replayed %d+ orders: 0 would change", "after --apply: nothing left to change")
code, out = cw{ "orders", "--tag", "over100" }
T.ok(tonumber(out:match("(%d+) orders\n$")) >= would, "the written tags are in the store")

-- rules check --sample: your own orders, as orders --json prints them
code, out = cw{ "orders", "--json" }
T.write(dir .. "/sample.jsonl", out)
code, out = cw{ "rules", "check", "--sample", dir .. "/sample.jsonl" }
T.eq(code, 0, "rules check --sample: exit 0")
local lines_ = 0
for _ in out:gmatch("[^\n]+") do lines_ = lines_ + 1 end
T.eq(lines_, #all, "rules check --sample: a line per order")
T.match(out, "held SH%-%d+: held by reject_unmapped_shipping", "rules check --sample: says which are held and why")
T.write(dir .. "/bad.jsonl", "{\"number\":\"x\"\n")
code, _, err = cw{ "rules", "check", "--sample", dir .. "/bad.jsonl" }
T.eq(code, 2, "rules check --sample of a broken file: exit 2")
T.match(err, "bad%.jsonl:1: not a JSON order", "and names the line")
-- a sample of a cart not in the config, of a connector with its own status table (no table in
-- status_map.lua): the connector's table maps it
T.write(dir .. "/other.jsonl", '{"cart":"elsewhere","connector":"prestashop","number":"X1","external_id":"1",'
  .. '"cart_status":"2","created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z","currency":"EUR",'
  .. '"lines":[{"sku":"A","quantity":1,"price":"1.00"}],"totals":{"total":"1.00"},"shipping":{"code":"Standard"}}\n')
code, out = cw{ "rules", "check", "--sample", dir .. "/other.jsonl", "--json" }
local checked = json.decode(out:match("[^\n]+") or "")
T.eq(code .. " " .. tostring(checked and checked.status), "0 payment_received",
  "rules check --sample: a connector's own status table maps its statuses (PrestaShop state 2)")

-- a connector's Lua error fails its cart only: import --all goes on
local cfg2 = config("two.lua", "", string.format([[
cart "broken" { connector = "raising_shopify", url = %q, token = env "ACME_TOKEN" }
cart "later" { connector = "shopify", url = %q, token = env "ACME_TOKEN", order_prefix = "L-" }
]], sim.url, sim.url))
-- (a test connector: the CLI through tests/tools/cli.lua, which has the test tree on its path)
code, out, err = T.cw({ "run", T.home .. "/tests/tools/cli.lua", "-c", cfg2, "import", "--all" }, env, { timeout = 60 })
T.eq(code, 1, "import --all with a raising connector: exit 1")
T.match(out, "broken: seen 0", "the failed cart prints its summary")
T.match(out, "later: seen 40", "the cart after it was imported")
T.match(err, "import broken failed: .*raising_shopify.-: the connector broke", "the error names the connector's file:line")
code, out = T.cw({ "run", T.home .. "/tests/tools/cli.lua", "-c", cfg2, "carts", "--json" }, env)
local lasterr
for line in out:gmatch("[^\n]+") do
  local c = json.decode(line)
  if c.name == "broken" then lasterr = c.last_error end
end
T.ok(type(lasterr) == "string" and lasterr:find("the connector broke", 1, true), "carts --json shows last_error for it", lasterr)

-- the command table: usage errors and help
code, _, err = cw{ "orders", "show" }
T.eq(code, 2, "orders show without ORDER: exit 2")
T.match(err, "usage: cartwright orders show ORDER", "and prints its usage")
code, out = T.cw{ "help", "release" }
T.eq(code, 0, "help release: exit 0")
T.match(out, "usage: cartwright release ORDER %[%-%-note TEXT%]", "help of one command")
code, out = T.cw{ "--help" }
for _, c in ipairs{ "carts", "test", "import", "orders show", "release", "hold", "ship%-map", "rules check", "rules replay", "sim", "run", "version" } do
  T.match(out, "\n  " .. c, "help lists " .. c)
end

sim.stop()
os.execute("rm -rf " .. dir .. " " .. rdir)
return T.done()
