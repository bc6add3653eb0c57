-- BigCommerce connector, shipments and status out (Orders V2): a shipment is POST
-- /v2/orders/{id}/shipments to the ship-to address the stored order gives each line
-- (order_address_id, from its consignments or shipping addresses), with the carrier mapped to
-- BigCommerce's tracking_carrier codes; find reads GET /v2/orders/{id}/shipments; a status is
-- PUT /v2/orders/{id} { status_id }. Contract: docs/connectors.md ("BigCommerce shipments").
-- Uses: ctx:request (rate limit), cjson.safe, cartwright.cartdata (null and id helpers).
--
-- Emails: BigCommerce has no per-call notify flag. Whether the customer gets a shipment or a
-- status email is the store's setting (Settings > Checkout, customer email notifications per
-- status); shipment.notify / opts.notify = false (suppress_emails) cannot stop them here.

local json = require "cjson.safe"
local cd = require "cartwright.cartdata"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

local LIST_LIMIT = 250       -- shipments of one order per page
local TRACKING_MAX = 50      -- tracking_number's length limit
local LINK_MAX = 500         -- tracking_link's length limit

-- The status table (GET /v2/order_statuses): id = index - 1. Labels a merchant renames show in
-- custom_status; these system names and ids do not change.
local STATUSES = {
  "Incomplete", "Pending", "Shipped", "Partially Shipped", "Refunded", "Cancelled", "Declined",
  "Awaiting Payment", "Awaiting Pickup", "Awaiting Shipment", "Completed", "Awaiting Fulfillment",
  "Manual Verification Required", "Disputed", "Partially Refunded",
}

local function key(s) -- "Awaiting Fulfillment", "awaiting_fulfillment", "awaiting-fulfillment" alike
  return (tostring(s):lower():gsub("[^%w]", ""))
end

local STATUS_ID = {}
for i, name in ipairs(STATUSES) do STATUS_ID[key(name)] = i - 1 end
STATUS_ID.canceled, STATUS_ID.paid = 5, 11

-- Carrier names -> tracking_carrier values (BigCommerce's list, tracking_carrier_values.csv in
-- bigcommerce/docs: AfterShip slugs). Royal Mail is not in that list but is a shipping_provider.
-- Any other carrier is sent with empty codes and named in shipping_method and the comments.
local CARRIERS = {
  ups = "ups", unitedparcelservice = "ups", usps = "usps", unitedstatespostalservice = "usps",
  fedex = "fedex", federalexpress = "fedex", dhl = "dhl", dhlexpress = "dhl",
  dhlecommerce = "dhl-global-mail", dhlglobalmail = "dhl-global-mail", canadapost = "canada-post",
  australiapost = "australia-post", auspost = "australia-post", ontrac = "ontrac",
  lasership = "lasership", purolator = "purolator", dpd = "dpd", gls = "gls", tnt = "tnt",
  parcelforce = "parcel-force", evri = "myhermes-uk", postnl = "postnl", newzealandpost = "new-zealand-post",
}
local PROVIDERS = { royalmail = "royalmail" }

--- carrier name -> tracking_carrier, shipping_provider (both "" when BigCommerce has no code)
local function carrier_codes(name)
  local k = name and key(name) or ""
  return CARRIERS[k] or "", PROVIDERS[k] or ""
end

---------------------------------------------------------------- HTTP
local function v2_url(ctx, path)
  local host = (ctx.cart.url or "https://api.bigcommerce.com"):gsub("/+$", "")
  return host .. "/stores/" .. ctx.cart.store_hash .. "/v2" .. path
end

-- res (2xx) | nil, err, permanent (a 4xx other than 429: sending it again cannot help).
local function answer(ctx, what, res, err)
  if not res then return nil, tostring(err) .. " (" .. what .. ")" end
  if res.status >= 200 and res.status <= 299 then return res end
  local _, msg = ctx:fail(res)
  local permanent = res.status >= 400 and res.status <= 499 and res.status ~= 429
  return nil, tostring(msg) .. " (" .. what .. ")", permanent or nil
end

-- The token only travels in a header, never in a URL or a message.
local function call(ctx, method, path, body, what)
  local headers = { ["X-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json" }
  if body then headers["Content-Type"] = "application/json" end
  return answer(ctx, what, ctx:request{ method = method, url = v2_url(ctx, path), headers = headers, body = body })
end

-- A POST that must reach the cart at most once per call: ctx:request sends again after a 5xx or
-- a timeout, when the shipment may already exist. `attempts = 1` asks ctx for one attempt; a ctx
-- that does not know the option is stopped before a second send (its before_send raises, caught
-- here), and the engine's next attempt asks find first.
local ONCE = {}
local function post_once(ctx, path, body, what)
  local sent = 0
  local opts = { method = "POST", url = v2_url(ctx, path), body = body, attempts = 1,
    headers = { ["X-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json",
                ["Content-Type"] = "application/json" },
    before_send = function()
      sent = sent + 1
      if sent > 1 then error(ONCE, 0) end
    end }
  local ok, res, err = pcall(ctx.request, ctx, opts)
  if not ok then
    if res ~= ONCE then error(res, 0) end
    return nil, "the store's answer was lost or failed after the request was sent; not sent again"
      .. " (" .. what .. ")"
  end
  return answer(ctx, what, res, err)
end

local function order_path(order)
  local id = str(order and order.external_id)
  if not id or not id:match("^%d+$") then return nil end
  return "/orders/" .. id
end

---------------------------------------------------------------- addresses
-- The consignment objects of a stored order: the object form, or the legacy array wrapping it.
local function consignment_groups(o)
  local c = nn(tbl(o).consignments)
  if type(c) ~= "table" or c.url or c.resource then return {} end
  if c[1] ~= nil then return c end
  return { c }
end

-- From the stored raw document (orders.lua: { order, products?, shipping_addresses? }):
-- { [line id] = address id } and the order's ship-to address ids in order.
local function line_addresses(raw)
  raw = tbl(raw)
  local of_line, addrs, seen = {}, {}, {}
  local function address(id)
    if id and not seen[id] then seen[id], addrs[#addrs + 1] = true, id end
  end
  for _, p in ipairs(tbl(raw.products)) do
    local lid, aid = str(tbl(p).id), str(tbl(p).order_address_id)
    if lid and aid then of_line[lid] = aid end
  end
  for _, g in ipairs(consignment_groups(raw.order)) do
    for _, c in ipairs(tbl(tbl(g).shipping)) do
      local cid = str(tbl(c).id)
      address(cid)
      for _, li in ipairs(tbl(tbl(c).line_items)) do
        local lid = str(tbl(li).id)
        if lid and not of_line[lid] then of_line[lid] = str(li.order_address_id) or cid end
      end
    end
  end
  for _, a in ipairs(tbl(raw.shipping_addresses)) do address(str(tbl(a).id)) end
  return of_line, addrs
end

-- The shipment's lines grouped by ship-to address: { { address = id, items = { { order_product_id,
-- quantity } } } } in address order | nil, err (permanent). A line the stored order does not
-- place is sent to the order's address when it has only one.
local function groups_of(order)
  local of_line, addrs = line_addresses(order.raw)
  local by_addr, out = {}, {}
  for _, l in ipairs(tbl(order.lines)) do
    local lid, q = str(l.external_id), int(l.quantity)
    local pid = lid and lid:match("^%d+$") and math.tointeger(tonumber(lid))
    if not pid then return nil, "line " .. tostring(lid) .. " has no BigCommerce order_product_id" end
    if not q or q < 1 then return nil, "line " .. lid .. ": quantity " .. tostring(l.quantity) .. " is not a positive whole number" end
    local aid = of_line[lid] or (#addrs == 1 and addrs[1]) or nil
    if not aid or not aid:match("^%d+$") then
      return nil, "line " .. lid .. ": the stored order gives it no shipping address (order_address_id)"
    end
    local g = by_addr[aid]
    if not g then
      g = { address = aid, items = {} }
      by_addr[aid], out[#out + 1] = g, g
    end
    g.items[#g.items + 1] = { order_product_id = pid, quantity = q }
  end
  if #out == 0 then return nil, "the shipment has no lines" end
  table.sort(out, function(a, b) return tonumber(a.address) < tonumber(b.address) end)
  return out
end

---------------------------------------------------------------- find
-- "order_product_id:quantity,…" sorted: the same items whoever listed them
local function items_key(items)
  local parts = {}
  for i, it in ipairs(tbl(items)) do parts[i] = str(tbl(it).order_product_id) .. ":" .. str(it.quantity) end
  table.sort(parts)
  return table.concat(parts, ",")
end

-- Every shipment of the order at the store | nil, err, permanent.
local function list_shipments(ctx, path)
  local out, pager = {}, ctx:pager("shipments")
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local res, err, permanent = call(ctx, "GET", path .. "/shipments?limit=" .. LIST_LIMIT .. "&page=" .. page,
      nil, "shipments of order " .. path:match("%d+"))
    if not res then return nil, err, permanent end
    if res.status == 204 or not (res.body or ""):find("%S") then return out end
    local arr = json.decode(res.body)
    if type(arr) ~= "table" then return nil, "bad JSON in the shipments of order " .. path:match("%d+") end
    local ids = {}
    for i, s in ipairs(arr) do ids[i], out[#out + 1] = str(tbl(s).id), tbl(s) end
    local fresh, ferr = pager:fresh(ids)
    if not fresh then return nil, ferr end
    if #arr < LIST_LIMIT then return out end
  end
end

-- The store's shipment with this tracking number, address and items, or nil.
local function match(existing, tracking, g)
  local want = items_key(g.items)
  for _, s in ipairs(existing) do
    if (nn(s.tracking_number) or "") == (tracking or "") and str(s.order_address_id) == g.address
      and items_key(s.items) == want then
      return str(s.id)
    end
  end
end

local function find(ctx, order, shipment)
  local path = order_path(order)
  if not path then return nil, "order external_id " .. tostring(order and order.external_id) .. " is not a BigCommerce id" end
  local groups, gerr = groups_of(order)
  if not groups then return nil, gerr end
  local existing, err = list_shipments(ctx, path)
  if not existing then return nil, err end
  local ids = {}
  for i, g in ipairs(groups) do
    ids[i] = match(existing, shipment.tracking, g)
    if not ids[i] then return false end
  end
  return { id = table.concat(ids, ",") }
end

---------------------------------------------------------------- ship
local function body_for(shipment, g)
  local carrier = nn(shipment.carrier)
  local tracking_carrier, provider = carrier_codes(carrier)
  local known = tracking_carrier ~= "" or provider ~= ""
  local b = { order_address_id = math.tointeger(tonumber(g.address)), items = g.items,
    tracking_number = shipment.tracking or "", tracking_carrier = tracking_carrier,
    -- "" and not left out: without it BigCommerce records "custom" and links nothing
    shipping_provider = provider }
  -- shipping_method is free text the customer sees: the service, else a carrier without a code
  b.shipping_method = nn(shipment.service) or (not known and carrier) or nil
  if carrier and not known then b.comments = "Shipped with " .. carrier end
  if nn(shipment.url) and #shipment.url <= LINK_MAX then b.tracking_link = shipment.url end
  return json.encode(b)
end

local function ship(ctx, order, shipment)
  local path = order_path(order)
  if not path then
    return nil, "order external_id " .. tostring(order and order.external_id) .. " is not a BigCommerce id", true
  end
  if #(shipment.tracking or "") > TRACKING_MAX then
    return nil, "tracking number longer than BigCommerce's " .. TRACKING_MAX .. " characters", true
  end
  local groups, gerr = groups_of(order)
  if not groups then return nil, "order " .. order.external_id .. ": " .. gerr, true end
  -- lines to several addresses are several shipments: one sent before a failure is not sent again
  local existing = {}
  if #groups > 1 then
    local list, err, permanent = list_shipments(ctx, path)
    if not list then return nil, err, permanent end
    existing = list
  end
  local ids = {}
  for i, g in ipairs(groups) do
    ids[i] = match(existing, shipment.tracking, g)
    if not ids[i] then
      local res, err, permanent = post_once(ctx, path .. "/shipments", body_for(shipment, g),
        "POST shipment of order " .. order.external_id)
      if not res then return nil, err, permanent end
      local doc = json.decode(res.body or "")
      ids[i] = type(doc) == "table" and str(doc.id)
      if not ids[i] then return nil, "the store answered a shipment without id (order " .. order.external_id .. ")" end
    end
  end
  return { id = table.concat(ids, ","), state = "created" }
end

---------------------------------------------------------------- status
-- A status name, word or id -> status_id | nil.
local function status_id(status)
  local n = math.tointeger(tonumber(status))
  if n then return STATUSES[n + 1] and n or nil end
  return status ~= nil and STATUS_ID[key(status)] or nil
end

local function set_status(ctx, order, status, _opts)
  local path = order_path(order)
  if not path then
    return nil, "order external_id " .. tostring(order and order.external_id) .. " is not a BigCommerce id", true
  end
  local id = status_id(status)
  if not id then return nil, "'" .. tostring(status) .. "' is not a BigCommerce order status", true end
  local res, err, permanent = call(ctx, "PUT", path, json.encode{ status_id = id },
    "PUT status of order " .. order.external_id)
  if not res then return nil, err, permanent end
  return true
end

-- The order's status as its system name ("Shipped"), whatever label the merchant gave it.
local function get_status(ctx, order)
  local path = order_path(order)
  if not path then return nil, "order external_id " .. tostring(order and order.external_id) .. " is not a BigCommerce id" end
  local res, err = call(ctx, "GET", path, nil, "GET order " .. order.external_id)
  if not res then return nil, err end
  local doc = json.decode(res.body or "")
  if type(doc) ~= "table" then return nil, "bad JSON in order " .. order.external_id end
  local id = int(doc.status_id)
  return (id and STATUSES[id + 1]) or nn(doc.status) or nil
end

return {
  ship = ship, find = find, set_status = set_status, get_status = get_status,
  -- for tests and docs
  _carrier_codes = carrier_codes, _status_id = status_id,
}
