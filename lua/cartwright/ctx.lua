-- The context a connector's hooks receive: the cart's settings and ctx:request, which is
-- http.request plus the cart's rate limit (a token bucket shared by every task of the cart)
-- and retries of 429, 5xx, timeouts and truncated transfers with backoff and jitter.
local http = require "cartwright.http"
local task = require "cartwright.task"
local log = require "cartwright.log"

local Ctx = {}
Ctx.__index = Ctx

local M = {}

-- Token bucket: `capacity` requests at once, refilled at `per_second`.
local Bucket = {}
Bucket.__index = Bucket

local function bucket(rate)
  return setmetatable({ capacity = rate.capacity, rate = rate.per_second, tokens = rate.capacity,
                        at = task.monotonic() }, Bucket)
end

function Bucket:refill()
  local now = task.monotonic()
  self.tokens = math.min(self.capacity, self.tokens + (now - self.at) * self.rate)
  self.at = now
end

--- Takes one token, sleeping until one is there.
function Bucket:take()
  for _ = 1, 100000 do
    self:refill()
    if self.tokens >= 1 then
      self.tokens = self.tokens - 1
      return
    end
    task.sleep((1 - self.tokens) / self.rate)
  end
end

--- Lowers what is left when the cart says it has less (another app shares the quota).
function Bucket:cap(left)
  self:refill()
  if left < self.tokens then self.tokens = left end
end

--- A context for `cart` (validated settings) using connector `conn`.
function M.new(cart, conn)
  local rate = cart.rate_limit or conn.rate or { capacity = 10, per_second = 5 }
  return setmetatable({
    cart = cart, connector = conn, log = log,
    bucket = bucket(rate),
    stats = { requests = 0, retries = 0, throttled = 0 },
  }, Ctx)
end

-- Seconds to wait that the cart asked for: Retry-After (seconds or an HTTP date) or
-- BigCommerce's X-Rate-Limit-Time-Reset-Ms.
local function asked_wait(res)
  local h = res.headers
  local ra = h["retry-after"]
  if ra then
    local s = tonumber(ra)
    if s then return s end
  end
  local ms = tonumber(h["x-rate-limit-time-reset-ms"])
  if ms then return ms / 1000 end
  return nil
end

-- Reads the cart's own view of its quota so we slow down before a 429.
function Ctx:observe(res)
  local h = res.headers
  local used, size = (h["x-shopify-shop-api-call-limit"] or ""):match("(%d+)/(%d+)")
  if used then self.bucket:cap(tonumber(size) - tonumber(used) - 1) end
  local left = tonumber(h["x-rate-limit-requests-left"])
  if left then self.bucket:cap(left) end
end

local function retryable(res, err)
  if not res then
    -- refused/dns/tls are configuration problems: retrying only hides them
    return err:match("^timeout") or err:match("^transport")
  end
  return res.status == 429 or res.status >= 500
end

--- http.request under the cart's limits. Returns res (any status the cart answered that is
--- not retried) | nil, err after the last attempt. opts.before_send(opts), when given, runs
--- before every attempt (to sign the request anew, e.g. a fresh OAuth nonce).
function Ctx:request(opts)
  opts.timeout = opts.timeout or self.cart.timeout or 30
  local attempts = math.max(1, self.cart.max_attempts or 6)
  local base = self.cart.retry_base_seconds or 0.5
  local cap = self.cart.retry_max_seconds or 30
  local res, err
  for attempt = 1, attempts do
    self.bucket:take()
    if opts.before_send then opts.before_send(opts) end
    self.stats.requests = self.stats.requests + 1
    res, err = http.request(opts)
    if res then self:observe(res) end
    if not retryable(res, err) then return res, err end
    if res and res.status == 429 then self.stats.throttled = self.stats.throttled + 1 end
    if attempt == attempts then break end
    -- exponential backoff with full jitter, at least what the cart asked for
    local wait = math.random() * math.min(cap, base * 2 ^ (attempt - 1))
    -- a wait the cart asks for counts on 429/503; BigCommerce sends its reset time on every answer
    local asked = res and (res.status == 429 or res.status == 503) and asked_wait(res)
    if asked then wait = math.max(wait, asked) end
    if res and res.status == 429 then self.bucket:cap(0) end
    self.stats.retries = self.stats.retries + 1
    log.warn("retrying request", { cart = self.cart.name, status = res and res.status or err,
                                    attempt = attempt, wait = string.format("%.2f", wait) })
    task.sleep(wait)
  end
  if res then
    return nil, string.format("http %d after %d attempts", res.status, attempts)
  end
  return nil, string.format("%s (after %d attempts)", err, attempts)
end

--- Turns a non-2xx response into nil, "http <status>: <start of the body>".
function Ctx.fail(_, res) -- called as ctx:fail(res)
  local body = (res.body or ""):gsub("%s+", " "):sub(1, 200)
  return nil, string.format("http %d: %s", res.status, body)
end

return M
