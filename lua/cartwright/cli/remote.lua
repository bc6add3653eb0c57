-- State changes from the command line go through the running service when there is one: the
-- service of the same database (service/endpoint.lua) gets them on its admin API, so it does
-- the work where it coordinates the carts (leases, pokes, its own caches) and logs it. Without a
-- service, or when it cannot take them (no token here, stopping, not answering), they run here:
-- the database and the leases keep both ways safe.
-- Uses cartwright.http, service.endpoint, service.api (the token), cjson.safe, cartwright.log.
local json = require "cjson.safe"
local http = require "cartwright.http"
local log = require "cartwright.log"

local M = {}

M.TIMEOUT = 600 -- seconds an operation may take at the service (an import of a large cart)

-- API error status -> the operations layer's error kind (the CLI's exit code follows it)
local KINDS = { [400] = "usage", [404] = "not_found", [409] = "conflict", [422] = "config" }

-- JSON nulls become nils and whole numbers integers (JSON has one kind of number), as the
-- operations return them
local function strip(v)
  if v == json.null then return nil end
  if math.type(v) == "float" then return math.tointeger(v) or v end
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do v[k] = strip(x) end
  return v
end

--- One path segment, escaped (an order is also CART:EXTERNAL_ID).
function M.seg(x) return http.urlencode(tostring(x)) end

-- The service to send to: { url, token } | nil (run here).
local function lookup(s)
  local db = s:open()
  if not db then return nil end
  local svc = require("cartwright.service.endpoint").find(db)
  if not svc then return nil end
  local token, why = require("cartwright.service.api").configured_token(s.cfg)
  if not token then
    log.warn("a service runs for this database but this command has no API token: it runs here",
      { service = svc.url, why = why })
    return nil
  end
  svc.token = token
  return svc
end

--- The running service this session's changes go to: { url, token } | nil (they run here).
--- Looked up once per session.
function M.service(s)
  if s.remote_service == nil then s.remote_service = lookup(s) or false end
  return s.remote_service or nil
end

--- Runs a state change through the running service, else here.
--- route = { method = "POST", path = "/api/v1/…", body = table | nil, unwrap = fn(value) -> r };
--- here() -> r, err, kind. Returns r, err, kind either way.
function M.change(s, route, here)
  local svc = M.service(s)
  if not svc then return here() end
  local res, err = http.request{ method = route.method or "POST", url = svc.url .. route.path, timeout = M.TIMEOUT,
    headers = { ["Authorization"] = "Bearer " .. svc.token, ["Content-Type"] = "application/json" },
    body = json.encode(route.body or {}) }
  if not res or res.status == 503 then
    log.warn("the service does not take it now: it runs here", { service = svc.url,
      why = res and "stopping" or tostring(err) })
    return here()
  end
  local v = strip(json.decode(res.body or ""))
  if res.status >= 200 and res.status < 300 and type(v) == "table" then
    local r = route.unwrap and route.unwrap(v) or v
    log.info("done by the running service", { service = svc.url, path = route.path })
    return r
  end
  local e = type(v) == "table" and type(v.error) == "table" and v.error or {}
  return nil, tostring(e.message or ("the service answered " .. res.status)), KINDS[res.status] or "failed"
end

return M
