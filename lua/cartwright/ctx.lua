-- The context a connector's hooks receive: the cart's settings; ctx:request, which is
-- http.request held to the cart's own origin, under the cart's rate limiter (one per cart in the
-- process, shared by every job of the cart: cartwright.limiter, fed by the connector's
-- observe(res)) and with retries of 429, 5xx, timeouts and truncated transfers; and ctx:pager,
-- which stops a listing that goes round in circles. Every wait a cart can ask for (Retry-After,
-- a reset time its connector read) is cut to the cart's retry_max_seconds. No cart is known here
-- by name: what a cart's headers mean is its connector's business.
local http = require "cartwright.http"
local task = require "cartwright.task"
local log = require "cartwright.log"
local text = require "cartwright.text"
local time = require "cartwright.time"
local limiter = require "cartwright.limiter"
local schema = require "cartwright.schema"
local metrics = require "cartwright.service.metrics"

local Ctx = {}
Ctx.__index = Ctx

local M = {}

M.MAX_PAGES = 10000 -- pages of one listing per run, unless the cart sets max_pages
M.EMPTY_PAGES_MAX = 5 -- empty pages in a row that still point to a next page

local secs = limiter.secs -- a number of seconds (or pages) for a message

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

---------------------------------------------------------------- the context

-- The first setting of `cart` still read with env (carts.load leaves them; carts.resolve reads
-- them), or nil.
local function unresolved(cart)
  for k, v in pairs(cart) do
    if schema.is_ref(v) then return k end
  end
  return nil
end

--- A context for `cart` (validated settings) using connector `conn`. Every context of one cart
--- name in the process takes its tokens from the same limiter (ctx.limiter).
function M.new(cart, conn)
  local origin, oerr
  local pending = unresolved(cart)
  if not pending then origin, oerr = M.origin(cart, conn) end
  return setmetatable({
    cart = cart, connector = conn, log = log,
    origin = origin, origin_error = oerr, unresolved = pending,
    -- the merchant's rate_limit wins; else the connector's rate, until the cart announces its own
    limiter = limiter.get(cart.name, cart.rate_limit or conn.rate or limiter.DEFAULT_RATE, cart.rate_limit == nil),
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

-- Seconds to wait that the cart asked for: Retry-After (seconds or an HTTP date), else the
-- reset time its connector read from its quota headers. nil when it asked for nothing readable.
local function asked_wait(res, quota)
  local ra = res.headers["retry-after"]
  if ra then
    local s = tonumber(ra)
    if not s then
      local at = time.parse_rfc2822(ra) -- "Wed, 21 Oct 2026 07:28:00 GMT"
      s = at and at - task.now()
    end
    if s and s == s then return math.max(0, s) end -- NaN is no answer; a date passed is 0
  end
  local reset = type(quota) == "table" and quota.reset
  if type(reset) == "number" and reset == reset and reset >= 0 then return reset end
  return nil
end

--- The cart's own view of its quota, read by the connector's observe(res) hook, so the limiter
--- is sized from it and slows down before a 429. Returns what the hook read ({ capacity =,
--- per_second =, left =, reset = }, any of them) | nil.
function Ctx:observe(res)
  local observe = self.connector.observe
  if not observe then return nil end
  local quota = observe(res)
  if type(quota) ~= "table" then return nil end
  self.limiter:observe(quota)
  return quota
end

local function retryable(res, err)
  if not res then
    -- refused/dns/tls are configuration problems: retrying only hides them
    return err:match("^timeout") or err:match("^transport")
  end
  return res.status == 429 or res.status >= 500
end

-- The wait before the next attempt: backoff with full jitter, at least what the cart asked
-- for on a 429/503 (some carts send their reset time on every answer: only then is it asked),
-- at most retry_max_seconds; a longer wait the cart asked for is logged and cut.
function Ctx:backoff(attempt, res, quota)
  local cap = self:max_wait()
  local base = self.cart.retry_base_seconds or 0.5
  local wait = math.random() * math.min(cap, base * 2 ^ (attempt - 1))
  local asked = res and (res.status == 429 or res.status == 503) and asked_wait(res, quota)
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
--- request anew, e.g. a fresh OAuth nonce). opts.once = true: a timeout, reset or 5xx is not
--- tried again (the write may have been applied); a ctx with writes_once = true (the shipments
--- flow's) does so for every request but GET unless opts.once = false.
function Ctx:request(opts)
  if self.unresolved then
    error("ctx:request: the cart's " .. self.unresolved .. " is read with env and not resolved yet"
      .. " (carts.resolve or carts.connect before talking to the cart)", 2)
  end
  if not self.origin then return nil, "origin: " .. tostring(self.origin_error) end
  opts.timeout = opts.timeout or self.cart.timeout or 30
  opts.origin = self.origin -- http.request refuses any other (curl's own parse of the URL)
  local attempts = math.max(1, self.cart.max_attempts or 6)
  -- a write that may have been applied is sent once (only a 429, never processed, is tried
  -- again): the caller asks the cart what happened before sending it again (shipments out)
  local once = opts.once
  if once == nil and self.writes_once and (opts.method or "GET") ~= "GET" then once = true end
  opts.once = nil
  local res, err, quota
  for attempt = 1, attempts do
    local waited = self.limiter:take(self:max_wait())
    if waited then
      metrics.count("cartwright_rate_limit_waits_total", { cart = self.cart.name })
      metrics.count("cartwright_rate_limit_wait_seconds_total", { cart = self.cart.name }, waited)
    end
    if opts.before_send then opts.before_send(opts) end
    local other = self:foreign(opts.url)
    if other then
      return nil, string.format("origin: refused to send a request to %s, which is not the cart's origin %s"
        .. " (Cartwright sends requests and credentials only to the cart's own origin)", other, self.origin)
    end
    self.stats.requests = self.stats.requests + 1
    self.limiter:sending()
    res, err = http.request(opts)
    self.limiter:answered()
    metrics.count("cartwright_cart_requests_total", { cart = self.cart.name, class = metrics.class(res) })
    quota = nil
    if res then
      res.url = opts.url
      quota = self:observe(res)
    end
    if not retryable(res, err) or (once and not (res and res.status == 429)) then return res, err end
    if res and res.status == 429 then self.stats.throttled = self.stats.throttled + 1 end
    if attempt == attempts then break end
    local wait = self:backoff(attempt, res, quota)
    if res and res.status == 429 then self.limiter:cap(0) end
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
