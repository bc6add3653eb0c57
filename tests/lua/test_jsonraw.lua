-- jsonraw: raw slices of array elements, and the shaped decoder against cjson.
local T = require "t"
local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"

local raws = jraw.array('{"a":1,"orders":[{"id":1,"s":"x,]}"} , [2,3],"q\\"",null ],"z":[]}', "orders")
T.eq(#raws, 4, "array: four elements")
T.eq(raws[1], '{"id":1,"s":"x,]}"}', "array: element bytes exactly as sent")
T.eq(raws[3], '"q\\""', "array: escaped quote inside a string")
T.eq(#assert(jraw.array("[]")), 0, "array: empty")
local r, err = jraw.array('{"orders":[{"id":1},{"id":', "orders")
T.eq(r, nil, "array: truncated body refused")
T.match(err, "bad JSON at byte", "array: says where")

-- the decoder agrees with cjson on real simulator documents
local sim = require("sim.shopify").start{ port = 0, orders = 30, seed = 2, rate = false }
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
local agree, round = 0, 0
local conn = require "connectors.shopify"
for _, rec in ipairs(sim.records) do
  if same(jraw.decode(rec.json), json.decode(rec.json)) then agree = agree + 1 end
  local order = conn.normalize({}, jraw.decode(rec.json, conn.order_shape))
  if same(json.decode(jraw.encode(order)), json.decode(json.encode(order))) then round = round + 1 end
end
sim:close()
T.eq(agree, 30, "decode: same values as cjson for 30 Shopify orders")
T.eq(round, 30, "encode: 30 normalized orders read back by cjson as cjson's own encoding")

-- encode
T.eq(jraw.encode{ 1, 2, "x" }, '[1,2,"x"]', "encode: an array")
T.eq(jraw.encode{}, "{}", "encode: an empty table is an object, as cjson")
T.eq(jraw.encode{ a = json.null }, '{"a":null}', "encode: cjson.null")
T.match(jraw.encode{ [1] = 1, [3] = 3 }, '^{', "encode: a sparse table is an object")
T.eq(jraw.encode("a\"b\\c\n\1/é"), '"a\\"b\\\\c\\n\\u0001/é"', "encode: escapes, UTF-8 kept, / plain")
T.eq(jraw.encode(9007199254740993), "9007199254740993", "encode: integers keep every digit")
T.eq(jraw.encode(0.1), "0.1", "encode: floats as cjson")
T.eq(jraw.encode(true), "true", "encode: booleans")
local ok1, e1 = pcall(jraw.encode, { f = print })
T.ok(not ok1 and tostring(e1):find("cannot encode a function"), "encode: a function is refused")
local ok2, e2 = pcall(jraw.encode, 0 / 0)
T.ok(not ok2 and tostring(e2):find("NaN"), "encode: NaN refused")
local loop = {}
loop.me = loop
local ok3, e3 = pcall(jraw.encode, loop)
T.ok(not ok3 and tostring(e3):find("too deep"), "encode: a cycle is refused")
local big = {}
for i = 1, 20000 do big[i] = { sku = "SKU-" .. i, q = i } end
T.eq(#json.decode(jraw.encode(big)), 20000, "encode: a large value grows the buffer")

T.eq(jraw.decode('"a\\u00e9\\ud83d\\ude00\\n\\t\\/"'), "aé😀\n\t/", "decode: escapes and surrogate pairs")
T.eq(math.type(jraw.decode("5120000181895")), "integer", "decode: integers stay integers")
T.eq(jraw.decode("9007199254740993"), 9007199254740993, "decode: above 2^53 exactly")
T.eq(jraw.decode("null"), json.null, "decode: null is cjson.null")
T.eq(jraw.decode("-2.5e1"), -25.0, "decode: floats")
local shaped = jraw.decode('{"id":7,"big":{"x":[1,2,3]},"lines":[{"sku":"A","junk":{"k":1}},{"sku":"B"}]}',
  { id = true, lines = { sku = true } })
T.ok(shaped.big == nil, "shape: unnamed keys skipped")
T.eq(shaped.lines[2].sku, "B", "shape: applies to every element of an array")
T.ok(shaped.lines[1].junk == nil, "shape: nested unnamed keys skipped")
local rs, ds = jraw.split_decode('{"orders":[{"id":1,"x":{"y":2}}, {"id":2}]}', "orders", { id = true })
T.eq(#rs, 2, "split_decode: raws")
T.eq(rs[1], '{"id":1,"x":{"y":2}}', "split_decode: raw bytes")
T.ok(ds[1].id == 1 and ds[1].x == nil and ds[2].id == 2, "split_decode: shaped docs")
T.ok(jraw.split_decode('{"orders":[{"id":1},{"id":', "orders") == nil, "split_decode: truncated page refused")
-- shapes are matched on the raw key bytes; an escaped key is decoded first
local esc = jraw.decode('{"i\\u0064":5,"idx":6,"":7,"nested":{"a":{"b":1,"c":2}}}',
  { id = true, [""] = true, nested = { a = { c = true } } })
T.eq(esc.id, 5, "shape: an escaped key matches its decoded name")
T.ok(esc.idx == nil, "shape: a longer key with the same start is not matched")
T.eq(esc[""], 7, "shape: the empty key")
T.ok(esc.nested.a.c == 2 and esc.nested.a.b == nil, "shape: three levels")
local SH = { id = true }
for i = 1, 3 do T.eq(jraw.decode('{"id":' .. i .. ',"x":1}', SH).id, i, "shape: compiled once, used again " .. i) end
local wide = {}
for i = 1, 300 do wide["k" .. i] = true end
local okw, errw = pcall(jraw.decode, '{"k1":1}', wide)
T.ok(not okw and tostring(errw):find("255 keys"), "shape: a level of more than 255 keys is refused")
local okn, errn = pcall(jraw.decode, '{"a":1}', { [1] = true })
T.ok(not okn and tostring(errn):find("keys must be strings"), "shape: non-string keys refused")
local cyc = {}
cyc.self = cyc
local okc, errc = pcall(jraw.decode, '{"self":{}}', cyc)
T.ok(not okc and tostring(errc):find("too deep"), "shape: a cyclic shape is refused, not looped on")
T.eq(jraw.decode("-123456789012345678"), -123456789012345678, "decode: 18-digit negative integer")
T.eq(jraw.decode("9223372036854775807"), math.maxinteger, "decode: the largest integer")
T.eq(math.type(jraw.decode("92233720368547758070")), "float", "decode: beyond 64 bits is a float")

for _, bad in ipairs{ "[1,", '{"a" 1}', '"abc', "tru", "[1] x", '{"a":"\\q"}' } do
  local v, e = jraw.decode(bad)
  T.ok(v == nil and type(e) == "string", "decode refuses " .. bad)
end
local deep = string.rep("[", 300) .. string.rep("]", 300)
T.ok(jraw.decode(deep) == nil, "decode: refuses absurd nesting instead of overflowing")
return T.done()
