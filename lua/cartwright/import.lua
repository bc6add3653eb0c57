-- Orders in: pages through a cart's orders changed in a window, normalizes each, runs the
-- merchant's rules and stores it once. Each page is stored in one transaction; the watermark
-- moves in the same transaction as the orders it covers and never passes an order not stored.
local jraw = require "cartwright.jsonraw"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"
local log = require "cartwright.log"
local rules = require "cartwright.rules"
local sandbox = require "cartwright.sandbox"
local context = require "cartwright.ctx"
local time = require "cartwright.time"
local model = require "cartwright.orders.model"

local M = {}

local NORMALIZE_LIMITS = { instructions = 50000000, memory = 256 * 1024 * 1024 }

local function set(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- A stable external id for an order that could not be normalized.
local function fallback_id(doc, raw)
  if type(doc) == "table" then
    local id = doc.id or (type(doc.order) == "table" and doc.order.id)
    if type(id) == "number" then return string.format("%.0f", id) end
    if type(id) == "string" then return id end
  end
  return "raw-" .. crypto.hex(crypto.sha256(raw)):sub(1, 16)
end

-- A line whose SKU is missing, or absent from the back office's catalog (when there is one),
-- is flagged and kept.
local function flag_unknown_skus(db, order, has_catalog)
  for _, line in ipairs(order.lines or {}) do
    local unknown = line.sku == nil or line.sku == ""
    if not unknown and has_catalog then unknown = db:product_known{ sku = line.sku }.known == 0 end
    line.unknown_sku = unknown or nil
  end
end

local Run = {}
Run.__index = Run

--- Prepares an import of `cart` (validated) with connector `conn` into db.
--- opts: { since = "YYYY-MM-DD[THH:MM:SSZ]", dry_run = bool, rules_dir = path, progress = fn,
---         now = epoch seconds (the window's end; default the clock: for benchmarks and tests) }
function M.new(db, cart, conn, opts)
  local list, err = rules.load_list(cart.rules, opts.rules_dir)
  if not list then return nil, err end
  local r = setmetatable({
    db = db, cart = cart, conn = conn, opts = opts, rules = list,
    ctx = context.new(cart, conn),
    statuses = set(cart.download_statuses), log_debug = log.enabled("debug"),
    stats = { seen = 0, imported = 0, updated = 0, unchanged = 0, held = 0, skipped_status = 0,
              skipped_early = 0, pages = 0 },
  }, Run)
  -- one lookup per code and page, not per order: Run:page empties r.methods when its
  -- transaction starts, so a page sees the map as committed then (ship-map, which releases the
  -- orders held so far, cannot commit in the middle of it)
  r.methods = {}
  -- one read-only view for every rule and order: a rule cannot change what the next one sees
  r.rule_ctx = sandbox.readonly{
    cart = rules.public_settings(cart, conn), connector = conn.name or cart.connector,
    ship_method = function(code)
      if type(code) ~= "string" then return nil end
      local m = r.methods[code]
      if m == nil then
        local row = db:ship_map_get{ code = code, cart = cart.name }
        m = row and row.method or false
        r.methods[code] = m
      end
      return m or nil
    end,
  }
  return r
end

--- A stored raw order decoded the way the import decodes it: integers exact (ids above 2^53
--- keep their digits), with the connector's shape when it has one. doc | nil, err.
function Run:decode(raw)
  if self.conn.decode then return self.conn.decode(raw) end
  return jraw.decode(raw, self.conn.order_shape)
end

-- The connector's normalize under a budget, its order checked against the model: order |
-- nil, err (err starts with "[normalize] " when the order is not a valid one).
function Run:normalize(doc)
  local ok, order, nerr = task.limited_call(NORMALIZE_LIMITS, self.conn.normalize, self.ctx, doc)
  if not ok or type(order) ~= "table" then return nil, tostring(ok and nerr or order) end
  local valid, why = model.check(order)
  if not valid then return nil, "[normalize] " .. why end
  order.number = order.number or order.external_id -- both strings now (the model says so)
  return order
end

--- Normalizes and runs rules on one raw order. Returns a record ready to store.
function Run:process(doc, raw)
  local order, nerr = self:normalize(doc)
  if not order then
    local reason = nerr:find("^%[normalize%] ") and nerr or "cannot normalize: " .. (nerr:match("^(.-)\nstack traceback:") or nerr)
    return { external_id = fallback_id(doc, raw), doc = { raw_only = true }, hold = { rule = "normalize", reason = reason } }
  end
  local function fresh() return self:normalize(doc) end
  local hold = rules.run(self.rules, order, self.rule_ctx, fresh)
  if hold and hold.dirty then
    -- the rule died half-way or left something that is not data: store the order as the cart
    -- sent it, without any rule's changes, held with the reason
    if self.log_debug and hold.trace then log.debug("rule failed", { rule = hold.rule, trace = hold.trace }) end
    order = self:normalize(doc) or { external_id = order.external_id, number = order.external_id, raw_only = true }
  end
  if self.has_catalog == nil then self.has_catalog = self.db:product_known{ sku = "" }.catalog == 1 end
  flag_unknown_skus(self.db, order, self.has_catalog)
  -- what is stored; a connector or rule that left a function, NaN or a cycle in the order
  -- holds this order, not the whole page
  local encoded, text = pcall(jraw.encode, order)
  if not encoded and not (hold and hold.dirty) then
    -- a rule that left a function in it is named (the rules run again on a fresh copy, checked
    -- after each one), and the order is stored as the cart sent it
    local again = fresh()
    local blamed = again and rules.blame(self.rules, again, self.rule_ctx)
    if blamed then
      local clean = fresh() or again
      flag_unknown_skus(self.db, clean, self.has_catalog)
      local ok, ctext = pcall(jraw.encode, clean)
      if ok then return { external_id = clean.external_id, doc = clean, json = ctext, hold = blamed } end
    end
  end
  if not encoded then
    -- its fields (status, dates, lines) still go to the row; the stored document is raw only
    return { external_id = order.external_id, doc = order, json = '{"raw_only":true}',
             hold = { rule = "normalize", reason = "cannot store the normalized order: " .. tostring(text) } }
  end
  return { external_id = order.external_id, doc = order, json = text, hold = hold }
end

-- What changed between the stored order and the new one, for the event log.
local function change_detail(old, rec)
  local parts = {}
  if old.status ~= rec.doc.status then parts[#parts + 1] = "status " .. tostring(old.status) .. " -> " .. tostring(rec.doc.status) end
  if old.cart_status ~= rec.doc.cart_status then
    parts[#parts + 1] = "cart status " .. tostring(old.cart_status) .. " -> " .. tostring(rec.doc.cart_status)
  end
  if (old.hold_rule or "") ~= (rec.hold and rec.hold.rule or "") then
    parts[#parts + 1] = rec.hold and ("held by " .. rec.hold.rule) or "released"
  end
  return #parts > 0 and table.concat(parts, "; ") or "edited at the cart"
end

--- Stores one processed record (insert or update, lines, event, customer). Returns the
--- outcome: "imported" | "updated".
function M.store(db, cart_name, rec, raw, old)
  local o = rec.doc
  local row = {
    cart = cart_name, external_id = rec.external_id, number = o.number, status = o.status,
    cart_status = o.cart_status, created_at = o.created_at, updated_at = o.updated_at,
    email = o.customer and o.customer.email, ship_code = o.shipping and o.shipping.code,
    hold_rule = rec.hold and rec.hold.rule, hold_reason = rec.hold and rec.hold.reason,
    doc = rec.json or jraw.encode(o), raw = raw,
  }
  -- order_events: one row per stored change. A new order's row says it arrived ("imported",
  -- its cart status) or arrived held ("held", the reason); an update says what changed, then
  -- "held" with the reason when the update put it on hold.
  local id, outcome
  if old then
    row.id = old.id
    assert(db:order_update(row))
    id, outcome = old.id, "updated"
    assert(db:order_lines_clear{ order_id = id })
    local event = { order_id = id, kind = "updated", detail = change_detail(old, rec) }
    if rec.hold and old.hold_rule ~= rec.hold.rule then
      assert(db:order_event{ event, { order_id = id, kind = "held", detail = rec.hold.reason } })
    else
      assert(db:order_event(event))
    end
  else
    local _, last = assert(db:order_insert(row))
    id, outcome = last, "imported"
    assert(db:order_event{ order_id = id, kind = rec.hold and "held" or "imported",
                           detail = rec.hold and rec.hold.reason or o.cart_status })
    local c = o.customer
    if c and c.email then
      assert(db:customer_seen{ email = c.email:lower(), first_name = c.first_name, last_name = c.last_name,
                               phone = c.phone, created_at = o.created_at })
    end
  end
  local lines, rows = o.lines, {}
  if lines then
    for i = 1, #lines do
      local line = lines[i]
      rows[i] = { order_id = id, line_no = i, sku = line.sku, quantity = line.quantity or 0,
                  price = line.price, unknown_sku = line.unknown_sku and 1 or 0 }
    end
    if rows[1] then assert(db:order_line_add(rows)) end
  end
  return outcome
end

-- Decides and stores one order of a page. Runs inside the page's transaction.
function Run:one(doc, raw)
  local st, cart = self.stats, self.cart.name
  st.seen = st.seen + 1
  -- A connector that can tell id and status without normalizing (peek) saves the work on
  -- orders that are neither wanted nor stored.
  local peek = self.conn.peek
  local peeked, old
  if peek then
    local status
    peeked, status = peek(doc)
    old = peeked and self.db:order_get{ cart = cart, external_id = peeked }
    if peeked and status and not old and not self.statuses[status] then
      st.skipped_status = st.skipped_status + 1
      return
    end
  end
  local rec = self:process(doc, raw)
  if not peeked or peeked ~= rec.external_id then
    old = self.db:order_get{ cart = cart, external_id = rec.external_id }
  end
  local o = rec.doc
  if not old and not o.raw_only then
    if self.earliest and o.created_at and o.created_at < self.earliest then
      st.skipped_early = st.skipped_early + 1
      return
    end
    if not self.statuses[o.cart_status] then
      st.skipped_status = st.skipped_status + 1
      return
    end
  end
  -- an older copy than the one stored (a re-read window, a late retry) never overwrites it
  if old and o.updated_at and old.updated_at and o.updated_at < old.updated_at then
    st.unchanged = st.unchanged + 1
    return
  end
  -- unchanged: the same bytes from the cart (compared in SQL) and the same hold
  if old and (old.hold_rule or "") == (rec.hold and rec.hold.rule or "")
      and self.db:order_raw_same{ id = old.id, raw = raw }.same == 1 then
    st.unchanged = st.unchanged + 1
    return
  end
  if rec.hold then st.held = st.held + 1 end
  if self.opts.dry_run then
    st[old and "updated" or "imported"] = st[old and "updated" or "imported"] + 1
    return
  end
  local outcome = M.store(self.db, cart, rec, raw, old)
  st[outcome] = st[outcome] + 1
  if rec.hold then
    -- a broken rule or connector is the operator's problem: warn; an ordinary hold is data
    local broken = rec.hold.rule == "normalize" or rec.hold.broken
    if broken or self.log_debug then
      log[broken and "warn" or "debug"]("order held", { cart = cart, order = rec.external_id, rule = rec.hold.rule,
                                                        reason = rec.hold.reason })
    end
  end
end

-- The newest updated_at of a page, for connectors that page in updated_at order.
local function page_high(docs_done)
  local hi
  for _, t in ipairs(docs_done) do if t and (not hi or t > hi) then hi = t end end
  return hi
end

function Run:page(raws, docs)
  local st = self.stats
  st.pages = st.pages + 1
  local times = {}
  local ok, err = self.db:transaction(function()
    self.methods = {}
    for i = 1, #raws do
      self:one(docs[i], raws[i])
      local d = docs[i]
      times[#times + 1] = type(d) == "table" and self.conn.updated_at and self.conn.updated_at(d) or nil
    end
    if self.conn.sorted_by_updated and not self.opts.dry_run then
      local hi = page_high(times)
      if hi and hi < self.window_until then
        self.db:cart_set_watermark{ name = self.cart.name, watermark = hi }
      end
    end
    return true
  end)
  if not ok then return nil, "storing page " .. st.pages .. ": " .. tostring(err) end
  if self.opts.progress then self.opts.progress(st) end
  return true
end

--- Runs the import. Returns stats | nil, err (stats so far in the second case too).
function Run:run()
  local cart = self.cart
  local state = self.db:cart_get{ name = cart.name } or {}
  local now = self.opts.now or task.now()
  local overlap = (cart.overlap_minutes or 5) * 60
  self.earliest = cart.earliest_order_date and time.iso_utc(cart.earliest_order_date)
  local since
  if self.opts.since then
    since = time.iso_utc(self.opts.since)
    if not since then return nil, "bad --since date '" .. self.opts.since .. "' (want YYYY-MM-DD or ISO 8601)" end
  elseif state.watermark then
    since = time.format(time.parse(state.watermark) - overlap)
  else
    since = self.earliest or "2000-01-01T00:00:00Z"
  end
  if self.earliest and since < self.earliest then since = self.earliest end
  self.window_until = time.format(now)
  local q = { since = since, ["until"] = self.window_until, page_size = cart.batch_size,
              statuses = cart.download_statuses }
  log.info("import started", { cart = cart.name, since = since, ["until"] = self.window_until })
  local ok, err = self.conn.fetch_orders(self.ctx, q, function(raws, docs) return self:page(raws, docs) end)
  self.stats.requests = self.ctx.stats.requests
  self.stats.retries = self.ctx.stats.retries
  if not ok then return nil, tostring(err), self.stats end
  if not self.opts.dry_run then
    -- the whole window is stored: the watermark may move to its end
    self.db:cart_set_watermark{ name = cart.name, watermark = self.window_until }
  end
  return self.stats
end

--- "acme: seen 1200, imported 1000, updated 150, unchanged 50, held 3, skipped 47 (status 40, before earliest date 7)"
function M.summary(name, st)
  local skipped = st.skipped_status + st.skipped_early
  return string.format("%s: seen %d, imported %d, updated %d, unchanged %d, held %d, skipped %d (status %d, before earliest date %d)",
    name, st.seen, st.imported, st.updated, st.unchanged, st.held, skipped, st.skipped_status, st.skipped_early)
end

return M
