-- Settings: what the schemas refuse (enums, lists, records, required, secrets), schemas that
-- are wrong, defaults never shared between carts; and `env "NAME"`, a reference read only by
-- the commands that talk to the cart: carts, orders, ship-map, rules check and rules replay
-- run without any credential in the environment, test and import stop with exit 2 and the
-- env call's line. Through the real binary against a Shopify simulator process.
local T = require "t"
local store = require "cartwright.store"
local schema = require "cartwright.schema"
local config = require "cartwright.config"
local carts = require "cartwright.carts"

local dir = T.tmpdir()
local sim = T.sim("shopify", { "--orders", "40", "--seed", "4" })
local n = 0
local function cfg(text)
  n = n + 1
  return T.write(dir .. "/cw" .. n .. ".lua", (text:gsub("@DB@", dir .. "/cw" .. n .. ".db"):gsub("@SIM@", sim.url)))
end
local function p(s) return (s:gsub("%p", "%%%0")) end

---------------------------------------------------------------- what the schemas refuse
for _, c in ipairs{
  { 'connector = "woocommerce", url = "https://w.example", consumer_key = "ck_x", consumer_secret = "cs_x", auth = "basci",',
    "auth must be one of auto, basic, oauth or query (got 'basci')" },
  { 'connector = "bigcommerce", store_hash = "abc", token = "bc_token", concurrency = 0,', "concurrency must be an integer from 1 to 64" },
  { 'connector = "bigcommerce", token = "bc_token",', "store_hash is required" },
  { 'connector = "shopify", url = "x", token = "abc",', "token is too short to be a real credential" },
  { 'connector = "shopify", url = "x", token = "tok1", download_statuses = "open",', "download_statuses must be a table" },
  { 'connector = "shopify", url = "x", token = "tok1", download_statuses = { open = true },', 'download_statuses must be a list { "a", "b" }' },
  { 'connector = "shopify", url = "x", token = "tok1", rules = {},', "rules must not be empty" },
  { 'connector = "shopify", url = "x", token = "tok1", _private = 1,', "unknown setting '_private'" },
  { 'connector = "shopify", url = "x", token = "tok1", rate_limit = { per_second = 2 },',
    "rate_limit needs capacity and per_second, both numbers: { capacity = 40, per_second = 2 }" },
  { 'connector = "shopify", url = "x", token = "tok1", active = "yes",', "active must be a boolean, not string" },
} do
  local path = cfg('db = "@DB@"\ncart "c" {\n  ' .. c[1] .. '\n}\n')
  local code, _, err = T.cw({ "carts", "-c", path }, {}, { timeout = 30 })
  T.eq(code, 2, c[2] .. ": exit 2")
  T.match(err, p(path) .. ':2: cart "c": ' .. p(c[2]), c[2] .. ": with the cart and its line")
end

-- schemas that are wrong (a connector's author's mistakes), as cartwright.schema says them
for _, c in ipairs{
  { { x = { type = "string" } }, "schema.x: description must say what the setting is (the docs are generated from it)" },
  { { x = { type = "text", description = "d" } }, "schema.x: type must be \"string\", \"number\", \"boolean\" or \"table\", not 'text'" },
  { { x = { type = "string", description = "d", defualt = "a" } }, "schema.x: unknown key 'defualt'" },
  { { x = { type = "table", description = "d" } }, "schema.x: a table setting declares its fields = { … } (a record), its items = { … } (a list) or its map = { … } (names to values)" },
  { { x = { type = "string", description = "d", enum = { "a", 1 } } }, "schema.x.enum[2] must be a string" },
  { { x = { type = "string", description = "d", enum = { "a" }, default = "b" } }, "schema.x: default must be one of a (got 'b')" },
  { { x = { type = "number", description = "d", secret = true } }, "schema.x: secret is for text settings of a cart (not nested ones)" },
  { { x = { type = "string", description = "d", required = true, default = "a" } }, "schema.x: a required setting has no default" },
  { { x = { type = "table", description = "d", items = { type = "table" } } }, "schema.x.items: a list holds strings, numbers or booleans" },
  { { x = { type = "table", description = "d", fields = { y = { type = "string" } } } },
    "schema.x.fields.y: description must say what the setting is (the docs are generated from it)" },
  { { ["x-y"] = { type = "string", description = "d" } }, "schema: 'x-y' is not a setting name (letters, digits, _)" },
} do
  local ok, err = schema.check_schema(c[1], "schema")
  T.eq(err, c[2], "a wrong schema: " .. c[2])
  T.eq(ok, nil, "a wrong schema is refused: " .. c[2])
end
T.eq(schema.check_schema(carts.common, "common"), true, "the common settings are a valid schema")

-- defaults are copied into each cart, never shared
local two = cfg('db = "@DB@"\ncart "a" { connector = "shopify", url = "x", token = "tok1" }\n'
  .. 'cart "b" { connector = "shopify", url = "y", token = "tok2" }\n')
local c2 = assert(config.load(two))
local a, b = assert(carts.load(c2, "a")), assert(carts.load(c2, "b"))
T.ok(a.rules ~= b.rules and a.rules ~= carts.default_rules and a.download_statuses ~= b.download_statuses,
     "two carts' default lists are tables of their own")
T.eq(table.concat(a.rules, ","), "status_map,order_prefix,reject_unmapped_shipping,minimum_inventory", "the default rules")
T.eq(a.api_version, "2026-10", "a connector's default")

---------------------------------------------------------------- env: read only to talk to the cart
local rdir = T.tmpdir()
T.write(rdir .. "/probe.lua", "return { apply = function(order, ctx)\n"
  .. "  if order.external_id:sub(-1) == '1' then return 'hold', 'url ' .. tostring(ctx.cart.url) .. ' token ' .. tostring(ctx.cart.token) end\n"
  .. "end }\n")
local main = cfg(string.format([[
db = "@DB@"
rules_dir = %q
cart "a" {
  connector = "shopify", url = env "CW_T_URL", token = env "CW_T_TOKEN",
  rules = { "status_map", "order_prefix", "probe" }, order_prefix = "SH-",
}
cart "off" {
  connector = "woocommerce", active = false, url = "https://w.example",
  consumer_key = env "CW_T_WOO_KEY", consumer_secret = env "CW_T_WOO_SECRET",
}
]], rdir))
local ENV = { CW_T_URL = sim.url, CW_T_TOKEN = "shpat_test" }
local function cw(args, env) return T.cw({ "-c", main, table.unpack(args) }, env or {}, { timeout = 60 }) end

local code, out, err = cw({ "import", "--all" }, ENV)
T.eq(code, 0, "import --all with the active cart's variables set (the inactive cart's unset): exit 0", err)
local db = assert(store.open(dir .. "/cw" .. n .. ".db"))
local held, reasons, some = 0, {}, nil
for _, r in ipairs(assert(db:orders_list{})) do
  if r.hold_rule == "probe" then
    held, some = held + 1, some or r.number
    reasons[r.hold_reason] = true
  end
end
db:close()
T.ok(held > 0 and reasons["url nil token nil"] and not next(reasons, next(reasons)),
     "rules see neither a setting read with env nor a secret", held)
T.ok(not (out .. err):find("shpat_test", 1, true), "the token is never printed")

for _, c in ipairs{
  { { "carts" }, "^a%s+shopify" },
  { { "carts", "--json" }, '"name":"off"' },
  { { "orders" }, "orders\n$" },
  { { "rules", "check" }, "ok   .*probe%.lua" },
  { { "rules", "replay" }, "replayed %d+ orders: 0 would change" },
  { { "ship-map", "Standard", "UPS Ground" }, "" },
  { { "orders", "show", some }, "HELD%s+%[rule probe%] url nil token nil" },
  { { "hold", some, "--reason", "call the customer" }, "held" },
  { { "release", some, "--note", "called" }, "released" },
  { { "rules", "replay", "--apply" }, "replayed %d+ orders" },
} do
  code, out, err = cw(c[1])
  local name = table.concat(c[1], " ") .. " without any variable set"
  T.eq(code, 0, name .. ": exit 0", err)
  T.match(out, c[2], name .. ": does its work")
end
for _, args in ipairs{ { "test", "a" }, { "import", "a" }, { "import", "--all" } } do
  code, _, err = cw(args)
  local name = table.concat(args, " ") .. " without the variables"
  T.eq(code, 2, name .. ": exit 2")
  T.match(err, "config error: " .. p(main) .. ":4: environment variable CW_T_TOKEN is not set", name .. ": names the variable and the env call's line")
end
code, out, err = cw({ "test", "a" }, ENV)
T.eq(code, 0, "test with the variables set: exit 0", err)
T.match(out, "^Test passed: shopify", "test with the variables set: passes")

-- a resolved value is checked as if written in the file
local dated = cfg('db = "@DB@"\ncart "d" { connector = "shopify", url = "@SIM@",\n  token = env "CW_T_TOKEN", earliest_order_date = env "CW_T_DATE" }\n')
code = T.cw({ "carts", "-c", dated }, {})
T.eq(code, 0, "a date read with env is not checked by carts")
code, _, err = T.cw({ "test", "d", "-c", dated }, { CW_T_TOKEN = "shpat_test", CW_T_DATE = "2025-13-45" })
T.eq(code, 2, "test with a bad date in the environment: exit 2")
-- (every value read with env is a secret: redacted even here)
T.match(err, p(dated) .. ':2: cart "d": earliest_order_date must be a real date written YYYY%-MM%-DD, nothing else %(got \'%[redacted%]\'%)',
        "and says why, as for a date in the file")
code, _, err = T.cw({ "import", "d", "-c", dated }, { CW_T_TOKEN = "abc", CW_T_DATE = "2025-01-01" })
T.eq(code, 2, "import with a 3-character token in the environment: exit 2")
T.match(err, 'cart "d": token is too short to be a real credential', "and says why")

-- what env cannot do
for _, c in ipairs{
  { 'db = "@DB@"\ncart "e" { connector = "shopify", url = "x", token = "tok1",\n  batch_size = env "CW_T_SIZE" }\n',
    ':2: cart "e": batch_size must be a number, not env "CW_T_SIZE" (env reads text)' },
  { 'db = "@DB@"\ncart "e" { connector = "shopify", url = "x",\n  token = env(42) }\n',
    ':3: env needs the name of an environment variable: env "ACME_TOKEN"' },
  { 'db = "@DB@"\ncart "e" { connector = "shopify", token = "tok1",\n  url = env "CW_T_HOST" .. "/shop" }\n',
    ":3: attempt to concatenate a table value" },
  { 'db = env "CW_T_DB_UNSET"\ncart "e" { connector = "shopify", url = "x", token = "tok1" }\n',
    ":1: environment variable CW_T_DB_UNSET is not set" },
} do
  local path = cfg(c[1])
  code, _, err = T.cw({ "carts", "-c", path }, {})
  T.eq(code, 2, c[2] .. ": exit 2")
  T.match(err, p(path) .. p(c[2]), c[2] .. ": says so with the line")
end
local dbenv = cfg('db = env "CW_T_DB"\ncart "e" { connector = "shopify", url = "x", token = "tok1" }\n')
code = T.cw({ "carts", "-c", dbenv }, { CW_T_DB = dir .. "/from-env.db" })
T.eq(code, 0, "db = env: read at once")
T.ok(io.open(dir .. "/from-env.db") ~= nil, "db = env: the database is where the variable says")

sim.stop()
os.execute("rm -rf " .. T.q(dir) .. " " .. T.q(rdir))
return T.done()
