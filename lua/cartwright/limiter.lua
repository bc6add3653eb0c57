-- Per-cart rate limiter: one token bucket per cart name in the process, shared by every job of
-- that cart (an import now; stock pushes and shipment uploads next), each through its own ctx.
-- `capacity` requests may go at once, then `per_second` more each second. The cart's own view
-- of its quota (what the connector's observe(res) reads from its headers) can only lower what
-- is left. No wait is longer than the cart's retry_max_seconds; after that the request goes
-- anyway (the cart's 429 and Retry-After still hold). Uses cartwright.task, cartwright.log.
local task = require "cartwright.task"
local log = require "cartwright.log"

local M = {}

M.DEFAULT_RATE = { capacity = 10, per_second = 5 } -- a cart whose connector declares none

local Bucket = {}
Bucket.__index = Bucket

local buckets = {} -- cart name -> Bucket, for the life of the process

-- A number of seconds for a message: 0.25, 1000, 99999999, 1e+308
local function secs(s)
  if s >= 100 and s < 1e15 then return string.format("%.0f", s) end
  return string.format("%.6g", s)
end
M.secs = secs

local function sane(n) return type(n) == "number" and n == n and n > -math.huge and n < math.huge end

--- The bucket of cart `name`, made on first use from `rate` ({ capacity, per_second }: the
--- cart's rate_limit, else its connector's rate; carts.lua has checked both; DEFAULT_RATE when
--- none). A later call with another rate (the config changed) changes the shared bucket's size
--- and refill; one without a rate leaves it as it is.
function M.get(name, rate)
  local b = buckets[name]
  if not b then
    rate = rate or M.DEFAULT_RATE
    b = setmetatable({ name = name, capacity = rate.capacity, rate = rate.per_second, tokens = rate.capacity,
                       at = task.monotonic() }, Bucket)
    buckets[name] = b
  elseif rate and (b.capacity ~= rate.capacity or b.rate ~= rate.per_second) then
    b:refill()
    b.capacity, b.rate = rate.capacity, rate.per_second
    if b.tokens > b.capacity then b.tokens = b.capacity end
  end
  return b
end

function Bucket:refill()
  local now = task.monotonic()
  self.tokens = math.min(self.capacity, self.tokens + (now - self.at) * self.rate)
  self.at = now
end

--- Lowers what is left when the cart says it has less (another app shares the quota); never
--- below 0, so one answer cannot put us in debt for longer than a token takes. A count that is
--- not a finite number is ignored.
function Bucket:cap(left)
  if not sane(left) then return end
  self:refill()
  if left < 0 then left = 0 end
  if left < self.tokens then self.tokens = left end
end

--- What a connector's observe(res) read from an answer: { left = requests the cart still
--- allows now, reset = seconds until its window starts again } (either may be absent). Only
--- `left` changes the bucket; `reset` is a wait the cart asks for (ctx:request uses it on 429).
function Bucket:observe(quota)
  if type(quota) == "table" then self:cap(quota.left) end
end

--- Takes one token, sleeping until one is there, but never longer than `max_wait` seconds in
--- all (the cart's retry_max_seconds): after that the request goes anyway, and the cut wait is
--- logged once.
function Bucket:take(max_wait)
  self:refill()
  if self.tokens >= 1 then
    self.tokens = self.tokens - 1
    return
  end
  local need = (1 - self.tokens) / self.rate
  if need > max_wait then
    log.warn("rate limit wait cut to retry_max_seconds", { cart = self.name, asked = secs(need), wait = secs(max_wait) })
  end
  local deadline = task.monotonic() + max_wait
  for _ = 1, 1000 do -- bounded: tasks sharing the bucket may take the token first
    local left = deadline - task.monotonic()
    if left <= 0 then break end
    task.sleep(math.min((1 - self.tokens) / self.rate, left))
    self:refill()
    if self.tokens >= 1 then
      self.tokens = self.tokens - 1
      return
    end
  end
  self.tokens = 0
end

return M
