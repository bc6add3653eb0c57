-- Per-cart rate limiter: one token bucket per cart name in the process, shared by every job of
-- that cart (an import now; stock pushes and shipment uploads next), each through its own ctx.
-- `capacity` requests may go at once, then `per_second` more each second. The bucket is sized
-- from what the cart announces (its connector's observe(res) reads the headers), unless the
-- merchant set the cart's rate_limit, which always wins; what the cart says is left sets what
-- we may spend now, and a cart with a window (a reset time) is not asked for more than it said
-- was left until that window ends. What was learned is kept per cart in the store between runs
-- (load/save), so a new process does not start with a full bucket into a 429. No wait is longer
-- than the cart's retry_max_seconds; after that the request goes anyway (the cart's 429 and
-- Retry-After still hold). Uses cartwright.task, cartwright.log; a store given to load/save.
local task = require "cartwright.task"
local log = require "cartwright.log"

local M = {}

M.DEFAULT_RATE = { capacity = 10, per_second = 5 } -- a cart whose connector declares none
-- A window's end read from a reset time is waited for this much longer: the cart rounds its
-- reset down to the millisecond, and a request sent a moment early would meet the old window.
M.WINDOW_SLACK = 0.05

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

-- A size a cart may announce (or a store row hold): capacity >= 1 and per_second > 0, finite.
local function sane_size(capacity, per_second)
  return sane(capacity) and sane(per_second) and capacity >= 1 and per_second > 0
end

--- The bucket of cart `name`, made on first use from `rate` ({ capacity, per_second }: the
--- cart's rate_limit, else its connector's rate; carts.lua has checked both; DEFAULT_RATE when
--- none). `learn` true says `rate` is only a default (no rate_limit set): the size the cart
--- announces replaces it. Without `learn` the rate is the merchant's and wins over anything the
--- cart announces. A later call with another rate (the config changed) changes the shared
--- bucket's size and refill; one without a rate leaves it as it is.
function M.get(name, rate, learn)
  local b = buckets[name]
  if not b then
    rate = rate or M.DEFAULT_RATE
    b = setmetatable({ name = name, capacity = rate.capacity, rate = rate.per_second, tokens = rate.capacity,
                       at = task.monotonic(), inflight = 0, set = rate, fixed = not learn }, Bucket)
    buckets[name] = b
  elseif rate then
    b.set, b.fixed = rate, not learn
    b:resize()
  end
  return b
end

-- Applies the size that holds: the merchant's rate_limit, else what the cart announced, else
-- the connector's default. Tokens above a smaller capacity go.
function Bucket:resize()
  local size = (not self.fixed and self.learned) or self.set
  if self.capacity == size.capacity and self.rate == size.per_second then return end
  self:refill()
  self.capacity, self.rate = size.capacity, size.per_second
  if self.tokens > self.capacity then self.tokens = self.capacity end
end

function Bucket:refill()
  local now = task.monotonic()
  self.tokens = math.min(self.capacity, self.tokens + (now - self.at) * self.rate)
  self.at = now
  if self.window_end and now >= self.window_end then self.window_end, self.window_left = nil, nil end
end

--- Lowers what is left when the cart says it has less (another app shares the quota); never
--- below 0, so one answer cannot put us in debt for longer than a token takes. A count that is
--- not a finite number is ignored.
function Bucket:cap(left)
  if not sane(left) then return end
  self:refill()
  if left < 0 then left = 0 end
  if left < self.tokens then self.tokens = left end
  if self.window_left and left < self.window_left then self.window_left = left end
end

--- What a connector's observe(res) read from an answer, every field optional:
---   capacity, per_second: the size of the cart's bucket (a window's quota and quota / window);
---     it sizes the bucket unless the merchant set rate_limit;
---   left: requests the cart still allows now; the bucket then holds that many, less the
---     requests still in flight (never more than its capacity; never more than it had when the
---     size is the merchant's);
---   reset: seconds until the cart's window starts again; with `left`, no more than `left` go
---     before then (and ctx:request waits that long on a 429 without Retry-After).
function Bucket:observe(quota)
  if type(quota) ~= "table" then return end
  self.known = true -- the store's copy is older now
  if sane_size(quota.capacity, quota.per_second) then
    self.learned = { capacity = quota.capacity, per_second = quota.per_second }
    self:resize()
  end
  local left = quota.left
  if not sane(left) then return end
  self:refill()
  left = math.max(0, left - self.inflight) -- sent after the cart counted, answered later
  if self.fixed then
    if left < self.tokens then self.tokens = left end
  else
    self.tokens = math.min(self.capacity, left)
  end
  local reset = quota.reset
  if sane(reset) and reset >= 0 then
    self.window_left, self.window_end = left, task.monotonic() + reset + M.WINDOW_SLACK
  end
end

--- Around each request sent: requests in flight are not yet counted in an answer's `left`.
function Bucket:sending() self.inflight = self.inflight + 1 end
function Bucket:answered() self.inflight = math.max(0, self.inflight - 1) end

-- Seconds until a token is there: the window's end when the cart's window has none left,
-- else the refill of the token.
function Bucket:need()
  if self.window_left and self.window_left < 1 then return self.window_end - task.monotonic() end
  return (1 - self.tokens) / self.rate
end

-- Takes a token when there is one (in the bucket and in the cart's window). Returns true | false.
function Bucket:try()
  self:refill()
  if self.tokens >= 1 and (not self.window_left or self.window_left >= 1) then
    self.tokens = self.tokens - 1
    if self.window_left then self.window_left = self.window_left - 1 end
    return true
  end
  return false
end

--- Takes one token, sleeping until one is there, but never longer than `max_wait` seconds in
--- all (the cart's retry_max_seconds): after that the request goes anyway, and the cut wait is
--- logged once. Returns the seconds it waited, or nil when a token was there.
function Bucket:take(max_wait)
  if self:try() then return nil end
  local need = self:need()
  if need > max_wait then
    log.warn("rate limit wait cut to retry_max_seconds", { cart = self.name, asked = secs(need), wait = secs(max_wait) })
  end
  local t0 = task.monotonic()
  local deadline = t0 + max_wait
  for _ = 1, 1000 do -- bounded: tasks sharing the bucket may take the token first
    local left = deadline - task.monotonic()
    if left <= 0 then break end
    task.sleep(math.max(0, math.min(self:need(), left)))
    if self:try() then return task.monotonic() - t0 end
  end
  self.tokens = 0
  if self.window_left then self.window_left = 0 end
  return task.monotonic() - t0
end

---------------------------------------------------------------- kept between runs

--- What the bucket knows, for the store (times on the wall clock, a new process has another
--- monotonic clock): { cart, capacity, per_second (what the cart announced; absent when
--- nothing), tokens, at, window_left, window_end }.
function Bucket:state()
  self:refill()
  local now, mono = task.now(), task.monotonic()
  local learned = self.learned or {}
  return { cart = self.name, capacity = learned.capacity, per_second = learned.per_second,
           tokens = self.tokens, at = now, window_left = self.window_left,
           window_end = self.window_end and now + (self.window_end - mono) }
end

--- Starts the bucket from what an earlier run saved (a row of Bucket:state()), refilled by the
--- time since: only a bucket that has seen no answer in this process (it knows better). A
--- window end further away than a full refill (a clock set back) is cut to that.
function Bucket:restore(row)
  if self.known or type(row) ~= "table" then return end
  self.known = true
  if sane_size(row.capacity, row.per_second) then
    self.learned = { capacity = row.capacity, per_second = row.per_second }
    self:resize()
  end
  if not (sane(row.tokens) and sane(row.at)) then return end
  local now, mono = task.now(), task.monotonic()
  local elapsed = math.max(0, now - row.at)
  self.tokens = math.max(0, math.min(self.capacity, row.tokens + elapsed * self.rate))
  self.at = mono
  if sane(row.window_left) and sane(row.window_end) and row.window_end > now then
    self.window_left = math.max(0, row.window_left)
    self.window_end = mono + math.min(row.window_end - now, self.capacity / self.rate)
  end
end

--- Reads what the store kept for this cart (db:cart_quota_get) into the bucket. A store that
--- cannot answer is logged and the run goes on with the bucket as it is.
function Bucket:load(db)
  local row, err = db:cart_quota_get{ cart = self.name }
  if row == nil then
    log.warn("cannot read the cart's saved rate limit", { cart = self.name, err = err })
    return
  end
  self:restore(row or nil)
end

--- Keeps what the bucket knows in the store (db:cart_quota_put) for the next run.
function Bucket:save(db)
  local ok, err = db:cart_quota_put(self:state())
  if not ok then log.warn("cannot save the cart's rate limit", { cart = self.name, err = err }) end
end

return M
