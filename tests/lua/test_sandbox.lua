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

-- bytecode is refused by the loader itself
local bytecode = string.dump(function() return 1 end)
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
