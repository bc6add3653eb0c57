-- Writes the hand-made seeds of tests/fuzz/corpus/<target>/ (seed-*; the other files there are
-- inputs libFuzzer found and `make fuzz-merge` kept). Run from the source tree:
--   build/cartwright run tests/fuzz/make_seeds.lua
-- JSON seeds: pages of the three cart simulators, the shapes of tests/lua/test_jsonraw.lua;
-- config seeds: the examples of docs/configuration.md and ways a config goes wrong.
local dir = "tests/fuzz/corpus/"

local function write(target, name, bytes)
  local f = assert(io.open(dir .. target .. "/seed-" .. name, "wb"))
  f:write(bytes)
  f:close()
end

-- one or two simulated orders of each cart, as the cart's page wraps them
local function sim_orders(cart, n)
  local sim = require("sim." .. cart).start{ port = 0, orders = n, seed = 7, rate = false }
  local docs = {}
  for i, rec in ipairs(sim.records) do docs[i] = rec.json or require("cjson").encode(sim.orders[i]) end
  sim:close()
  return docs
end
local shopify = sim_orders("shopify", 2)
write("jsonraw", "shopify-page", '{"orders":[' .. table.concat(shopify, ",") .. "]}")
write("jsonraw", "woocommerce-page", "[" .. sim_orders("woocommerce", 1)[1] .. "]")
write("jsonraw", "bigcommerce-page", "[" .. sim_orders("bigcommerce", 1)[1] .. "]")

local json = {
  empty_array = "[]", empty_object = "{}", ws = " \t\r\n[ 1 , 2 ]\n",
  small_page = '{"a":1,"orders":[{"id":1,"s":"x,]}"} , [2,3],"q\\"",null ],"z":[]}',
  shaped = '{"orders":[{"id":7,"email":"a@b.c","big":{"x":[1,2,3]},"line_items":[{"sku":"A","junk":{"k":1}},{"sku":"B","quantity":2,"price":"9.99"}],"customer":{"id":1,"email":"x"}}]}',
  escapes = '["a\\u00e9\\ud83d\\ude00\\n\\t\\/\\b\\f\\r\\"\\\\", "\\ud800", "\\udc00x", "\\ud800\\u0041", "\\u0000"]',
  escaped_key = '{"ord\\u0065rs":[1],"i\\u0064":5,"":7,"a":{"b":{"c":1,"d":2}}}',
  numbers = "[0,-0,1,-1,0.5,-0.5e-3,1E+2,1e308,1e-400,9007199254740993,-9223372036854775808,9223372036854775807,92233720368547758070,123456789012345678901234567890e-10]",
  literals = "[true,false,null]",
  nested = string.rep('{"a":[', 20) .. "1" .. string.rep("]}", 20),
  deep = string.rep("[", 999) .. string.rep("]", 999),
  dup_key = '{"orders":[1],"orders":[2]}',
  probe_skip = '{"orders":[{"id":1,"client_details": {], "x": tru}, {"id":2}]}',
  probe_split = '[{"":I{}]',
  probe_nul = '{"orders":[{"":\0"}]"}]',
  bad_number = "[01,1.,.5,-,+1,1e]",
  trailing = '{"orders":[1]} x',
  controls = '["a\tb"]',
  bytes = '["\127\255\192\128"]',
  float_digits = "[0.30000000000000004,0.1,3.3333333333333335e-01,5e-324]",
}
for name, body in pairs(json) do write("jsonraw", name, body) end

local url = {
  empty = "", plain = "AZaz09-._~", space = "hello world+plus", query = "a=1&b=%20c&d=%zz&e=%4",
  utf8 = "ünïcödé €", bytes = "\0\1\127\128\255%", tail = "%41%42%4", path = "/wp-json/wc/v3/orders?page=2",
}
for name, s in pairs(url) do write("urlcode", name, s) end

local config = {
  docs_example = [[
db = "cartwright.db"        -- the SQLite database (default "cartwright.db")
rules_dir = "rules"         -- your own rule files (optional)
catalog = "products.csv"    -- your SKUs (optional)

cart "acme" {
  connector = "shopify",
  url = "acme.myshopify.com",
  token = env "CW_FUZZ_TOKEN",
  order_prefix = "SH-",
  earliest_order_date = "2025-01-01",
}
]],
  three_carts = [[
db = "sim.db"
cart "sim-shopify" {
  connector = "shopify", url = "http://127.0.0.1:8001", token = env "CW_FUZZ_TOKEN",
  order_prefix = "SH-", batch_size = 250, rate_limit = { capacity = 10, per_second = 5 },
}
cart "sim-bc" {
  connector = "bigcommerce", url = "http://127.0.0.1:8002", store_hash = "abc123",
  token = env "CW_FUZZ_TOKEN", order_prefix = "BC-", download_statuses = { "11" },
}
cart "woo" {
  connector = "woocommerce", url = "https://shop.example", consumer_key = env "CW_FUZZ_TOKEN",
  consumer_secret = env "CW_FUZZ_TOKEN", order_prefix = "WC-", after_import_status = "completed",
  rules = { "status_map", "order_prefix" }, active = false,
}
]],
  loop_carts = [[
for _, shop in ipairs{ "north", "south" } do
  cart(shop) { connector = "shopify", url = shop .. ".myshopify.com", token = env "CW_FUZZ_TOKEN" }
end
]],
  unknown_setting = 'cart "a" { connector = "shopify", url = "x", token = "shpat_1", colour = "red" }',
  missing_required = 'cart "a" { connector = "shopify" }',
  bad_type = 'cart "a" { connector = "shopify", url = 1, token = "t", batch_size = "ten" }',
  bad_connector = 'cart "a" { connector = "../lua/cartwright/config" }',
  twice = 'cart "a" { connector = "shopify" }\ncart "a" { connector = "shopify" }',
  after_import = 'cart "a" { connector = "shopify", url = "x", token = "shpat_1", after_import_status = "open", download_statuses = { "open" } }',
  bad_date = 'cart "a" { connector = "shopify", url = "x", token = "t", earliest_order_date = "1/2/2025", batch_size = 0 }',
  unset_env = 'cart "a" { connector = "shopify", url = "x", token = env "CW_FUZZ_UNSET" }',
  global_typo = 'db = "x.db"\ncart "a" { connector = shopfy }',
  unknown_top = 'dbb = "x.db"',
  db_type = "db = {}",
  syntax = 'cart "a" { connector = "shopify", ',
  no_name = 'cart "" { }\ncart(nil) {}',
  not_table = 'cart "a" "b"',
  runaway = "while true do end",
  runaway_pcall = "while true do pcall(error) end",
  memory = 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end',
  big_string = 'local s = string.rep("x", 1 << 40)',
  recursion = "local function f() return 1 + f() end f()",
  error_table = "error({})",
  error_nil = "error()",
  metatable_index = 'cart "a" (setmetatable({ connector = "shopify", url = "x", token = "shpat_1" }, { __index = function() return 1 end }))',
  metatable_pairs = 'cart "a" (setmetatable({ connector = "shopify" }, { __pairs = function(t) return next, {}, nil end }))',
  string_methods = 'local s = ("%d"):format(3) .. ("x"):rep(3) .. os.date("!%Y", 0) .. tostring(os.time{ year = 2025, month = 1, day = 1 })\ncart(s) { connector = "shopify", url = s, token = "shpat_" .. s }',
  utf8_table = 'local t = {} for _, c in utf8.codes("héllo") do t[#t + 1] = utf8.char(c) end\ncart(table.concat(t)) { connector = "woocommerce", url = "u", consumer_key = "ck_1234", consumer_secret = "cs_1234" }',
  binary = "\27Lua\84\0\25\147\13\10\26\10",
}
for name, src in pairs(config) do write("config", name, src) end
print("seeds written")
