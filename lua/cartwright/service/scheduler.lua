-- The scheduler of `cartwright serve`: per cart and service (orders: the import; inventory: the
-- stock push; shipments: the outbox's shipments and statuses) a task that runs the job every
-- `intervals[service]` seconds, jittered by up to a tenth. One task per cart and service: a slow
-- or failing cart never delays another, and a job never overlaps itself; a job also takes the
-- cart's lease for its service (service/lease.lua), so another process (a CLI import) never
-- runs it at the same time. A failed run backs off (the interval doubled per failure, up to an
-- hour). `cartwright sync stop|start` flips sync_state.running, which each task reads when its
-- run is due. Every run leaves a row in `runs`. Uses ops.import, ops.stock, ops.ship, the
-- store's sync_* and run_* ops, and cartwright.task.
local carts = require "cartwright.carts"
local lease = require "cartwright.service.lease"
local log = require "cartwright.log"
local task = require "cartwright.task"

local M = {}

M.SERVICES = { "orders", "inventory", "shipments" }
M.DEFAULTS = { orders = 300, inventory = 60, shipments = 60 }
M.MAX_BACKOFF = 3600
M.MAX_SLEEP = 60 -- the longest a task sleeps before looking at its cart again (a poke or a stop wakes it)
M.STOPPED_RECHECK = 5 -- how often a stopped service looks at sync_state again (seconds)
-- a poked run waits for a 30 ms lull in pokes, 1 s after the first poke at most; once pokes came
-- closer than that (a burst), for a 0.3 s lull, 5 s after the first at most
M.QUIET, M.MAX_DEBOUNCE = 0.03, 1
M.BURST_QUIET, M.BURST_MAX = 0.3, 5

local Sched = {}
Sched.__index = Sched

--- The services a cart runs: orders always; inventory with sync_inventory; shipments unless
--- the marketplace ships its orders.
function M.services(cart)
  local list = { "orders" }
  if cart.sync_inventory then list[#list + 1] = "inventory" end
  if not cart.marketplace_fulfilled then list[#list + 1] = "shipments" end
  return list
end

--- The cart's interval for a service, in seconds: the cart's setting, else its connector's
--- default (conn.intervals), else ours.
function M.interval(cart, service, conn)
  return (cart.intervals or {})[service] or (conn and conn.intervals or {})[service] or M.DEFAULTS[service]
end

--- The wait after `failures` failed runs in a row (0: the jittered interval).
function M.next_wait(interval, failures)
  if failures > 0 then return math.min(interval * 2 ^ failures, math.max(interval, M.MAX_BACKOFF)) end
  return interval * (0.9 + 0.2 * math.random())
end

--- A scheduler for session s (its cfg and db). opts: { holder }.
function M.new(s, opts)
  opts = opts or {}
  return setmetatable({ s = s, holder = opts.holder or lease.holder("serve"), loops = {}, marks = {}, idle = {}, poked = {}, inflight = 0,
    stopping = false }, Sched) -- loops: key -> the task's handle (task.wake ends its sleep)
end

-- The jobs: each returns a run's figures { pages, seen, imported, updated, skipped, skipped_why }
-- | nil, err.
local JOBS = {}

function JOBS.orders(self, name)
  local results, err = require("cartwright.ops.import").run(self.s, { name }, { leased = true })
  if not results then return nil, err end
  local r = results[1]
  local why = {}
  if (r.skipped_status or 0) > 0 then why[#why + 1] = r.skipped_status .. " by status (download_statuses)" end
  if (r.skipped_early or 0) > 0 then why[#why + 1] = r.skipped_early .. " before earliest_order_date" end
  local fig = { pages = r.pages, seen = r.seen, imported = r.imported, updated = r.updated, skipped = r.skipped,
    skipped_why = #why > 0 and table.concat(why, ", ") or nil }
  if not r.ok then return nil, r.error, fig end
  if results.push_error then return nil, "pushing stock after the import: " .. results.push_error, fig end
  return fig
end

function JOBS.inventory(self, name)
  local results, err = require("cartwright.ops.stock").push(self.s, { name }, {})
  if not results then return nil, err end
  local fig = { seen = 0, updated = 0 }
  for _, r in ipairs(results) do
    fig.updated = fig.updated + (r.sent or 0)
    if not r.ok then return nil, r.error, fig end
  end
  return fig
end

function JOBS.shipments(self, name)
  local results, err = require("cartwright.ops.ship").send(self.s, { name })
  if not results then return nil, err end
  local fig = { seen = 0, updated = 0 }
  for _, r in ipairs(results) do
    fig.seen, fig.updated = fig.seen + (r.found or 0), fig.updated + (r.sent or 0)
    if not r.ok then return nil, tostring(r.error), fig end
  end
  return fig
end

local function errmsg(e) return tostring(e):match("^(.-)\nstack traceback:") or tostring(e) end

--- One run of a cart's service, holding its lease. "ok" | "failed", err | "busy", holder.
function Sched:run_job(name, service)
  local db = self.s.db
  local got, other = lease.take(db, name, service, self.holder)
  if not got then return "busy", other end
  self.inflight = self.inflight + 1
  local release = lease.keep(db, name, service, self.holder)
  local before = service == "orders" and db:cart_get{ name = name } or nil
  local run = db:run_start{ cart = name, service = service, holder = self.holder, started = task.now(),
    window_from = before and before.watermark or nil }
  local ok, fig, err, partial = pcall(JOBS[service], self, name)
  if not ok then fig, err = nil, errmsg(fig) end
  fig = fig or partial or {}
  local after = service == "orders" and db:cart_get{ name = name } or nil
  if run then
    db:run_finish{ id = run.id, finished = task.now(), window_to = after and after.watermark or nil,
      pages = fig.pages, seen = fig.seen, imported = fig.imported, updated = fig.updated, skipped = fig.skipped,
      skipped_why = fig.skipped_why, error = err }
  end
  release()
  self.inflight = self.inflight - 1
  if err then
    log.warn("scheduled run failed", { cart = name, service = service, err = err })
    return "failed", err
  end
  return "ok"
end

-- The task of one cart and service: runs it when due, until the scheduler stops or the cart
-- leaves the config (a reload).
function Sched:loop(name, service, me)
  local db = self.s.db
  local failures = 0
  local cart, conn = carts.load(self.s.cfg, name)
  cart = cart or {}
  local next_at = task.now() + math.random() * math.min(M.interval(cart, service, conn), 2)
  local key = name .. "/" .. service
  -- me: this task's own mark; a reload that dropped the cart and added it again started another
  while not self.stopping and self.marks[key] == me do
    local now = task.now()
    local poke, wake_at = self.poked[key], next_at
    if poke then -- webhooks: run once they quiet down (a burst is one run, or two)
      local due = poke.burst and math.min(poke.last + M.BURST_QUIET, poke.first + M.BURST_MAX)
        or math.min(poke.last + M.QUIET, poke.first + M.MAX_DEBOUNCE)
      -- (a later poke moves `due`: so it is looked at again each time, never kept in next_at)
      wake_at = math.min(wake_at, due)
    end
    if now < wake_at then
      -- a poke, a stop or a reload wakes it (this sleep only: never one inside a job)
      self.idle[key] = true
      task.sleep(math.min(M.MAX_SLEEP, wake_at - now))
      self.idle[key] = nil
    else
      self.poked[key] = nil -- this run reads the cart anew: it covers every poke so far
      local c2, conn2 = carts.load(self.s.cfg, name)
      if c2 then cart, conn = c2, conn2 end
      local interval = M.interval(cart, service, conn)
      local st = db:sync_get{ cart = name, service = service }
      if st and st.running == 0 then
        next_at = now + math.min(interval, M.STOPPED_RECHECK)
      else
        local result, err = self:run_job(name, service)
        if result == "busy" then
          next_at = task.now() + math.min(interval, 5)
          log.info("another process runs it: later", { cart = name, service = service, holder = err })
        else
          failures = result == "ok" and 0 or failures + 1
          next_at = task.now() + M.next_wait(interval, failures)
          db:sync_record{ cart = name, service = service, last_run = task.now(), last_result = result,
            last_error = err, next_run = next_at, failures = failures }
        end
      end
    end
  end
end

-- Ends the idle sleep of a service's task (a sleep inside a run, such as a rate-limit wait, is
-- left alone: the task looks at what changed when the run is over).
function Sched:wake(key, handle)
  handle = handle or self.loops[key]
  if handle and self.idle[key] then task.wake(handle) end
end

--- Starts a task for every cart and service of the config not running yet, and ends those of
--- carts no longer in it (start, and after a reload).
function Sched:sync_carts()
  local wanted = {}
  for _, name in ipairs(self.s.cfg.cart_order or {}) do
    local cart = carts.load(self.s.cfg, name)
    if cart and cart.active then
      for _, service in ipairs(M.services(cart)) do wanted[name .. "/" .. service] = { name, service } end
    end
  end
  for key, handle in pairs(self.loops) do
    if not wanted[key] then
      self.loops[key], self.marks[key] = nil, nil
      self:wake(key, handle) -- it sees it is no longer wanted and ends
    end
  end
  local n = 0
  for key, w in pairs(wanted) do
    n = n + 1
    if not self.loops[key] then
      local me = {}
      self.marks[key] = me
      self.loops[key] = task.spawn(function() self:loop(w[1], w[2], me) end)
    end
  end
  return n
end

--- Asks for a run of a cart's service now (a valid webhook): it starts when no other poke came
--- for QUIET seconds, MAX_DEBOUNCE after the first at most (a burst, pokes closer than QUIET:
--- BURST_QUIET and BURST_MAX).
--- Pokes that arrive together, or while a run is in flight, make one run more, not one each.
function Sched:poke(name, service)
  local key = name .. "/" .. (service or "orders")
  local now = task.now()
  local p = self.poked[key]
  if p then
    if now - p.last < M.QUIET then p.burst = true end
    p.last = now
  else self.poked[key] = { first = now, last = now } end
  self:wake(key)
end

function Sched:start()
  return self:sync_carts()
end

--- Stops taking work, then waits (up to `grace` seconds) for the runs in flight. Returns the
--- number still running at the end (0: all finished).
function Sched:stop(grace)
  self.stopping = true
  for key in pairs(self.loops) do self:wake(key) end
  local deadline = task.monotonic() + (grace or 10)
  for _ = 1, math.ceil((grace or 10) / 0.05) + 1 do
    if self.inflight == 0 or task.monotonic() >= deadline then break end
    task.sleep(0.05)
  end
  return self.inflight
end

return M
