-- cartwright serve | sync start|stop|status | runs: the service (lua/cartwright/service) and
-- what it records (sync_state, runs: migration 007).
local scheduler = require "cartwright.service.scheduler"
local service = require "cartwright.service"
local time = require "cartwright.time"

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

local function when(t) return t and time.format(t) or "-" end

-- The carts and services named on the line, checked against the config. list | nil, err.
local function targets(s, args)
  local cart, conn = require("cartwright.carts").load(s.cfg, args[1])
  if not cart then return nil, conn end
  if args[2] then
    for _, sv in ipairs(scheduler.SERVICES) do
      if sv == args[2] then return { args[2] } end
    end
    return nil, "unknown service '" .. args[2] .. "' (orders, inventory, shipments)"
  end
  return scheduler.services(cart)
end

local function set_running(args, opts, cli, running)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err = targets(s, args)
  if not list then return cli.fail(err, "usage") end
  local db, derr = s:open()
  if not db then return cli.fail(derr, "failed") end
  for _, sv in ipairs(list) do
    assert(db:sync_set_running{ cart = args[1], service = sv, running = running and 1 or 0 })
    if opts.json then cli.json{ cart = args[1], service = sv, state = running and "RUNNING" or "STOPPED" }
    else cli.out("%s %s: %s", args[1], sv, running and "RUNNING" or "STOPPED") end
  end
  s:close()
  return 0
end

function M.sync_start(args, opts, cli) return set_running(args, opts, cli, true) end
function M.sync_stop(args, opts, cli) return set_running(args, opts, cli, false) end

function M.sync_status(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local db, derr = s:open()
  if not db then return cli.fail(derr, "failed") end
  local carts = require "cartwright.carts"
  for _, name in ipairs(s.cfg.cart_order or {}) do
    local cart = carts.load(s.cfg, name)
    local row = db:cart_get{ name = name } or {}
    for _, sv in ipairs(cart and scheduler.services(cart) or {}) do
      local st = db:sync_get{ cart = name, service = sv } or {}
      local r = { cart = name, service = sv, state = (st.running == 0 or (cart and not cart.active)) and "STOPPED" or "RUNNING",
        last_run = st.last_run and time.format(st.last_run) or nil, result = st.last_result or nil,
        last_error = st.last_error or nil, next_run = st.next_run and time.format(st.next_run) or nil,
        interval = scheduler.interval(cart, sv), watermark = sv == "orders" and row.watermark or nil }
      if opts.json then cli.json(r)
      else
        cli.out("%-12s %-10s %-8s last %s %s  next %s%s%s", name, sv, r.state, when(st.last_run), r.result or "-",
          when(st.next_run), r.watermark and ("  watermark " .. r.watermark) or "",
          r.last_error and ("  error: " .. r.last_error) or "")
      end
    end
  end
  s:close()
  return 0
end

function M.runs(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local db, derr = s:open()
  if not db then return cli.fail(derr, "failed") end
  for _, r in ipairs(assert(db:run_list{ cart = args[1], limit = 100 })) do
    if opts.json then
      cli.json{ id = r.id, cart = r.cart, service = r.service, started = time.format(r.started),
        finished = r.finished and time.format(r.finished) or nil, window_from = r.window_from or nil,
        window_to = r.window_to or nil, pages = r.pages or nil, seen = r.seen or nil, imported = r.imported or nil,
        updated = r.updated or nil, skipped = r.skipped or nil, skipped_why = r.skipped_why or nil, error = r.error or nil }
    else
      cli.out("%d %s %s %s  window %s..%s  pages %s  seen %s imported %s updated %s skipped %s%s%s", r.id, r.cart,
        r.service, time.format(r.started), r.window_from or "-", r.window_to or "-", r.pages or "-", r.seen or "-",
        r.imported or "-", r.updated or "-", r.skipped or "-", r.skipped_why and (" (" .. r.skipped_why .. ")") or "",
        r.error and ("  error: " .. r.error) or "")
    end
  end
  s:close()
  return 0
end

return M
