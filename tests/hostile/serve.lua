-- Serves the hostile cart of tests/hostile/server.lua until SIGINT/SIGTERM:
--   build/cartwright run tests/hostile/serve.lua --port 0 --scenario NAME [--status N]
-- prints "hostile cart (scenario NAME) listening on http://127.0.0.1:PORT, other host http://127.0.0.1:PORT2".
local hostile = require "hostile.server"

local opts, args = {}, { ... }
local i = 1
while i <= #args do
  local key = args[i]:match("^%-%-([%w-]+)$")
  if not key or args[i + 1] == nil then
    io.stderr:write("usage: cartwright run tests/hostile/serve.lua [--port N] [--scenario NAME] [--status N]\n")
    os.exit(2)
  end
  opts[key] = args[i + 1]
  i = i + 2
end
local ok, srv = pcall(hostile.start, { port = opts.port, scenario = opts.scenario, status = opts.status })
if not ok then
  io.stderr:write(tostring(srv), "\n")
  os.exit(2)
end
io.stdout:write(string.format("hostile cart (scenario %s) listening on %s, other host %s\n",
  srv.scenario, srv.url, srv.other_url))
io.stdout:flush()
