-- string.find/match/gmatch/gsub are the engine's own (engine/pattern.c, lua_api_string.c):
-- compared with Lua 5.4's own functions (kept in the registry for this) over hand-written
-- cases for every feature and error, then over random patterns and subjects; and their steps
-- are charged to the budgets, so a backtracking pattern is stopped like a loop.
local T = require "t"
local task = require "cartwright.task"

local lua = debug.getregistry()["cartwright.lua_string"]
T.ok(type(lua) == "table" and lua.find ~= string.find and lua.gsub ~= string.gsub,
  "Lua's own functions are kept, and replaced")
T.ok(("x").find == string.find and ("x").gsub == string.gsub, "string methods use the engine's")
local mine = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }

-- ---- the differential harness ------------------------------------------------------------

local function show(t)
  local parts = {}
  for i = 1, t.n do
    local v = t[i]
    parts[i] = type(v) == "string" and string.format("%q", v) or tostring(v)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Runs one call of library lib; returns a table of its results, or of (false, error). gmatch
-- collects every iteration (at most 200); function and table replacements record their calls.
local function run(lib, fn, s, p, a3, a4)
  local out = table.pack(pcall(function()
    if fn == "gmatch" then
      local r = {}
      for c1, c2, c3 in lib.gmatch(s, p, a3) do
        r[#r + 1] = tostring(c1) .. "|" .. tostring(c2) .. "|" .. tostring(c3)
        if #r >= 200 then break end
      end
      return table.concat(r, ";"), #r
    elseif fn == "gsub" and a3 == "fn" then
      local calls = {}
      local res, n = lib.gsub(s, p, function(...)
        calls[#calls + 1] = select("#", ...) .. ":" .. table.concat({ tostring(...) }, ",")
        if #calls % 3 == 0 then return nil end
        if #calls % 3 == 1 then return "<" .. tostring((...)) .. ">" end
        return #calls
      end, a4)
      return res, n, table.concat(calls, ";")
    elseif fn == "gsub" and a3 == "tbl" then
      return lib.gsub(s, p, { a = "A", b = false, ["()"] = 7, x = "%1", [1] = "one", [3] = true }, a4)
    end
    return lib[fn](s, p, a3, a4)
  end))
  return out
end

local compared, differ = 0, 0
local function same(fn, s, p, a3, a4)
  compared = compared + 1
  local want, got = run(lua, fn, s, p, a3, a4), run(mine, fn, s, p, a3, a4)
  local a, b = show(want), show(got)
  if a ~= b then
    differ = differ + 1
    if differ <= 10 then
      T.ok(false, string.format("%s(%q, %q, %s, %s)", fn, s, p, tostring(a3), tostring(a4)),
        "Lua " .. a .. "\n     ours " .. b)
    end
  end
end

-- ---- hand-written cases: every feature and every error -------------------------------------

local cases = {
  -- find: positions, init, plain, the no-specials path
  { "find", "hello world", "o w" }, { "find", "hello", "l" }, { "find", "hello", "l", 4 },
  { "find", "hello", "l", -1 }, { "find", "hello", "l", -2 }, { "find", "hello", "", 6 },
  { "find", "hello", "", 7 }, { "find", "hello", "", 0 }, { "find", "hello", "h", -100 },
  { "find", "hello", "xyz" }, { "find", "a.b", ".", 1, true }, { "find", "a+b", "+", 1, true },
  { "find", "a(b", "(", 1, true }, { "find", "a)b", ")" }, { "find", "a]b", "]" },
  { "find", "", "" }, { "find", "", "a" }, { "find", "abc", "abcd" }, { "find", "a\0b", "\0b" },
  { "find", "a\0b", "%z" }, { "find", "aaa", "a", 2, false }, { "find", 12345, 34 },
  { "find", "abc", "b", 2^53 }, { "find", "abc", "b", math.mininteger },
  { "find", "x = 10", "(%w+)%s*=%s*(%w+)" }, { "find", "abc", "()b()" },
  -- match: classes and their complements
  { "match", "  \t\n x", "%s+" }, { "match", "Hello123", "%a+" }, { "match", "Hello123", "%A+" },
  { "match", "a\1\127b", "%c+" }, { "match", "x42y", "%d+" }, { "match", "x42y", "%D+" },
  { "match", "\1 !~x", "%g+" }, { "match", "ABcd", "%l+" }, { "match", "ABcd", "%u+" },
  { "match", "a,.;!b", "%p+" }, { "match", "a_b9", "%w+" }, { "match", "0xdeadBEEFg", "%x+" },
  { "match", "\200\255abc", "%W+" }, { "match", "\200\255abc", "[\200-\255]+" },
  { "match", "%.*", "%%%.%*" }, { "match", "a+b", "a%+b" }, { "match", "q", "%q" }, { "match", "Q", "%Q" },
  -- sets
  { "match", "abc-_]", "[%w_]+" }, { "match", "abc-", "[a-c-]+" }, { "match", "]]x", "[]]+" },
  { "match", "x]]", "[^]]+" }, { "match", "a-z", "[a%-z]+" }, { "match", "b", "[a-]" },
  { "match", "-", "[a-]" }, { "match", "^", "[x^]" }, { "match", "^", "[^^]" },
  { "match", "abc123", "[^%d]+" }, { "match", "%", "[%%]" }, { "match", "]", "[%]]" },
  { "match", "z", "[a-%]]" }, { "match", "]", "[a-%%]" }, { "match", "ab", "[]" },
  -- quantifiers
  { "match", "aaab", "a*" }, { "match", "aaab", "a+" }, { "match", "aaab", "a-b" },
  { "match", "aaab", "a?a?a?a?b" }, { "match", "b", "a+" }, { "match", "<<a>>", "<(.-)>" },
  { "match", "<<a>>", "<(.*)>" }, { "match", "  trim me  ", "^%s*(.-)%s*$" },
  { "match", "x*", "x**" }, { "match", "?", "?" }, { "match", "a-", "a--" },
  -- anchors
  { "match", "abc", "^b" }, { "match", "abc", "^a" }, { "match", "abc", "c$" },
  { "match", "abc", "b$" }, { "match", "a$b", "a$b" }, { "match", "a^b", "a^b" },
  { "match", "abc", "^" }, { "match", "abc", "$" }, { "match", "abc", "^$" }, { "match", "", "^$" },
  { "match", "aXb", "^(a)(.)(b)$" }, { "find", "abc", "^b", 2 }, { "match", "$$", "$$" },
  -- captures
  { "match", "key=val", "(%w+)=(%w+)" }, { "match", "abc", "()a()" }, { "match", "abc", "(a(b)c)" },
  { "match", "2024-05-06", "^(%d%d%d%d)%-(%d%d)" },
  { "match", " -12.50 ", "^%s*([+-]?)(%d*)%.?(%d*)%s*$" },
  { "match", "abcabc", "(abc)%1" }, { "match", "abab", "(a)(b)%1%2" }, { "match", "aa", "()%1" },
  { "match", "xyzzy", "(z+)" }, { "match", "a", "(" .. ("()"):rep(31) .. "a)" },
  -- %b and %f
  { "match", "f(a(b)c) d", "%b()" }, { "match", "((", "%b()" }, { "match", "\"x\" y", "%b\"\"" },
  { "match", "THE (quick) fox", "%f[%a]%a+" }, { "gsub", "THE (quick) fox", "%f[%a]%w+", "W" },
  { "match", "hello", "%f[%l]" }, { "match", "hello", "%f[%z]" }, { "match", "ab", "b%f[^%w]" },
  { "match", "ab", "%f[%w]a%f[%W]" },
  -- errors
  { "find", "abc", "%" }, { "find", "abc", "[a" }, { "find", "abc", "[^" }, { "find", "abc", "[]" },
  { "find", "abc", "%b" }, { "find", "abc", "%ba" }, { "find", "abc", "%f" }, { "find", "abc", "%fa" },
  { "find", "abc", "%f[a" }, { "find", "abc", "(a" }, { "match", "abc", "a)" }, { "find", "abc", "%1" },
  { "find", "abc", "(a)%2" }, { "find", "abc", "%0" }, { "find", "abc", "(a%1)" },
  { "match", "abc", ("("):rep(33) }, { "match", "abc", ("("):rep(32) .. "a" },
  { "match", ("a"):rep(300), ("a?"):rep(300) }, { "match", ("a"):rep(198), ("a?"):rep(198) },
  { "match", ("a"):rep(199), ("a?"):rep(199) }, { "match", ("a"):rep(300), ("(a)"):rep(20) },
  { "find", "xyz", "a%" }, { "find", "xyz", "a[" }, { "match", "", "%f" }, { "find" },
  { "find", "a", {} }, { "match", "a", "a", "x" }, { "find", "a", "a", 1.5 },
  -- gmatch: init, '^' is no anchor, no empty match right after a match
  { "gmatch", "hello world from lua", "%a+" }, { "gmatch", "k1=v1, k2=v2", "(%w+)=(%w+)" },
  { "gmatch", "abc", "" }, { "gmatch", "abc", "()" }, { "gmatch", "a,b,,c", "[^,]*" },
  { "gmatch", "^a^a", "^a" }, { "gmatch", "aaa", "a", 2 }, { "gmatch", "aaa", "a", -1 },
  { "gmatch", "aaa", "a", 10 }, { "gmatch", "aaa", "a", 0 }, { "gmatch", "abc", "%" },
  { "gmatch", "abc", "(a" }, { "gmatch", "abc", ".-" }, { "gmatch", "abc", "x*" },
  -- gsub: string replacements
  { "gsub", "hello world", "o", "0" }, { "gsub", "hello world", "(o)", "[%1]" },
  { "gsub", "hello", "", "-" }, { "gsub", "hello", "l+", "%0%0" }, { "gsub", "hello", "l", "%%" },
  { "gsub", "hello", "l", "%x" }, { "gsub", "hello", "l", "%" }, { "gsub", "hello", "l", "%2" },
  { "gsub", "hello", "(l)", "%2" }, { "gsub", "hello", "l", "%1" }, { "gsub", "hello", "()l", "%1" },
  { "gsub", "hello", "l", 7 }, { "gsub", "hello", "l", 1.5 }, { "gsub", "hello", "^h", "H" },
  { "gsub", "hello", "^l", "L" }, { "gsub", "hello", "l", "L", 1 }, { "gsub", "hello", "l", "L", 0 },
  { "gsub", "hello", "l", "L", -1 }, { "gsub", "hello", "x*", "-" }, { "gsub", "abc", "%w", "%0%0" },
  { "gsub", "abc", "(a", "x" }, { "gsub", "abc", "(a", "%1" }, { "gsub", "abc", "a" },
  { "gsub", "abc", "a", true }, { "gsub", "abc", "a", "x", "y" }, { "gsub", "", "", "x" },
  { "gsub", "a\0b", "%z", "Z" }, { "gsub", "a\0b", "\0", "Z" }, { "gsub", "abc", "$", "!" },
  { "gsub", "a.b.c", ".", "%%" }, { "gsub", "a.b.c", "%.", "/" },
  -- gsub: function and table replacements (false and nil keep the match)
  { "gsub", "abcab", "%w", "fn" }, { "gsub", "abcab", "(%w)(%w)", "fn" }, { "gsub", "abcab", "()b", "fn" },
  { "gsub", "abcab", "%w", "tbl" }, { "gsub", "abxab", "(%w)", "tbl" }, { "gsub", "abc", "()", "tbl" },
  { "gsub", "abc", "()c", "tbl" }, { "gsub", "abcabc", "%w", "fn", 4 }, { "gsub", "abc", "(a", "fn" },
}

for _, c in ipairs(cases) do same(c[1], c[2], c[3], c[4], c[5]) end
T.eq(differ, 0, string.format("%d hand-written cases agree with Lua 5.4", #cases))

-- a replacement value that is neither string nor number, and a position capture's type
local ok, err = pcall(string.gsub, "abc", "a", function() return {} end)
T.ok(not ok and err:find("invalid replacement value %(a table%)$") ~= nil, "gsub: a table from the function is refused", err)
T.eq(select(3, string.find("abc", "()b")), 2, "find: a position capture is an integer")
T.eq(math.type(string.match("abc", "()b")), "integer", "match: a position capture is an integer")

-- ---- random patterns and subjects ------------------------------------------------------------

local pieces = {
  "a", "b", "c", ".", "%a", "%d", "%s", "%w", "%A", "%p", "%%", "%.", "%(", "[ab]", "[^a]",
  "[a-c]", "[%a_]", "[]a]", "[^]]", "%b()", "%bab", "%f[%w]", "%f[^a]", "(", ")", "()", "%1",
  "%2", "^", "$", "*", "+", "-", "?", "%", "[", "]", "x", " ", "(a)", "(.-)", "(%w+)",
}
local quant = { "", "", "", "*", "+", "-", "?" }
local letters = { "a", "b", "c", "(", ")", " ", "1", "x", "-", "%", "]", "[", "^", "$", ".", "\0" }
local few = { "a", "a", "b", "b", "(", ")", " " } -- half the subjects: more of them match

local function random_pattern()
  local parts = {}
  for i = 1, math.random(0, 6) do
    local piece = math.random(3) == 1 and few[math.random(#few)] or pieces[math.random(#pieces)]
    parts[i] = piece .. quant[math.random(#quant)]
  end
  return table.concat(parts)
end

-- from the small alphabet, the large one, or the pattern's own bytes
local function random_subject(p)
  local r = math.random(3)
  local parts = {}
  for i = 1, math.random(0, 12) do
    if r == 3 and #p > 0 then
      local k = math.random(#p)
      parts[i] = p:sub(k, k)
    else
      local from = r == 1 and few or letters
      parts[i] = from[math.random(#from)]
    end
  end
  return table.concat(parts)
end

local repls = { "x", "%0", "[%1]", "%2", "%%", "%", "%y", "fn", "tbl", 42 }
math.randomseed(20240506)
local rounds, t0 = 0, os.clock()
local before = differ
for i = 1, 30000 do -- bounded: 30,000 rounds of 4 calls, at most 60 s of CPU
  local p = random_pattern()
  local s = random_subject(p)
  same("find", s, p, math.random(-4, 12), math.random(4) == 1)
  same("match", s, p, math.random(-4, 12))
  same("gmatch", s, p, math.random(3) == 1 and math.random(-4, 12) or nil)
  same("gsub", s, p, repls[math.random(#repls)], math.random(3) == 1 and math.random(-1, 3) or nil)
  rounds = i
  if os.clock() - t0 > 60 then break end
end
T.eq(differ - before, 0, string.format("%d random rounds (%d calls) agree with Lua 5.4", rounds, rounds * 4))
T.ok(rounds >= 5000, "at least 5,000 random rounds ran", rounds)

-- ---- budgets ------------------------------------------------------------------------------------

local subject, backtracking = ("a"):rep(24), ("a*"):rep(24) .. "b" -- 2^24 ways to fail

local c0 = os.clock()
ok, err = task.limited_call(5000000, function()
  return string.find(subject, backtracking)
end)
T.ok(not ok, "a backtracking find in a limited call is stopped")
T.match(err, "test_patterns%.lua:%d+: instruction limit exceeded %(5000000 instructions without yielding%)",
  "stopped with the limit's message, naming file:line")
T.ok(os.clock() - c0 < 1, "stopped within a second", os.clock() - c0)

c0 = os.clock()
ok, err = task.limited_call(5000000, function()
  local header = ("<a"):rep(50000) -- 100 KB, no '>': every '<' scans to the end
  local n = 0
  for _ in header:gmatch("<([^>]+)>") do n = n + 1 end
  return n
end)
T.ok(not ok and err:find("instruction limit exceeded") ~= nil, "a quadratic scan of a 100 KB header is stopped", err)
T.ok(os.clock() - c0 < 1, "that too within a second", os.clock() - c0)

c0 = os.clock()
local swallowed = 0
ok, err = task.limited_call(5000000, function()
  for _ = 1, 1000 do
    if not pcall(string.find, subject, backtracking) then swallowed = swallowed + 1 end
  end
  return "escaped"
end)
T.ok(not ok and err:find("instruction limit exceeded") ~= nil, "pcall around it cannot swallow the stop", err)
T.eq(swallowed, 0, "the instruction after the pcall raises again")
T.ok(os.clock() - c0 < 1, "the pcall loop is stopped within a second too", os.clock() - c0)

ok, err = task.limited_call(5000000, function()
  return (pcall(function() return ("x"):rep(10):gsub(".", function() return subject:find(backtracking) end) end))
end)
T.ok(not ok and err:find("instruction limit exceeded") ~= nil, "a pattern inside a gsub replacement function is charged", err)

-- matches cheap for the function but long for the matcher: only the matcher's steps can spend
-- the budget (the function runs ~3 instructions per match)
local records = ("a" .. ("x"):rep(200) .. ";"):rep(20000)
ok, err = task.limited_call(1000000, function()
  return records:gsub("a([^;]*);", function(body) return body end)
end)
T.ok(not ok and err:find("instruction limit exceeded") ~= nil, "gsub with a function replacement is counted across its matches", err)
ok = task.limited_call(1000000, function()
  local n = 0
  for _ in records:gmatch("a[^;]*;") do n = n + 1 end
  return n
end)
T.ok(not ok, "a gmatch loop is counted across its calls")
local okn, count = task.limited_call(100000000, function()
  return select(2, records:gsub("a([^;]*);", function(body) return body end))
end)
T.ok(okn and count == 20000, "the same gsub runs to the end with enough budget", tostring(count))

ok, err = task.limited_call(1000, function()
  return (("x"):rep(1e6) .. "y"):find("y", 1, true)
end)
T.ok(not ok and err:find("instruction limit exceeded") ~= nil, "a plain find over 1 MB is charged too", err)
local okq, pos = task.limited_call(5000000, function() return ("x = 1"):find("=") end)
T.ok(okq and pos == 3, "a short find in a limited call works", tostring(pos))
T.eq(string.find(subject, "a*b"), nil, "outside the limited call the caller matches again")

-- outside any budgeted run (here: a finalizer while the state closes) a call is capped at
-- --max-instructions steps
local dir = T.tmpdir()
T.write(dir .. "/outside.lua", [[
local s, p = ("a"):rep(24), ("a*"):rep(24) .. "b"
keep = setmetatable({}, { __gc = function()
  local t0 = os.clock()
  local ok, err = pcall(function() return string.find(s, p) end)
  print(ok, err, os.clock() - t0 < 1)
end })
]])
local code, out = T.cw{ "--max-instructions", "5000000", "run", dir .. "/outside.lua" }
T.eq(code, 0, "outside: runs")
T.match(out, "^false\t[^\n]*outside%.lua:4: pattern too complex %(more than 5000000 steps in one call%)\ttrue\n$",
  "outside: the per-call cap stops it with file:line, within a second")
os.execute("rm -rf " .. dir)

return T.done()
