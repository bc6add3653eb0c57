-- WooCommerce connector, shipments and status (docs/connectors.md "WooCommerce shipments"). A
-- shipment goes one of three ways, chosen by the cart's `tracking` setting:
--   fulfillments       the core Order Fulfillments API (WooCommerce >= 10.2, feature flag on):
--                      POST orders/{id}/fulfillments?notify_customer= with meta _items [{item_id,
--                      qty}], _tracking_number, _shipment_provider, _tracking_url;
--   shipment_tracking  the Shipment Tracking extension: POST /wc-shipment-tracking/v3/orders/{id}/
--                      shipment-trackings (it has no notify flag: its tracking shows in the emails
--                      the store sends later, e.g. Completed order);
--   note               an order note "Shipped via C, tracking T (url): 2 × SKU", a customer note
--                      (emailed) when notify;
--   auto (default)     fulfillments when the site answers GET orders/{id}/fulfillments (asked once
--                      per ctx), else a note.
-- Status = PUT orders/{id} { status }. WooCommerce emails on status changes by its own settings
-- (WooCommerce > Settings > Emails); the REST API has no flag to silence them, so suppress_emails
-- cannot: the merchant turns those emails off at the store.
-- A POST that creates is sent once (api.once): a 5xx or timeout after the cart applied it must
-- not create it twice; the engine asks find before trying again.
-- Uses: api.lua (URLs, auth), cjson.safe, cartwright.cartdata.

local json = require "cjson.safe"
local cd = require "cartwright.cartdata"
local api = require "connectors.woocommerce.api"

local tbl, str, int = cd.tbl, cd.str, cd.int

local TRACKING_NS = "/wc-shipment-tracking/v3/"
local WAYS = { fulfillments = true, shipment_tracking = true, note = true }

-- 2xx -> res; else nil, "http 400: <the cart's answer> (what)", permanent (a 4xx but 429: the
-- same request would be refused again).
local function answer(ctx, what, res, err)
  if not res then return nil, tostring(err) .. " (" .. what .. ")" end
  if res.status >= 200 and res.status <= 299 then return res end
  local _, msg = ctx:fail(res)
  return nil, tostring(msg) .. " (" .. what .. ")", res.status >= 400 and res.status <= 499 and res.status ~= 429
end

local function decoded(res, what)
  local doc = json.decode(res.body or "")
  if type(doc) ~= "table" then return nil, "bad JSON in " .. what end
  return doc
end

-- The id (field) of what a POST created, as a string | nil, err.
local function created_id(res, what, field)
  local doc, err = decoded(res, what)
  if not doc then return nil, err end
  local v = type(doc[field]) ~= "table" and str(doc[field])
  if not v then return nil, "no " .. field .. " in the answer of " .. what end
  return v
end

-- The cart's order id: digits, or nil, err, permanent.
local function order_id(order)
  local id = str(tbl(order).external_id)
  if not id or not id:match("^%d+$") then
    return nil, "the order has no WooCommerce order id (" .. tostring(id) .. ")", true
  end
  return id
end

-- Whether the site has the Fulfillments API, per ctx: its route answers (any order's list) or
-- WordPress has no such route (404 rest_no_route). -> true | false | nil, err, permanent
local has_fulfillments = setmetatable({}, { __mode = "k" })
local function fulfillments_on(ctx, id)
  local key = rawget(ctx, "root") or ctx
  if has_fulfillments[key] ~= nil then return has_fulfillments[key] end
  local what = "GET orders/" .. id .. "/fulfillments"
  local res, err = api.raw(ctx, "GET", "orders/" .. id .. "/fulfillments", {})
  if res and res.status == 404 then
    local doc = json.decode(res.body or "")
    if type(doc) == "table" and doc.code == "rest_no_route" then
      has_fulfillments[key] = false
      return false
    end
  end
  local ok, aerr, permanent = answer(ctx, what, res, err)
  if not ok then return nil, aerr, permanent end
  has_fulfillments[key] = true
  return true
end

-- The way this cart records shipments: "fulfillments" | "shipment_tracking" | "note" | nil, err.
local function way(ctx, id)
  local setting = ctx.cart.tracking or "auto"
  if WAYS[setting] then return setting end
  if setting ~= "auto" then
    return nil, "unknown tracking '" .. tostring(setting) .. "' (auto, fulfillments, shipment_tracking or note)", true
  end
  local on, err, permanent = fulfillments_on(ctx, id)
  if on == nil then return nil, err, permanent end
  return on and "fulfillments" or "note"
end

-- The lines shipped as { { item_id, qty } }: the shipment's lines, else every line of the order.
local function items_of(order)
  local out = {}
  local lines = tbl(order.lines)
  if #lines == 0 then
    lines = {}
    for _, li in ipairs(tbl(tbl(order.raw).line_items)) do
      lines[#lines + 1] = { external_id = tbl(li).id, quantity = tbl(li).quantity, sku = tbl(li).sku }
    end
  end
  for _, l in ipairs(lines) do
    local item, qty = int(l.external_id), int(l.quantity)
    if not item or not qty or qty <= 0 then
      return nil, "line " .. tostring(l.sku or l.external_id) .. " has no WooCommerce line id or quantity", true
    end
    out[#out + 1] = { item_id = item, qty = qty, sku = str(l.sku) }
  end
  if #out == 0 then return nil, "the shipment has no lines", true end
  return out
end

-- The note's text; find looks for its "tracking T" (T then the end, a space, "(" or ":").
local function note_text(order, s)
  local parts = { "Shipped via ", s.carrier or "the carrier" }
  if s.service then parts[#parts + 1] = " " .. s.service end
  parts[#parts + 1] = ", tracking " .. s.tracking
  if s.url then parts[#parts + 1] = " (" .. s.url .. ")" end
  local shipped = {}
  for _, l in ipairs(tbl(order.lines)) do
    shipped[#shipped + 1] = tostring(int(l.quantity) or l.quantity) .. " × " .. tostring(l.sku or l.external_id)
  end
  if #shipped > 0 then parts[#parts + 1] = ": " .. table.concat(shipped, ", ") end
  return table.concat(parts)
end

local function note_holds(text, tracking)
  local from, to = text:find("tracking " .. tracking, 1, true)
  if not from then return false end
  local after = text:sub(to + 1, to + 1)
  return after == "" or after == " " or after == "(" or after == ":" or after == ","
end

local function meta_value(doc, key)
  for _, m in ipairs(tbl(doc.meta_data)) do
    if type(m) == "table" and m.key == key then return m.value end
  end
  return nil
end

local SEND = {}

function SEND.fulfillments(ctx, id, order, s)
  local items, ierr, iperm = items_of(order)
  if not items then return nil, ierr, iperm end
  local list = {}
  for i, it in ipairs(items) do list[i] = { item_id = it.item_id, qty = it.qty } end
  -- core's templates read _shipment_provider; its REST doc writes _shipping_provider: both
  local meta = { { key = "_items", value = list }, { key = "_tracking_number", value = s.tracking } }
  if s.carrier then
    meta[#meta + 1] = { key = "_shipment_provider", value = s.carrier }
    meta[#meta + 1] = { key = "_shipping_provider", value = s.carrier }
  end
  if s.url then meta[#meta + 1] = { key = "_tracking_url", value = s.url } end
  local path = "orders/" .. id .. "/fulfillments"
  local body = json.encode({ status = "fulfilled", is_fulfilled = true, meta_data = meta })
  local res, err = api.raw(api.once(ctx), "POST", path, { { "notify_customer", s.notify and "true" or "false" } }, body)
  local ok, aerr, permanent = answer(ctx, "POST " .. path, res, err)
  if not ok then return nil, aerr, permanent end
  return created_id(res, "POST " .. path, "id")
end

function SEND.shipment_tracking(ctx, id, _order, s)
  local path = TRACKING_NS .. "orders/" .. id .. "/shipment-trackings"
  -- a provider of the extension's list by name; with a URL, a custom provider whose link it is
  local b = { tracking_number = s.tracking, date_shipped = os.date("!%Y-%m-%d") }
  if s.url then
    b.custom_tracking_provider, b.custom_tracking_link = s.carrier or "Carrier", s.url
  else
    b.tracking_provider = s.carrier
  end
  local res, err = api.raw(api.once(ctx), "POST", path, {}, json.encode(b))
  local what = "POST " .. path:sub(2)
  local ok, aerr, permanent = answer(ctx, what, res, err)
  if not ok then return nil, aerr, permanent end
  return created_id(res, what, "tracking_id")
end

function SEND.note(ctx, id, order, s)
  local path = "orders/" .. id .. "/notes"
  local body = json.encode({ note = note_text(order, s), customer_note = s.notify == true })
  local res, err = api.raw(api.once(ctx), "POST", path, {}, body)
  local ok, aerr, permanent = answer(ctx, "POST " .. path, res, err)
  if not ok then return nil, aerr, permanent end
  return created_id(res, "POST " .. path, "id")
end

-- shipment as the engine gives it, checked: tracking is what find looks for.
local function checked(shipment)
  local s = tbl(shipment)
  local tracking = str(s.tracking)
  if not tracking or tracking == "" then return nil, "the shipment has no tracking number", true end
  return { carrier = str(s.carrier), tracking = tracking, url = str(s.url), service = str(s.service),
    notify = s.notify ~= false }
end

--- order = { external_id, raw, lines }, shipment = { carrier, tracking, url, service, key,
--- notify } -> { id, state = "created" } | nil, err, permanent.
local function ship(ctx, order, shipment)
  local id, ierr, iperm = order_id(order)
  if not id then return nil, ierr, iperm end
  local s, serr, sperm = checked(shipment)
  if not s then return nil, serr, sperm end
  local how, werr, wperm = way(ctx, id)
  if not how then return nil, werr, wperm end
  local cart_id, err, permanent = SEND[how](ctx, id, order, s)
  if not cart_id then return nil, err, permanent end
  return { id = cart_id, state = "created" }
end

-- GET a list -> the decoded array | nil, err
local function list(ctx, path, params, what)
  local res, err = api.raw(ctx, "GET", path, params)
  local ok, aerr = answer(ctx, what, res, err)
  if not ok then return nil, aerr end
  local doc, derr = decoded(res, what)
  if not doc then return nil, derr end
  return doc
end

--- Did the cart get it already? -> { id } | false | nil, err. Looks where this cart's way puts
--- a shipment: a fulfillment (not deleted) whose _tracking_number, a tracking whose
--- tracking_number, a note whose "tracking T" is the shipment's number.
local function find(ctx, order, shipment)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local s, serr = checked(shipment)
  if not s then return nil, serr end
  local how, werr = way(ctx, id)
  if not how then return nil, werr end
  if how == "fulfillments" then
    local path = "orders/" .. id .. "/fulfillments"
    local docs, err = list(ctx, path, {}, "GET " .. path)
    if not docs then return nil, err end
    for _, f in ipairs(docs) do
      if type(f) == "table" and cd.nn(f.date_deleted) == nil and str(meta_value(f, "_tracking_number")) == s.tracking then
        return { id = tostring(int(f.id) or f.id) }
      end
    end
  elseif how == "shipment_tracking" then
    local path = TRACKING_NS .. "orders/" .. id .. "/shipment-trackings"
    local docs, err = list(ctx, path, {}, "GET " .. path:sub(2))
    if not docs then return nil, err end
    for _, t in ipairs(docs) do
      if type(t) == "table" and str(t.tracking_number) == s.tracking then return { id = str(t.tracking_id) } end
    end
  else
    local path = "orders/" .. id .. "/notes"
    local docs, err = list(ctx, path, { { "type", "any" } }, "GET " .. path)
    if not docs then return nil, err end
    for _, n in ipairs(docs) do
      if type(n) == "table" and type(n.note) == "string" and note_holds(n.note, s.tracking) then
        return { id = tostring(int(n.id) or n.id) }
      end
    end
  end
  return false
end

--- PUT orders/{id} { status } -> true | nil, err, permanent. opts.notify has no effect: the
--- store's email settings decide (see the header).
local function set_status(ctx, order, status, _opts)
  local id, ierr, iperm = order_id(order)
  if not id then return nil, ierr, iperm end
  if type(status) ~= "string" or status == "" then return nil, "no status to set", true end
  local path = "orders/" .. id
  local res, err = api.raw(ctx, "PUT", path, { { "_fields", "id,status" } }, json.encode({ status = status }))
  local ok, aerr, permanent = answer(ctx, "PUT " .. path, res, err)
  if not ok then return nil, aerr, permanent end
  local doc = json.decode(res.body or "")
  local now = type(doc) == "table" and str(doc.status)
  if now and now ~= status then
    -- a plugin kept or rewrote it: sending again would get the same answer
    return nil, "the cart kept status '" .. now .. "' (PUT " .. path .. " status '" .. status .. "')", true
  end
  return true
end

--- GET orders/{id} -> the cart's status | nil, err.
local function get_status(ctx, order)
  local id, ierr = order_id(order)
  if not id then return nil, ierr end
  local path = "orders/" .. id
  local res, err = api.call(ctx, "GET", path, { { "_fields", "id,status" } }, "GET " .. path)
  if not res then return nil, err end
  local doc, derr = decoded(res, "GET " .. path)
  if not doc then return nil, derr end
  return str(doc.status) or nil, not str(doc.status) and ("no status in GET " .. path) or nil
end

return {
  ship = ship,
  find = find,
  set_status = set_status,
  get_status = get_status,
  _note_holds = note_holds, -- for tests
}
