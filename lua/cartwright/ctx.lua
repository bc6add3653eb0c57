-- The context a connector's hooks receive: the cart's settings; ctx:request, which is
-- http.request held to the cart's own origin, under the cart's rate limit (a token bucket
-- shared by every task of the cart) and with retries of 429, 5xx, timeouts and truncated
-- transfers; and ctx:pager, which stops a listing that goes round in circles. Every wait a
-- cart can ask for (Retry-After, its quota headers) is cut to the cart's retry_max_seconds.
local http = require "cartwright.http"
local task = require "cartwright.task"
local log = require "cartwright.log"
local text = require "cartwright.text"
local time = require "cartwright.time"

local Ctx = {}
Ctx.__index = Ctx

local M = {}

M.MAX_PAGES = 10000 -- pages of one listing per run, unless the cart sets max_pages
M.EMPTY_PAGES_MAX = 5 -- empty pages in a row that still point to a next page

-- A number of seconds (or pages) for a message: 0.25, 1000, 99999999, 1e+308
local function secs(s)
  if s >= 100 and s < 1e15 then return string.format("%.0f", s) end
  return string.format("%.6g", s)
end

---------------------------------------------------------------- the cart's origin

--- The origin ("https://host:443") a cart's requests may go to: the connector's
--- origin(cart) hook when it has one (a URL or an origin), else the cart's url setting.
--- Returns origin | nil, err.
function M.origin(cart, conn)
  local url = cart.url
  if conn and conn.origin then url = conn.origin(cart) end
  if type(url) ~= "string" then return nil, "the cart has no url setting to take its origin from" end
  local origin, err = http.origin(url)
  if not origin then return nil, "the cart's url setting is " .. err end
  return origin
end

---------------------------------------------------------------- token bucket
-- `capacity` requests at once, refilled at `per_second`. carts.lua checks a configured
-- rate_limit (capacity >= 1, per_second > 0, both finite).
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

--- Lowers what is left when the cart says it has less (another app shares the quota); never
--- below 0, so one answer cannot put us in debt for longer than a token takes.
function Bucket:cap(left)
  self:refill()
  if left < 0 then left = 0 end
  if left < self.tokens then self.tokens = left end
end

--- Takes one token, sleeping until one is there, but never longer than retry_max_seconds in
--- all: after that the request goes anyway (the cart's 429 and Retry-After still hold).
function Ctx:take_token()
  local b, max_wait = self.bucket, self:max_wait()
  b:refill()
  if b.tokens >= 1 then
    b.tokens = b.tokens - 1
    return
  end
  local need = (1 - b.tokens) / b.rate
  if need > max_wait then
    log.warn("rate limit wait cut to retry_max_seconds", { cart = self.cart.name, asked = secs(need),
                                                          wait = secs(max_wait) })
  end
  local deadline = task.monotonic() + max_wait
  for _ = 1, 1000 do -- bounded: tasks sharing the bucket may take the token first
    local left = deadline - task.monotonic()
    if left <= 0 then break end
    task.sleep(math.min((1 - b.tokens) / b.rate, left))
    b:refill()
    if b.tokens >= 1 then
      b.tokens = b.tokens - 1
      return
    end
  end
  b.tokens = 0
end

---------------------------------------------------------------- the context

--- A context for `cart` (validated settings) using connector `conn`.
function M.new(cart, conn)
  local rate = cart.rate_limit or conn.rate or { capacity = 10, per_second = 5 }
  local origin, oerr = M.origin(cart, conn)
  return setmetatable({
    cart = cart, connector = conn, log = log,
    origin = origin, origin_error = oerr,
    bucket = bucket(rate),
    stats = { requests = 0, retries = 0, throttled = 0 },
  }, Ctx)
end

--- The longest single wait: the cart's retry_max_seconds.
function Ctx:max_wait()
  local cap = self.cart.retry_max_seconds or 30
  if cap ~= cap or cap < 0 then return 0 end -- NaN or negative: no wait (carts.lua refuses both)
  return cap
end

--- nil when url is on the cart's origin; else the origin it is on (or why it has none).
function Ctx:foreign(url)
  local origin, err = http.origin(url)
  if not origin then return "a URL curl cannot read (" .. err .. ")" end
  if origin ~= self.origin then return origin end
  return nil
end

-- Seconds to wait that the cart asked for: Retry-After (seconds or an HTTP date) or
-- BigCommerce's X-Rate-Limit-Time-Reset-Ms. nil when it asked for nothing readable.
local function asked_wait(res)
  local h = res.headers
  local ra = h["retry-after"]
  if ra then
    local s = tonumber(ra)
    if not s then
      local at = time.parse_rfc2822(ra) -- "Wed, 21 Oct 2026 07:28:00 GMT"
      s = at and at - task.now()
    end
    if s and s == s then return math.max(0, s) end -- NaN is no answer; a date passed is 0
  end
  local ms = tonumber((h["x-rate-limit-time-reset-ms"] or ""):match("^%s*(%d+)%s*$"))
  if ms then return ms / 1000 end
  return nil
end

-- Reads the cart's own view of its quota so we slow down before a 429. Headers that make no
-- sense (more used than the bucket holds, a bucket of 0, not numbers) are ignored.
function Ctx:observe(res)
  local h = res.headers
  local used, size = (h["x-shopify-shop-api-call-limit"] or ""):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  used, size = tonumber(used), tonumber(size)
  if used and size > 0 and used <= size then self.bucket:cap(size - used - 1) end
  local left = tonumber((h["x-rate-limit-requests-left"] or ""):match("^%s*(%d+)%s*$"))
  if left then self.bucket:cap(left) end
end

local function retryable(res, err)
  if not res then
    -- refused/dns/tls are configuration problems: retrying only hides them
    return err:match("^timeout") or err:match("^transport")
  end
  return res.status == 429 or res.status >= 500
end

-- The wait before the next attempt: backoff with full jitter, at least what the cart asked
-- for on a 429/503 (BigCommerce sends its reset time on every answer), at most
-- retry_max_seconds; a longer wait the cart asked for is logged and cut.
function Ctx:backoff(attempt, res)
  local cap = self:max_wait()
  local base = self.cart.retry_base_seconds or 0.5
  local wait = math.random() * math.min(cap, base * 2 ^ (attempt - 1))
  local asked = res and (res.status == 429 or res.status == 503) and asked_wait(res)
  if asked then wait = math.max(wait, asked) end
  if wait > cap then
    log.warn("cart asked for a wait longer than retry_max_seconds", { cart = self.cart.name,
      status = res and res.status, asked = secs(asked or wait), wait = secs(cap) })
    wait = cap
  end
  return wait
end

-- The start of an error body for a message. Secrets are redacted before it is cut: a cut
-- through a token would leave a piece no redaction recognises.
local function body_excerpt(res)
  return (text.redact(res.body or ""):gsub("%s+", " "):sub(1, 200))
end

--- http.request under the cart's limits, to the cart's origin only. Returns res (any status
--- the cart answered that is not retried; res.url is the URL asked) | nil, err after the last
--- attempt. opts.before_send(opts), when given, runs before every attempt (to sign the
--- request anew, e.g. a fresh OAuth nonce).
function Ctx:request(opts)
  if not self.origin then return nil, "origin: " .. tostring(self.origin_error) end
  opts.timeout = opts.timeout or self.cart.timeout or 30
  opts.origin = self.origin -- http.request refuses any other (curl's own parse of the URL)
  local attempts = math.max(1, self.cart.max_attempts or 6)
  local res, err
  for attempt = 1, attempts do
    self:take_token()
    if opts.before_send then opts.before_send(opts) end
    local other = self:foreign(opts.url)
    if other then
      return nil, string.format("origin: refused to send a request to %s, which is not the cart's origin %s"
        .. " (Cartwright sends requests and credentials only to the cart's own origin)", other, self.origin)
    end
    self.stats.requests = self.stats.requests + 1
    res, err = http.request(opts)
    if res then
      res.url = opts.url
      self:observe(res)
    end
    if not retryable(res, err) then return res, err end
    if res and res.status == 429 then self.stats.throttled = self.stats.throttled + 1 end
    if attempt == attempts then break end
    local wait = self:backoff(attempt, res)
    if res and res.status == 429 then self.bucket:cap(0) end
    self.stats.retries = self.stats.retries + 1
    log.warn("retrying request", { cart = self.cart.name, status = res and res.status or err,
                                    attempt = attempt, wait = string.format("%.2f", wait) })
    task.sleep(wait)
  end
  if res then
    return nil, string.format("http %d after %d attempts: %s", res.status, attempts, body_excerpt(res))
  end
  return nil, string.format("%s (after %d attempts)", err, attempts)
end

--- Turns a non-2xx response into nil, "http <status>: <start of the body>"; a redirect into
--- nil, "http 302: the cart redirected to <origin><path> (…)", never with its query.
function Ctx.fail(_, res) -- called as ctx:fail(res)
  if res.status >= 300 and res.status <= 399 then
    local loc, where = res.headers.location, "nowhere (no Location header)"
    if loc then
      local origin, path = http.origin(loc, res.url)
      if origin then
        where = origin .. (#path > 120 and (path:sub(1, 120) .. "…") or path)
      else
        where = "a Location that is not a URL"
      end
    end
    return nil, string.format("http %d: the cart redirected to %s (Cartwright does not follow redirects;"
      .. " check the cart's url setting)", res.status, where)
  end
  return nil, string.format("http %d: %s", res.status, body_excerpt(res))
end

---------------------------------------------------------------- pager
-- One listing read page by page ("orders", "products of order 7"). It counts pages against the
-- cart's max_pages and stops a cart that would keep a run going forever: a cursor or next link
-- already read, empty pages that keep pointing to a next one, a page of items already read,
-- keyset ids that do not advance. Every error starts with "<name> page <n>:".
local Pager = {}
Pager.__index = Pager

--- A pager for the listing `name` of this run.
function Ctx:pager(name)
  local max = self.cart.max_pages or M.MAX_PAGES
  return setmetatable({ ctx = self, name = name, max = max, page = 0, total = 0, cursors = {},
                        items = {}, empty = 0 }, Pager)
end

function Pager:stop(fmt, ...)
  return nil, string.format("%s page %d: " .. fmt .. "; stopping", self.name, self.page, ...)
end

--- Before each request: counts the page and returns its number. `cursor` (optional: the next
--- link, page_info or offset that asks for it) must not have been used before in this pass;
--- `label` names it in the error ("a next link"). Fails past max_pages.
function Pager:next(cursor, label)
  self.page, self.total = self.page + 1, self.total + 1
  if self.total > self.max then
    return self:stop("more than max_pages (%d) pages in one run (raise the cart's max_pages setting if"
      .. " it really has that many)", self.max)
  end
  if cursor ~= nil then
    local seen = self.cursors[cursor]
    if seen then return self:stop("the cart sent %s already read (page %d)", label or "a cursor", seen) end
    self.cursors[cursor] = self.page
  end
  return self.page
end

--- A next link the cart sent: it must lead to the cart's own origin and not to a page already
--- read. Returns the number of the page it asks for | nil, err.
function Pager:link(url)
  local other = self.ctx:foreign(url)
  if other then
    return nil, string.format("origin: the cart's next link after %s page %d leads to %s, not to the"
      .. " cart's origin %s; stopping (Cartwright sends credentials only to the cart's own origin)",
      self.name, self.page, other, self.ctx.origin)
  end
  return self:next(url, "a next link")
end

--- After each page: `count` items and whether the cart says more follow. Empty pages that
--- still point to a next one fail after EMPTY_PAGES_MAX in a row.
function Pager:got(count, more)
  if count > 0 or not more then
    self.empty = 0
    return true
  end
  self.empty = self.empty + 1
  if self.empty >= M.EMPTY_PAGES_MAX then
    return self:stop("%d empty pages in a row, each pointing to a next one", self.empty)
  end
  return true
end

--- The ids of a page read by offset: fails when every one was on an earlier page of this pass
--- (the cart ignores the page number and sends the same page again).
function Pager:fresh(ids)
  local new = #ids == 0
  for _, id in ipairs(ids) do
    if not self.items[id] then new = true end
    self.items[id] = true
  end
  if not new then
    return self:stop("every item on it (%d) was on an earlier page (the cart ignores the page number)", #ids)
  end
  return true
end

--- The ids of a page read by keyset (`param` = min_id, ids sorted ascending): the first must
--- be >= min_id and each greater than the one before, so the next min_id always advances.
function Pager:ascending(ids, min_id, param)
  local last = min_id and min_id - 1
  for i, id in ipairs(ids) do
    if last and id <= last then
      if i == 1 then
        return self:stop("the cart ignored %s=%s (the page starts at id %s)", param, min_id, id)
      end
      return self:stop("ids do not increase (id %s after %s)", id, last)
    end
    last = id
  end
  return true
end

--- The number of pages the cart announces (a total-pages header, named by `what`): fails
--- when more than max_pages allows, before any of them is read.
function Pager:announced(pages, what)
  if pages and pages > self.max then
    return self:stop("the cart announces %s = %s pages, more than max_pages (%d)", what, secs(pages), self.max)
  end
  return true
end

--- Starts another pass over the listing (offset paging read again): pages are numbered from
--- 1 again and cursors and items read are forgotten; pages go on counting against max_pages.
function Pager:restart()
  self.page, self.cursors, self.items, self.empty = 0, {}, {}, 0
end

return M
