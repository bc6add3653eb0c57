-- `cartwright serve`: the long-lived process. Opens the session, starts the scheduler
-- (service/scheduler.lua) and the HTTP listener, which asks service.api, service.webhooks and
-- service.metrics in turn (each `handler(s, req) -> res | nil`, nil: not its route; a module
-- not installed is skipped), reloads the config on SIGHUP (a broken one keeps the last good
-- one), publishes its address for the CLI (service/endpoint.lua) and, on SIGTERM, lets the runs
-- in flight finish. Uses cartwright.httpd, cartwright.task, config.
local endpoint = require "cartwright.service.endpoint"
local httpd = require "cartwright.httpd"
local carts = require "cartwright.carts"
local log = require "cartwright.log"
local rules = require "cartwright.rules"
local scheduler = require "cartwright.service.scheduler"
local task = require "cartwright.task"

local M = {}

M.DEFAULT_LISTEN = "127.0.0.1:8484"
M.MAX_BODY = 2 * 1024 * 1024 -- bytes of a request body the listener reads at most
M.STOP_GRACE = 10 -- seconds a SIGTERM leaves the jobs in flight to finish

-- The route modules present in this build, in the order they are asked.
local function route_modules()
  local list = {}
  for _, name in ipairs{ "api", "webhooks", "metrics" } do
    local ok, mod = pcall(require, "cartwright.service." .. name)
    if ok and type(mod) == "table" and type(mod.handler) == "function" then list[#list + 1] = mod
    elseif not ok and not tostring(mod):find("module 'cartwright.service." .. name .. "' not found", 1, true) then
      error(mod, 0) -- a module that is there but broken is a bug to see, not to skip
    end
  end
  return list
end

local function not_found()
  return { status = 404, headers = { ["Content-Type"] = "application/json" },
    body = '{"error":{"code":"not_found","message":"no such route"}}' }
end

local function unavailable()
  return { status = 503, headers = { ["Content-Type"] = "application/json", ["Retry-After"] = "10" },
    body = '{"error":{"code":"unavailable","message":"the service is stopping"}}' }
end

local function route(svc, req)
  for _, mod in ipairs(svc.routes) do
    -- webhooks: a valid one asks for an import of its cart now (never trusting the body)
    local extra = mod == svc.webhooks and function(cart) svc.sched:poke(cart, "orders") end or svc
    local res = mod.handler(svc.s, req, extra)
    if res then return res end
  end
  return not_found()
end

-- The rules every cart of cfg names, loaded afresh (their files may have changed): cfg | nil,
-- err naming the broken file:line (the rules loaded before stay).
local function reload_rules(cfg)
  local lists = {}
  for _, name in ipairs(cfg.cart_order or {}) do
    local cart = carts.load(cfg, name)
    if cart then lists[#lists + 1] = cart.rules or {} end
  end
  local ok, err = rules.reload(lists, cfg.rules_dir)
  if not ok then return nil, err end
  return cfg
end

--- Runs the service for session s. opts: { listen = "HOST:PORT", reload = fn() -> cfg | nil, err }.
--- Returns the service { sched, server, port } | nil, err.
function M.start(s, opts)
  local db, err = s:open()
  if not db then return nil, err end
  local listen = opts.listen or s.cfg.listen or M.DEFAULT_LISTEN
  local host, port = listen:match("^(.*):(%d+)$")
  if not host then return nil, "listen: HOST:PORT expected, got " .. listen end
  local svc = { sched = scheduler.new(s), s = s }
  svc.routes = route_modules()
  local ok_hooks, hooks = pcall(require, "cartwright.service.webhooks")
  svc.webhooks = ok_hooks and hooks or nil
  svc.requests = 0 -- requests being answered (a stop waits for them like for jobs)
  -- the listener reads no body past MAX_BODY (refused 413 as it arrives); the API answers
  -- its own JSON 413 above its smaller limit
  local server, lerr = httpd.listen{ host = host, port = tonumber(port), max_body = M.MAX_BODY, handler = function(req)
    if svc.draining then return unavailable() end
    svc.requests = svc.requests + 1
    local ok, res = pcall(route, svc, req)
    svc.requests = svc.requests - 1
    if not ok then error(res, 0) end
    if req.method ~= "GET" and (req.path or ""):sub(1, 5) == "/api/" then -- who changed what, for the ops log
      log.info("api", { method = req.method, path = req.path, status = tostring(res.status), peer = req.peer })
    end
    return res
  end }
  if not server then return nil, "cannot listen on " .. listen .. ": " .. tostring(lerr) end
  svc.server, svc.port, svc.host = server, server.port, host
  -- the CLI of this database finds the service here and sends its state changes through /api
  svc.withdraw = endpoint.publish(db, svc.sched.holder, host, server.port)
  svc.jobs = svc.sched:start()
  task.on_reload(function()
    local cfg, rerr
    if opts.reload then cfg, rerr = opts.reload() end
    if cfg then cfg, rerr = reload_rules(cfg) end
    if not cfg then
      log.error("reload failed: the last good config stays", { err = tostring(rerr) })
      return
    end
    s.cfg = cfg
    svc.jobs = svc.sched:sync_carts()
    log.info("config reloaded", { jobs = tostring(svc.jobs) })
  end)
  task.on_stop(function()
    log.info("stopping: no new work, waiting for the runs in flight", { grace = tostring(M.STOP_GRACE) })
    local left = M.stop(svc, M.STOP_GRACE)
    if left > 0 then log.warn("stopped with runs in flight: they resume at the next start", { left = tostring(left) })
    else log.info("stopped cleanly") end
  end, M.STOP_GRACE)
  return svc
end

--- Stops taking work (new requests get 503, no job starts) and lets the runs and requests in
--- flight finish, up to grace seconds; closes the listener. Returns what is still in flight
--- (0: a clean stop; otherwise those runs are resumable: an import's watermark moves only after
--- its orders are stored, an outbox entry is retried).
function M.stop(svc, grace)
  grace = grace or M.STOP_GRACE
  svc.draining = true
  if svc.withdraw then svc.withdraw() end
  local deadline = task.monotonic() + grace
  local left = svc.sched:stop(grace)
  for _ = 1, math.ceil(grace / 0.05) + 1 do -- bounded: grace
    if svc.requests == 0 or task.monotonic() >= deadline then break end
    task.sleep(0.05)
  end
  if svc.server then svc.server:close() end
  return left + svc.requests
end

return M
