-- SIGHUP reloads the config and the rules of a running `serve` (real binary, Shopify simulator):
-- a changed rule file takes effect for the next import; a broken one is refused, the log names
-- its file:line, and the rule loaded before goes on tagging orders (none is held for it); a
-- broken config is refused the same way. Every wait is bounded.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"

local dir = T.tmpdir()
os.execute("mkdir -p " .. dir .. "/rules")
local shop = T.sim("shopify", { "--orders", "0" })
local cfg = dir .. "/cw.lua"
local config_text = string.format([[
db = %q
rules_dir = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", order_prefix = "SH-",
  download_statuses = { "open" }, rules = { "status_map", "order_prefix", "tagger" },
  intervals = { orders = 1, shipments = 3600 } }
]], dir .. "/cw.db", dir .. "/rules", shop.url)
T.write(cfg, config_text)
local function tagger(body) T.write(dir .. "/rules/tagger.lua", body) end
local function version(v)
  return string.format('return { apply = function(order, ctx) ctx.tag(order, %q) end }\n', v)
end
tagger(version("v1"))

local function cw(args) return T.cw({ "-c", cfg, table.unpack(args) }, {}, { timeout = 60 }) end
local function place()
  local res = assert(http.request{ method = "POST", url = shop.url .. "/_sim/orders", body = '{"count":1}' })
  return string.format("%.0f", json.decode(res.body).ids[1])
end
-- the stored order of that cart id, once imported (bounded: 10 s)
local function imported(id)
  for _ = 1, 40 do
    local _, out = cw{ "orders", "show", "shop:" .. id, "--json" }
    local o = json.decode(out or "")
    if o and o.number then return o end
    os.execute("sleep 0.25")
  end
end
local function tags(o) return o and table.concat(o.tags or {}, ",") or "not imported" end
local function held(o) return o and type(o.hold) == "table" end

local serve = T.spawn({ "-c", cfg, "serve", "--listen", "127.0.0.1:0" })
local o1 = imported(place())
T.eq(tags(o1), "v1", "the rule as started tags v1")
T.ok(o1 and not held(o1), "  the order is not held")

tagger(version("v2"))
serve.signal("HUP")
os.execute("sleep 0.5")
local o2 = imported(place())
T.eq(tags(o2), "v2", "after SIGHUP the changed rule tags v2")

tagger('return { apply = function(order, ctx)\n  ctx.tag(order, "v3"\nend }\n')
serve.signal("HUP")
local logged
for _ = 1, 40 do -- bounded: 10 s
  logged = serve.err():match('msg="reload failed[^\n]*')
  if logged then break end
  os.execute("sleep 0.25")
end
T.ok(logged, "a broken rule: the reload is refused and logged", serve.err())
T.match(logged or "", "tagger%.lua:3:", "  the log names the rule's file:line")
local o3 = imported(place())
T.eq(tags(o3), "v2", "the rule loaded before goes on tagging (v2)")
T.ok(not held(o3), "  and the order is not held for the broken file")

-- a broken config is refused the same way; the last good one serves on
tagger(version("v4"))
T.write(cfg, config_text .. "\ncart \"oops\" { connector = \n")
serve.signal("HUP")
local refusals
for _ = 1, 40 do -- bounded: 10 s
  local _, n = serve.err():gsub('msg="reload failed', "")
  refusals = n
  if n >= 2 then break end
  os.execute("sleep 0.25")
end
T.eq(refusals, 2, "a broken config: the reload is refused and logged")
T.write(cfg, config_text) -- for this test's own CLI calls; serve reads it only on a SIGHUP
local o4 = imported(place())
T.eq(tags(o4), "v2", "the last good config and rules serve on")

serve.signal("TERM")
T.eq(serve.wait(15), 0, "SIGTERM: exit 0", serve.err())
serve.clean()
shop.stop()
os.execute("rm -rf " .. dir)
os.exit(T.done())
