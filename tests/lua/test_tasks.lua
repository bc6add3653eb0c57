-- Tasks: spawn/wait/sleep ordering, errors with file:line and traceback, isolation.
local T = require "t"
local task = require "cartwright.task"

local order = {}
local a = task.spawn(function() task.sleep(0.05); order[#order + 1] = "a"; return 1, "x" end)
local b = task.spawn(function() order[#order + 1] = "b"; return 2 end)
local ok, r1, r2 = a:wait()
T.ok(ok, "wait: ok")
T.eq(r1, 1, "wait: first result")
T.eq(r2, "x", "wait: second result")
T.eq(table.concat(order, ","), "b,a", "sleep yields to other tasks")
local okb, rb = b:wait()
T.ok(okb and rb == 2, "wait on an already finished task")

local bad = task.spawn(function()
  local t = nil
  return t.field -- line 18
end)
local okf, err = bad:wait()
T.ok(not okf, "failing task: wait returns false")
T.match(err, "test_tasks%.lua:18:", "error names file:line")
T.match(err, "stack traceback", "error carries a traceback")

-- an error in one task leaves the others running
local survivors = 0
local ts = {}
for i = 1, 10 do
  ts[i] = task.spawn(function()
    task.sleep(0.01 * i)
    if i % 2 == 0 then error("task " .. i .. " failed") end
    survivors = survivors + 1
  end)
end
local failures = 0
for i = 1, 10 do if not ts[i]:wait() then failures = failures + 1 end end
T.eq(survivors, 5, "other tasks unaffected by failures")
T.eq(failures, 5, "every failure reported to its waiter")

-- several waiters on one task all get its results
local slow = task.spawn(function() task.sleep(0.05); return "done" end)
local got = 0
local ws = {}
for i = 1, 5 do ws[i] = task.spawn(function() local ok2, v = slow:wait(); if ok2 and v == "done" then got = got + 1 end end) end
for i = 1, 5 do ws[i]:wait() end
T.eq(got, 5, "five waiters on one task")

-- coroutine.yield inside a task lets others run and comes back
local steps = {}
local y1 = task.spawn(function() for i = 1, 3 do steps[#steps + 1] = "y" .. i; coroutine.yield() end end)
local y2 = task.spawn(function() for i = 1, 3 do steps[#steps + 1] = "z" .. i; coroutine.yield() end end)
y1:wait(); y2:wait()
T.eq(table.concat(steps, ","), "y1,z1,y2,z2,y3,z3", "bare yield is a cooperative switch")

-- task.yield: a task just spawned runs (and starts its I/O) before the spawner goes on
local order = {}
local child = task.spawn(function() order[#order + 1] = "child started" end)
task.yield()
order[#order + 1] = "parent after yield"
child:wait()
T.eq(table.concat(order, ","), "child started,parent after yield", "task.yield lets a spawned task start")
local okyield, erryield = coroutine.wrap(function() return pcall(task.yield) end)()
T.ok(not okyield and tostring(erryield):find("task.yield: must be called from a task"), "task.yield outside a task refused")

-- a request made by a task is on the wire before that task parks: a simulator in another
-- process answers it while this process is still busy and has not gone back to the loop
local http = require "cartwright.http"
local sim = T.sim("shopify", { "--orders", "1" })
local shop = { url = sim.url .. "/admin/api/2025-01/shop.json", headers = { ["X-Shopify-Access-Token"] = "shpat_test" } }
assert(http.request(shop)) -- a kept-alive connection, as between the pages of an import
local req = task.spawn(function()
  return http.request(shop)
end)
task.yield() -- the request task runs once: its request is written now
-- busy without the loop (a blocking child process), as an import storing a page
local dir = T.tmpdir()
T.write(dir .. "/stats.lua", [[
local http = require "cartwright.http"
local r = http.request{ url = "]] .. sim.url .. [[/_sim/stats" }
print(r and r.body)
]])
local _, out = T.cw{ "run", dir .. "/stats.lua" }
T.match(out, '"requests":2[,}]', "the cart had the request before the spawner yielded to the loop")
local okr, res = req:wait()
T.ok(okr and res and res.status == 200, "and the answer arrives")
sim.stop()
os.execute("rm -rf " .. dir)

-- task.wake ends a sleep at once; a task that is not sleeping is not woken
do
  local t0 = task.monotonic()
  local slept = task.spawn(function() task.sleep(10) return task.monotonic() end)
  task.sleep(0.05)
  T.eq(task.wake(slept), true, "wake: the sleeping task is woken")
  T.eq(task.wake(slept), false, "wake again before it ran: false (woken once)")
  local ok, at = slept:wait()
  T.ok(ok and at - t0 < 1, "it ran on at once, not after 10 s", at and (at - t0))
  T.eq(task.wake(slept), false, "wake of a finished task: false")
  local busy = task.spawn(function() local n = 0 for i = 1, 10 do n = n + i end return n end)
  T.eq(task.wake(busy), false, "wake of a task that has not slept: false")
  T.eq(select(2, busy:wait()), 55, "  it runs as usual")
end

-- I/O from a coroutine that is not a task is refused with a clear message
local co = coroutine.wrap(function() return pcall(task.sleep, 0) end)
local okc, errc = co()
T.ok(not okc, "sleep outside a task refused")
T.match(errc, "task.sleep: must be called from a task", "message names the API")

return T.done()
