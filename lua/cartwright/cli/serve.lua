-- cartwright serve | sync start|stop|status | runs: the service (lua/cartwright/service) and
-- what it records (sync_state, runs: migration 007).
local service = require "cartwright.service"
local ops = require "cartwright.ops.sync"
local remote = require "cartwright.cli.remote"

local M = {}

function M.run(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local svc, err = service.start(s, { listen = opts.listen, reload = function()
    return cli.load_config(opts)
  end })
  if not svc then return cli.fail(err, "failed") end
  cli.out("cartwright serve: %d jobs, listening on http://%s:%d", svc.jobs, svc.host, svc.port)
  io.stdout:flush()
  return 0 -- the scheduler's tasks and the listener keep the process serving
end

local function when(t) return t or "-" end

local function set_running(args, opts, cli, running)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.targets(s, args[1], args[2])
  if list then -- through a running service: one call per service (it sees it at once)
    local out = {}
    for _, sv in ipairs(list) do
      local route = { path = string.format("/api/v1/sync/%s/%s/%s", remote.seg(args[1]), sv, running and "start" or "stop"),
        unwrap = function(v) return v.services end }
      local r, rerr, rkind = remote.change(s, route, function() return ops.set_running(s, args[1], sv, running) end)
      if not r then list, err, kind = nil, rerr, rkind break end
      for _, x in ipairs(r) do out[#out + 1] = x end
    end
    list = list and out
  end
  s:close()
  if not list then return cli.fail(err, kind == "not_found" and "config" or kind) end
  for _, r in ipairs(list) do
    if opts.json then cli.json(r) else cli.out("%s %s: %s", r.cart, r.service, r.state) end
  end
  return 0
end

function M.sync_start(args, opts, cli) return set_running(args, opts, cli, true) end
function M.sync_stop(args, opts, cli) return set_running(args, opts, cli, false) end

function M.sync_status(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.status(s)
  s:close()
  if not list then return cli.fail(err, kind) end
  local width = 12
  for _, r in ipairs(list) do width = math.max(width, #r.cart) end
  for _, r in ipairs(list) do
    if opts.json then cli.json(r)
    else
      cli.out("%-" .. width .. "s %-10s %-8s last %s %s  next %s%s%s", r.cart, r.service, r.state, when(r.last_run), r.result or "-",
        when(r.next_run), r.watermark and ("  watermark " .. r.watermark) or "",
        r.last_error and ("  error: " .. r.last_error) or "")
    end
  end
  return 0
end

function M.runs(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.runs(s, args[1], 100)
  s:close()
  if not list then return cli.fail(err, kind) end
  for _, r in ipairs(list) do
    if opts.json then cli.json(r)
    else
      cli.out("%d %s %s %s  window %s..%s  pages %s  seen %s imported %s updated %s skipped %s%s%s", r.id, r.cart,
        r.service, r.started, r.window_from or "-", r.window_to or "-", r.pages or "-", r.seen or "-",
        r.imported or "-", r.updated or "-", r.skipped or "-", r.skipped_why and (" (" .. r.skipped_why .. ")") or "",
        r.error and ("  error: " .. r.error) or "")
    end
  end
  return 0
end

return M
