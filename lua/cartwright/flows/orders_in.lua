-- Orders in: pages through a cart's orders changed in a window, normalizes each, runs the
-- merchant's rules and hands it to orders/decide.lua, which stores it once. Each page is
-- stored in one transaction; the watermark moves in the same transaction as the orders it
-- covers and never passes an order not stored. Run:process is also how ship-map, release and
-- replay re-run a stored order (from its raw bytes).
local jraw = require "cartwright.jsonraw"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"
local log = require "cartwright.log"
local rules = require "cartwright.rules"
local sandbox = require "cartwright.sandbox"
local context = require "cartwright.ctx"
local time = require "cartwright.time"
local decide = require "cartwright.orders.decide"
local lists = require "cartwright.orders.lists"
local model = require "cartwright.orders.model"

local M = {}

local NORMALIZE_LIMITS = { instructions = 50000000, memory = 256 * 1024 * 1024 }

local function set(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- A stable external id for an order that could not be normalized.
local function fallback_id(doc, raw, peek)
  -- a connector's peek knows its cart's id field (Magento: entity_id)
  local ok, peeked = false, nil
  if peek then ok, peeked = pcall(peek, doc) end
  if ok and type(peeked) == "string" and peeked ~= "" then return peeked end
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

--- The connector's status table { [cart status] = ours } when its orders.lua `statuses` is one
--- (not a plain list of the cart's statuses), as a copy; else nil.
function M.status_table(conn)
  local st = conn.statuses
  if type(st) ~= "table" or next(st) == nil or st[1] ~= nil then return nil end
  local copy = {}
  for k, v in pairs(st) do copy[k] = v end
  return copy
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
  -- a status to set at the cart for each new order (never at a marketplace-fulfilled cart)
  r.after_status = not cart.marketplace_fulfilled and cart.after_import_status or nil
  -- what decide is told of an import, the same for every order of the run (but raw_same)
  r.how = { kind = "import", cart = cart.name, folder = cart.folder, statuses = r.statuses }
  -- one lookup per code and page, not per order: Run:page empties r.methods when its
  -- transaction starts, so a page sees the map as committed then (ship-map, which releases the
  -- orders held so far, cannot commit in the middle of it)
  r.methods = {}
  -- one read-only view for every rule and order: a rule cannot change what the next one sees
  r.rule_ctx = sandbox.readonly{
    cart = rules.public_settings(cart, conn), connector = conn.name or cart.connector,
    -- the connector's own { [cart status] = ours } (orders.lua statuses), for status_map
    statuses = M.status_table(conn),
    -- ctx.tag(order, "wholesale"): adds a tag to the order (order.tags is a list of names)
    tag = function(order, name)
      if type(order) ~= "table" or type(name) ~= "string" or name == "" then
        error("ctx.tag(order, name): name must be a non-empty string", 2)
      end
      local tags = rawget(order, "tags")
      if type(tags) ~= "table" then tags = {} rawset(order, "tags", tags) end
      for _, t in ipairs(tags) do if t == name then return end end
      tags[#tags + 1] = name
    end,
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

--- A stored order's normalized document (the stored JSON text), or {} when it cannot be read.
function Run.decode_doc(_, text)
  return type(text) == "string" and jraw.decode(text) or {}
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

-- What a rule set: a folder name and a sorted list of distinct tag names (anything else a rule
-- put there is ignored: these are names, not data).
local NO_TAGS = setmetatable({}, { __newindex = function() error("NO_TAGS is shared", 2) end })

local function folder_and_tags(order)
  local folder = rawget(order, "folder")
  folder = type(folder) == "string" and folder ~= "" and folder or nil
  local list = rawget(order, "tags")
  if list == nil or (type(list) == "table" and next(list) == nil) then return folder, NO_TAGS end -- the usual case
  local tags, seen = {}, {}
  if type(list) == "table" then
    for _, t in ipairs(list) do
      if type(t) == "string" and t ~= "" and not seen[t] then seen[t], tags[#tags + 1] = true, t end
    end
  end
  table.sort(tags)
  return folder, tags
end

--- Normalizes and runs rules on one raw order. Returns a record ready for decide: { external_id,
--- doc, json, raw, hold = nil | { kind, rule, reason, broken }, folder, tags }.
function Run:process(doc, raw)
  local order, nerr = self:normalize(doc)
  if not order then
    local reason = nerr:find("^%[normalize%] ") and nerr
      or "cannot normalize: " .. (nerr:match("^(.-)\nstack traceback:") or nerr)
    return { external_id = fallback_id(doc, raw, self.conn.peek), doc = { raw_only = true }, raw = raw, tags = {},
             hold = { kind = "normalize", rule = "normalize", reason = reason, broken = true } }
  end
  local function fresh() return self:normalize(doc) end
  local hold = rules.run(self.rules, order, self.rule_ctx, fresh)
  if hold and hold.dirty then
    -- the rule died half-way or left something that is not data: store the order as the cart
    -- sent it, without any rule's changes, held with the reason
    if self.log_debug and hold.trace then log.debug("rule failed", { rule = hold.rule, trace = hold.trace }) end
    order = self:normalize(doc) or { external_id = order.external_id, number = order.external_id, raw_only = true }
  end
  if hold then hold.kind = "rule" end
  if self.has_catalog == nil then self.has_catalog = self.db:product_known{ sku = "" }.catalog == 1 end
  flag_unknown_skus(self.db, order, self.has_catalog)
  -- what is stored (its empty lists as []); a connector or rule that left a function, NaN or a
  -- cycle in the order holds this order, not the whole page
  local encoded, text = pcall(jraw.encode, order, lists.KEYS)
  if not encoded and not (hold and hold.dirty) then
    -- a rule that left a function in it is named (the rules run again on a fresh copy, checked
    -- after each one), and the order is stored as the cart sent it
    local again = fresh()
    local blamed = again and rules.blame(self.rules, again, self.rule_ctx)
    if blamed then
      blamed.kind = "rule"
      local clean = fresh() or again
      flag_unknown_skus(self.db, clean, self.has_catalog)
      local ok, ctext = pcall(jraw.encode, clean, lists.KEYS)
      if ok then return { external_id = clean.external_id, doc = clean, json = ctext, raw = raw, hold = blamed, tags = {} } end
    end
  end
  local folder, tags = folder_and_tags(order)
  if not encoded then
    -- its fields (status, dates, lines) still go to the row; the stored document is raw only
    return { external_id = order.external_id, doc = order, json = '{"raw_only":true}', raw = raw, folder = folder, tags = tags,
             hold = { kind = "normalize", rule = "normalize", reason = "cannot store the normalized order: " .. tostring(text),
                      broken = true } }
  end
  return { external_id = order.external_id, doc = order, json = text, raw = raw, hold = hold, folder = folder, tags = tags }
end

-- The stored order's tags (for decide's change detail), or nil for a new order.
function Run:stored_tags(stored)
  if not stored then return nil end
  local tags = {}
  for i, r in ipairs(assert(self.db:order_tags{ order_id = stored.id })) do tags[i] = r.tag end
  return tags
end

-- Decides and stores one order of a page. Runs inside the page's transaction.
function Run:one(doc, raw)
  local st, cart = self.stats, self.cart.name
  st.seen = st.seen + 1
  -- A connector that can tell id and status without normalizing (peek) saves the work on
  -- orders that are neither wanted nor stored, and on stored ones the cart sent unchanged.
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
    if old and self.db:order_raw_same{ id = old.id, raw = raw }.same == 1 then
      st.unchanged = st.unchanged + 1
      return
    end
  end
  local rec = self:process(doc, raw)
  if not peeked or peeked ~= rec.external_id then
    old = self.db:order_get{ cart = cart, external_id = rec.external_id }
  end
  -- (with a peek that found it, the raw bytes were compared above already)
  local how = self.how
  how.raw_same = false
  if old and peeked ~= rec.external_id then how.raw_same = self.db:order_raw_same{ id = old.id, raw = raw }.same == 1 end
  local action = decide.decide(old, rec, how, old and self:stored_tags(old))
  if action.skip then
    local key = ({ unchanged = "unchanged", older = "unchanged", status = "skipped_status", early = "skipped_early" })[action.skip]
    st[key] = st[key] + 1
    return
  end
  if action.hold then st.held = st.held + 1 end
  if self.opts.dry_run then
    st[old and "updated" or "imported"] = st[old and "updated" or "imported"] + 1
    return
  end
  local outcome, id = decide.apply(self.db, action)
  st[outcome] = st[outcome] + 1
  if outcome == "imported" and self.after_status then
    -- the cart's after_import_status, written with the order (shipments_out sends it)
    require("cartwright.flows.shipments_out").add_status(self.db, self.cart, id, nil, self.after_status)
    st.statuses = (st.statuses or 0) + 1
  end
  local h = rec.hold
  if h then
    -- a broken rule or connector is the operator's problem: warn; an ordinary hold is data
    if h.broken or self.log_debug then
      log[h.broken and "warn" or "debug"]("order held", { cart = cart, order = rec.external_id, rule = h.rule,
                                                         reason = h.reason })
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
  self.how.earliest = self.earliest
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
  -- the cart's quota as the last run left it (a new process), refilled by the time since
  self.ctx.limiter:load(self.db)
  local ok, err = self.conn.fetch_orders(self.ctx, q, function(raws, docs) return self:page(raws, docs) end)
  if not self.opts.dry_run then self.ctx.limiter:save(self.db) end
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
