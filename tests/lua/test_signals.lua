-- Signals: SIGHUP runs the reload hook, SIGTERM stops a serving process cleanly.
local T = require "t"
local task = require "cartwright.task"

local pid = T.slurp("/proc/self/stat"):match("^(%d+)")
local reloads = 0
task.on_reload(function() reloads = reloads + 1 end)
os.execute("kill -HUP " .. pid)
for _ = 1, 50 do if reloads > 0 then break end task.sleep(0.02) end
T.eq(reloads, 1, "SIGHUP ran the reload hook once")

local sim = T.sim("shopify", { "--orders", "5" })
os.execute("kill -TERM " .. sim.pid)
local gone = false
for _ = 1, 100 do
  if not os.execute("kill -0 " .. sim.pid .. " 2>/dev/null") then gone = true break end
  task.sleep(0.02)
end
T.ok(gone, "SIGTERM stops a serving simulator")
T.match(T.slurp(sim.dir .. "/err"), "msg=stopping signal=TERM", "and logs why")
sim.stop()
return T.done()
