-- Shipments and statuses of orders: ship (a shipment of some or all unshipped quantities, with
-- its outbox entry and the after_shipment_status entry in one transaction, then sent), the
-- shipments of an order with their state at the cart, status (our status of an order, an event,
-- and an outbox entry when the cart's send_status is on), and send (a cart's open shipment and
-- status entries, flows/shipments_out.lua). Marketplace-fulfilled carts get neither.
local jraw = require "cartwright.jsonraw"
local crypto = require "cartwright.crypto"
local carts = require "cartwright.carts"
local connector = require "cartwright.connector"
local shipments_out = require "cartwright.flows.shipments_out"
local orders = require "cartwright.ops.orders"
local ops = require "cartwright.ops"

local M = {}

local function text_ok(v) return type(v) == "string" and v:find("%S") and not v:find("[%z\1-\31\127]") end

local function new_key() return "cw-" .. crypto.hex(crypto.random_bytes(12)) end

-- The order and its cart (validated): row, cart, conn | nil, err, kind. Refuses a
-- marketplace-fulfilled cart's order.
local function order_and_cart(s, ref, what)
  local row, err, kind = orders.find(s, ref)
  if not row then return nil, err, kind end
  local cart, conn = carts.load(s.cfg, row.cart)
  if not cart then return ops.fail("config", conn) end
  if cart.marketplace_fulfilled then
    return ops.fail("usage", "%s:%s: cart \"%s\" is marketplace_fulfilled (the marketplace ships its orders):"
      .. " Cartwright never sends it %s", row.cart, row.external_id, row.cart, what)
  end
  return row, cart, conn
end

-- "SKU:QTY" words -> { { sku, quantity } } (a SKU twice adds up) | nil, err.
local function parse_lines(words)
  local list, by = {}, {}
  for _, w in ipairs(words or {}) do
    local sku, qty = tostring(w):match("^(.+):(%d+)$")
    local n = qty and math.tointeger(tonumber(qty))
    if not sku or not text_ok(sku) or not n or n < 1 then
      return nil, "--line is SKU:QTY with a whole quantity from 1 (got '" .. tostring(w) .. "')"
    end
    if by[sku] then by[sku].quantity = by[sku].quantity + n
    else
      by[sku] = { sku = sku, quantity = n }
      list[#list + 1] = by[sku]
    end
  end
  return list
end

-- The lines a shipment carries: each asked SKU spread over the order's lines with that SKU, in
-- line order, never more than a line's unshipped quantity; all unshipped quantities when none
-- is asked. Returns { { line_no, external_id, sku, quantity } } | nil, err.
local function allot(db, row, asked)
  local lines = assert(db:order_lines{ order_id = row.id })
  local doc = jraw.decode(row.doc or "{}") or {}
  local doc_lines = type(doc.lines) == "table" and doc.lines or {}
  local shipped = {}
  for _, r in ipairs(assert(db:shipped_by_line{ order_id = row.id })) do shipped[r.line_no] = r.shipped end
  local left = {}
  for _, l in ipairs(lines) do left[l.line_no] = l.quantity - (shipped[l.line_no] or 0) end
  local function line_of(l, n)
    local d = doc_lines[l.line_no]
    return { line_no = l.line_no, sku = l.sku, quantity = n,
             external_id = type(d) == "table" and type(d.external_id) == "string" and d.external_id or nil }
  end
  local out = {}
  if #asked == 0 then
    for _, l in ipairs(lines) do
      if left[l.line_no] > 0 then out[#out + 1] = line_of(l, left[l.line_no]) end
    end
    if #out == 0 then return nil, "every line of the order is shipped already" end
    return out
  end
  for _, a in ipairs(asked) do
    local ordered, done, free = 0, 0, 0
    for _, l in ipairs(lines) do
      if l.sku == a.sku then
        ordered, done, free = ordered + l.quantity, done + (shipped[l.line_no] or 0), free + math.max(0, left[l.line_no])
      end
    end
    if ordered == 0 then return nil, "the order has no line with SKU " .. a.sku end
    if a.quantity > free then
      return nil, string.format("refused: %d of %s asked, only %d unshipped (%d ordered, %d shipped)", a.quantity, a.sku,
        free, ordered, done)
    end
    local need = a.quantity
    for _, l in ipairs(lines) do
      if need == 0 then break end
      if l.sku == a.sku and left[l.line_no] > 0 then
        local n = math.min(need, left[l.line_no])
        out[#out + 1] = line_of(l, n)
        left[l.line_no], need = left[l.line_no] - n, need - n
      end
    end
  end
  table.sort(out, function(x, y) return x.line_no < y.line_no end)
  return out
end

local add_status_entry = shipments_out.add_status

--- Sends the open shipment and status entries of the carts `names` (due ones; all with any).
--- Returns { result, … } (flows/shipments_out.lua's, one per cart) | nil, err, kind.
function M.send(s, names, any)
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local results = {}
  for _, name in ipairs(names) do
    local cart, conn = carts.connect(s.cfg, name)
    if not cart then return ops.fail("config", conn) end
    local sender = shipments_out.new(db, cart, conn)
    local ok, r = pcall(sender.run, sender, any)
    if not ok then
      r = sender.result
      r.ok, r.error = false, (tostring(r):match("^(.-)\nstack traceback:") or tostring(r))
    end
    results[#results + 1] = r
  end
  return results
end

-- The send after a change: its result, or one saying why it could not start.
local function send_now(s, name)
  local results, err = M.send(s, { name })
  if not results then return { cart = name, ok = false, sent = 0, found = 0, failed = {}, error = err } end
  return results[1]
end

--- Ships an order. opts: { carrier, tracking, url, service, lines = { "SKU:QTY", … } }. Without
--- lines, every unshipped quantity. Refuses more than a line's unshipped quantity. Writes the
--- shipment, its lines, an order event, its outbox entry (when the cart syncs tracking) and an
--- after_shipment_status entry in one transaction, then sends. Returns { shipment = { id, cart,
--- external_id, number, carrier, tracking, url, service, state, lines }, status_entry,
--- sent = result (nil when nothing is sent) } | nil, err, kind.
function M.ship(s, ref, opts)
  opts = opts or {}
  if not text_ok(opts.carrier) then return ops.fail("usage", "--carrier is required (text)") end
  if not text_ok(opts.tracking) then return ops.fail("usage", "--tracking is required (text)") end
  for _, k in ipairs{ "url", "service" } do
    if opts[k] ~= nil and not text_ok(opts[k]) then return ops.fail("usage", "--%s must be text", k) end
  end
  local asked, perr = parse_lines(opts.lines)
  if not asked then return ops.fail("usage", perr) end
  local row, cart, conn = order_and_cart(s, ref, "shipments")
  if not row then return nil, cart, conn end
  local sync = cart.sync_tracking
  if sync and not (conn.shipments and conn.shipments.ship) then
    return ops.fail("config", "cart \"%s\": connector %s cannot send shipments (set sync_tracking = false to keep"
      .. " them here only)", cart.name, conn.name)
  end
  local db = s.db
  local shipment, status_entry
  local ok, err = db:transaction(function()
    local lines, aerr = allot(db, row, asked)
    if not lines then error({ usage = aerr }) end
    local notify = not cart.suppress_emails
    local id = assert(db:shipment_add{ order_id = row.id, carrier = opts.carrier, tracking = opts.tracking, url = opts.url,
                                       service = opts.service, state = sync and "pending" or "local" })
    for _, l in ipairs(lines) do
      assert(db:shipment_line_add{ shipment_id = id, line_no = l.line_no, sku = l.sku, quantity = l.quantity })
    end
    local parts = {}
    for i, l in ipairs(lines) do parts[i] = tostring(l.sku) .. " x" .. l.quantity end
    assert(db:order_event{ order_id = row.id, kind = "shipment", detail = string.format("%s %s: %s", opts.carrier,
      opts.tracking, table.concat(parts, ", ")) })
    if sync then
      local oid = assert(db:outbox_add{ cart = cart.name, kind = "shipment", key = new_key(), payload = jraw.encode{
        order = row.id, shipment = id, carrier = opts.carrier, tracking = opts.tracking, url = opts.url,
        service = opts.service, lines = lines, notify = notify } })
      assert(db:shipment_set_outbox{ id = id, outbox_id = oid })
      if cart.after_shipment_status then
        status_entry = add_status_entry(db, cart, row.id, nil, cart.after_shipment_status)
        assert(db:order_event{ order_id = row.id, kind = "status", detail = "cart status " .. cart.after_shipment_status
          .. " (after_shipment_status)" })
      end
    end
    shipment = { id = id, cart = row.cart, external_id = row.external_id, number = row.number, carrier = opts.carrier,
                 tracking = opts.tracking, url = opts.url, service = opts.service, lines = lines,
                 state = sync and "pending" or "local" }
    return true
  end)
  if not ok then
    if type(err) == "table" and err.usage then return ops.fail("usage", "%s:%s: %s", row.cart, row.external_id, err.usage) end
    return ops.fail("failed", tostring(err))
  end
  local sent
  if sync then
    sent = send_now(s, cart.name)
    local now = db:shipment_get{ id = shipment.id }
    if now then shipment.state, shipment.cart_id, shipment.error = now.state, now.cart_id, now.error end
  end
  return { shipment = shipment, status_entry = status_entry, sent = sent }
end

--- The shipments of an order, oldest first: { order = { cart, external_id, number },
--- shipments = { { id, carrier, tracking, url, service, created_at, state, cart_id, sent_at,
--- error, attempts, last_error, next_at, lines = { { line_no, sku, quantity } } } } } | nil, err, kind.
function M.shipments(s, ref)
  local row, err, kind = orders.find(s, ref)
  if not row then return nil, err, kind end
  local db = s.db
  local list, by = {}, {}
  for _, r in ipairs(assert(db:shipments_of_order{ order_id = row.id })) do
    local sh = { id = r.id, carrier = r.carrier, tracking = r.tracking, url = r.url, service = r.service,
                 created_at = r.created_at, state = r.state, cart_id = r.cart_id, sent_at = r.sent_at, error = r.error,
                 attempts = r.attempts or 0, last_error = r.last_error, next_at = r.next_at, lines = {} }
    list[#list + 1], by[r.id] = sh, sh
  end
  for _, l in ipairs(assert(db:shipment_lines_of_order{ order_id = row.id })) do
    local sh = by[l.shipment_id]
    sh.lines[#sh.lines + 1] = { line_no = l.line_no, sku = l.sku, quantity = l.quantity }
  end
  return { order = { cart = row.cart, external_id = row.external_id, number = row.number }, shipments = list }
end

--- Sets our status of an order (received, payment_received, shipped, cancelled): the order's
--- status and a "status" event, and, when the cart's send_status is on, an outbox entry with
--- the cart's status (the status map's) in the same transaction, then sent. Returns { cart,
--- external_id, number, status, before, cart_status (nil when not pushed), pushed = bool,
--- not_pushed = why, sent = result } | nil, err, kind.
function M.status(s, ref, status, note)
  if not connector.OUR_STATUSES[status] then
    return ops.fail("usage", "STATUS is received, payment_received, shipped or cancelled (got '%s')", tostring(status))
  end
  local row, cart, conn = order_and_cart(s, ref, "statuses")
  if not row then return nil, cart, conn end
  local cart_status, why
  if not cart.send_status then
    why = "send_status is off for cart \"" .. cart.name .. "\": recorded here only"
  elseif not (conn.shipments and conn.shipments.set_status) then
    return ops.fail("config", "cart \"%s\": connector %s cannot set statuses (set send_status = false)", cart.name, conn.name)
  else
    cart_status = shipments_out.cart_status(conn, status, s.cfg.rules_dir)
    if not cart_status then why = "the status map has no " .. conn.name .. " status for " .. status .. ": recorded here only" end
  end
  local db = s.db
  local ok, err = db:transaction(function()
    assert(db:order_set_status{ id = row.id, status = status })
    assert(db:order_event{ order_id = row.id, kind = "status", note = note, detail = tostring(row.status) .. " -> " .. status
      .. (cart_status and (" (cart: " .. cart_status .. ")") or "") })
    if cart_status then add_status_entry(db, cart, row.id, status, cart_status) end
    return true
  end)
  if not ok then return ops.fail("failed", tostring(err)) end
  local sent = cart_status and send_now(s, cart.name) or nil
  return { cart = row.cart, external_id = row.external_id, number = row.number, status = status, before = row.status,
           cart_status = cart_status, pushed = cart_status ~= nil, not_pushed = why, sent = sent }
end

return M
