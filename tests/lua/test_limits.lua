-- Limits a script cannot escape: the instruction budget (even through pcall) and the memory
-- cap, both per call and for a whole `cartwright run`.
local T = require "t"
local task = require "cartwright.task"

local ok, err = task.limited_call(1000000, function() while true do end end)
T.ok(not ok, "infinite loop stopped")
T.match(err, "instruction limit exceeded", "clear message")

ok, err = task.limited_call(1000000, function()
  while true do pcall(function() while true do end end) end
end)
T.ok(not ok, "pcall cannot swallow the kill")
T.match(err, "instruction limit exceeded", "still the limit message")

ok, err = task.limited_call(1000000, function()
  local co = coroutine.wrap(function() while true do end end)
  co()
end)
T.ok(not ok, "a coroutine inside cannot escape the budget")

local ok2, v = task.limited_call(1000000, function(a, b) return a + b end, 2, 3)
T.ok(ok2 and v == 5, "a short function returns its results")
-- the caller still runs normally afterwards
local n = 0
for i = 1, 100000 do n = n + i end
T.eq(n, 5000050000, "caller unaffected after a kill")

local dir = T.tmpdir()
T.write(dir .. "/loop.lua", "local x = 0\nwhile true do x = x + 1 end\n")
local code, _, stderr = T.cw{ "--max-instructions", "5000000", "run", dir .. "/loop.lua" }
T.eq(code, 1, "run: endless script exits 1")
T.match(stderr, "loop%.lua:2: instruction limit exceeded", "run: message names file:line")

T.write(dir .. "/bomb.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end\n")
code, _, stderr = T.cw{ "--max-memory", "64", "run", dir .. "/bomb.lua" }
T.eq(code, 1, "run: memory bomb exits 1")
T.match(stderr, "memory limit exceeded %(the Lua state may hold 64 MiB%)", "run: memory message")

T.write(dir .. "/bomb2.lua", [[
local task = require "cartwright.task"
local t = task.spawn(function() local s = {} for i = 1, 1e9 do s[i] = string.rep('y', 4096) .. i end end)
local ok, err = t:wait()
s = nil
collectgarbage()
print(ok, err:match("memory limit exceeded") ~= nil)
local after = {}
for i = 1, 1000 do after[i] = i end
print("after", #after)
]])
local out
code, out = T.cw{ "--max-memory", "64", "run", dir .. "/bomb2.lua" }
T.eq(code, 0, "a task hitting the cap fails alone")
T.match(out, "false\ttrue", "its waiter sees the memory error")
T.match(out, "after\t1000", "the runtime keeps working after the cap was hit")
os.execute("rm -rf " .. dir)
return T.done()
