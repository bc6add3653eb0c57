-- Shipments and status out: the outbox entries of kind "shipment" and "status" of one cart, sent
-- through the connector's shipments capability (conn.shipments) exactly once. Each entry was
-- written in the transaction that made the shipment or the status (ops/ship.lua, the import);
-- here it is sent, oldest first. A try that began and did not end well (a timeout, a reset, a
-- 5xx, a crash: the entry left "sending") may have reached the cart, so the next try asks the
-- cart first (find / get_status) and records what it holds instead of sending it twice. Writes
-- go out once per try (ctx.writes_once): the cart is asked before any second send. A permanent
-- error (the connector says so: a 4xx other than 429) fails the entry at once, with the cart's
-- message, until `outbox retry`. Other failures wait with the stock flow's backoff.
local jraw = require "cartwright.jsonraw"
local crypto = require "cartwright.crypto"
local task = require "cartwright.task"
local time = require "cartwright.time"
local log = require "cartwright.log"
local rules = require "cartwright.rules"
local context = require "cartwright.ctx"
local stock_out = require "cartwright.flows.stock_out"
local orders_in = require "cartwright.flows.orders_in"

local M = {}

M.KINDS = { shipment = true, status = true }

--- The cart's status for our `ours` (received, payment_received, shipped, cancelled): the
--- status map's to_cart table for the connector (rules/status_map.lua, the merchant's own
--- first), else the connector's own `statuses` table read backwards (the first cart status, in
--- name order, that maps to ours). Returns the cart's status | nil (the cart has none for it).
function M.cart_status(conn, ours, rules_dir)
  local rule = rules.load("status_map", rules_dir)
  local to_cart = rule and type(rule.module) == "table" and rawget(rule.module, "to_cart")
  local map = type(to_cart) == "table" and to_cart[conn.name]
  if type(map) == "table" then return map[ours] end
  local st = orders_in.status_table(conn)
  if not st then return nil end
  local names = {}
  for cart_status, o in pairs(st) do if o == ours then names[#names + 1] = cart_status end end
  table.sort(names)
  return names[1]
end

--- Writes a status entry (inside the caller's transaction): the order (our id) is to have the
--- cart's status `cart_status` (`ours`: our status it came from, nil for after_* settings).
--- Returns the entry's id.
function M.add_status(db, cart, order_id, ours, cart_status)
  return assert(db:outbox_add{ cart = cart.name, kind = "status", key = "cw-" .. crypto.hex(crypto.random_bytes(12)),
    payload = jraw.encode{ order = order_id, status = ours, cart_status = cart_status, notify = not cart.suppress_emails } })
end

local Sender = {}
Sender.__index = Sender

--- A sender for `cart` (resolved settings) through `conn`. Returns sender.
function M.new(db, cart, conn)
  local ctx = context.new(cart, conn)
  ctx.writes_once = true
  return setmetatable({ db = db, cart = cart, conn = conn, sh = conn.shipments, ctx = ctx,
    result = { cart = cart.name, ok = true, sent = 0, found = 0, entries = {}, failed = {} } }, Sender)
end

local function now_iso(offset) return time.format(task.now() + (offset or 0)) end

-- The time of try n+1 of an entry (nil: no more automatic tries), as the stock flow's.
local function next_try(attempts)
  if attempts >= stock_out.MAX_ATTEMPTS then return nil end
  return now_iso(math.min(stock_out.BACKOFF_MAX, stock_out.BACKOFF_BASE * 2 ^ (attempts - 1)))
end

-- The entry failed: permanent (the cart refused it) waits for `outbox retry`, else backoff.
function Sender:fail(entry, payload, err, permanent)
  err = tostring(err or "failed")
  local at = not permanent and next_try(entry.attempts) or nil
  local ok, terr = self.db:transaction(function()
    assert(self.db:outbox_fail{ id = entry.id, error = err, next_at = at })
    if permanent and entry.kind == "shipment" and payload and payload.shipment then
      assert(self.db:shipment_failed{ id = payload.shipment, error = err })
    end
    return true
  end)
  if not ok then err = err .. "; recording it: " .. tostring(terr) end
  local r = self.result
  r.ok = false
  r.failed[#r.failed + 1] = { entry = entry.id, kind = entry.kind, error = err, permanent = permanent or false, next_at = at }
  r.error = string.format("outbox entry %d (%s): %s (%s)", entry.id, entry.kind, err,
    at and ("tried again from " .. at) or ("no more automatic tries: cartwright outbox retry " .. entry.id))
  log.warn("sending to the cart failed", { cart = self.cart.name, entry = entry.id, kind = entry.kind,
                                           attempts = entry.attempts, err = err })
  return nil, r.error
end

-- The order as the connector's hooks see it: { external_id, raw = the stored raw document
-- decoded as the import decodes it }. order | nil, err.
function Sender:order(order_id)
  local row = self.db:order_by_id{ id = order_id }
  if not row then return nil, "order " .. tostring(order_id) .. " is not in the store" end
  local raw
  if self.conn.decode then raw = self.conn.decode(row.raw) else raw = jraw.decode(row.raw, self.conn.order_shape) end
  return { external_id = row.external_id, number = row.number, raw = raw }
end

-- A hook call: a raise is a failure like any other (retried), never the end of the run.
local function call(fn, ...)
  local ok, a, b, c = pcall(fn, ...)
  if not ok then return nil, "the connector raised: " .. (tostring(a):match("^(.-)\nstack traceback:") or tostring(a)) end
  return a, b, c
end

-- One shipment entry: find first after an uncertain try, else ship. cart id | nil, err, permanent.
function Sender:ship(entry, p, order, uncertain)
  local sh = self.sh
  order.lines = p.lines
  local shipment = { carrier = p.carrier, tracking = p.tracking, url = p.url, service = p.service, key = entry.key,
                     notify = p.notify }
  if uncertain and sh.find then
    local found, ferr = call(sh.find, self.ctx, order, shipment)
    if found == nil then return nil, "asking the cart whether it has the shipment already: " .. tostring(ferr) end
    if found then
      self.result.found = self.result.found + 1
      return tostring(type(found) == "table" and found.id or ""), "found"
    end
  end
  local res, err, permanent = call(sh.ship, self.ctx, order, shipment)
  if type(res) ~= "table" then return nil, err or "ship returned nothing", permanent end
  return tostring(res.id or "")
end

-- One status entry: after an uncertain try, the cart's status first. true | nil, err, permanent.
function Sender:status(entry, p, order, uncertain)
  local sh = self.sh
  if not sh.set_status then return nil, "connector " .. tostring(self.conn.name) .. " cannot set statuses", true end
  if uncertain and sh.get_status then
    local now, gerr = call(sh.get_status, self.ctx, order)
    if now == nil then return nil, "reading the order's status at the cart: " .. tostring(gerr) end
    if now == p.cart_status then
      self.result.found = self.result.found + 1
      return true, "found"
    end
  end
  local ok, err, permanent = call(sh.set_status, self.ctx, order, p.cart_status, { key = entry.key, notify = p.notify })
  if not ok then return nil, err or "set_status returned nothing", permanent end
  return true
end

--- Sends one entry. Returns true | nil, err (the entry failed and waits).
function Sender:send(entry)
  local p = jraw.decode(entry.payload)
  if type(p) ~= "table" or not p.order then return self:fail(entry, nil, "outbox payload is not a " .. entry.kind, true) end
  if not self.sh then
    return self:fail(entry, p, "connector " .. tostring(self.conn.name) .. " has no shipments capability", true)
  end
  -- an earlier try began (it failed, or the process died during it): it may have reached the cart
  local uncertain = entry.attempts > 0
  if self.db:outbox_claim{ id = entry.id } ~= 1 then return true end
  entry.attempts = entry.attempts + 1
  local order, oerr = self:order(p.order)
  if not order then return self:fail(entry, p, oerr, true) end
  local got, err, permanent
  if entry.kind == "shipment" then
    got, err, permanent = self:ship(entry, p, order, uncertain)
  else
    got, err, permanent = self:status(entry, p, order, uncertain)
  end
  if not got then return self:fail(entry, p, err, permanent) end
  local note = err == "found" and "the cart had it already (an earlier try reached it)" or nil
  local ok, terr = self.db:transaction(function()
    if entry.kind == "shipment" then assert(self.db:shipment_sent{ id = p.shipment, cart_id = got }) end
    assert(self.db:outbox_done{ id = entry.id, error = note })
    return true
  end)
  if not ok then return nil, terr end
  local r = self.result
  r.sent, r.entries[#r.entries + 1] = r.sent + 1, entry.id
  return true
end

--- Sends the cart's open shipment and status entries that are due (all of them with `any`),
--- oldest first. An order whose entry fails has its later entries wait (a status after its
--- shipment); other orders go on. Returns the result { cart, ok, sent, found (entries the cart
--- had already), entries = { ids sent }, failed = { { entry, kind, error, permanent, next_at } },
--- error, requests }.
function Sender:run(any)
  local r, db = self.result, self.db
  self.ctx.limiter:load(db)
  local open, err = db:outbox_open{ cart = self.cart.name, at = now_iso(), any = any and 1 or 0 }
  if not open then
    r.ok, r.error = false, err
    return r
  end
  local blocked = {}
  for _, entry in ipairs(open) do
    if M.KINDS[entry.kind] then
      local p = jraw.decode(entry.payload)
      local order = type(p) == "table" and p.order or nil
      if not (order and blocked[order]) then
        local ok = self:send(entry)
        if not ok and order then blocked[order] = true end
      end
    end
  end
  self.ctx.limiter:save(db)
  r.requests = self.ctx.stats.requests
  return r
end

return M
