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

-- the count hook is armed by a CPU-time watchdog only on code that runs long: a short call
-- runs without it, a long one gets it (and is counted from then on)
local okh, hook = task.limited_call(1000000, function() return debug.gethook() end)
T.ok(okh and hook == nil, "a short call runs without the count hook")
local okl, lhook, _, lcount = task.limited_call(1e12, function()
  local t0 = os.clock()
  while os.clock() - t0 < 0.3 do end
  return debug.gethook()
end)
T.ok(okl and lhook ~= nil and lcount == 1000, "a call running 0.3 s of CPU has been armed", tostring(lcount))
T.ok(debug.gethook() == nil, "the caller is not armed by its callee's run")

-- coroutine.resume / wrap keep Lua's behaviour (they are replaced to tell the watchdog which
-- thread runs)
local gen = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
T.eq(gen(1), 2, "wrap: yields a value")
T.eq(gen(5), 10, "wrap: returns the last value")
local co2 = coroutine.create(function() error("inner boom") end)
local okc, errc = coroutine.resume(co2)
T.ok(okc == false and tostring(errc):find("inner boom"), "resume: false + error")
T.eq(coroutine.status(co2), "dead", "resume: the coroutine is dead after its error")
local okw, errw = pcall(coroutine.wrap(function() error("wrapped boom") end))
T.ok(not okw and tostring(errw):find("wrapped boom"), "wrap: the error reaches the caller")
T.ok(select(2, coroutine.resume(co2)):find("dead coroutine"), "resume: a dead coroutine says so")
local okx, errx = pcall(coroutine.resume, 42)
T.ok(not okx and tostring(errx):find("coroutine expected"), "resume: a non-coroutine is refused")

local ok2, v = task.limited_call(1000000, function(a, b) return a + b end, 2, 3)
T.ok(ok2 and v == 5, "a short function returns its results")
-- the caller still runs normally afterwards
local n = 0
for i = 1, 100000 do n = n + i end
T.eq(n, 5000050000, "caller unaffected after a kill")

local dir = T.tmpdir()
-- `cartwright run` of an endless script: exit 1, and the message names where it looped
local function runaway(name, source, budget, where, what)
  T.write(dir .. "/" .. name .. ".lua", source)
  local code, _, stderr = T.cw{ "--max-instructions", tostring(budget), "run", dir .. "/" .. name .. ".lua" }
  T.eq(code, 1, "run: " .. what .. ": exits 1")
  -- whichever comes first under this machine's speed: its instructions or its CPU time
  T.ok(stderr:find(where .. "instruction limit exceeded") or stderr:find(where .. "time limit exceeded"),
    "run: " .. what .. ": stopped, file:line named", stderr)
end
runaway("loop", "local x = 0\nwhile true do x = x + 1 end\n", 5000000, "loop%.lua:2: ", "an endless script")
runaway("coloop", "local co = coroutine.wrap(function()\n  local x = 0\n  while true do x = x + 1 end\nend)\nco()\n",
  5000000, "coloop%.lua:3: ", "an endless loop in a coroutine")
runaway("genloop", "local gen = coroutine.wrap(function()\n  while true do coroutine.yield(1) end\nend)\nlocal n = 0\nwhile true do n = n + gen() end\n",
  5000000, "genloop%.lua:%d+: ", "an endless loop resuming a coroutine")
runaway("callloop", "local task = require 'cartwright.task'\nlocal n = 0\nwhile true do n = n + select(2, task.limited_call(1000, function() return 1 end)) end\n",
  300000, "callloop%.lua:3: ", "an endless loop around short limited calls")

T.write(dir .. "/bomb.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end\n")
local code, _, stderr = T.cw{ "--max-memory", "64", "run", dir .. "/bomb.lua" }
T.eq(code, 1, "run: memory bomb exits 1")
T.match(stderr, "memory limit exceeded %(the Lua state may hold 64 MiB%)", "run: memory message")

-- many small allocations up to the cap: the error's own message and traceback still get built
-- (an allocation failing while building them would be a panic: abort, exit 134)
T.write(dir .. "/bomb3.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = {i} end\n")
code, _, stderr = T.cw{ "--max-memory", "64", "run", dir .. "/bomb3.lua" }
T.eq(code, 1, "run: a bomb of small tables exits 1, not a panic")
T.match(stderr, "bomb3%.lua:2: memory limit exceeded %(the Lua state may hold 64 MiB%)", "run: its message names file:line")

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
