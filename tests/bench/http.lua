-- Benchmark: keep-alive GETs to a local httpd, from C concurrent tasks.
-- Prints requests/s and CPU µs per request (client and server share this one process,
-- so the CPU figure covers both ends). Usage: cartwright run tests/bench/http.lua [N] [C]
local task = require "cartwright.task"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"

local total = tonumber(arg and arg[1]) or 20000
local conc = tonumber(arg and arg[2]) or 16
local body = string.rep("x", 512)
local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function()
  return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = body }
end })
local url = "http://127.0.0.1:" .. srv.port .. "/bench"

local function run(n, c)
  local per = n // c
  local t0, cpu0 = task.monotonic(), task.cpu()
  local ts, lat = {}, {}
  for w = 1, c do
    ts[w] = task.spawn(function()
      for _ = 1, per do
        local s = task.monotonic()
        local res = assert(http.request{ url = url })
        assert(res.status == 200 and #res.body == #body)
        lat[#lat + 1] = task.monotonic() - s
      end
    end)
  end
  for w = 1, c do assert(ts[w]:wait()) end
  local wall, cpu = task.monotonic() - t0, task.cpu() - cpu0
  table.sort(lat)
  local function pct(p) return lat[math.max(1, math.floor(#lat * p))] * 1e6 end
  return per * c, wall, cpu, pct(0.5), pct(0.99)
end

run(1000, conc) -- warm up connections
for _, c in ipairs{ 1, conc } do
  local n, wall, cpu, p50, p99 = run(c == 1 and total // 4 or total, c)
  print(string.format("keep-alive GET, %2d concurrent: %d requests in %.2f s = %.0f req/s; CPU %.1f µs/request (client+server); latency p50 %.0f µs p99 %.0f µs",
    c, n, wall, n / wall, cpu / n * 1e6, p50, p99))
end
srv:close()
