-- Cart.com connector, shipments and status out: a shipment is POST /order_shipments with the
-- order's items shipped (order item ids), the carrier and tracking number, named with our
-- outbox key (`shipment_name`): the cart updates a shipment of that order with that name
-- instead of creating a second one, so a resend after an uncertain failure cannot double it.
-- find reads GET /orders/{id}/shipments; a status is PUT /orders/{id}/status { order_status_id }
-- (which fires the store's status events and emails), or a plain PUT /orders/{id} when emails
-- are suppressed. Contract: docs/connectors.md ("Cart.com shipments").
-- Uses: api.lua, cartwright.jsonraw, cartwright.cartdata, cartwright.time, cartwright.task,
-- cartwright.crypto.

local jraw = require "cartwright.jsonraw"
local cd = require "cartwright.cartdata"
local time = require "cartwright.time"
local task = require "cartwright.task"
local crypto = require "cartwright.crypto"
local api = require "connectors.cartcom.api"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

local NAME_MAX = 50 -- a shipment_name longer than this is hashed (the field's limit is not documented)

-- our idempotency key as the shipment's name
local function shipment_name(shipment)
  local k = tostring(shipment.key or "")
  if k ~= "" and #k <= NAME_MAX then return k end
  return "cw-" .. crypto.hex(crypto.sha256(k)):sub(1, 32)
end

local function order_id(order)
  local id = int(order.external_id)
  if not id then return nil, "cartcom: order " .. tostring(order.external_id) .. " has no numeric id", true end
  return id
end

---------------------------------------------------------------- ship
local function ship(ctx, order, shipment)
  local oid, oerr, operm = order_id(order)
  if not oid then return nil, oerr, operm end
  local items = {}
  for _, l in ipairs(order.lines or {}) do
    local q = int(l.quantity)
    if q and q > 0 then
      local id = int(l.external_id)
      -- the order item's id; by SKU (item_nr) only when the line has none
      items[#items + 1] = id and { id = id, quantity_shipped = q } or { item_nr = l.sku, quantity_shipped = q }
    end
  end
  if #items == 0 then return nil, "cartcom: shipment of order " .. oid .. " has no items", true end
  local body = {
    order_id = oid, shipment_name = shipment_name(shipment),
    shipped_at = time.format(task.now()),
    tracking_numbers = shipment.tracking, tracking_url = nn(shipment.url),
    shipping_provider_name = nn(shipment.carrier),
    shipping_method = nn(shipment.service) or nn(shipment.carrier),
    -- the store's shipment email is sent for a shipment not marked sent (unverified): marking it
    -- sent is what suppress_emails can do
    email_sent = shipment.notify == false,
    items = items,
  }
  local what = "POST order_shipments (order " .. oid .. ")"
  local res, err = api.send(ctx, "POST", "order_shipments", nil, body, { once = true })
  local ok, msg, permanent = api.ok(ctx, what, res, err)
  if not ok then return nil, msg, permanent end
  local doc = tbl(jraw.decode(res.body))
  local id = str(doc.id)
  if not id then return nil, "bad JSON in " .. what .. ": no shipment id" end
  return { id = id, state = "created" }
end

---------------------------------------------------------------- find
-- "1Z1, 1Z2" / "1Z1 1Z2" -> set
local function numbers(s)
  local out = {}
  for n in tostring(s or ""):gmatch("[^,;%s]+") do out[n] = true end
  return out
end

local function find(ctx, order, shipment)
  local oid, oerr = order_id(order)
  if not oid then return nil, oerr end
  local what = "GET orders/" .. oid .. "/shipments"
  local res, err = api.send(ctx, "GET", "orders/" .. oid .. "/shipments", { { "count", 250 } })
  -- an order with no shipments may answer 404 (a nested list that does not exist)
  if res and res.status == 404 and api.error_body(res) then return false end
  res, err = api.ok(ctx, what, res, err)
  if not res then return nil, err end
  local doc = jraw.decode(res.body)
  if type(doc) ~= "table" then return nil, "bad JSON in " .. what end
  local name = shipment_name(shipment)
  for _, s in ipairs(tbl(doc.shipments)) do
    s = tbl(s)
    if str(s.shipment_name) == name or (shipment.tracking and numbers(s.tracking_numbers)[shipment.tracking]) then
      return { id = str(s.id) }
    end
  end
  return false
end

---------------------------------------------------------------- statuses
-- The store's statuses, once per ctx: { by_key = { [key(name)] = id }, names = { [id] = name } }
local loaded = setmetatable({}, { __mode = "k" })

local function key(s) return (tostring(s):lower():gsub("[^%w]", "")) end

local function store_statuses(ctx)
  if loaded[ctx] then return loaded[ctx] end
  local res, err = api.get(ctx, "order_statuses", { { "count", 250 } }, "GET order_statuses")
  if not res then return nil, err end
  local doc = jraw.decode(res.body)
  if type(doc) ~= "table" or type(doc.order_statuses) ~= "table" then return nil, "bad JSON in GET order_statuses" end
  local st = { by_key = {}, names = {}, list = {} }
  for _, s in ipairs(doc.order_statuses) do
    local id, name = int(tbl(s).id), str(tbl(s).name)
    if id and name then
      st.by_key[key(name)], st.names[id] = id, name
      st.list[#st.list + 1] = name
    end
  end
  loaded[ctx] = st
  return st
end

local function set_status(ctx, order, status, opts)
  local oid, oerr, operm = order_id(order)
  if not oid then return nil, oerr, operm end
  local st, err = store_statuses(ctx)
  if not st then return nil, err end
  local id = math.tointeger(tonumber(status))
  if not (id and st.names[id]) then id = st.by_key[key(status)] end
  if not id then
    return nil, "cartcom: the store has no order status '" .. tostring(status) .. "' (it has: "
      .. table.concat(st.list, ", ") .. ")", true
  end
  -- already so (a resend after an uncertain try that did reach the store): nothing to send, so
  -- the customer does not get the status email twice
  local what = "GET orders/" .. oid
  -- an order the store lacks: permanent
  local cur, cerr, cperm = api.get(ctx, "orders/" .. oid, { { "fields", "id,order_status_id" } }, what)
  if not cur then return nil, cerr, cperm end
  if int(tbl(jraw.decode(cur.body)).order_status_id) == id then return true end
  -- /status fires the store's status events (its emails); a plain PUT changes the status quietly
  local quiet = opts and opts.notify == false
  local path = quiet and ("orders/" .. oid) or ("orders/" .. oid .. "/status")
  local res, rerr = api.send(ctx, "PUT", path, nil, { order_status_id = id }, { once = true })
  local ok, msg, permanent = api.ok(ctx, "PUT " .. path, res, rerr)
  if not ok then return nil, msg, permanent end
  return true
end

local function get_status(ctx, order)
  local oid, oerr = order_id(order)
  if not oid then return nil, oerr end
  local st, err = store_statuses(ctx)
  if not st then return nil, err end
  local what = "GET orders/" .. oid
  local res, gerr = api.get(ctx, "orders/" .. oid, { { "fields", "id,order_status_id" } }, what)
  if not res then return nil, gerr end
  local doc = tbl(jraw.decode(res.body))
  local sid = int(doc.order_status_id)
  if not sid then return nil, "bad JSON in " .. what .. ": no order_status_id" end
  return st.names[sid] or tostring(sid)
end

return { ship = ship, find = find, set_status = set_status, get_status = get_status }
