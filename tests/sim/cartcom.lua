-- tests/sim/cartcom.lua: a Cart.com Online Store (formerly AmeriCommerce) REST API simulator.
-- Speaks /api/v1/…: X-AC-Auth-Token auth with the cart's {status_code, message, details} error
-- bodies; list results {total_count, next_page, previous_page, <resource>: […]} paged by
-- page/count (default 100) with 404 past the last page; the query syntax field=op:value (eq,
-- not, like, startwith, gt, gte, lt, lte, joined by AND / OR) on every list; sort and fields;
-- ISO 8601 dates with the store's offset (US Central, with DST) and milliseconds; GETs cached
-- on the server unless the request says Cache-Control: no-cache; the per-store call limit of a
-- 10 s window by plan (Steel 5, Bronze 10, Silver 20, Gold 50) announced in X-AC-Call-Limit,
-- 429 + Retry-After (an HTTP date by default) over it. Orders with their items (expand=items or
-- /orders/{id}/items) and custom fields; ship-to and bill-to not embedded: order_addresses/{id}
-- and order_addresses/select_many?ids=…, customers/{id} and customers/select_many; order
-- statuses; inventory (GET /inventory, POST /inventory/set|add|remove, products and
-- variant_inventory lists); order_shipments (a shipment_name already on the order updates that
-- shipment), PUT /orders/{id}/status; webhooks (POST /webhooks) with deliveries for orders
-- placed through /_sim/orders. Uses sim.common for everything cart-neutral.

local common = require "sim.common"

local EMPTY, null = common.EMPTY, common.null

local C = { name = "cartcom" }

-- Calls per 10 s window (custom apps; installed apps share 50 whatever the plan).
C.PLANS = { steel = 5, bronze = 10, silver = 20, gold = 50, installed = 50 }
C.WINDOW = 10

-- The store's order statuses (a store may rename and add its own; these are the simulator's).
C.STATUSES = {
  { id = 1, name = "Pending Processing", is_open = true },
  { id = 2, name = "Awaiting Payment", is_open = true },
  { id = 3, name = "Shipped", is_shipped = true },
  { id = 4, name = "Cancelled", is_cancelled = true },
  { id = 5, name = "Declined", is_declined = true },
  { id = 6, name = "Partially Shipped", is_open = true, is_partially_shipped = true },
  { id = 7, name = "Back Ordered", is_open = true },
  { id = 8, name = "Refunded", is_fully_refunded = true },
  { id = 9, name = "On Hold", is_open = true },
}
local STATUS_BY_ID, STATUS_WORDS = {}, { paid = 1, pending = 2, shipped = 3, cancelled = 4, canceled = 4,
  declined = 5, refunded = 8 }
for _, s in ipairs(C.STATUSES) do
  STATUS_BY_ID[s.id] = s
  STATUS_WORDS[s.name:lower()] = s.id
end
-- weights of status ids among generated orders: mostly paid and waiting to ship
local STATES = { { 62, 1 }, { 6, 2 }, { 16, 3 }, { 4, 4 }, { 2, 5 }, { 2, 6 }, { 3, 7 }, { 2, 8 }, { 3, 9 } }

local EVENT_TYPES = {}
for _, e in ipairs{ "NewOrder", "NewValidOrder", "OrderPlaced", "OrderUpdated", "OrderStatusChanged",
  "OrderShipped", "OrderCanceled", "OrderApproved", "OrderDeclined", "CustomerCreated", "ProductUpdated" } do
  EVENT_TYPES[e] = true
end

local function ac_error(status, message, details)
  return common.response(status, { status_code = status, message = message, details = details or "" })
end
local function not_found(details) return ac_error(404, "Not Found", details or "The requested resource was not found.") end
local function bad_request(details) return ac_error(400, "Bad Request", details) end
local function conflict(details) return ac_error(409, "Conflict", details) end

---------------------------------------------------------------------------------------------
-- Time: the store's zone is US Central (-06:00, -05:00 from the second Sunday of March 2:00 to
-- the first Sunday of November 2:00)
---------------------------------------------------------------------------------------------

local function nth_sunday(y, mo, n) -- epoch of 00:00 UTC that day
  local first = common.epoch(y, mo, 1)
  local _, _, _, _, _, _, wd = common.civil(first)
  return first + (((7 - wd) % 7) + 7 * (n - 1)) * 86400
end

function C.offset_minutes(epoch)
  local y = common.civil(epoch)
  local starts = nth_sunday(y, 3, 2) + 8 * 3600 -- 2:00 CST = 08:00 UTC
  local ends = nth_sunday(y, 11, 1) + 7 * 3600 -- 2:00 CDT = 07:00 UTC
  return (epoch >= starts and epoch < ends) and -300 or -360
end

-- "2014-03-19T13:31:47.923-05:00" (ms omitted when 0, as .NET writes them)
function C.iso(epoch, ms)
  local off = C.offset_minutes(epoch)
  local s = common.local_time(epoch, off)
  if ms and ms > 0 then s = s .. string.format(".%03d", ms):gsub("0+$", "") end
  local a = math.abs(off)
  return s .. string.format("%s%02d:%02d", off < 0 and "-" or "+", a // 60, a % 60)
end

local WDAY = { [0] = "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MON = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
function C.http_date(epoch)
  local y, mo, d, h, mi, s, wd = common.civil(epoch)
  return string.format("%s, %02d %s %04d %02d:%02d:%02d GMT", WDAY[wd], d, MON[mo], y, h, mi, s)
end

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

local setup_stock

function C.setup(sim, opts)
  sim.token = opts.token or "ac_test"
  -- scopes the token has (default: all); a route needing another answers 403
  sim.scopes = opts.scopes
  sim.cache_seconds = tonumber(opts.cache_seconds) or 60
  sim.retry_after = opts.retry_after or "date" -- "date" (as documented: when the window resets) or "seconds"
  sim.empty_404 = opts.empty_404 == true -- page 1 of an empty list answers 404 too
  sim.page_max = tonumber(opts.page_max) or 250
  sim.get_cache = {} -- uri -> { at, resp }: the server-side GET cache (common's `cache` is prerender's)
  sim.customers, sim.addresses = {}, {}
  sim.customer_seq, sim.address_seq, sim.item_seq = 0, 0, 100
  sim.shipments, sim.shipment_seq = {}, 0
  sim.webhook_seq = 0
  if opts.rate ~= false then
    local plan = opts.plan or "steel"
    local quota = type(opts.rate) == "table" and (opts.rate.quota or opts.rate.capacity) or C.PLANS[plan]
    if not quota then error("sim.cartcom: unknown plan " .. tostring(plan), 0) end
    local window = type(opts.rate) == "table" and opts.rate.window or C.WINDOW
    sim.quota = common.fixed_window(quota, window)
  end
  setup_stock(sim, opts)
end

---------------------------------------------------------------------------------------------
-- Orders: the order, its items, its addresses and its customer
---------------------------------------------------------------------------------------------

local SHIPPING = { standard = { "UPS", "UPS Ground", "UPS_GROUND" }, express = { "FedEx", "FedEx Express Saver", "FEDEX_EXPRESS_SAVER" },
  overnight = { "FedEx", "FedEx Priority Overnight", "PRIORITY_OVERNIGHT" }, free = { "USPS", "Free Shipping", "" },
  pickup = { "", "In-Store Pickup", "" }, freight = { "", "Freight LTL", "FREIGHT_LTL" } }

local function new_address(sim, customer_id, p, a, kind)
  sim.address_seq = sim.address_seq + 1
  local id = sim.address_seq
  sim.addresses[id] = common.encode{ id = id, customer_id = customer_id, company = p.company or "",
    address_line_1 = a.address1, address_line_2 = a.address2, city = a.city, state = a.region,
    postal_code = a.zip, country = a.country, phone = common.phone_national(p.phone), alternate_phone = "",
    fax = "", comments = "", updated_at = sim.address_at, created_at = sim.address_at,
    first_name = p.first_name, last_name = p.last_name, address_type = kind,
    state_code = a.region_code, country_code = a.country_code }
  return id
end

local function pick_customer(sim, created)
  local rng = sim.rng
  if #sim.customer_list > 0 and rng:chance(0.25) then return rng:pick(sim.customer_list) end
  sim.customer_seq = sim.customer_seq + 1
  local p, a = common.person(rng), common.address(rng)
  local guest = rng:chance(0.1) -- a checkout without an account still makes a customer record
  local c = { id = sim.customer_seq, person = p, address = a }
  sim.customers[c.id] = common.encode{ id = c.id, customer_number = "", last_name = p.last_name,
    first_name = p.first_name, email = p.email, phone_number = common.phone_national(p.phone),
    registered_at = C.iso(created), last_visit_at = C.iso(created), adcode = "", adcode_id = 0,
    affiliate_id = 0, customer_type_id = 1, is_no_tax_customer = false, comments = "", store_id = 1,
    source = "", search_string = "", no_account = guest, sales_person = "", alternate_phone_number = "",
    is_affiliate_customer = false, updated_at = C.iso(created), created_at = C.iso(created),
    username = guest and "" or p.email, is_contact_information_only = false, tax_exemption_number = "",
    company = p.company or "", source_group = "", store_payment_methods_enabled = EMPTY }
  if not guest then sim.customer_list[#sim.customer_list + 1] = c end
  return c
end

local function item_doc(sim, order_id, l, created, address_id)
  sim.item_seq = sim.item_seq + 1
  local item, v = l.item, sim.variant_by_sku and sim.variant_by_sku[l.item.sku]
  local variants = EMPTY
  if v and v.variant_inventory_id then
    variants = { { id = 20000 + item.variant_no, description = "Option: " .. item.variant_title, variant_group_id = 300 + item.product_no } }
  end
  return { id = sim.item_seq, order_id = order_id, product_id = v and v.product_id or 0,
    item_number = item.sku, item_name = item.title, price = l.price / 100, cost = 0, quantity = l.quantity,
    is_discount_item = false, weight = item.grams / 453.6 // 0.01 / 100, is_taxable = true, weight_unit = "Lbs",
    is_non_shipping_item = false, variant_inventory_id = v and v.variant_inventory_id or null,
    parent_order_item_id = null, is_quantity_bound_to_parent = false,
    updated_at = C.iso(created), created_at = C.iso(created), height = null, length = null, width = null,
    size_unit = "In", tax_code = "", item_number_full = item.sku, admin_comments = "", do_not_discount = false,
    line_item_note = "", order_shipping_address_id = address_id, gift_message = "", delivery_date = null,
    discount_amount = l.discount / 100, discount_percentage = 0, is_subscription_product = false, warehouse_id = 0,
    description = item.variant_title, tax = l.tax / 100, configuration = "", status = "",
    shipping_classification_code = "", variants = variants, personalizations = null }
end

function C.generate(sim, n, created, updated)
  local rng = sim.rng
  sim.customer_list = sim.customer_list or {}
  sim.address_at = C.iso(created)
  local id = 100000 + n
  local c = pick_customer(sim, created)
  local p = c.person
  local ship_to = rng:chance(0.15) and common.address(rng) or c.address
  local lines = common.pick_lines(rng, n)
  local subtotal = 0
  for _, l in ipairs(lines) do subtotal = subtotal + l.price * l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, subtotal)
  local discount = common.pick_discount(rng, subtotal)
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, (common.tax_rate(ship_to)))
  local ship_id = new_address(sim, c.id, p, ship_to, "Shipping")
  local bill_id = ship_to == c.address and ship_id or new_address(sim, c.id, p, c.address, "Billing")
  local items = {}
  for i, l in ipairs(lines) do items[i] = item_doc(sim, id, l, created, ship_id) end
  if discount then -- the store lists a discount as an item of its own
    local d = item_doc(sim, id, { item = { sku = discount.code, title = "Coupon " .. discount.code, grams = 0,
      variant_title = "", variant_no = 0, product_no = 0 }, price = -discount.cents, quantity = 1, discount = 0, tax = 0 },
      created, ship_id)
    d.is_discount_item, d.is_taxable, d.is_non_shipping_item, d.product_id = true, false, true, 0
    items[#items + 1] = d
  end
  local status_id = rng:weighted(STATES)
  local ship = SHIPPING[kind]
  local fields = {}
  for i, kv in ipairs(common.pick_attributes(rng, created)) do fields[i] = { name = kv.name, value = kv.value } end
  local note = common.pick_note(rng)
  local doc = {
    id = id, customer_id = c.id, customer_type_id = 0, adcode = "", ordered_at = C.iso(created),
    order_status_id = status_id, special_instructions = note or "", subtotal = t.subtotal / 100,
    tax_total = t.tax / 100, shipping_total = t.shipping / 100, discount_total = t.discount / 100,
    grand_total = t.total / 100, cost_total = 0, selected_shipping_method = ship[2],
    ip_address = "198.51.100." .. rng:int(1, 254), exported_to_accounting_system = 0, referrer = "",
    order_shipping_address_id = ship_id, order_billing_address_id = bill_id, admin_comments = "",
    source = "[none]", search_phrase = "", is_ppc = false, ppc_keyword = "", store_id = 1,
    session_id = 1000 + n, handling_total = 0, is_payment_order_only = false,
    selected_shipping_provider_service = ship[3], additional_fees = 0, adcode_id = 0,
    created_at = C.iso(created, rng:int(0, 999)), entered_by = p.email, is_gift = false, gift_message = "",
    public_comments = "", instructions = "", source_group = "", from_subscription_id = null,
    previous_order_status_id = 0, order_status_last_changed_at = C.iso(created),
    discounted_shipping_total = t.shipping / 100, order_number = "",
    coupon_code = discount and discount.code or "", order_type = "Order", expires_at = null, expires = false,
    from_quote_id = null, campaign_code = "", reward_points_credited = false, channel = "Online",
    device = rng:pick{ "Desktop", "Mobile", "Tablet" }, manufacturer_invoice_number = "",
    manufacturer_invoice_amount = 0, manufacturer_invoice_paid = false, sales_agent_user_id = 0,
    due_date = null, delivery_tax = 0, location_id = null,
    shipping_selections = { { classification_code = "", shipping_provider = ship[1], shipping_method = ship[2] } },
    entered_by_type = "Customer",
  }
  local rec = { id = id, n = n, doc = doc, created = created, updated = updated, ms = rng:int(0, 999) }
  rec.item_strings = {}
  for i, it in ipairs(items) do rec.item_strings[i] = common.encode(it) end
  rec.fields_json = common.encode(common.list(fields))
  return rec
end

function C.render(_, rec)
  local doc = rec.doc
  doc.updated_at = C.iso(rec.updated, rec.ms)
  rec.json = common.encode(doc)
  rec.status_id, rec.customer_id = doc.order_status_id, doc.customer_id
end

function C.change(_, rec, changes, now)
  if changes.status == nil and changes.order_status_id == nil then return true end
  local v = changes.order_status_id or changes.status
  local id = math.tointeger(tonumber(v)) or STATUS_WORDS[tostring(v):lower()]
  if not id or not STATUS_BY_ID[id] then return nil, "unknown status '" .. tostring(v) .. "'" end
  local doc = rec.doc
  if doc.order_status_id ~= id then
    doc.previous_order_status_id, doc.order_status_id = doc.order_status_id, id
    doc.order_status_last_changed_at = C.iso(now)
  end
  return true
end

function C.fault_response(sim, status)
  if status == 429 then
    local resp = ac_error(429, "Too Many Requests", "API rate limit exceeded")
    -- a queued fault resets in a second, so tests need not wait a window
    resp.headers["Retry-After"] = sim.retry_after == "date" and C.http_date(sim:now() + 1) or "1"
    return resp
  end
  local text = { [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
    [504] = "Gateway Timeout" }
  return ac_error(status, text[status] or "Error", "An error has occurred.")
end

---------------------------------------------------------------------------------------------
-- The query syntax: field=[OR ]op:value[ AND|OR op:value…]
---------------------------------------------------------------------------------------------

local OPS = { eq = true, ["not"] = true, like = true, startwith = true, gt = true, gte = true, lt = true, lte = true }
local RESERVED = { page = true, count = true, sort = true, fields = true, expand = true, ids = true }

local function term(text)
  local op, v = text:match("^(%a+):(.*)$")
  if op and OPS[op:lower()] then return { op = op:lower(), value = v } end
  return { op = "eq", value = text }
end

local function split(s, sep)
  local out, pos = {}, 1
  while true do
    local a, b = s:find(sep, pos, true)
    if not a then out[#out + 1] = s:sub(pos) return out end
    out[#out + 1] = s:sub(pos, a - 1)
    pos = b + 1
  end
end

-- "gte:A AND lte:B OR eq:C" -> { { {op, value}, {op, value} }, { {op, value} } } (AND inside, OR between)
local function parse_value(v)
  local any = false
  if v:sub(1, 3) == "OR " then any, v = true, v:sub(4) end
  local groups = {}
  for _, g in ipairs(split(v, " OR ")) do
    local terms = {}
    for _, t in ipairs(split(g, " AND ")) do terms[#terms + 1] = term(t) end
    groups[#groups + 1] = terms
  end
  return groups, any
end

-- One comparison; kind = "number" | "date" | "string" | "bool". nil, why when the value does not
-- read as the field's type.
local function compare(kind, have, t)
  local want = t.value
  if kind == "date" then
    local e = common.parse_iso(want)
    if not e then return nil, "'" .. want .. "' is not a valid date" end
    want = e
  elseif kind == "number" then
    want = tonumber(want)
    if not want then return nil, "'" .. t.value .. "' is not a number" end
  elseif kind == "bool" then
    want = want:lower() == "true"
  else
    have, want = tostring(have or ""):lower(), want:lower() -- SQL Server compares without case
  end
  local op = t.op
  if have == nil or have == null then return op == "not" end
  if op == "eq" then return have == want
  elseif op == "not" then return have ~= want
  elseif op == "like" then return type(have) == "string" and have:find(want, 1, true) ~= nil
  elseif op == "startwith" then return type(have) == "string" and have:sub(1, #want) == want
  elseif op == "gt" then return have > want
  elseif op == "gte" then return have >= want
  elseif op == "lt" then return have < want
  else return have <= want end
end

-- The filter of a list request: fields = { name = { kind, get = fn(x) } }. Returns
-- match(x) -> bool | nil, response (400 naming the field).
local function build_filter(pairs_, fields)
  local clauses = {}
  for _, kv in ipairs(pairs_) do
    local name, v = kv[1], kv[2]
    if not RESERVED[name] and name ~= "" then
      local f = fields[name]
      if not f then return nil, bad_request("'" .. name .. "' is not a valid field for this resource") end
      local groups, any = parse_value(v)
      for _, g in ipairs(groups) do
        for _, t in ipairs(g) do
          local ok, why = compare(f[1], f[1] == "date" and 0 or (f[1] == "number" and 0 or ""), t)
          if ok == nil then return nil, bad_request("Invalid value for " .. name .. ": " .. why) end
        end
      end
      clauses[#clauses + 1] = { f = f, groups = groups, any = any }
    end
  end
  return function(x)
    local acc
    for _, c in ipairs(clauses) do
      local have, hit = c.f.get(x), false
      for _, g in ipairs(c.groups) do
        local all = true
        for _, t in ipairs(g) do
          if not compare(c.f[1], have, t) then all = false break end
        end
        if all then hit = true break end
      end
      if acc == nil then acc = hit elseif c.any then acc = acc or hit else acc = acc and hit end
    end
    return acc ~= false
  end
end

-- sort=a,-b over fields -> comparator | nil, response
local function build_sort(spec, fields, default)
  local keys = {}
  for part in (spec or default):gmatch("[^,]+") do
    local desc, name = part:match("^(%-?)(.+)$")
    local f = fields[name]
    if not f then return nil, bad_request("'" .. name .. "' is not a valid sort field for this resource") end
    keys[#keys + 1] = { get = f.get, desc = desc == "-" }
  end
  return function(a, b)
    for _, k in ipairs(keys) do
      local va, vb = k.get(a), k.get(b)
      if va ~= vb and va ~= nil and vb ~= nil then
        if type(va) ~= type(vb) then va, vb = tostring(va), tostring(vb) end
        if k.desc then return va > vb end
        return va < vb
      end
    end
    return false
  end
end

-- page/count: page ≥ 1, 1 ≤ count (default 100, cut to page_max). -> page, count | nil, response
local function paging(sim, params)
  local page = math.tointeger(tonumber(params.page or 1))
  local count = math.tointeger(tonumber(params.count or 100))
  if not page or page < 1 then return nil, bad_request("page must be a positive integer") end
  if not count or count < 1 then return nil, bad_request("count must be a positive integer") end
  return page, math.min(count, sim.page_max)
end

local function page_url(sim, req, page)
  local _, pairs_ = common.parse_query(req.query_string)
  local out, seen = {}, false
  for _, kv in ipairs(pairs_) do
    if kv[1] == "page" then out[#out + 1] = { "page", tostring(page) } seen = true else out[#out + 1] = kv end
  end
  if not seen then out[#out + 1] = { "page", tostring(page) } end
  return sim.url .. req.path .. "?" .. common.build_query(out)
end

-- A list result of already-encoded elements: 404 past the last page (and on page 1 of nothing
-- with empty_404).
local function list_result(sim, req, key, strings, page, count, total, get)
  total = total or #strings
  local pages = math.max(1, (total + count - 1) // count)
  if page > pages or (total == 0 and sim.empty_404) then
    return not_found("The requested page is out of range.")
  end
  local first, last = (page - 1) * count + 1, math.min(total, page * count)
  if get then
    strings = {}
    for i = first, last do strings[i] = get(i) end
  end
  local next_page = page < pages and ('"' .. page_url(sim, req, page + 1) .. '"') or "null"
  local prev_page = page > 1 and ('"' .. page_url(sim, req, page - 1) .. '"') or "null"
  return common.response(200, '{"total_count":' .. total .. ',"next_page":' .. next_page
    .. ',"previous_page":' .. prev_page .. ',"' .. key .. '":[' .. table.concat(strings, ",", first, last) .. "]}")
end

-- fields=a,b: only those keys of each (decoded) element
local function select_fields(strings, fields)
  if not fields or fields == "" then return strings end
  local keep = {}
  for f in fields:gmatch("[^,]+") do keep[f] = true end
  local out = {}
  for i, s in ipairs(strings) do
    local t, o = common.decode_doc(s), {}
    for k in pairs(keep) do if t[k] ~= nil then o[k] = t[k] end end
    out[i] = common.encode(o)
  end
  return out
end

---------------------------------------------------------------------------------------------
-- Orders
---------------------------------------------------------------------------------------------

local ORDER_FIELDS = {
  id = { "number", get = function(r) return r.id end },
  updated_at = { "date", get = function(r) return r.updated + r.ms / 1000 end },
  created_at = { "date", get = function(r) return r.created end },
  ordered_at = { "date", get = function(r) return r.created end },
  order_status_id = { "number", get = function(r) return r.status_id end },
  customer_id = { "number", get = function(r) return r.customer_id end },
  store_id = { "number", get = function() return 1 end },
}

local function order_json(sim, rec, expand)
  if not expand then return rec.json end
  local extra = {}
  for e in expand:gmatch("[^,]+") do
    if e == "items" then extra[#extra + 1] = '"items":[' .. table.concat(rec.item_strings, ",") .. "]"
    elseif e == "custom_fields" then extra[#extra + 1] = '"custom_fields":' .. rec.fields_json
    elseif e == "shipments" then extra[#extra + 1] = '"shipments":' .. common.encode(common.list(sim.shipments[rec.id]))
    end
  end
  if #extra == 0 then return rec.json end
  return rec.json:sub(1, -2) .. "," .. table.concat(extra, ",") .. "}"
end

local function list_orders(sim, req)
  sim.stats.order_list_requests = sim.stats.order_list_requests + 1
  local params, pairs_ = common.parse_query(req.query_string)
  local match, ferr = build_filter(pairs_, ORDER_FIELDS)
  if not match then return ferr end
  local cmp, serr = build_sort(params.sort, ORDER_FIELDS, "id")
  if not cmp then return serr end
  local page, count = paging(sim, params)
  if not page then return count end
  return sim:serve_list(nil, function()
    local key = common.canonical{ q = req.query_string:gsub("&?page=%d+", ""):gsub("&?count=%d+", "") }
    local all = sim:query(key, function()
      local out = {}
      for _, rec in ipairs(sim.records) do if match(rec) then out[#out + 1] = rec end end
      table.sort(out, cmp)
      return out
    end)
    return list_result(sim, req, "orders", nil, page, count, #all,
      function(i)
        local j = order_json(sim, all[i], params.expand)
        return params.fields and select_fields({ j }, params.fields)[1] or j
      end)
  end)
end

local function order_resource(sim, req, rec, sub)
  local params = common.parse_query(req.query_string)
  if sub == "" then
    local j = order_json(sim, rec, params.expand)
    return common.response(200, params.fields and select_fields({ j }, params.fields)[1] or j)
  end
  if sub == "/items" then
    local page, count = paging(sim, params)
    if not page then return count end
    return list_result(sim, req, "items", rec.item_strings, page, count)
  end
  if sub == "/custom_fields" then return common.response(200, '{"total_count":0,"custom_fields":' .. rec.fields_json .. "}") end
  if sub == "/shipments" then
    sim.stats.shipment_list_requests = sim.stats.shipment_list_requests + 1
    local strings = {}
    for i, s in ipairs(sim.shipments[rec.id] or {}) do strings[i] = common.encode(s) end
    local page, count = paging(sim, params)
    if not page then return count end
    if #strings == 0 then return common.response(200, '{"total_count":0,"next_page":null,"previous_page":null,"shipments":[]}') end
    return list_result(sim, req, "shipments", strings, page, count)
  end
  return not_found()
end

-- /{resource}/select_many?ids=1,5,9 and /{resource}/{id} over a table id -> JSON string
local function by_ids(sim, req, key, store, counter)
  sim.stats[counter] = sim.stats[counter] + 1
  local params = common.parse_query(req.query_string)
  if not params.ids or not params.ids:find("%d") then
    return bad_request("This method requires one or more resource IDs to be specified")
  end
  local strings = {}
  for part in params.ids:gmatch("[^,]+") do
    local id = math.tointeger(tonumber(part))
    if not id then return bad_request("'" .. part .. "' is not a valid id") end
    if store[id] then strings[#strings + 1] = store[id] end
  end
  local page, count = paging(sim, params)
  if not page then return count end
  if #strings == 0 then return common.response(200, '{"total_count":0,"next_page":null,"previous_page":null,"' .. key .. '":[]}') end
  return list_result(sim, req, key, select_fields(strings, params.fields), page, count)
end

local function one(sim, req, store, id, counter)
  sim.stats[counter] = sim.stats[counter] + 1
  local s = store[math.tointeger(tonumber(id))]
  if not s then return not_found() end
  local params = common.parse_query(req.query_string)
  return common.response(200, select_fields({ s }, params.fields)[1])
end

local function order_statuses(sim, req)
  local strings = {}
  for i, s in ipairs(C.STATUSES) do
    strings[i] = common.encode{ id = s.id, name = s.name, is_open = s.is_open == true, is_declined = s.is_declined == true,
      is_cancelled = s.is_cancelled == true, is_shipped = s.is_shipped == true, color = "#A4E065",
      email_template_id = null, updated_at = "2024-02-18T13:36:58.357-06:00", created_at = "2024-02-18T13:36:58.357-06:00",
      is_fully_refunded = s.is_fully_refunded == true, is_partially_refunded = false, is_quote_status = false,
      is_partially_shipped = s.is_partially_shipped == true }
  end
  local page, count = paging(sim, common.parse_query(req.query_string))
  if not page then return count end
  return list_result(sim, req, "order_statuses", strings, page, count)
end

---------------------------------------------------------------------------------------------
-- Stock: products (a family of one variant is a product of its own; others are a product whose
-- variant_inventory rows carry the SKUs), GET /inventory and POST /inventory/set|add|remove.
-- `stock = N` each figure (50); `stock_skus = N` adds products STK-00001…
---------------------------------------------------------------------------------------------

function setup_stock(sim, opts)
  local initial = math.tointeger(tonumber(opts.stock)) or 50
  sim.products, sim.product_by_id, sim.variant_rows, sim.variant_by_id, sim.variant_by_sku = {}, {}, {}, {}, {}
  local families = {}
  for _, item in ipairs(common.catalog) do
    families[item.product_no] = families[item.product_no] or {}
    table.insert(families[item.product_no], item)
  end
  for no, items in ipairs(families) do
    local single = #items == 1
    local p = { id = 100 + no, item_number = single and items[1].sku or items[1].sku:match("^[^-]+"),
      item_name = items[1].title, quantity_on_hand = single and initial or 0, price = items[1].price }
    sim.products[#sim.products + 1] = p
    sim.product_by_id[p.id] = p
    if single then
      sim.variant_by_sku[items[1].sku:lower()] = { product_id = p.id, product = p, sku = items[1].sku }
    else
      for _, item in ipairs(items) do
        local v = { id = 1000 + item.variant_no, product_id = p.id, item_number = item.sku, inventory = initial,
          description = "Option: " .. item.variant_title }
        sim.variant_rows[#sim.variant_rows + 1] = v
        sim.variant_by_id[v.id] = v
        sim.variant_by_sku[item.sku:lower()] = { product_id = p.id, variant_inventory_id = v.id, variant = v, sku = item.sku }
      end
    end
  end
  -- named_skus = { "BOX OF 12", … }: products with these item numbers (a SKU with spaces)
  for i, sku in ipairs(opts.named_skus or {}) do
    local p = { id = 60000 + i, item_number = sku, item_name = sku, quantity_on_hand = initial, price = 1000 }
    sim.products[#sim.products + 1] = p
    sim.product_by_id[p.id] = p
    sim.variant_by_sku[sku:lower()] = { product_id = p.id, product = p, sku = sku }
  end
  for i = 1, math.tointeger(tonumber(opts.stock_skus)) or 0 do
    local p = { id = 50000 + i, item_number = string.format("STK-%05d", i), item_name = "Stock item " .. i,
      quantity_on_hand = initial, price = 1000 }
    sim.products[#sim.products + 1] = p
    sim.product_by_id[p.id] = p
    sim.variant_by_sku[p.item_number:lower()] = { product_id = p.id, product = p, sku = p.item_number }
  end
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    local s = self.stats
    s.stock_push_requests, s.stock_lookup_requests, s.stock_read_requests = 0, 0, 0
    s.shipment_requests, s.shipment_list_requests, s.status_requests = 0, 0, 0
    s.address_requests, s.customer_requests, s.status_list_requests, s.cache_hits = 0, 0, 0, 0
    s.webhook_requests = 0
  end
  sim:reset_stats()
  -- an order placed at the store takes its stock (Remove From Inventory When: Ordered)
  sim.add_orders = function(self, n, at)
    local ids = common.Sim.add_orders(self, n, at)
    for _, id in ipairs(ids) do
      for _, s in ipairs(self.by_id[id].item_strings) do
        local it = common.decode_doc(s)
        local e = not it.is_discount_item and self.variant_by_sku[tostring(it.item_number):lower()]
        if e and e.variant then e.variant.inventory = e.variant.inventory - it.quantity
        elseif e then e.product.quantity_on_hand = e.product.quantity_on_hand - it.quantity end
      end
    end
    return ids
  end
end

-- the figure of an entry of variant_by_sku
local function figure(e) return e.variant and e.variant.inventory or e.product.quantity_on_hand end
local function set_figure(e, q)
  if e.variant then e.variant.inventory = q else e.product.quantity_on_hand = q end
end

local function inventory_doc(sim, e)
  local p = sim.product_by_id[e.product_id]
  return { product_id = e.product_id, variant_inventory_id = e.variant_inventory_id or null,
    item_number = e.sku, item_name = p.item_name, gtin = "", quantity = figure(e) }
end

-- The inventory entry an identifier names: item_number, variant_inventory_id or product_id.
local function inventory_entry(sim, t)
  if t.variant_inventory_id ~= nil and t.variant_inventory_id ~= null then
    local v = sim.variant_by_id[math.tointeger(tonumber(t.variant_inventory_id))]
    return v and sim.variant_by_sku[v.item_number:lower()]
  end
  if t.product_id ~= nil and t.product_id ~= null then
    local p = sim.product_by_id[math.tointeger(tonumber(t.product_id))]
    if not p then return nil end
    return sim.variant_by_sku[p.item_number:lower()] or { product_id = p.id, product = p, sku = p.item_number }
  end
  if t.item_number ~= nil then return sim.variant_by_sku[tostring(t.item_number):lower()] end
  return nil
end

local function get_inventory(sim, req)
  sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1
  local params = common.parse_query(req.query_string)
  if not (params.item_number or params.product_id or params.variant_inventory_id) then
    return bad_request("One of product_id, variant_inventory_id, item_number, gtin or item_name is required")
  end
  local e = inventory_entry(sim, params)
  if not e then return not_found("No product was found with the given identifier.") end
  return common.response(200, inventory_doc(sim, e))
end

local function post_inventory(sim, req, how)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local body = common.decode(req.body or "")
  if type(body) ~= "table" then return bad_request("The request body is not valid JSON") end
  local q = math.tointeger(tonumber(body.quantity))
  if not q then return bad_request("quantity is required and must be a whole number") end
  if not (body.item_number or body.product_id or body.variant_inventory_id) then
    return bad_request("One of product_id, variant_inventory_id, item_number, gtin or item_name is required")
  end
  local e = inventory_entry(sim, body)
  if not e then return not_found("No product was found with the given identifier.") end
  if how == "set" then set_figure(e, q)
  elseif how == "add" then set_figure(e, figure(e) + q)
  else set_figure(e, figure(e) - q) end
  return common.response(200, inventory_doc(sim, e))
end

local PRODUCT_FIELDS = {
  id = { "number", get = function(p) return p.id end },
  item_number = { "string", get = function(p) return p.item_number end },
  item_name = { "string", get = function(p) return p.item_name end },
}
local VARIANT_FIELDS = {
  id = { "number", get = function(v) return v.id end },
  product_id = { "number", get = function(v) return v.product_id end },
  item_number = { "string", get = function(v) return v.item_number end },
}

local function product_doc(p)
  return { id = p.id, item_number = p.item_number, item_name = p.item_name, quantity_on_hand = p.quantity_on_hand,
    price = p.price / 100, cost = 0, retail = p.price / 100, product_status_id = 1, is_enabled = true,
    manufacturer_item_number = "", gtin = "", weight = 1, minimum_quantity = 0, maximum_quantity = 0 }
end
local function variant_doc(v)
  return { id = v.id, product_id = v.product_id, inventory = v.inventory, item_number = v.item_number,
    manufacturer_item_number = "", weight = 0, product_status_id = 1, low_stock_warning_at = null,
    low_stock_warning_enabled = false, gtin = "", description = v.description }
end

-- GET /products and /variant_inventory with the query syntax (a lookup asks by item_number, a
-- read by id)
local function catalog_list(sim, req, key, rows, fields, doc)
  local params, pairs_ = common.parse_query(req.query_string)
  local counter = params.item_number and "stock_lookup_requests" or "stock_read_requests"
  sim.stats[counter] = sim.stats[counter] + 1
  local match, ferr = build_filter(pairs_, fields)
  if not match then return ferr end
  local page, count = paging(sim, params)
  if not page then return count end
  local strings = {}
  for _, r in ipairs(rows) do if match(r) then strings[#strings + 1] = common.encode(doc(r)) end end
  if #strings == 0 and page == 1 and not sim.empty_404 then
    return common.response(200, '{"total_count":0,"next_page":null,"previous_page":null,"' .. key .. '":[]}')
  end
  return list_result(sim, req, key, select_fields(strings, params.fields), page, count)
end

---------------------------------------------------------------------------------------------
-- Shipments and status: POST /order_shipments (a shipment_name or id already on the order updates
-- it), GET /order_shipments?order_id=, GET /orders/{id}/shipments, PUT /orders/{id}/status.
-- A fault queued with after_apply = true lets the write happen, then fails or delays the answer.
---------------------------------------------------------------------------------------------

-- writes run under the queued faults, after_apply ones included (common.apply_write)
local function apply_write(sim, fn) return common.apply_write(sim, fn) end

-- quantity of each order item already shipped by the order's shipments other than `except`
local function shipped_qty(sim, order_id, except)
  local out = {}
  for _, s in ipairs(sim.shipments[order_id] or {}) do
    if s ~= except then
      for _, it in ipairs(s.items or {}) do out[it.id] = (out[it.id] or 0) + it.quantity_shipped end
    end
  end
  return out
end

local function post_shipment(sim, req)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" then return bad_request("The request body is not valid JSON") end
  local rec = sim.by_id[math.tointeger(tonumber(b.order_id))]
  if not rec then return conflict("order_id " .. tostring(b.order_id) .. " is not a valid order") end
  local list = sim.shipments[rec.id] or {}
  local existing
  if b.id ~= nil and b.id ~= null then
    for _, s in ipairs(list) do if s.id == math.tointeger(tonumber(b.id)) then existing = s end end
    if not existing then return not_found("Shipment " .. tostring(b.id) .. " was not found.") end
  elseif type(b.shipment_name) == "string" and b.shipment_name ~= "" then
    for _, s in ipairs(list) do if s.shipment_name == b.shipment_name then existing = s end end
  end
  local items, by_id, by_nr = nil, {}, {}
  for _, s in ipairs(rec.item_strings) do
    local it = common.decode_doc(s)
    by_id[it.id], by_nr[tostring(it.item_number):lower()] = it, it
  end
  if type(b.items) == "table" then
    items = {}
    local done = shipped_qty(sim, rec.id, existing)
    for i, x in ipairs(b.items) do
      local it = type(x) == "table" and (by_id[math.tointeger(tonumber(x.id))] or (x.item_nr and by_nr[tostring(x.item_nr):lower()]))
      if not it or it.is_discount_item then
        return conflict("items[" .. (i - 1) .. "]: order item " .. tostring(type(x) == "table" and (x.id or x.item_nr)) .. " is not on order " .. rec.id)
      end
      local q = math.tointeger(tonumber(x.quantity_shipped))
      if not q or q < 1 then return conflict("items[" .. (i - 1) .. "].quantity_shipped must be a positive whole number") end
      done[it.id] = (done[it.id] or 0) + q
      if done[it.id] > it.quantity then
        return conflict("items[" .. (i - 1) .. "]: quantity_shipped is more than the " .. it.quantity .. " ordered of item " .. it.id)
      end
      items[i] = { id = it.id, quantity_shipped = q, product_id = it.product_id, item_name = it.item_name, item_nr = it.item_number }
    end
  end
  local now = C.iso(sim:now())
  local s = existing
  if not s then
    sim.shipment_seq = sim.shipment_seq + 1
    s = { id = sim.shipment_seq, order_id = rec.id, created_at = now, shipping_method_type = "provider",
      number_of_packages = null, total_weight = null, provider_base_shipping_cost = "", provider_insurance_cost = null,
      provider_handling_cost = null, provider_other_charges = null, provider_total_shipping_cost = null,
      private_comment = "", shipping_comment = "", shipping_method_id = null, email_sent = false,
      shipment_name = tostring(sim.shipment_seq), tracking_numbers = "", tracking_url = "", shipping_method = "",
      shipping_provider_name = "", items = EMPTY }
    list[#list + 1] = s
    sim.shipments[rec.id] = list
  end
  for _, k in ipairs{ "shipped_at", "tracking_numbers", "tracking_url", "shipping_method", "shipping_method_id",
    "number_of_packages", "total_weight", "email_sent", "private_comment", "shipping_comment", "shipment_name",
    "shipping_provider_name" } do
    if b[k] ~= nil then s[k] = b[k] end
  end
  s.shipped_at = s.shipped_at or C.iso(sim:now())
  if items then s.items = common.list(items) end
  s.updated_at = now
  s.updates = (s.updates or 0) + (existing and 1 or 0)
  return common.response(existing and 200 or 201, s)
end

local SHIPMENT_FIELDS = {
  id = { "number", get = function(s) return s.id end },
  order_id = { "number", get = function(s) return s.order_id end },
  shipment_name = { "string", get = function(s) return s.shipment_name end },
  tracking_numbers = { "string", get = function(s) return s.tracking_numbers end },
}

local function list_shipments(sim, req)
  sim.stats.shipment_list_requests = sim.stats.shipment_list_requests + 1
  local params, pairs_ = common.parse_query(req.query_string)
  local match, ferr = build_filter(pairs_, SHIPMENT_FIELDS)
  if not match then return ferr end
  local page, count = paging(sim, params)
  if not page then return count end
  local strings = {}
  for _, rec in ipairs(sim.records) do
    for _, s in ipairs(sim.shipments[rec.id] or {}) do if match(s) then strings[#strings + 1] = common.encode(s) end end
  end
  if #strings == 0 and page == 1 then
    return common.response(200, '{"total_count":0,"next_page":null,"previous_page":null,"order_shipments":[]}')
  end
  return list_result(sim, req, "order_shipments", strings, page, count)
end

local function put_status(sim, req, rec)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" then return bad_request("The request body is not valid JSON") end
  local id = math.tointeger(tonumber(b.order_status_id))
  if not id or not STATUS_BY_ID[id] then return conflict("order_status_id " .. tostring(b.order_status_id) .. " is not a valid order status") end
  assert(sim:change_order(rec.id, { order_status_id = id }))
  sim.status_events = (sim.status_events or 0) + 1 -- the status-changed events (emails) this fired
  return common.response(200, rec.json)
end

local function put_order(sim, req, rec)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" then return bad_request("The request body is not valid JSON") end
  if b.order_status_id ~= nil then
    local id = math.tointeger(tonumber(b.order_status_id))
    if not id or not STATUS_BY_ID[id] then return conflict("order_status_id " .. tostring(b.order_status_id) .. " is not a valid order status") end
    assert(sim:change_order(rec.id, { order_status_id = id }))
  end
  return common.response(200, rec.json)
end

---------------------------------------------------------------------------------------------
-- Webhooks: POST /webhooks { event_type, url, store_id, failure_type, cache_length, fallback_url }
---------------------------------------------------------------------------------------------

local function post_webhook(sim, req)
  sim.stats.webhook_requests = sim.stats.webhook_requests + 1
  local b = common.decode(req.body or "")
  if type(b) ~= "table" then return bad_request("The request body is not valid JSON") end
  if b.id ~= nil then -- POST with an existing id updates that webhook
    for _, h in ipairs(sim.hooks or {}) do
      if h.id == math.tointeger(tonumber(b.id)) then
        if b.url ~= nil then h.url, h.doc.url = b.url, b.url end
        if EVENT_TYPES[b.event_type] then h.topic, h.doc.event_type = b.event_type, b.event_type end
        return common.response(200, h.doc)
      end
    end
    return not_found("Webhook " .. tostring(b.id) .. " was not found.")
  end
  if not EVENT_TYPES[b.event_type] then return conflict("event_type '" .. tostring(b.event_type) .. "' is not valid") end
  if type(b.url) ~= "string" or not b.url:match("^https?://") then return conflict("url must be an absolute http(s) URL") end
  local h = sim:add_hook{ url = b.url, topic = b.event_type }
  local doc = { id = h.id, event_type = b.event_type, url = b.url, failure_type = b.failure_type or "Ignore",
    store_id = b.store_id or 1, cache_length = b.cache_length or "NoCache", fallback_url = b.fallback_url or "" }
  h.doc = doc
  return common.response(201, doc)
end

local function list_webhooks(sim, req)
  local strings = {}
  for i, h in ipairs(sim.hooks or {}) do strings[i] = common.encode(h.doc or { id = h.id, url = h.url, event_type = h.topic }) end
  if #strings == 0 then return common.response(200, '{"total_count":0,"next_page":null,"previous_page":null,"webhooks":[]}') end
  local page, count = paging(sim, common.parse_query(req.query_string))
  if not page then return count end
  return list_result(sim, req, "webhooks", strings, page, count)
end

-- A new order goes to NewOrder, OrderPlaced and (unless cancelled or declined) NewValidOrder
-- hooks: { "order": the order model }, nothing signed (the cart documents no signature).
function C.webhook_delivery(_, hook, rec)
  local created = { NewOrder = true, OrderPlaced = true, NewValidOrder = rec.status_id ~= 4 and rec.status_id ~= 5 }
  if not created[hook.topic] then return nil end
  return { headers = {}, body = '{"order":' .. rec.json .. "}" }
end

---------------------------------------------------------------------------------------------
-- /_sim/stock: GET { [sku] = n }; POST { sku, quantity } (or { items = {…} }) sets figures.
-- /_sim/shipments/{order_id}: the order's shipments. /_sim/cache: the server cache's size.
---------------------------------------------------------------------------------------------

function C.control(sim, req, body)
  local sid = req.path:match("^/_sim/shipments/(%d+)$")
  if sid and req.method == "GET" then
    local rec = sim.by_id[tonumber(sid)]
    if not rec then return common.response(404, { error = "no such order" }) end
    return common.response(200, common.list(sim.shipments[rec.id]))
  end
  if req.path == "/_sim/status-events" then return common.response(200, { events = sim.status_events or 0 }) end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "GET" then
    local out = {}
    for _, e in pairs(sim.variant_by_sku) do out[e.sku] = figure(e) end
    return common.response(200, out)
  elseif req.method ~= "POST" then
    return common.response(405, { error = "GET or POST" })
  end
  local list, out = body.items or { body }, {}
  for _, it in ipairs(list) do
    local e = sim.variant_by_sku[tostring(it.sku):lower()]
    if not e then return common.response(404, { error = "no such sku " .. tostring(it.sku) }) end
    if not math.tointeger(tonumber(it.quantity)) then return common.response(400, { error = "quantity must be a whole number" }) end
  end
  for _, it in ipairs(list) do
    local e = sim.variant_by_sku[tostring(it.sku):lower()]
    set_figure(e, math.tointeger(tonumber(it.quantity)))
    out[e.sku] = figure(e)
  end
  return common.response(200, out)
end

---------------------------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------------------------

-- the scope each route needs (reading is enough for GETs)
local function scope_of(method, rest)
  local write = method ~= "GET"
  if rest:match("^/customers") then return write and "people" or "read_people" end
  if rest:match("^/inventory") or rest:match("^/products") or rest:match("^/variant_inventory") then
    return write and "catalog" or "read_catalog"
  end
  if rest:match("^/webhooks") then return "system" end
  return write and "orders" or "read_orders"
end

local function has_scope(sim, want)
  if not sim.scopes then return true end
  for _, s in ipairs(sim.scopes) do
    if s == want or (want:match("^read_") and s == want:sub(6)) then return true end
  end
  return false
end

local function route(sim, req, rest)
  local m = req.method
  local oid, osub = rest:match("^/orders/(%d+)(.*)$")
  if m == "POST" and rest == "/order_shipments" then
    sim.stats.shipment_requests = sim.stats.shipment_requests + 1
    return apply_write(sim, function() return post_shipment(sim, req) end)
  end
  if m == "PUT" and oid and osub == "/status" then
    sim.stats.status_requests = sim.stats.status_requests + 1
    local rec = sim.by_id[tonumber(oid)]
    if not rec then return not_found() end
    return apply_write(sim, function() return put_status(sim, req, rec) end)
  end
  if m == "PUT" and oid and osub == "" then -- a plain update: fields change, no status events fire
    sim.stats.status_requests = sim.stats.status_requests + 1
    local rec = sim.by_id[tonumber(oid)]
    if not rec then return not_found() end
    return apply_write(sim, function() return put_order(sim, req, rec) end)
  end
  if m == "POST" and rest:match("^/inventory/") then
    local how = rest:match("^/inventory/(%a+)$")
    if how ~= "set" and how ~= "add" and how ~= "remove" then return not_found() end
    return apply_write(sim, function() return post_inventory(sim, req, how) end)
  end
  if m == "POST" and rest == "/webhooks" then return apply_write(sim, function() return post_webhook(sim, req) end) end
  if m == "DELETE" and rest:match("^/webhooks/%d+$") then
    local id = tonumber(rest:match("(%d+)$"))
    for i, h in ipairs(sim.hooks or {}) do
      if h.id == id then table.remove(sim.hooks, i) return common.response(204, nil) end
    end
    return not_found()
  end
  if m ~= "GET" then return ac_error(405, "Method Not Allowed", "The requested method is not supported.") end
  if rest == "/orders" then return list_orders(sim, req) end
  return sim:apply_any_fault(function()
    if oid then
      local rec = sim.by_id[tonumber(oid)]
      if not rec then return not_found() end
      return order_resource(sim, req, rec, osub)
    end
    if rest == "/order_statuses" then
      sim.stats.status_list_requests = sim.stats.status_list_requests + 1
      return order_statuses(sim, req)
    end
    if rest == "/order_addresses/select_many" then return by_ids(sim, req, "order_addresses", sim.addresses, "address_requests") end
    local aid = rest:match("^/order_addresses/(%d+)$")
    if aid then return one(sim, req, sim.addresses, aid, "address_requests") end
    if rest == "/customers/select_many" then return by_ids(sim, req, "customers", sim.customers, "customer_requests") end
    local cid = rest:match("^/customers/(%d+)$")
    if cid then return one(sim, req, sim.customers, cid, "customer_requests") end
    if rest == "/inventory" then return get_inventory(sim, req) end
    if rest == "/products" then return catalog_list(sim, req, "products", sim.products, PRODUCT_FIELDS, product_doc) end
    if rest == "/variant_inventory" then
      return catalog_list(sim, req, "variant_inventory", sim.variant_rows, VARIANT_FIELDS, variant_doc)
    end
    if rest == "/order_shipments" then return list_shipments(sim, req) end
    if rest == "/webhooks" then return list_webhooks(sim, req) end
    if rest == "/stores" then
      return common.response(200, '{"total_count":1,"next_page":null,"previous_page":null,"stores":[{"id":1,"name":"Cartwright Demo Store","domain":"'
        .. sim.url:gsub("^https?://", "") .. '","is_default":true}]}')
    end
    return not_found()
  end)
end

-- Server-side caching of GETs (the cart's, not common's prerender): a GET without
-- Cache-Control: no-cache is answered from the cache while the entry is younger than
-- cache_seconds; one with no-cache is built again and refreshes the entry.
local function cached(sim, req, build)
  if req.method ~= "GET" or sim.cache_seconds <= 0 then return build() end
  local cc = (req.headers["cache-control"] or ""):lower()
  local hit = sim.get_cache[req.uri]
  local now = sim.clock()
  if not cc:find("no%-cache") and hit and now - hit.at < sim.cache_seconds then
    sim.stats.cache_hits = sim.stats.cache_hits + 1
    local resp = common.copy_response(hit.resp)
    resp.headers["Age"] = tostring(math.floor(now - hit.at))
    return resp
  end
  local resp = build()
  if resp.status == 200 then
    resp.headers["Cache-Control"] = "public, max-age=" .. sim.cache_seconds
    resp.headers["Last-Modified"] = C.http_date(math.floor(now))
    resp.headers["Expires"] = C.http_date(math.floor(now) + sim.cache_seconds)
    sim.get_cache[req.uri] = { at = now, resp = common.copy_response(resp) }
  end
  return resp
end

-- IIS's default maxQueryString: a longer query string is refused before the application sees it
-- (404.15, an HTML page). Not confirmed for Cart.com's own servers; a client stays under it.
C.MAX_QUERY = 2048

function C.handle(sim, req)
  local rest = req.path:match("^/api/v1(/.*)$")
  if not rest then return not_found() end
  if #(req.query_string or "") > C.MAX_QUERY then
    return common.response(404, "<html><body><h2>HTTP Error 404.15 - Not Found</h2><p>The request filtering module"
      .. " is configured to deny a request where the query string is too long.</p></body></html>",
      { ["Content-Type"] = "text/html" })
  end
  rest = rest:gsub("%.json$", ""):gsub("/+$", "")
  if req.headers["x-ac-auth-token"] ~= sim.token then
    return ac_error(401, "Unauthorized", "Missing or invalid X-AC-Auth-Token header.")
  end
  local need = scope_of(req.method, rest)
  if not has_scope(sim, need) then
    return ac_error(403, "Forbidden", "The access token does not have the required scope: " .. need)
  end
  local resp, limit
  if sim.quota then
    local now = sim.clock()
    local ok = sim.quota:take(now)
    limit = sim.quota.used .. "/" .. sim.quota.quota
    if not ok then
      resp = ac_error(429, "Too Many Requests", "API rate limit exceeded")
      local reset = sim.quota.start + sim.quota.window
      resp.headers["Retry-After"] = sim.retry_after == "date" and C.http_date(math.ceil(reset))
        or tostring(math.max(1, math.ceil(reset - now)))
    end
  end
  resp = resp or cached(sim, req, function() return route(sim, req, rest) end)
  if limit then resp.headers["X-AC-Call-Limit"] = limit end
  return resp
end

-- require("sim.cartcom").start{ port = 0, orders = 100, seed = 1, token = "ac_test", plan = "steel" }
function C.start(opts)
  return common.start(C, opts or {})
end

return C
