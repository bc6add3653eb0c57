-- Where a running `cartwright serve` answers, recorded in its database (service_endpoints,
-- migration 008) so the CLI of the same database sends state changes through the service's admin
-- API. The service publishes its URL when it listens, says it still runs every REFRESH seconds
-- and withdraws it when it stops; a record whose process is gone (same host) or that was not
-- refreshed for STALE seconds is ignored (a kill -9 leaves one behind); the CLI only uses a
-- service of this host on a loopback address (the API token goes nowhere else).
-- Uses the store's endpoint_* ops, service.lease (holder names) and cartwright.task.
local lease = require "cartwright.service.lease"
local task = require "cartwright.task"

local M = {}

M.REFRESH = 20
M.STALE = 60

-- The URL a client on this host uses for an address the service listens on.
local function client_url(host, port)
  if host == "0.0.0.0" or host == "" or host == "*" then host = "127.0.0.1"
  elseif host == "::" then host = "[::1]"
  elseif host:find(":", 1, true) and host:sub(1, 1) ~= "[" then host = "[" .. host .. "]" end
  return string.format("http://%s:%d", host, port)
end

--- Publishes the service's address; returns withdraw(), which stops the refreshes and deletes
--- the record.
function M.publish(db, holder, host, port)
  local url, started = client_url(host, port), task.now()
  db:endpoint_set{ holder = holder, url = url, started = started, seen = started }
  local stopped = false
  local refresher = task.spawn(function()
    for _ = 1, math.huge do -- ends when withdrawn (which wakes it)
      task.sleep(M.REFRESH)
      if stopped then break end
      db:endpoint_set{ holder = holder, url = url, started = started, seen = task.now() }
    end
  end)
  return function()
    stopped = true
    task.wake(refresher)
    db:endpoint_drop{ holder = holder }
  end
end

-- Whether a recorded address is one the CLI may send its API token to: a service of this
-- host, reached over loopback. A record naming another host or address (a service listening on
-- a LAN address, or a row someone wrote) is never sent the token.
local function local_url(r)
  local host = lease.host_pid(r.holder)
  local _, me = task.process()
  if host ~= me then return false end
  local addr = tostring(r.url):match("^http://([^/]+):%d+$")
  return addr == "127.0.0.1" or addr == "[::1]" or addr == "localhost"
end

--- The running service of this database the CLI may use: { url, holder } | nil.
function M.find(db)
  local rows = db:endpoint_list{} or {}
  local now = task.now()
  for _, r in ipairs(rows) do
    if lease.gone(r.holder) then db:endpoint_drop{ holder = r.holder }
    elseif now - r.seen <= M.STALE and local_url(r) then return { url = r.url, holder = r.holder } end
  end
  return nil
end

return M
