-- Stock out: what one cart is shown, made true at the cart. Computes the cart's figures
-- (stock.lua), finds the cart's ids for SKUs it has not seen (conn.stock.lookup, cached in the
-- store; SKUs it has no product for are recorded and reported once), keeps only the figures that
-- differ from what the cart last accepted, writes them to the outbox in batches of the API's
-- size in one transaction, and only then sends them (conn.stock.push, after conn.stock.read when
-- the API cannot compare). Never overwrites a sale: when the cart's figure moved since we last
-- set it, the cart's new orders are imported first (opts.reimport), then the figures are made
-- again and pushed. A crash mid-push leaves the entry pending or sending: the next run sends
-- it again with the same key, before anything new. Failures wait with backoff (next_at).
local jraw = require "cartwright.jsonraw"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"
local time = require "cartwright.time"
local log = require "cartwright.log"
local rules = require "cartwright.rules"
local sandbox = require "cartwright.sandbox"
local context = require "cartwright.ctx"
local stock = require "cartwright.stock"
local metrics = require "cartwright.service.metrics"

local M = {}

M.MAX_ATTEMPTS = 8 -- automatic tries of one entry; then it waits for `outbox retry`
M.BACKOFF_BASE, M.BACKOFF_MAX = 30, 3600 -- seconds before the next try: 30 s, 60 s, … up to an hour
M.STALE_ROUNDS = 3 -- imports then pushes again after the cart sold under us, per run

local Sync = {}
Sync.__index = Sync

--- A push to `cart` (resolved settings) through `conn` (with conn.stock).
--- opts: { rules_dir, excluded = { cart names whose orders reserve nothing }, full = bool,
---         reimport = function(cart_name) -> true | nil, err (imports the cart's new orders) }
--- Returns sync | nil, err.
function M.new(db, cart, conn, opts)
  if not conn.stock then return nil, "cart \"" .. cart.name .. "\": its connector " .. tostring(conn.name) .. " cannot set stock" end
  local list, err = rules.load_list(cart.rules or {}, opts.rules_dir)
  if not list then return nil, err end
  return setmetatable({
    db = db, cart = cart, conn = conn, st = conn.stock, opts = opts, inv = stock.settings(cart),
    stock_rules = rules.stock_rules(list), ctx = context.new(cart, conn),
    rule_ctx = sandbox.readonly{ cart = rules.public_settings(cart, conn), connector = conn.name or cart.connector },
    result = { cart = cart.name, ok = true, sent = 0, batches = 0, calls = 0, entries = {}, missing_new = {},
               unaliased = {}, rule_errors = {}, item_errors = {}, stale = 0, reimported = false, resumed = 0 },
  }, Sync)
end

local function now_iso(offset) return time.format(task.now() + (offset or 0)) end

local function decode(payload)
  local p = jraw.decode(payload)
  if type(p) ~= "table" or type(p.items) ~= "table" then return nil, "outbox payload is not a batch" end
  return p
end

---------------------------------------------------------------- locations

-- The groups of warehouses per location of the cart (stock.groups), the cart's locations read
-- once per run. groups | nil, err.
function Sync:groups()
  if self._groups then return self._groups end
  if not self.st.multi_location then
    self._groups = assert(stock.groups(self.inv, nil))
    return self._groups
  end
  local locs, err = self.st.locations(self.ctx)
  if not locs then return nil, "reading the cart's locations: " .. tostring(err) end
  local primary, by = nil, {}
  for _, l in ipairs(locs) do
    if l.primary then primary = tostring(l.id) end
    by[tostring(l.id)], by[tostring(l.name or "")] = tostring(l.id), tostring(l.id)
  end
  if not primary then return nil, "the cart names no primary location" end
  local groups, gerr = stock.groups(self.inv, primary, function(label)
    local id = by[label]
    if id then return id end
    local names = {}
    for _, l in ipairs(locs) do names[#names + 1] = string.format("%q", tostring(l.name)) end
    return nil, "the cart has no location named or numbered \"" .. label .. "\" (" .. table.concat(names, ", ") .. ")"
  end)
  if not groups then return nil, gerr end
  self._groups = groups
  return groups
end

---------------------------------------------------------------- sending one entry

-- The backoff before try n+1 of an entry (nil: no more automatic tries).
local function next_try(attempts)
  if attempts >= M.MAX_ATTEMPTS then return nil end
  return now_iso(math.min(M.BACKOFF_MAX, M.BACKOFF_BASE * 2 ^ (attempts - 1)))
end

function Sync:fail(entry, err)
  local at = next_try(entry.attempts)
  self.db:outbox_fail{ id = entry.id, error = err, next_at = at }
  self.result.ok = false
  self.result.error = string.format("outbox entry %d: %s (%s)", entry.id, err,
    at and ("tried again from " .. at) or ("no more automatic tries: cartwright outbox retry " .. entry.id))
  log.warn("stock push failed", { cart = self.cart.name, entry = entry.id, attempts = entry.attempts, err = err })
  return nil, self.result.error
end

-- For a cart that cannot compare: the cart's figures now. Items whose figure is the one we last
-- set are pushed; those already at the new figure are accepted (our own earlier try got there);
-- any other figure means the cart sold: stale. Returns to_push, stale, done | nil, err.
function Sync:check_before(items)
  local figures, err = self.st.read(self.ctx, items)
  self.result.calls = self.result.calls + 1
  if not figures then return nil, "reading the cart's figures: " .. tostring(err) end
  local push, stale, done = {}, {}, {}
  for _, it in ipairs(items) do
    local now = figures[it.sku]
    if now == it.quantity then
      done[#done + 1] = it
    elseif it.previous ~= nil and now ~= nil and now ~= it.previous then
      stale[#stale + 1] = { item = it, current = now }
    else
      push[#push + 1] = it
    end
  end
  return push, stale, done
end

-- Sends one outbox entry. Returns "done" | "stale" | nil, err (the entry failed and waits).
function Sync:send(entry)
  local payload, perr = decode(entry.payload)
  if not payload then
    self.db:outbox_fail{ id = entry.id, error = perr, next_at = nil }
    return nil, perr
  end
  if self.db:outbox_claim{ id = entry.id } ~= 1 then return "done" end
  entry.attempts = entry.attempts + 1
  local items, stale, accepted, errors = payload.items, {}, {}, {}
  if not self.st.compare then
    local push, st_, done = self:check_before(items)
    if not push then return self:fail(entry, st_) end
    items, stale = push, st_
    for _, it in ipairs(done) do accepted[#accepted + 1] = it end
  end
  if #items > 0 and #stale == 0 then
    local results, err = self.st.push(self.ctx, items, { key = entry.key })
    self.result.calls = self.result.calls + 1
    if type(results) ~= "table" then return self:fail(entry, tostring(err or "push returned no results")) end
    for _, it in ipairs(items) do
      local r = results[it.sku]
      if r == "ok" then
        accepted[#accepted + 1] = it
      elseif type(r) == "table" and r.stale then
        local current = math.tointeger(r.current)
        if current == it.quantity then accepted[#accepted + 1] = it else stale[#stale + 1] = { item = it, current = current } end
      elseif type(r) == "table" and r.again then
        -- not applied through no fault of its own (the cart refused the batch for another
        -- SKU): sent again with the next push, which follows as for a stale one
        stale[#stale + 1] = { item = it }
      else
        errors[#errors + 1] = { sku = it.sku, error = type(r) == "table" and tostring(r.error) or "the cart did not answer for it" }
      end
    end
  end
  local note
  if #stale > 0 then
    note = string.format("superseded: the cart's figure moved for %d SKUs (sold at the cart); its orders are imported, then pushed again", #stale)
  elseif #errors > 0 then
    note = string.format("%d SKUs refused: %s: %s", #errors, errors[1].sku, errors[1].error)
  end
  local ok, terr = self.db:transaction(function()
    for _, it in ipairs(accepted) do
      assert(self.db:stock_accepted_put{ cart = self.cart.name, sku = it.sku, location = it.location, quantity = it.quantity })
    end
    for _, s in ipairs(stale) do
      -- the cart's figure as it is now: the next push compares against it
      if s.current then
        assert(self.db:stock_accepted_put{ cart = self.cart.name, sku = s.item.sku, location = s.item.location, quantity = s.current })
      end
    end
    assert(self.db:outbox_done{ id = entry.id, error = note })
    return true
  end)
  if not ok then return nil, terr end
  local r = self.result
  r.sent, r.batches = r.sent + #accepted, r.batches + 1
  r.entries[#r.entries + 1] = entry.id
  for _, e in ipairs(errors) do r.item_errors[#r.item_errors + 1] = e end
  r.stale = r.stale + #stale
  return #stale > 0 and "stale" or "done"
end

-- Sends the cart's open entries that are due, oldest first; stops at the first failure.
-- Returns stale (bool) | nil, err.
function Sync:drain(any)
  local open, err = self.db:outbox_open{ cart = self.cart.name, at = now_iso(), any = any and 1 or 0 }
  if not open then return nil, err end
  local stale = false
  for _, entry in ipairs(open) do
    if entry.kind == "stock" then
      local how, serr = self:send(entry)
      if not how then return nil, serr end
      if how == "stale" then stale = true end
    end
  end
  return stale
end

---------------------------------------------------------------- what to send

-- Refs for the cart SKUs of items: cached ones, then a lookup for the others (SKUs known to be
-- missing are not asked again). Returns { [cart_sku] = ref } | nil, err.
function Sync:refs(items)
  local db, name = self.db, self.cart.name
  local refs, missing = {}, {}
  for _, r in ipairs(assert(db:stock_refs{ cart = name })) do refs[r.sku] = jraw.decode(r.ref) end
  for _, r in ipairs(assert(db:stock_missing_list{ cart = name })) do missing[r.sku] = true end
  local ask, asked = {}, {}
  for _, it in ipairs(items) do
    local s = it.cart_sku
    if refs[s] == nil and not missing[s] and not asked[s] then asked[s], ask[#ask + 1] = true, s end
  end
  if #ask == 0 then return refs end
  local found, lost = self.st.lookup(self.ctx, ask)
  self.result.calls = self.result.calls + 1
  if type(found) ~= "table" then return nil, "looking up the cart's ids: " .. tostring(lost) end
  local new_missing = {}
  local ok, err = db:transaction(function()
    for _, s in ipairs(ask) do
      local ref = found[s]
      if ref ~= nil then
        refs[s] = ref
        assert(db:stock_ref_put{ cart = name, sku = s, ref = jraw.encode(ref) })
      end
    end
    for _, s in ipairs(type(lost) == "table" and lost or {}) do
      if asked[s] and refs[s] == nil and assert(db:stock_missing_add{ cart = name, sku = s }) == 1 then
        new_missing[#new_missing + 1] = s
      end
    end
    return true
  end)
  if not ok then return nil, err end
  table.sort(new_missing)
  for _, s in ipairs(new_missing) do self.result.missing_new[#self.result.missing_new + 1] = s end
  if #new_missing > 0 then
    log.warn("SKUs not found at the cart (reported once; cartwright stock unmapped)", { cart = name, count = #new_missing,
      first = new_missing[1] })
  end
  return refs
end

-- The items to send: the cart's figures that differ from what it last accepted (all of them
-- with full), each with its ref and previous figure. list | nil, err.
function Sync:changes()
  local groups, gerr = self:groups()
  if not groups then return nil, gerr end
  local snap, err = stock.load(self.db, self.opts.excluded)
  if not snap then return nil, err end
  local items, skipped = stock.figures(snap, self.inv, groups, self.stock_rules, self.rule_ctx,
    stock.reserves_own(self.st, self.cart) and self.cart.name or nil)
  self.result.unaliased, self.result.rule_errors = skipped.unaliased, skipped.rule_errors
  local refs, rerr = self:refs(items)
  if not refs then return nil, rerr end
  local accepted = {}
  for _, a in ipairs(assert(self.db:stock_accepted_list{ cart = self.cart.name })) do
    accepted[a.sku .. "\0" .. a.location] = a.quantity
  end
  local out = {}
  for _, it in ipairs(items) do
    local ref = refs[it.cart_sku]
    if ref ~= nil then
      local prev = accepted[it.cart_sku .. "\0" .. (it.location or "")]
      if self.opts.full or prev ~= it.available then
        out[#out + 1] = { sku = it.cart_sku, ref = ref, location = it.location, quantity = it.available, previous = prev }
      end
    end
  end
  return out
end

-- Writes the items to the outbox: batches of at most batch_max, one location each (the cart
-- answers per SKU), in one transaction, before anything is sent. Returns the count | nil, err.
function Sync:write(items)
  local max = math.max(1, math.tointeger(self.st.batch_max) or 100)
  local by_loc, order = {}, {}
  for _, it in ipairs(items) do
    local k = it.location or ""
    if not by_loc[k] then by_loc[k], order[#order + 1] = {}, k end
    table.insert(by_loc[k], it)
  end
  local batches = {}
  for _, k in ipairs(order) do
    local list = by_loc[k]
    for i = 1, #list, max do batches[#batches + 1] = table.move(list, i, math.min(#list, i + max - 1), 1, {}) end
  end
  return self.db:transaction(function()
    for _, b in ipairs(batches) do
      -- the key stays with the entry: every retry of it sends the same one
      local key = "cw-" .. crypto.hex(crypto.random_bytes(12))
      local id = assert(self.db:outbox_add{ cart = self.cart.name, kind = "stock", key = key,
                                            payload = jraw.encode{ items = b } })
      assert(id, "outbox key collision")
    end
    return #batches
  end)
end

---------------------------------------------------------------- the run

--- Runs the push. Returns result { cart, ok, sent (items the cart accepted), batches, calls,
--- entries = { ids }, missing_new = { SKUs newly not found }, unaliased, rule_errors,
--- item_errors, stale, reimported, resumed, waiting, error }.
function Sync:run()
  local r, db = self.result, self.db
  local t0 = task.monotonic()
  self.ctx.limiter:load(db)
  local done = function(err)
    self.ctx.limiter:save(db)
    r.requests = self.ctx.stats.requests
    if err then r.ok, r.error = false, r.error or err end
    local name = self.cart.name
    metrics.observe("cartwright_stock_push_duration_seconds", { cart = name }, task.monotonic() - t0)
    if r.ok ~= false then metrics.set("cartwright_last_success_timestamp_seconds", { cart = name, service = "inventory" }, task.now()) end
    return r
  end
  -- what a run before us left: sent again first, with the same keys
  local before = #r.entries
  local stale, err = self:drain(self.opts.retry)
  r.resumed = #r.entries - before
  if stale == nil then return done(err) end
  local waiting = db:outbox_list{ cart = self.cart.name, open = 1, limit = 1, kind = "stock" }
  if waiting and waiting[1] then
    r.waiting = waiting[1].id
    return done("outbox entry " .. waiting[1].id .. " waits until " .. tostring(waiting[1].next_at or "cartwright outbox retry"))
  end
  for round = 0, M.STALE_ROUNDS do
    if stale then
      if round == M.STALE_ROUNDS then return done("the cart kept selling while we pushed; run again") end
      -- the cart sold under us: its new orders first, then the figures again
      local ok, ierr = self.opts.reimport(self.cart.name)
      r.reimported = true
      if not ok then return done("importing the cart's new orders before pushing again: " .. tostring(ierr)) end
    end
    local items, cerr = self:changes()
    if not items then return done(cerr) end
    if #items == 0 then return done() end
    local n, werr = self:write(items)
    if not n then return done(werr) end
    stale, err = self:drain(false)
    if stale == nil then return done(err) end
    if not stale then return done() end
  end
  return done()
end

return M
