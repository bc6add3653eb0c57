-- PrestaShop connector, shipments and status: a shipment is the tracking number of the order's
-- order_carriers row (PUT, the whole row in XML, tracking_number ≤ 64 characters), a status
-- is a new order_histories row (POST, XML). PrestaShop keeps one tracking number per order
-- carrier and no shipped quantity per line, so a shipment of part of an order is refused
-- (permanent) rather than recorded as if the whole order had gone; a second tracking number
-- for an order that has one is refused too, never written over it. The order's carrier stays
-- the one the customer chose (PrestaShop's own carrier change recomputes shipping).
-- Uses: api.lua, cartwright.cartdata.

local cd = require "cartwright.cartdata"
local api = require "connectors.prestashop.api"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

local M = {}

-- ObjectModel's check of OrderCarrier->tracking_number (Validate::isTrackingNumber), and its size
local TRACKING = "^[~:#,%%&_=%(%)%[%]%.%? %+%-@/%w]+$"
local TRACKING_MAX = 64

-- status words an operator may write for the fresh-install states
local WORDS = { received = "1", paid = "2", payment_received = "2", processing = "3", shipped = "4",
  delivered = "5", cancelled = "6", canceled = "6", refunded = "7" }

-- The cart's answer to a write: 4xx other than 429 is permanent.
local function refused(ctx, res, err, what)
  if not res then return nil, err .. " (" .. what .. ")" end
  local _, msg = ctx:fail(res)
  msg = msg .. " (" .. what .. ")"
  if res.status >= 400 and res.status < 500 and res.status ~= 429 then return nil, msg, true end
  return nil, msg
end

local function order_id(order)
  local id = int(order.external_id)
  if not id or id <= 0 then return nil, "prestashop order id is not a number: " .. tostring(order.external_id) end
  return id
end

-- The order's order_carriers rows -> list | nil, err
local function carriers_of(ctx, id)
  local raws, docs = api.list(ctx, "order_carriers", { { "display", "full" }, { "filter[id_order]", "[" .. id .. "]" } },
    "GET order_carriers of order " .. id)
  if not raws then return nil, docs end
  table.sort(docs, function(a, b) return (int(a.id) or 0) < (int(b.id) or 0) end)
  return docs
end

-- Whether the shipment carries every unit of every line of the stored order.
local function whole(order)
  local rows = tbl(tbl(tbl(tbl(order.raw).order).associations).order_rows)
  if #rows == 0 then return true end
  local sent = {}
  for _, l in ipairs(order.lines or {}) do
    local k = str(l.external_id)
    if k then sent[k] = (sent[k] or 0) + (int(l.quantity) or 0) end
  end
  for _, r in ipairs(rows) do
    local k = str(r.id)
    if k and (sent[k] or 0) < (int(r.product_quantity) or 0) then return false end
  end
  return true
end

--- -> { id = order_carriers id, state = "created" } | nil, err, permanent
function M.ship(ctx, order, shipment)
  local id, ierr = order_id(order)
  if not id then return nil, ierr, true end
  local tracking = nn(shipment.tracking)
  if not whole(order) then
    return nil, "PrestaShop keeps one tracking number per order and no shipped quantities per line: ship order "
      .. order.external_id .. " whole (a partial shipment is not sent)", true
  end
  if tracking and (#tracking > TRACKING_MAX or not tracking:match(TRACKING)) then
    return nil, "tracking number refused before sending: PrestaShop takes at most " .. TRACKING_MAX
      .. " letters, digits, spaces and ~:#,%&_=()[].?+-@/", true
  end
  local rows, err = carriers_of(ctx, id)
  if not rows then return nil, err end
  if #rows == 0 then return nil, "order " .. id .. " has no carrier at PrestaShop (nothing to ship)", true end
  local row
  for _, r in ipairs(rows) do
    if tracking and nn(r.tracking_number) == tracking then return { id = str(r.id), state = "created" } end
    if not row and not nn(r.tracking_number) then row = r end
  end
  if not tracking then -- nothing to record but the status the engine sets next
    return { id = str((row or rows[1]).id), state = "created" }
  end
  if not row then
    return nil, "order " .. id .. " already has tracking number " .. rows[#rows].tracking_number
      .. " at PrestaShop (one per order carrier): not replaced", true
  end
  local fields = {}
  for _, f in ipairs{ "id", "id_order", "id_carrier", "id_order_invoice", "weight", "shipping_cost_tax_excl",
      "shipping_cost_tax_incl" } do
    fields[#fields + 1] = { f, str(nn(row[f])) }
  end
  fields[#fields + 1] = { "tracking_number", tracking }
  local body, xerr = api.xml("order_carrier", fields)
  if not body then return nil, xerr, true end
  local what = "PUT order_carriers/" .. str(row.id)
  local params = shipment.notify and { { "sendemail", "1" } } or {}
  local res, rerr = api.raw(ctx, "PUT", "order_carriers/" .. str(row.id), params, body)
  if res and res.status >= 200 and res.status < 300 then return { id = str(row.id), state = "created" } end
  return refused(ctx, res, rerr, what)
end

--- -> { id } | false | nil, err
function M.find(ctx, order, shipment)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local rows, err = carriers_of(ctx, id)
  if not rows then return nil, err end
  for _, r in ipairs(rows) do
    if nn(shipment.tracking) and nn(r.tracking_number) == shipment.tracking then return { id = str(r.id) } end
  end
  return false
end

--- -> the order's current state id ("4") | nil, err
function M.get_status(ctx, order)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local raws, docs = api.list(ctx, "orders", { { "display", "[id,current_state]" }, { "filter[id]", "[" .. id .. "]" } },
    "GET order " .. id)
  if not raws then return nil, docs end
  if #docs == 0 then return nil, "http 404: order " .. id .. " is not at PrestaShop (GET order " .. id .. ")" end
  return str(docs[1].current_state)
end

--- status: a state id ("4") or a word for a fresh-install state. A new order_histories row
--- (PrestaShop's state change: its emails when opts.notify, stock, invoice); none when the
--- order is in that state already, so a repeated change sends no second email.
function M.set_status(ctx, order, status, opts)
  local state = WORDS[tostring(status):lower()] or tostring(status)
  if not state:match("^%d+$") then
    return nil, "not a PrestaShop order state: " .. tostring(status) .. " (a state id from Orders > Statuses)", true
  end
  local id, ierr = order_id(order)
  if not id then return nil, ierr, true end
  local now, err = M.get_status(ctx, order)
  if not now then return nil, err, err:match("^http 404") ~= nil end
  if now == state then return true end
  local body = assert(api.xml("order_history", { { "id_order", id }, { "id_order_state", state } }))
  local params = (opts == nil or opts.notify ~= false) and { { "sendemail", "1" } } or {}
  local res, rerr = api.raw(ctx, "POST", "order_histories", params, body)
  if res and res.status >= 200 and res.status < 300 then return true end
  return refused(ctx, res, rerr, "POST order_histories (order " .. id .. ")")
end

return M
