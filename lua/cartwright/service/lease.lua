-- Leases: one job per cart and service at a time, also across processes (`serve` and a CLI
-- `import` share them). A lease is a row of job_leases (migration 007) with its holder and an
-- expiry its holder keeps moving while the job runs; a lease whose holder died expires and is
-- taken over. Uses the store's lease_* ops and cartwright.task (clock, sleep, spawn).
local task = require "cartwright.task"

local M = {}

M.TTL = 30 -- seconds a lease lasts without renewal
local STEP = 0.25 -- how often a waiting taker looks again

--- A holder name unique to this process and use: kind, host, process id and a random part,
--- e.g. "serve/shop-1/4242/1a2b3c4d".
function M.holder(kind)
  local pid, host = task.process()
  return string.format("%s/%s/%d/%08x", kind, host, pid, math.random(0, 0x7fffffff))
end

--- A holder's host and process id (as text) | nil.
function M.host_pid(holder)
  return tostring(holder):match("^[^/]+/(.+)/(%d+)/%x+$")
end

--- Whether a holder is a process of this host that is gone (killed, crashed): its lease need
--- not be waited out.
function M.gone(holder)
  local host, pid = M.host_pid(holder)
  local _, me = task.process()
  return host == me and not task.alive(math.tointeger(tonumber(pid)) or 0)
end

--- Takes (or renews) the lease. true | false, the other holder.
function M.take(db, cart, service, holder, ttl)
  local now = task.now()
  local row, err = db:lease_take{ cart = cart, service = service, holder = holder,
    expires = now + (ttl or M.TTL), at = now }
  if row then return true end
  if row == nil then return false, "the store: " .. tostring(err) end -- e.g. busy: not taken
  local other = db:lease_get{ cart = cart, service = service }
  if other and M.gone(other.holder) then
    local stolen = db:lease_steal{ cart = cart, service = service, holder = holder, dead = other.holder,
      expires = now + (ttl or M.TTL) }
    if stolen then return true end
  end
  return false, other and other.holder or "?"
end

--- Takes the lease, waiting up to `wait` seconds for its holder to let go (bounded in time and
--- count). true | false, the other holder.
function M.wait(db, cart, service, holder, wait)
  local ok, other = M.take(db, cart, service, holder)
  local deadline = task.now() + (wait or 0)
  for _ = 1, math.ceil((wait or 0) / STEP) + 1 do
    if ok or task.now() >= deadline then break end
    task.sleep(STEP)
    ok, other = M.take(db, cart, service, holder)
  end
  return ok, other
end

function M.release(db, cart, service, holder)
  db:lease_release{ cart = cart, service = service, holder = holder }
end

--- Keeps the lease while a job runs: a task renews it every TTL/3. Returns stop(), which ends
--- the renewals and releases the lease.
function M.keep(db, cart, service, holder)
  local stopped = false
  local keeper = task.spawn(function()
    while not stopped do
      task.sleep(M.TTL / 3) -- stop() wakes it
      if not stopped then M.take(db, cart, service, holder) end
    end
  end)
  return function()
    stopped = true
    task.wake(keeper)
    M.release(db, cart, service, holder)
  end
end

return M
