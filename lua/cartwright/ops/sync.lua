-- Sync state and runs: start and stop a cart's scheduled services (kept in sync_state, read by
-- a running `serve` at its next tick), what each service did last and does next, and the audit
-- row of each run (migration 007). The CLI (`sync`, `runs`) and the admin API call these.
local carts = require "cartwright.carts"
local scheduler = require "cartwright.service.scheduler"
local time = require "cartwright.time"
local ops = require "cartwright.ops"

local M = {}

local function when(t) return t and time.format(t) or nil end

--- The services named (one, or every service of the cart). list | nil, err, kind.
function M.targets(s, name, service)
  local cart, conn = carts.load(s.cfg, name)
  if not cart then return ops.fail("not_found", conn) end
  if service then
    for _, sv in ipairs(scheduler.SERVICES) do
      if sv == service then return { service } end
    end
    return ops.fail("usage", "unknown service '%s' (orders, inventory, shipments)", tostring(service))
  end
  return scheduler.services(cart)
end

--- Starts (running = true) or stops a cart's service, or all its services. Returns
--- { { cart, service, state = "RUNNING" | "STOPPED" } } | nil, err, kind.
function M.set_running(s, name, service, running)
  local list, err, kind = M.targets(s, name, service)
  if not list then return nil, err, kind end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local out = {}
  for _, sv in ipairs(list) do
    local ok, serr = db:sync_set_running{ cart = name, service = sv, running = running and 1 or 0 }
    if not ok then return ops.fail("failed", serr) end
    out[#out + 1] = { cart = name, service = sv, state = running and "RUNNING" or "STOPPED" }
  end
  return out
end

--- Every cart's services: { { cart, service, state, last_run, result, last_error, next_run,
--- interval, watermark } } | nil, err, kind.
function M.status(s)
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local out = {}
  for _, name in ipairs(s.cfg.cart_order or {}) do
    local cart, conn = carts.load(s.cfg, name)
    if not cart then -- a cart whose settings do not load never runs: say so, not nothing
      out[#out + 1] = { cart = name, service = "orders", state = "STOPPED", last_error = tostring(conn) }
    end
    local row = db:cart_get{ name = name } or {}
    for _, sv in ipairs(cart and scheduler.services(cart) or {}) do
      local st = db:sync_get{ cart = name, service = sv } or {}
      out[#out + 1] = { cart = name, service = sv,
        state = (st.running == 0 or (cart and not cart.active)) and "STOPPED" or "RUNNING",
        last_run = when(st.last_run), result = st.last_result or nil, last_error = st.last_error or nil,
        next_run = when(st.next_run), interval = scheduler.interval(cart, sv, conn),
        watermark = sv == "orders" and row.watermark or nil }
    end
  end
  return out
end

--- The latest runs (of one cart, or all), newest first, at most `limit` (100). list | nil, err, kind.
function M.runs(s, name, limit)
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local rows, err = db:run_list{ cart = name, limit = math.min(math.max(tonumber(limit) or 100, 1), 1000) }
  if not rows then return ops.fail("failed", err) end
  local out = {}
  for i, r in ipairs(rows) do
    out[i] = { id = r.id, cart = r.cart, service = r.service, started = when(r.started), finished = when(r.finished),
      window_from = r.window_from or nil, window_to = r.window_to or nil, pages = r.pages or nil, seen = r.seen or nil,
      imported = r.imported or nil, updated = r.updated or nil, skipped = r.skipped or nil,
      skipped_why = r.skipped_why or nil, error = r.error or nil }
  end
  return out
end

return M
