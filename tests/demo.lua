-- The demo: 50 concurrent tasks against a local server answering after 200 ms.
local task = require "cartwright.task"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"

local srv = assert(httpd.listen{ port = 0, handler = function(req)
  task.sleep(0.2)
  return { status = 200, body = "hello " .. req.query.n }
end })
print(("demo: local server on 127.0.0.1:%d answers every request after 200 ms"):format(srv.port))
local t0 = task.monotonic()
local ts = {}
for n = 1, 50 do
  ts[n] = task.spawn(http.request, { url = ("http://127.0.0.1:%d/?n=%d"):format(srv.port, n) })
end
local ok = 0
for n = 1, 50 do
  local done, res = ts[n]:wait()
  if done and res and res.body == "hello " .. n then ok = ok + 1 end
end
print(("demo: %d/50 requests answered in %.2f s (one thread, one event loop)"):format(ok, task.monotonic() - t0))
srv:close()
return ok == 50 and 0 or 1
