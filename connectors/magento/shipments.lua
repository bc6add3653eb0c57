-- Magento connector, shipments and status out (REST V1): a shipment is POST order/{id}/ship with
-- the lines shipped (order_item_id, qty) and its track; find reads the order's shipments and
-- their tracks; a status is a comment with that status (POST orders/{id}/comments), except
-- canceled and holded, which are Magento's own actions (cancel, hold), and complete and closed,
-- which Magento sets itself (invoiced and shipped; refunded).
-- Uses: api.lua (URLs, auth, searchCriteria, error bodies), cjson.safe, cartwright.cartdata.

local json = require "cjson.safe"
local cd = require "cartwright.cartdata"
local api = require "connectors.magento.api"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

-- Magento's own carrier codes (its tracking links come from these); anything else is "custom"
-- with the carrier's name as the track's title
local CARRIERS = { ups = "ups", usps = "usps", fedex = "fedex", dhl = "dhl", dhlexpress = "dhl" }

local function carrier_code(name)
  local key = tostring(name or ""):lower():gsub("[^%w]", "")
  return CARRIERS[key] or "custom"
end

local function order_id(order)
  local id = int(order.external_id)
  if not id then return nil, "magento order id '" .. tostring(order.external_id) .. "' is not a number" end
  return id
end

-- The order's line (item_id) for one of ours: its id, else the first parent line with the SKU.
local function item_of(raw, line)
  local id = int(line.external_id)
  if id then return id end
  for _, it in ipairs(tbl(tbl(raw).items)) do
    if nn(it.parent_item_id) == nil and nn(it.sku) == line.sku then return int(it.item_id) end
  end
end

local function text_of(shipment)
  local via = tostring(shipment.carrier or "")
  if shipment.service then via = via .. " " .. shipment.service end
  local s = "Shipped via " .. via
  if shipment.tracking then s = s .. ", tracking " .. shipment.tracking end
  if shipment.url then s = s .. " (" .. shipment.url .. ")" end
  return s
end

--- POST order/{id}/ship: { id = the shipment's id, state = "created" } | nil, err, permanent
local function ship(ctx, order, shipment)
  local id, ierr = order_id(order)
  if not id then return nil, ierr, true end
  local items = {}
  for _, l in ipairs(order.lines or {}) do
    local iid = item_of(order.raw, l)
    if not iid then return nil, "magento order " .. id .. " has no line for " .. tostring(l.sku), true end
    if (l.quantity or 0) > 0 then items[#items + 1] = { order_item_id = iid, qty = l.quantity } end
  end
  local body = { notify = shipment.notify == true, appendComment = true,
    comment = { comment = text_of(shipment), is_visible_on_front = 0 } }
  if #items > 0 then body.items = items end -- none: Magento ships everything left
  if shipment.tracking then
    local title = tostring(shipment.carrier or "")
    if shipment.service then title = title .. " " .. shipment.service end
    body.tracks = { { track_number = shipment.tracking, title = title, carrier_code = carrier_code(shipment.carrier) } }
  end
  local what = "POST order/" .. id .. "/ship"
  -- sent once: a 5xx or timeout may come after Magento made the shipment (the engine asks find)
  local res, err, permanent = api.call(ctx, "POST", "order/" .. id .. "/ship", {}, what, body, { once = true })
  if not res then return nil, err, permanent end
  local sid = json.decode(res.body or "")
  sid = str(sid)
  if not sid then return nil, "bad JSON in " .. what .. ": no shipment id" end
  return { id = sid, state = "created" }
end

-- The order's shipments: { shipment doc, … } | nil, err
local function shipments_of(ctx, id)
  local what = "GET shipments of order " .. id
  local doc, err = api.get_json(ctx, "shipments", api.criteria({ { { "order_id", id, "eq" } } }, nil, 300, 1), what)
  if not doc then return nil, err end
  if type(doc) ~= "table" or type(doc.items) ~= "table" then return nil, "bad JSON in " .. what end
  return doc.items
end

--- A shipment of the order holding that tracking number (or, without one, those items):
--- { id } | false | nil, err
local function find(ctx, order, shipment)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local list, err = shipments_of(ctx, id)
  if not list then return nil, err end
  local want
  if not shipment.tracking then
    local parts = {}
    for _, l in ipairs(order.lines or {}) do parts[#parts + 1] = tostring(item_of(order.raw, l)) .. ":" .. tostring(l.quantity) end
    table.sort(parts)
    want = table.concat(parts, " ")
  end
  for _, s in ipairs(list) do
    if shipment.tracking then
      for _, t in ipairs(tbl(tbl(s).tracks)) do
        if str(tbl(t).track_number) == shipment.tracking then return { id = str(s.entity_id) } end
      end
    else
      local parts = {}
      for _, it in ipairs(tbl(tbl(s).items)) do parts[#parts + 1] = tostring(int(it.order_item_id)) .. ":" .. tostring(int(it.qty)) end
      table.sort(parts)
      if table.concat(parts, " ") == want then return { id = str(s.entity_id) } end
    end
  end
  return false
end

--- GET orders/{id}: the order's status (the merchant's label code, e.g. "processing") | nil, err
local function get_status(ctx, order)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local doc, err = api.get_json(ctx, "orders/" .. id, { { "fields", "entity_id,state,status" } }, "GET orders/" .. id)
  if not doc then return nil, err end
  local status = nn(tbl(doc).status)
  if type(status) ~= "string" then return nil, "bad JSON in GET orders/" .. id .. ": no status" end
  return status
end

local ACTIONS = { canceled = "cancel", cancelled = "cancel", holded = "hold" }
-- states Magento reaches by itself; a comment cannot put an order there
local OWN = { complete = "invoiced and fully shipped", closed = "refunded (credit memo)" }

--- Sets the order's status at the cart. true | nil, err, permanent
local function set_status(ctx, order, status, opts)
  local id, ierr = order_id(order)
  if not id then return nil, ierr, true end
  if type(status) ~= "string" or status == "" then return nil, "no status to set for order " .. id, true end
  if OWN[status] then return true end -- Magento sets it itself when the order is OWN[status]
  local action = ACTIONS[status]
  if action then
    local what = "POST orders/" .. id .. "/" .. action
    local res, err, permanent = api.call(ctx, "POST", "orders/" .. id .. "/" .. action, {}, what)
    if not res then return nil, err, permanent end
    if json.decode(res.body or "") == true then return true end
    -- false: Magento's canCancel()/canHold() said no; already there is done
    local now = get_status(ctx, order)
    if now == (action == "cancel" and "canceled" or "holded") then return true end
    return nil, "Magento refused to " .. action .. " order " .. id .. " (its status is " .. tostring(now)
      .. "; an invoiced or shipped order is refunded with a credit memo instead)", true
  end
  local what = "POST orders/" .. id .. "/comments"
  local res, err, permanent = api.call(ctx, "POST", "orders/" .. id .. "/comments", {}, what, { statusHistory = {
    comment = "Status set to " .. status .. " by the back office", status = status, parent_id = id,
    is_customer_notified = opts and opts.notify and 1 or 0, is_visible_on_front = 0 } })
  if not res then return nil, err, permanent end
  return true
end

return {
  ship = ship,
  find = find,
  set_status = set_status,
  get_status = get_status,
}
