-- Shopify connector, shipments and status (GraphQL Admin API, docs/connectors.md "Shopify
-- shipments"): a shipment is a fulfillment of the order's fulfillment orders (fulfillmentCreate
-- with tracking info and notifyCustomer; Shopify documents @idempotent for inventory and refund
-- mutations only, so a retry is made safe by find, which the engine calls first: it looks for
-- the tracking number among the order's fulfillments); the only status Shopify lets us set is cancelled
-- (orderCancel); get_status reads cancelledAt / closedAt.
-- Uses: graphql.lua (POST, token, THROTTLED, permanent errors).
local gql = require "connectors.shopify.graphql"

local ORDER_GID, LINE_GID = "gid://shopify/Order/", "gid://shopify/LineItem/"
-- fulfillment order statuses fulfillmentCreate takes (SCHEDULED and ON_HOLD must be released first)
local SHIPPABLE = { OPEN = true, IN_PROGRESS = true }

-- "gid://shopify/Order/N" from the order's external id (a number, or already a GID).
local function gid(prefix, id)
  id = tostring(id)
  if id:sub(1, #prefix) == prefix then return id end
  return prefix .. id
end

local function order_gid(order)
  local raw = type(order.raw) == "table" and order.raw or {}
  if type(raw.admin_graphql_api_id) == "string" then return raw.admin_graphql_api_id end
  return gid(ORDER_GID, order.external_id)
end

local function list(t) return type(t) == "table" and t or {} end

-- The payload's user errors as one message | nil.
local function user_errors(payload, field)
  local errs = list(payload[field or "userErrors"])
  if #errs == 0 then return nil end
  local out = {}
  for i, e in ipairs(errs) do
    local f = type(e.field) == "table" and table.concat(e.field, ".") or nil
    out[i] = (e.code and (tostring(e.code) .. ": ") or "") .. tostring(e.message) .. (f and (" (" .. f .. ")") or "")
  end
  return table.concat(out, "; ")
end

---------------------------------------------------------------- reading the order

local FULFILLMENT_ORDERS = [[
query CartwrightFulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 50) {
      nodes { id status lineItems(first: 250) { nodes { id remainingQuantity lineItem { id sku } } } }
    }
  }
}]]

local FULFILLMENTS = [[
query CartwrightFulfillments($id: ID!) {
  order(id: $id) { id fulfillments(first: 250) { id status trackingInfo { company number url } } }
}]]

local STATUS = [[
query CartwrightOrderStatus($id: ID!) {
  order(id: $id) { id cancelledAt closedAt displayFulfillmentStatus }
}]]

-- The order node of a query | nil, err, permanent (an order the shop does not have).
local function read_order(ctx, query, id, what)
  local data, err, permanent = gql.request(ctx, query, { id = id }, what)
  if not data then return nil, err, permanent end
  if type(data.order) ~= "table" then return nil, "shopify has no order " .. id .. " (" .. what .. ")", true end
  return data.order
end

---------------------------------------------------------------- ship

local CREATE = [[
mutation CartwrightFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}]]

-- The fulfillment order lines: { { fo, id, line_id, sku, remaining, open } } in the shop's order
-- (open: on a fulfillment order fulfillmentCreate takes now).
local function fo_lines(order_node)
  local out = {}
  for _, fo in ipairs(list(list(order_node.fulfillmentOrders).nodes)) do
    if type(fo) == "table" then
      for _, l in ipairs(list(list(fo.lineItems).nodes)) do
        local li = list(l.lineItem)
        out[#out + 1] = { fo = fo.id, id = l.id, line_id = li.id, sku = li.sku, open = SHIPPABLE[fo.status] == true,
                          remaining = SHIPPABLE[fo.status] and math.tointeger(l.remainingQuantity) or 0 }
      end
    end
  end
  return out
end

-- Our line's fulfillment order lines (by the cart's line id, else by SKU), the open ones first.
local function candidates(fls, line)
  local want = line.external_id ~= nil and gid(LINE_GID, line.external_id) or nil
  local open, closed = {}, {}
  for _, f in ipairs(fls) do
    if (want and f.line_id == want) or (not want and line.sku ~= nil and f.sku == line.sku) then
      table.insert(f.open and open or closed, f)
    end
  end
  return table.move(closed, 1, #closed, #open + 1, open)
end

-- Our lines spread over the fulfillment order lines that have them (the remaining quantities
-- first; what does not fit goes on the first one, for Shopify to refuse, unless it is a retry
-- of a call the shop applied, which the key recognises) -> lineItemsByFulfillmentOrder | nil, err.
local function allocate(fls, lines)
  local by_fo, fos = {}, {}
  local function add(f, qty)
    if not by_fo[f.fo] then by_fo[f.fo], fos[#fos + 1] = {}, f.fo end
    local t = by_fo[f.fo]
    t[f.id] = (t[f.id] or 0) + qty
  end
  if #lines == 0 then -- everything the shop has left to ship
    for _, f in ipairs(fls) do if f.remaining > 0 then add(f, f.remaining) end end
  end
  for _, line in ipairs(lines) do
    local qty = math.tointeger(line.quantity)
    if not qty or qty < 1 then return nil, "line " .. tostring(line.external_id or line.sku) .. ": quantity must be a whole number from 1" end
    local cands = candidates(fls, line)
    if #cands == 0 then
      return nil, "line " .. tostring(line.external_id or line.sku) .. " (" .. tostring(line.sku)
        .. ") is on no fulfillment order of the order"
    end
    for _, f in ipairs(cands) do
      local take = math.min(qty, math.max(0, f.remaining))
      if take > 0 then
        add(f, take)
        f.remaining, qty = f.remaining - take, qty - take
      end
    end
    if qty > 0 then add(cands[1], qty) end
  end
  local out = {}
  for _, fo in ipairs(fos) do
    local items, ids = {}, {}
    for id in pairs(by_fo[fo]) do ids[#ids + 1] = id end
    table.sort(ids) -- the same input each time, for the key
    for i, id in ipairs(ids) do items[i] = { id = id, quantity = by_fo[fo][id] } end
    out[#out + 1] = { fulfillmentOrderId = fo, fulfillmentOrderLineItems = items }
  end
  if #out == 0 then return nil, "nothing left to ship on the order's fulfillment orders" end
  return out
end

local function tracking_info(s)
  local t = {}
  if s.carrier and s.carrier ~= "" then t.company = s.carrier end
  if s.tracking and s.tracking ~= "" then t.number = s.tracking end
  if s.url and s.url ~= "" then t.url = s.url end
  return t
end

local function ship(ctx, order, shipment)
  local id = order_gid(order)
  local node, err, permanent = read_order(ctx, FULFILLMENT_ORDERS, id, "fulfillment orders of " .. id)
  if not node then return nil, err, permanent end
  local by_fo, aerr = allocate(fo_lines(node), list(order.lines))
  if not by_fo then return nil, "shopify order " .. id .. ": " .. aerr, true end
  local input = { lineItemsByFulfillmentOrder = by_fo, trackingInfo = tracking_info(shipment),
                  notifyCustomer = shipment.notify == true }
  local data, gerr, gperm = gql.request(ctx, CREATE, { fulfillment = input }, "fulfillmentCreate for " .. id)
  if not data then return nil, gerr, gperm end
  local payload = type(data.fulfillmentCreate) == "table" and data.fulfillmentCreate or nil
  if not payload then return nil, "fulfillmentCreate answered without its payload" end
  local uerr = user_errors(payload)
  if uerr then return nil, "shopify refused the fulfillment of " .. id .. ": " .. uerr, true end
  local f = type(payload.fulfillment) == "table" and payload.fulfillment or {}
  if type(f.id) ~= "string" then return nil, "fulfillmentCreate answered without a fulfillment id" end
  return { id = f.id, state = "created" }
end

---------------------------------------------------------------- find

-- Fulfillments that no longer stand (cancelled at the shop, or failed) do not count.
local GONE = { CANCELLED = true, ERROR = true, FAILURE = true }

local function find(ctx, order, shipment)
  local id = order_gid(order)
  local node, err = read_order(ctx, FULFILLMENTS, id, "fulfillments of " .. id)
  if not node then return nil, err end
  for _, f in ipairs(list(node.fulfillments)) do
    if type(f) == "table" and not GONE[f.status] then
      for _, t in ipairs(list(f.trackingInfo)) do
        if type(t) == "table" and shipment.tracking ~= nil and t.number == shipment.tracking then return { id = f.id } end
      end
    end
  end
  return false
end

---------------------------------------------------------------- status

-- The shop's status in the words of orders.lua's statuses: cancelled, closed or open; and what
-- the shop shows of its fulfillment ("fulfilled", "partially_fulfilled", "unfulfilled", …).
local function get_status(ctx, order)
  local id = order_gid(order)
  local node, err = read_order(ctx, STATUS, id, "status of " .. id)
  if not node then return nil, err end
  local fulfillment = type(node.displayFulfillmentStatus) == "string" and node.displayFulfillmentStatus:lower() or nil
  if type(node.cancelledAt) == "string" then return "cancelled", { fulfillment = fulfillment } end
  if type(node.closedAt) == "string" then return "closed", { fulfillment = fulfillment } end
  return "open", { fulfillment = fulfillment }
end

-- No refund and no restock: money stays the merchant's decision in Shopify's admin, and the
-- stock flow pushes the back office's figures (a restock here would only be overwritten).
local CANCEL = [[
mutation CartwrightOrderCancel($orderId: ID!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: OTHER, refundMethod: { originalPaymentMethodsRefund: false },
              restock: false, notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}]]

-- Shopify has no free status: "cancelled" cancels the order; every other status is a no-op
-- (shipped happens by fulfilling; open/closed follow from Shopify's own rules).
local function set_status(ctx, order, status, opts)
  if status ~= "cancelled" then return true end
  opts = opts or {}
  local id = order_gid(order)
  local data, err, permanent = gql.request(ctx, CANCEL, { orderId = id, notifyCustomer = opts.notify == true,
    staffNote = "cancelled by Cartwright" }, "orderCancel of " .. id)
  if not data then return nil, err, permanent end
  local payload = type(data.orderCancel) == "table" and data.orderCancel or nil
  if not payload then return nil, "orderCancel answered without its payload" end
  local uerr = user_errors(payload, "orderCancelUserErrors")
  if not uerr then return true end
  -- refused because an earlier try already cancelled it: done
  local now = get_status(ctx, order)
  if now == "cancelled" then return true end
  return nil, "shopify refused to cancel " .. id .. ": " .. uerr, true
end

return {
  ship = ship,
  find = find,
  set_status = set_status,
  get_status = get_status,
}
