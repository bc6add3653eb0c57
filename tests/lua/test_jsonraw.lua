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
local conn = assert(require("cartwright.carts").connector("shopify"))
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

-- Validation: every entry point refuses invalid JSON (RFC 8259), also inside the values a
-- shape skips, and array and split_decode agree on every input.
local SHAPE = { id = true, lines = { sku = true } }
-- every entry point's outcome for body: nil when all refuse it, the raws when all accept it
-- with the same raws, or a string saying how they disagree
local function all_entries(body, key)
  local a, aerr = jraw.array(body, key)
  local r1, d1 = jraw.split_decode(body, key, SHAPE)
  local r2, d2 = jraw.split_decode(body, key)
  local v1 = jraw.decode(body)
  local v2 = jraw.decode(body, SHAPE)
  if not a then
    if r1 or r2 or v1 ~= nil or v2 ~= nil then return "array refuses (" .. aerr .. ") but another accepts" end
    if not (aerr:find("^bad JSON at byte %d+: ") and type(d1) == "string" and type(d2) == "string") then
      return "unexpected error " .. tostring(aerr)
    end
    return nil
  end
  if not (r1 and r2 and v1 ~= nil and v2 ~= nil) then return "array accepts but another refuses" end
  if #a ~= #r1 or #a ~= #r2 or #d1 ~= #a or #d2 ~= #a then return "element counts differ" end
  for i = 1, #a do
    if a[i] ~= r1[i] or a[i] ~= r2[i] then return "raw " .. i .. " differs" end
  end
  return a
end

local probes = {
  '{"orders":[{"id":1,"client_details": {], "x": tru}, {"id":2}]}',
  '{"orders":[{"id":1,"client_details": {]}, {"id":2}]}',
  '[{"":I{}]',
  '{"orders":[{"":\0"}]"}]',
  '{"orders":[{"":\\0"}]"}]',
}
for _, body in ipairs(probes) do
  for _, key in ipairs{ "orders", false } do
    T.eq(all_entries(body, key or nil), nil, string.format("probe %q (key %s): refused by all", body, tostring(key)))
  end
end

-- bad values, each tried as an element, inside a member a shape skips, and in members before
-- and after the array
local bad_values = {
  "tru", "True", "nul", "nulll", "falsey", "+1", "01", "-01", "1.", ".5", "-", "1e", "1e+",
  "1.e5", "0x10", "1e400", "-1e400", "1.8e308", "Infinity", "NaN", "'a'", '"a', '"a\\q"', '"\\u12"',
  '"\\u12G4"', '"a\tb"', '"a\nb"', '"\0"', '"\\', "{]", "[}", "[1,]", "[,1]", "[1 2]", "{,}",
  '{"a"}', '{"a":}', '{"a" 1}', '{"a":1,}', "{1:2}", '{"a":1 "b":2}', "[", "{", '{"a":[1}',
  "[[]", "]", "}", ",", ":", "1 2", "/* c */ 1", "\239\187\191" .. "1",
}
local shapes_of = {
  function(x) return "[" .. x .. "]", nil end,
  function(x) return '{"orders":[{"id":1,"junk":' .. x .. '}]}', "orders" end,
  function(x) return '{"orders":[{"id":1,"lines":[{"sku":"A","junk":' .. x .. '}]}]}', "orders" end,
  function(x) return '{"pre":' .. x .. ',"orders":[{"id":1}]}', "orders" end,
  function(x) return '{"orders":[{"id":1}],"post":' .. x .. '}', "orders" end,
}
local refused, disagreed = 0, {}
for _, x in ipairs(bad_values) do
  for _, make in ipairs(shapes_of) do
    local body, key = make(x)
    local out = all_entries(body, key)
    if out == nil then refused = refused + 1 else disagreed[#disagreed + 1] = string.format("%q: %s", body, tostring(out)) end
  end
end
T.eq(refused, #bad_values * #shapes_of, "invalid values: refused by array, split_decode and decode in every position",
  table.concat(disagreed, "; "))

-- documents wrong as a whole
for _, body in ipairs{ "", "  ", "[1] x", "[1]]", '{"orders":[1]} {}', '{"orders":[1]}}', '{"orders":[1]',
    '{"orders":[1],}', "[1]\0", "[1]," } do
  for _, key in ipairs{ "orders", false } do
    T.eq(all_entries(body, key or nil), nil, string.format("document %q (key %s): refused by all", body, tostring(key)))
  end
end
-- valid JSON without the array asked for: decode takes it, array and split_decode refuse it
for _, case in ipairs{ { '{"other":[1]}', "orders", "byte 13: no array member" },
    { '{"orders":{}}', "orders", "byte 10: expected an array" }, { '{"orders":"[1]"}', "orders", "byte 10: expected an array" },
    { '{"orders":[1]}', nil, "byte 0: expected an array" }, { "[1]", "orders", "byte 0: expected an object" } } do
  local body, key, want = case[1], case[2], "bad JSON at " .. case[3]
  local _, e1 = jraw.array(body, key)
  local _, e2 = jraw.split_decode(body, key, SHAPE)
  T.ok(e1 == want and e2 == want and jraw.decode(body) ~= nil, string.format("no array in %q (key %s): %s", body, tostring(key), want),
    tostring(e1) .. " / " .. tostring(e2))
end
local _, why = jraw.split_decode('{"orders":[{"id":1,"x":{]}]}', "orders", SHAPE)
T.eq(why, "bad JSON at byte 24: expected a key", "split_decode: the byte of a fault inside a skipped value")
_, why = jraw.array("[1e400]")
T.eq(why, "bad JSON at byte 1: number out of range", "array: a number beyond a double is refused")

-- valid tricky documents: accepted by all, with the same raws
local tricky = {
  { ' \t\r\n[ ]\n', nil, {} },
  { '[-0,0,0.5e-3,1E+2,-1.25E2,1e308,1e-400,0e99999]', nil,
    { "-0", "0", "0.5e-3", "1E+2", "-1.25E2", "1e308", "1e-400", "0e99999" } },
  { '[ "a\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\" , "\\ud83d\\ude00", "\127\255" ]', nil,
    { '"a\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\"', '"\\ud83d\\ude00"', '"\127\255"' } },
  { '[true,false,null,{},[],{"":{"":[]}},[[[]]]]', nil,
    { "true", "false", "null", "{}", "[]", '{"":{"":[]}}', "[[[]]]" } },
  { '{"a":{"orders":[9]},"ord\\u0065rs" : [ {"id":1, "lines":[{"sku":"]}"}]} ,2 ] ,"orders":5}', "orders",
    { '{"id":1, "lines":[{"sku":"]}"}]}', "2" } },
  { '{"orders":[' .. string.rep("1", 300) .. ',' .. string.rep("9", 310) .. 'e-10,0.' .. string.rep("5", 400) .. ']}',
    "orders", { string.rep("1", 300), string.rep("9", 310) .. "e-10", "0." .. string.rep("5", 400) } },
}
for _, case in ipairs(tricky) do
  local body, key, want = case[1], case[2], case[3]
  local out = all_entries(body, key)
  local same = type(out) == "table" and #out == #want
  for i = 1, #want do same = same and out[i] == want[i] end
  T.ok(same, string.format("tricky %q: accepted by all with the same raws", body:sub(1, 60)):gsub("\\\n", "\\n"),
    type(out) == "table" and table.concat(out, " | ") or tostring(out))
end
local _, tdocs = jraw.split_decode(tricky[5][1], "orders", SHAPE)
T.ok(tdocs[1].id == 1 and tdocs[1].lines[1].sku == "]}" and tdocs[2] == 2, "split_decode: an escaped key names the member")
T.eq(jraw.decode(tricky[2][1])[8], 0.0, "decode: a zero with a huge exponent")
T.eq(jraw.decode('"\127\255"'), "\127\255", "decode: bytes are not checked as UTF-8, and DEL is no control")

-- surrogates: a pair is one code point; a half without its other half is U+FFFD
T.eq(jraw.decode('"\\ud83d\\ude00"'), "\u{1F600}", "surrogates: a pair")
T.eq(jraw.decode('"\\ud800"'), "\u{FFFD}", "surrogates: a lone high half is U+FFFD")
T.eq(jraw.decode('"\\udc00x"'), "\u{FFFD}x", "surrogates: a lone low half is U+FFFD")
T.eq(jraw.decode('"\\ud800\\u0041"'), "\u{FFFD}A", "surrogates: a high half before another escape")
T.eq(jraw.decode('"\\ude00\\ud83d"'), "\u{FFFD}\u{FFFD}", "surrogates: a pair in the wrong order")
T.eq(jraw.decode('{"\\ud800":1}', { ["\u{FFFD}"] = true })["\u{FFFD}"], 1, "surrogates: in a shaped key too")

-- integers keep every digit, in raws, shaped docs and a round trip through encode
local ids = '{"orders":[{"id":9007199254740993},{"id":-9223372036854775808},{"id":9223372036854775807}]}'
local iraws, idocs = jraw.split_decode(ids, "orders", SHAPE)
T.eq(iraws[1], '{"id":9007199254740993}', "integers: the raw keeps the id's digits")
T.ok(idocs[1].id == 9007199254740993 and math.type(idocs[1].id) == "integer", "integers: 2^53+1 exact in a shaped doc")
T.eq(idocs[2].id, math.mininteger, "integers: the smallest 64-bit integer")
T.eq(idocs[3].id, math.maxinteger, "integers: the largest 64-bit integer")
T.eq(jraw.encode(idocs), '[{"id":9007199254740993},{"id":-9223372036854775808},{"id":9223372036854775807}]',
  "integers: encode writes every digit back")

-- floats: encoded as cjson does when 14 digits read back the same, else with the digits needed
T.eq(jraw.encode(0.1 + 0.2), "0.30000000000000004", "encode: a float 14 digits cannot hold")
for _, x in ipairs{ 0.1, 1 / 3, 2 ^ 60 + 0.0, 1e300, -5e-324, 123456.789, 1.7976931348623157e308 } do
  T.eq(jraw.decode(jraw.encode(x)), x, "encode: " .. string.format("%.17g", x) .. " reads back exactly")
end

-- nesting: up to 1000 arrays and objects everywhere, 1001 refused by all as "nested too deep"
local function nest(n) return string.rep('{"a":[', n // 2) .. string.rep("[", n % 2) .. "1"
  .. string.rep("]", n % 2) .. string.rep("]}", n // 2) end
T.ok(type(all_entries("[" .. nest(999) .. "]")) == "table", "nesting: 1000 levels accepted by all")
T.eq(all_entries("[" .. nest(1000) .. "]"), nil, "nesting: 1001 levels refused by all")
T.eq(all_entries('{"orders":[' .. nest(998) .. ']}', "orders")[1], nest(998), "nesting: 1000 levels under a key")
T.eq(all_entries('{"orders":[1],"x":' .. nest(1000) .. '}', "orders"), nil, "nesting: 1001 levels after the array")
local _, derr = jraw.decode(nest(1001))
T.eq(derr, "bad JSON at byte 3000: nested too deep", "nesting: decode says where")
local deep = jraw.decode(nest(1000))
T.eq(jraw.encode(deep), nest(1000), "nesting: encode takes what decode gives (1000 levels)")
local ok4, e4 = pcall(jraw.encode, { deep })
T.ok(not ok4 and tostring(e4):find("nested too deep"), "nesting: encode refuses 1001 levels")
return T.done()
