-- The rule/config sandbox: what a merchant's file may not do.
local T = require "t"
local sandbox = require "cartwright.sandbox"

local function try(src)
  local fn, err = load(src, "=rule", "t", sandbox.env())
  if not fn then return false, err end
  return pcall(fn)
end

local escapes = {
  { "io", "return io.open('/etc/passwd')" },
  { "os.execute", "return os.execute('true')" },
  { "os.exit", "os.exit(3)" },
  { "os.getenv", "return os.getenv('HOME')" },
  { "require", "return require('cartwright.http')" },
  { "load", "return load('return 1')" },
  { "loadfile", "return loadfile('/etc/passwd')" },
  { "dofile", "return dofile('/etc/passwd')" },
  { "debug", "return debug.getinfo(1)" },
  { "package", "return package.loadlib" },
  { "string.dump", "return string.dump(function() end)" },
  { "collectgarbage", "collectgarbage()" },
  { "string metatable", "getmetatable('').__index.upper = nil" },
  { "global write", "x = 1" },
  { "undeclared read", "return undefined_name" },
}
for _, case in ipairs(escapes) do
  local ok = try(case[2])
  T.ok(not ok, "refused: " .. case[1])
end
T.eq(string.upper("a"), "A", "host string library untouched")
T.eq(string.dump, nil, "string.dump is gone for every Lua code of the process")

-- finalizers and close methods run outside the instruction budget: refused
T.ok(not try("setmetatable({}, {__gc = function() while true do end end})"), "refused: __gc finalizer")
T.ok(not try("local x <close> = setmetatable({}, {__close = function() while true do end end})"), "refused: __close")
T.ok(try("local mt = {}; local t = setmetatable({}, mt); mt.__gc = function() while true do end end; t = nil"),
  "a __gc added later is not a finalizer (Lua checks at setmetatable)")
collectgarbage()
collectgarbage()
T.ok(true, "collecting after that did not hang")
T.ok(not try("return ('').dump(function() end)"), "refused: string.dump through the string metatable")

-- a read-only view: writes raise, pairs/ipairs/# see the contents, the real table is out of reach
local ro = sandbox.readonly{ cart = { order_prefix = "SH-", rules = { "a", "b" } }, f = function() return 7 end }
local env = sandbox.env{ ctx = ro }
local function run(src) local fn = assert(load(src, "=rule", "t", env)) return pcall(fn) end
T.ok(not run("ctx.cart.order_prefix = 'X-'"), "read-only: nested write refused")
T.ok(not run("ctx.ship_method = function() end"), "read-only: top-level write refused")
T.ok(not run("setmetatable(ctx, nil)"), "read-only: metatable protected")
T.eq(getmetatable(ro), false, "read-only: getmetatable says nothing")
local ok, n, s, r = run("local n = 0 for k in pairs(ctx.cart) do n = n + 1 end local s = '' for _, v in ipairs(ctx.cart.rules) do s = s .. v end return n, s, ctx.f()")
T.ok(ok and n == 2 and s == "ab" and r == 7, "read-only: pairs, ipairs and calls work", tostring(n) .. tostring(s))
local ok2, leaked = run("local f, st = pairs(ctx.cart) return st")
T.ok(ok2 and leaked == nil, "read-only: pairs hands out no writable state")
T.eq(ro.cart.order_prefix, "SH-", "read-only: value unchanged after the attempts")

-- bytecode is refused by the loader itself (a binary chunk starts with ESC "Lua")
local bytecode = "\27LuaT\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@"
local dir = T.tmpdir()
T.write(dir .. "/rule.lua", bytecode)
local fn, err = sandbox.loadfile(dir .. "/rule.lua", "rules/evil.lua", sandbox.env())
T.ok(fn == nil, "binary chunk refused")
T.match(err, "attempt to load a binary chunk", "binary chunk message")

-- allowed things work
local ok, v = try("local t = {3,1,2} table.sort(t) return string.format('%d%d%d', t[1], t[2], t[3]) .. os.date('!%Y', 0)")
T.ok(ok and v == "1231970", "string, table, os.date available")
os.execute("rm -rf " .. dir)
return T.done()
