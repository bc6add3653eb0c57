-- Shopify GraphQL Admin API: one operation POSTed to {shop}/admin/api/{version}/graphql.json
-- with the cart's token (token.lua: static, or from the client-credentials grant, renewed once
-- on a 401), through ctx:request (origin, the cart's limiter, retries of 429 and 5xx). Reads
-- the answer's errors (and keeps the cost budget each answer reports and what each named
-- operation asked for, to wait before a call the budget cannot hold yet): THROTTLED (HTTP 200, the cost budget in extensions.cost.throttleStatus)
-- is waited out when the wait fits the cart's retry_max_seconds, a few times, else returned as
-- an error the caller may retry; any other top-level error fails the call.
-- Uses: ctx:request, cjson.safe, cartwright.task, cartwright.log, cartwright.cartdata, token.lua.
local json = require "cjson.safe"
local task = require "cartwright.task"
local log = require "cartwright.log"
local cd = require "cartwright.cartdata"
local shopify = require "connectors.shopify"
local token = require "connectors.shopify.token"

local M = {}

-- Per cart, in this process: the budget the last answer reported, and what each named
-- operation asked for (kept across calls and commands of the process, as the limiter is).
local budgets, costs = {}, {}

M.THROTTLE_TRIES = 3 -- answers of THROTTLED waited out before the call gives up

function M.url(ctx)
  return shopify.origin(ctx.cart) .. "/admin/api/" .. (ctx.cart.api_version or shopify.api_version) .. "/graphql.json"
end

-- One POST; res (2xx) | nil, err, permanent (a 4xx other than 429: sending it again will not
-- help). A refused token from the grant is renewed and sent once more.
local function post(ctx, body, what)
  local res, err
  for _ = 1, 2 do
    local tok, terr = token.get(ctx)
    if not tok then return nil, terr .. " (" .. what .. ")" end
    res, err = ctx:request{ method = "POST", url = M.url(ctx), body = body,
      headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" },
      before_send = function(o)
        tok = token.get(ctx) or tok -- a token due during the limiter's wait is renewed first
        o.headers["X-Shopify-Access-Token"] = tok
      end }
    if not (res and res.status == 401 and token.refused(ctx, tok)) then break end
    log.debug("shopify refused the access token; getting a new one", { cart = ctx.cart.name, what = what })
  end
  local ok, oerr = cd.ok_response(ctx, what, res, err)
  if ok then return ok end
  local status = res and res.status or 0
  return nil, oerr, status >= 400 and status < 500 and status ~= 429 or nil
end

-- The budget as the last answer left it, refilled since: points now | nil (nothing known).
local function budget_now(b)
  if not b then return nil end
  return math.min(b.max, b.available + b.rate * (task.monotonic() - b.at))
end

-- Remembers the budget and what the operation asked for, from an answer's extensions.
local function note_cost(ctx, op, ext)
  local cost = type(ext) == "table" and type(ext.cost) == "table" and ext.cost or nil
  if not cost then return end
  local ts = type(cost.throttleStatus) == "table" and cost.throttleStatus or {}
  local have, rate, max = tonumber(ts.currentlyAvailable), tonumber(ts.restoreRate), tonumber(ts.maximumAvailable)
  local cart = ctx.cart.name
  if have and rate and rate > 0 then
    budgets[cart] = { available = have, rate = rate, max = max or have, at = task.monotonic() }
  end
  local asked = tonumber(cost.requestedQueryCost)
  if op and asked then
    costs[cart] = costs[cart] or {}
    costs[cart][op] = asked
  end
end

-- Before a call: waits until the budget holds what this operation asked for last time (when
-- that wait fits the cart's retry_max_seconds; otherwise Shopify's answer decides).
local function wait_for_budget(ctx, op)
  local cart = ctx.cart.name
  local b, want = budgets[cart], op and costs[cart] and costs[cart][op]
  local have = budget_now(b)
  if not (have and want) or want <= have then return end
  local wait = (want - have) / b.rate
  if wait <= ctx:max_wait() then task.sleep(wait + 0.01) end
end

-- Seconds until the budget holds what the refused query asked for (nil: not readable).
local function throttle_wait(ext)
  local cost = type(ext) == "table" and type(ext.cost) == "table" and ext.cost or {}
  local ts = type(cost.throttleStatus) == "table" and cost.throttleStatus or {}
  local want, have, rate = tonumber(cost.requestedQueryCost), tonumber(ts.currentlyAvailable), tonumber(ts.restoreRate)
  if not (want and have and rate and rate > 0) then return nil end
  return math.max(0, (want - have) / rate)
end

-- The first top-level error: its code (extensions.code) and message.
local function first_error(errors)
  if type(errors) ~= "table" then return nil end
  local e = errors[1]
  if type(e) ~= "table" then return "error", tostring(errors) end
  local ext = type(e.extensions) == "table" and e.extensions or {}
  return type(ext.code) == "string" and ext.code or "error", tostring(e.message)
end

-- Top-level error codes that say the same call may succeed later; any other (a refused field,
-- ACCESS_DENIED, a bad variable) is permanent.
local PASSING = { THROTTLED = true, INTERNAL_SERVER_ERROR = true, SERVICE_UNAVAILABLE = true, TIMEOUT = true }

--- Runs one operation. Returns data, extensions | nil, err, permanent (err starts with
--- "throttled" when Shopify kept refusing for cost: worth retrying later; permanent = true for
--- a 4xx other than 429 or a top-level error that is not passing).
function M.request(ctx, query, variables, what)
  local body = json.encode({ query = query, variables = variables })
  local op = query:match("^%s*%a+%s+([%w_]+)") -- the operation's name: what it costs is alike each time
  for try = 1, M.THROTTLE_TRIES + 1 do
    wait_for_budget(ctx, op)
    local res, err, permanent = post(ctx, body, what)
    if not res then return nil, err, permanent end
    local doc = json.decode(res.body)
    if type(doc) ~= "table" then return nil, "bad JSON from graphql.json (" .. what .. ")" end
    note_cost(ctx, op, doc.extensions)
    local code, msg = first_error(doc.errors)
    if not code then
      if type(doc.data) ~= "table" then return nil, "graphql.json answered without data (" .. what .. ")" end
      return doc.data, doc.extensions
    end
    if code ~= "THROTTLED" then
      return nil, "shopify GraphQL " .. code .. ": " .. msg .. " (" .. what .. ")", not PASSING[code] or nil
    end
    local wait = throttle_wait(doc.extensions)
    if try > M.THROTTLE_TRIES or not wait or wait > ctx:max_wait() then
      return nil, string.format("throttled: shopify GraphQL cost budget exhausted (%s; wait %s s)", what,
        wait and string.format("%.1f", wait) or "unknown")
    end
    log.debug("shopify GraphQL throttled; waiting for the cost budget", { cart = ctx.cart.name, what = what,
      wait = string.format("%.2f", wait) })
    task.sleep(wait + 0.05)
  end
end

return M
