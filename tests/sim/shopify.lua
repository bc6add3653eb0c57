-- tests/sim/shopify.lua: a Shopify Admin REST simulator (orders, shop, locations), and the
-- GraphQL endpoint for stock (locations, variants by SKU, inventory levels, inventorySetQuantities)
-- and shipments (fulfillment orders, fulfillmentCreate, the order's fulfillments, orderCancel).
-- Speaks /admin/api/{YYYY-MM}/…: X-Shopify-Access-Token auth (a static token, or tokens that
-- expire, issued by the client-credentials grant at /admin/oauth/access_token), versions that
-- fall forward (a retired or unknown one is served as the oldest supported one, named in
-- X-Shopify-API-Version), cursor paging through the Link header's page_info, the 40 @ 2/s
-- leaky bucket with X-Shopify-Shop-Api-Call-Limit and 429s, and full order documents (~8 KB
-- each). Uses sim.common for everything cart-neutral.

local common = require "sim.common"
local task = require "cartwright.task"

local EMPTY, null = common.EMPTY, common.null
local money = common.money

local S = { name = "shopify", object_keys = { origin_address = true, receipt = true } }

local THROTTLE_MSG = "Exceeded %s calls per second for api client. "
    .. "Reduce request rates to resume uninterrupted service."
local AUTH_MSG = "[API] Invalid API key or access token (unrecognized login or wrong password)"
local GRANT_MSG = "Client authentication failed due to unknown client, no client authentication included,"
    .. " or unsupported authentication method."
local PAGE_INFO_MSG = "%s cannot be passed when page_info is present. "
    .. "See https://shopify.dev/api/usage/pagination-rest for more information."

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

-- The versions Shopify supports (late 2026), oldest first; opts.api_versions replaces them.
S.API_VERSIONS = { "2026-01", "2026-04", "2026-07", "2026-10" }
S.TOKEN_TTL = 86399 -- seconds a token of the client-credentials grant lives

-- opts.client_id + opts.client_secret (+ opts.token_ttl, the seconds a token lives; + opts.
-- expires_in, the lifetime the grant announces when it is not the real one: a shop that revokes
-- tokens early): an app whose tokens the grant issues.
local function set_app(sim, opts)
  if opts.client_id and opts.client_secret then
    local ttl = tonumber(opts.token_ttl) or S.TOKEN_TTL
    sim.app = { client_id = tostring(opts.client_id), client_secret = tostring(opts.client_secret),
                ttl = ttl, announced = tonumber(opts.expires_in) or ttl }
  end
end

-- The REST bucket of each plan (`plan` option): its size, and what drains each second.
S.PLANS = { standard = { capacity = 40, per_second = 2 }, advanced = { capacity = 80, per_second = 4 },
            plus = { capacity = 400, per_second = 20 } }

local setup_stock -- the stock section, below

function S.setup(sim, opts)
  sim.token = opts.token or "shpat_test"
  sim.api_versions = opts.api_versions or S.API_VERSIONS
  sim.issued = {} -- token -> the time it expires
  sim.grants = { issued = 0, refused = 0, expired = 0, tokens = {} }
  sim.token_rng = common.rng((tonumber(opts.seed) or 1) * 7919 + 17) -- orders keep their own sequence
  set_app(sim, opts)
  sim.shop = opts.shop or "cartwright-demo"
  sim.currency = opts.currency or "USD"
  sim.tz = opts.tz_offset or -300 -- minutes; the shop's zone (America/New_York, no DST here)
  sim.customers = {}
  sim.line_seq = 0
  sim.request_seq = 0
  local rate = opts.rate
  if rate ~= false then
    local plan = S.PLANS[opts.plan or "standard"] or error("sim.shopify: unknown plan " .. tostring(opts.plan), 0)
    rate = rate or {}
    sim.rate = { capacity = rate.capacity or plan.capacity, per_second = rate.per_second or plan.per_second }
    sim.bucket = common.leaky_bucket(sim.rate.capacity, sim.rate.per_second)
  end
  sim.locations = {
    { id = 69143617626, name = "Main Warehouse", city = "Austin", province_code = "TX",
      zip = "78701", address1 = "500 Congress Ave" },
    { id = 69143650394, name = "East Coast 3PL", city = "Newark", province_code = "NJ",
      zip = "07102", address1 = "12 Ferry St" },
  }
  setup_stock(sim, opts)
end

---------------------------------------------------------------------------------------------
-- Order documents
---------------------------------------------------------------------------------------------

local function money_set(cents, currency)
  local m = { amount = money(cents), currency_code = currency }
  return { shop_money = m, presentment_money = { amount = m.amount, currency_code = currency } }
end

local function address_doc(person, addr)
  return {
    first_name = person.first_name, last_name = person.last_name,
    name = person.first_name .. " " .. person.last_name,
    company = person.company or null,
    address1 = addr.address1, address2 = addr.address2,
    city = addr.city, zip = addr.zip,
    province = addr.region ~= "" and addr.region or null,
    province_code = addr.region_code ~= "" and addr.region_code or null,
    country = addr.country, country_code = addr.country_code,
    phone = person.phone,
    latitude = null, longitude = null,
  }
end

-- A returning customer a quarter of the time, so matching by email has work to do.
local function pick_customer(sim, created)
  local rng = sim.rng
  if #sim.customers > 0 and rng:chance(0.25) then return rng:pick(sim.customers) end
  local c = { person = common.person(rng), address = common.address(rng), created = created - rng:int(0, 400) * 86400 }
  c.id = 6900000000000 + (#sim.customers + 1) * 1009 + rng:int(0, 1008)
  sim.customers[#sim.customers + 1] = c
  return c
end

local function customer_doc(sim, c)
  local p = c.person
  local default = address_doc(p, c.address)
  default.id = c.id + 1
  default.customer_id = c.id
  default.country_name = c.address.country
  default.default = true
  return {
    id = c.id, email = p.email, first_name = p.first_name, last_name = p.last_name,
    phone = p.phone, state = "enabled", note = null, verified_email = true,
    multipass_identifier = null, tax_exempt = false, tags = "", currency = sim.currency,
    created_at = common.iso(c.created, sim.tz), updated_at = common.iso(c.created, sim.tz),
    email_marketing_consent = { state = "not_subscribed", opt_in_level = "single_opt_in",
      consent_updated_at = null },
    sms_marketing_consent = null,
    tax_exemptions = EMPTY,
    admin_graphql_api_id = "gid://shopify/Customer/" .. c.id,
    default_address = default,
  }
end

local function tax_line(cents, rate, title, currency)
  return { title = title, price = money(cents), rate = rate, channel_liable = false,
    price_set = money_set(cents, currency) }
end

local function line_doc(sim, l, ctx)
  sim.line_seq = sim.line_seq + 1
  local item, cur = l.item, sim.currency
  local id = 13100000000000 + sim.line_seq * 1000 + sim.rng:int(0, 999)
  local giftcard = item.sku:match("^GIFTCARD") ~= nil
  local allocations = EMPTY
  if ctx.discount and l.discount > 0 then
    allocations = { { amount = money(l.discount), amount_set = money_set(l.discount, cur),
      discount_application_index = 0 } }
  end
  return {
    id = id, admin_graphql_api_id = "gid://shopify/LineItem/" .. id,
    attributed_staffs = EMPTY,
    current_quantity = l.quantity,
    fulfillable_quantity = ctx.fulfilled and 0 or l.quantity,
    fulfillment_service = "manual",
    fulfillment_status = ctx.fulfilled and "fulfilled" or null,
    gift_card = giftcard, grams = item.grams,
    name = item.variant_title ~= "" and (item.title .. " - " .. item.variant_title) or item.title,
    title = item.title, variant_title = item.variant_title ~= "" and item.variant_title or null,
    price = money(l.price), price_set = money_set(l.price, cur),
    product_exists = not item.unknown,
    product_id = item.unknown and null or (8100000000000 + item.product_no * 1000),
    variant_id = item.unknown and null or (44100000000000 + item.variant_no * 100),
    properties = common.list(common.pick_properties(sim.rng, item)),
    quantity = l.quantity, requires_shipping = not giftcard, sku = item.sku,
    taxable = true, total_discount = "0.00", total_discount_set = money_set(0, cur),
    variant_inventory_management = item.unknown and null or "shopify",
    vendor = item.vendor,
    tax_lines = ctx.tax_rate > 0 and { tax_line(l.tax, ctx.tax_rate, ctx.tax_title, cur) } or EMPTY,
    duties = EMPTY,
    discount_allocations = allocations,
  }
end

local SHIPPING = {
  standard = { "Standard", "Standard Shipping" }, express = { "Express", "Express Shipping" },
  overnight = { "Overnight", "Overnight Shipping" }, free = { "Free Shipping", "Free Shipping" },
  pickup = { "Local Pickup", "Pick up in store" }, freight = { "FREIGHT-LTL", "Freight (LTL)" },
}

local function shipping_line_doc(sim, n, kind, cents)
  local cur = sim.currency
  return {
    id = 4300000000000 + n * 10, code = SHIPPING[kind][1], title = SHIPPING[kind][2],
    price = money(cents), price_set = money_set(cents, cur),
    discounted_price = money(cents), discounted_price_set = money_set(cents, cur),
    source = kind == "freight" and "freightquote" or "shopify",
    phone = null, carrier_identifier = null, requested_fulfillment_service_id = null,
    delivery_category = null, is_removed = false,
    tax_lines = EMPTY, discount_allocations = EMPTY,
  }
end

-- The order's state decides financial/fulfillment status and the closed/cancelled stamps.
local STATES = {
  { 60, { financial = "paid" } },
  { 18, { financial = "paid", fulfilled = true, closed = true } },
  { 6, { financial = "pending" } },
  { 4, { financial = "authorized" } },
  { 3, { financial = "paid", partial = true } },
  { 3, { financial = "refunded", closed = true } },
  { 3, { financial = "partially_refunded", fulfilled = true } },
  { 3, { financial = "voided", cancelled = true, closed = true } },
}

local GATEWAYS = { { 70, "shopify_payments" }, { 15, "paypal" }, { 5, "manual" }, { 10, "shop_pay_installments" } }
local USER_AGENTS = {
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148" }

local function discount_docs(d)
  if not d then return EMPTY, EMPTY end
  local application = { type = "discount_code", code = d.code, value = string.format("%.1f", d.value),
    value_type = d.kind == "fixed" and "fixed_amount" or "percentage",
    allocation_method = "across", target_selection = "all", target_type = "line_item" }
  local code = { code = d.code, amount = money(d.cents), type = application.value_type }
  return { application }, { code }
end

local function fulfillment_doc(sim, n, id, created)
  local number = "1Z" .. sim.rng:token(16):upper()
  return { {
    id = 4900000000000 + n, admin_graphql_api_id = "gid://shopify/Fulfillment/" .. (4900000000000 + n),
    order_id = id, name = "#" .. (1000 + n) .. ".1", status = "success", service = "manual",
    location_id = sim.locations[1].id, shipment_status = null,
    created_at = common.iso(created, sim.tz), updated_at = common.iso(created, sim.tz),
    tracking_company = "UPS", tracking_number = number, tracking_numbers = { number },
    tracking_url = "https://www.ups.com/track?tracknum=" .. number,
    tracking_urls = { "https://www.ups.com/track?tracknum=" .. number },
    origin_address = {}, receipt = {}, line_items = EMPTY,
  } }
end

-- Builds the money part of the document from totals in cents.
local function money_fields(doc, t, cur, outstanding)
  local function put(name, cents)
    doc[name] = money(cents)
    doc[name .. "_set"] = money_set(cents, cur)
  end
  put("subtotal_price", t.subtotal - t.discount)
  put("current_subtotal_price", t.subtotal - t.discount)
  put("total_price", t.total)
  put("current_total_price", t.total)
  put("total_tax", t.tax)
  put("current_total_tax", t.tax)
  put("total_discounts", t.discount)
  put("current_total_discounts", t.discount)
  put("total_line_items_price", t.subtotal)
  doc.total_shipping_price_set = money_set(t.shipping, cur)
  doc.total_cash_rounding_payment_adjustment_set = money_set(0, cur)
  doc.total_cash_rounding_refund_adjustment_set = money_set(0, cur)
  doc.total_outstanding = money(outstanding and t.total or 0)
  doc.total_tip_received = "0.00"
end

function S.generate(sim, n, created, updated)
  local rng, cur = sim.rng, sim.currency
  local state = rng:weighted(STATES)
  local customer = pick_customer(sim, created)
  local ship_to = rng:chance(0.15) and common.address(rng) or customer.address
  local lines = common.pick_lines(rng, n)
  local subtotal = 0
  for _, l in ipairs(lines) do subtotal = subtotal + l.price * l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, subtotal)
  local discount = common.pick_discount(rng, subtotal)
  local rate, tax_title = common.tax_rate(ship_to)
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, rate)
  local id = 5120000000000 + n * 100003 + rng:int(0, 100002)
  local ctx = { fulfilled = state.fulfilled, discount = discount, tax_rate = rate, tax_title = tax_title }
  local line_docs = {}
  for i, l in ipairs(lines) do line_docs[i] = line_doc(sim, l, ctx) end
  local applications, codes = discount_docs(discount)
  local p = customer.person
  local token = rng:hex(32)
  local ip = "203.0.113." .. rng:int(1, 254)
  local gateway = rng:weighted(GATEWAYS)
  local doc = {
    id = id, admin_graphql_api_id = "gid://shopify/Order/" .. id,
    app_id = 580111, browser_ip = ip, buyer_accepts_marketing = rng:chance(0.3),
    cancel_reason = state.cancelled and "customer" or null,
    cancelled_at = state.cancelled and common.iso(updated, sim.tz) or null,
    cart_token = rng:token(24), checkout_id = 36100000000000 + n, checkout_token = rng:hex(32),
    client_details = { accept_language = "en-US,en;q=0.9", browser_height = null, browser_ip = ip,
      browser_width = null, session_hash = null, user_agent = rng:pick(USER_AGENTS) },
    closed_at = state.closed and common.iso(updated, sim.tz) or null,
    company = null, confirmation_number = rng:token(9):upper(), confirmed = true,
    contact_email = p.email, created_at = common.iso(created, sim.tz), currency = cur,
    current_total_additional_fees_set = null, current_total_duties_set = null,
    customer_locale = "en-US", device_id = null, discount_codes = codes,
    duties_included = false, email = p.email, estimated_taxes = false,
    financial_status = state.financial,
    fulfillment_status = state.fulfilled and "fulfilled" or (state.partial and "partial" or null),
    landing_site = "/products/" .. lines[1].item.sku:lower(), landing_site_ref = null,
    location_id = null, merchant_business_entity_id = "MTY5MTQzNjE3NjI2",
    merchant_of_record_app_id = null,
    name = "#" .. (1000 + n), note = common.pick_note(rng) or null,
    note_attributes = common.list(common.pick_attributes(rng, created)),
    number = n, order_number = 1000 + n,
    order_status_url = "https://" .. sim.shop .. ".myshopify.com/69143617626/orders/" .. token
        .. "/authenticate?key=" .. rng:hex(32),
    original_total_additional_fees_set = null, original_total_duties_set = null,
    payment_gateway_names = { gateway }, phone = null, po_number = null,
    presentment_currency = cur, processed_at = common.iso(created, sim.tz),
    reference = null, referring_site = rng:chance(0.4) and "https://www.google.com/" or null,
    source_identifier = null, source_name = "web", source_url = null,
    tags = rng:weighted({ { 80, "" }, { 10, "repeat" }, { 5, "wholesale" }, { 5, "vip, repeat" } }),
    tax_exempt = false,
    tax_lines = rate > 0 and { tax_line(t.tax, rate, tax_title, cur) } or EMPTY,
    taxes_included = false, test = false, token = token,
    total_weight = 0, user_id = null,
    billing_address = address_doc(p, customer.address),
    shipping_address = address_doc(p, ship_to),
    customer = customer_doc(sim, customer),
    discount_applications = applications,
    fulfillments = state.fulfilled and fulfillment_doc(sim, n, id, updated) or EMPTY,
    line_items = line_docs, payment_terms = null, refunds = EMPTY,
    shipping_lines = { shipping_line_doc(sim, n, kind, ship_cents) },
  }
  for _, l in ipairs(lines) do doc.total_weight = doc.total_weight + l.item.grams * l.quantity end
  money_fields(doc, t, cur, state.financial == "pending" or state.financial == "authorized")
  return { id = id, n = n, doc = doc, created = created, updated = updated }
end

-- JSON plus what the filters read
function S.render(sim, rec)
  local doc = rec.doc
  doc.updated_at = common.iso(rec.updated, sim.tz)
  rec.json = common.encode(doc, true)
  rec.closed, rec.cancelled = doc.closed_at ~= null, doc.cancelled_at ~= null
  rec.financial = doc.financial_status
  rec.fulfillment = doc.fulfillment_status ~= null and doc.fulfillment_status or nil
end

---------------------------------------------------------------------------------------------
-- Changes (POST /_sim/orders/{id}, sim:change_order)
---------------------------------------------------------------------------------------------

local FINANCIAL = { paid = true, pending = true, authorized = true, refunded = true,
  partially_refunded = true, partially_paid = true, voided = true }

function S.change(sim, rec, changes, now)
  local doc = rec.doc
  local status = changes.status and tostring(changes.status):lower():gsub("[%s%-]+", "_")
  local stamp = common.iso(now, sim.tz)
  if status == nil then return true end
  if status == "cancelled" then
    doc.cancelled_at, doc.cancel_reason, doc.closed_at = stamp, "customer", stamp
    doc.financial_status = doc.financial_status == "paid" and "refunded" or "voided"
  elseif status == "closed" then
    doc.closed_at = stamp
  elseif status == "open" then
    doc.closed_at, doc.cancelled_at, doc.cancel_reason = null, null, null
  elseif status == "fulfilled" or status == "shipped" then
    doc.fulfillment_status = "fulfilled"
    for _, l in ipairs(doc.line_items) do
      l.fulfillable_quantity, l.fulfillment_status = 0, "fulfilled"
    end
  elseif FINANCIAL[status] then
    doc.financial_status = status
    if status == "paid" then doc.total_outstanding = "0.00" end
  else
    return nil, "unknown status '" .. tostring(status) .. "'"
  end
  return true
end

---------------------------------------------------------------------------------------------
-- Queries: parsing, the frozen query inside page_info, filtering and ordering
---------------------------------------------------------------------------------------------

local function bad_request(errors) return common.response(400, { errors = errors }) end

-- Shopify reads a date without an offset in the shop's zone.
local function parse_date(sim, s)
  local epoch, has_offset = common.parse_iso(s)
  if not epoch then return nil end
  if not has_offset then epoch = epoch - sim.tz * 60 end
  return epoch
end

local DATE_PARAMS = { "created_at_min", "created_at_max", "updated_at_min", "updated_at_max",
  "processed_at_min", "processed_at_max" }
local STATUSES = { open = true, closed = true, cancelled = true, any = true }
local ORDER_FIELDS = { id = true, created_at = true, updated_at = true, processed_at = true }

-- params -> q (plain data that survives JSON inside a page_info token) | nil, response
local function build_query(sim, params)
  local q = { status = params.status or "open", dates = {} }
  if not STATUSES[q.status] then return nil, bad_request({ status = "is not included in the list" }) end
  for _, name in ipairs(DATE_PARAMS) do
    if params[name] and params[name] ~= "" then
      local epoch = parse_date(sim, params[name])
      if not epoch then return nil, bad_request({ [name] = "is not a valid date" }) end
      q.dates[name] = epoch
    end
  end
  q.financial_status = params.financial_status
  q.fulfillment_status = params.fulfillment_status
  q.since_id = tonumber(params.since_id)
  if params.ids and params.ids ~= "" then
    q.ids = {}
    for id in params.ids:gmatch("[^,%s]+") do q.ids[#q.ids + 1] = tonumber(id) end
  end
  local field, dir = (params.order or "id asc"):match("^(%S+)%s*(%a*)$")
  if not field or not ORDER_FIELDS[field] then return nil, bad_request({ order = "is invalid" }) end
  q.order_field, q.desc = field, (dir or ""):lower() == "desc"
  return q
end

local function status_matches(rec, status)
  if status == "any" then return true end
  if status == "cancelled" then return rec.cancelled end
  if status == "closed" then return rec.closed end
  return not rec.closed and not rec.cancelled
end

local FULFILLMENT = {
  shipped = function(s) return s == "fulfilled" end,
  partial = function(s) return s == "partial" end,
  unshipped = function(s) return s == nil end,
  unfulfilled = function(s) return s == nil or s == "partial" end,
}

local function field_epoch(rec, name)
  if name:match("^updated") then return rec.updated end
  return rec.created -- created_at and processed_at coincide in generated orders
end

local function matches(rec, q)
  if not status_matches(rec, q.status) then return false end
  if q.since_id and rec.id <= q.since_id then return false end
  for name, epoch in pairs(q.dates) do
    local v = field_epoch(rec, name)
    if name:match("_min$") and v < epoch then return false end
    if name:match("_max$") and v > epoch then return false end
  end
  local fs = q.financial_status
  if fs and fs ~= "any" and rec.financial ~= fs then return false end
  local ff = q.fulfillment_status and FULFILLMENT[q.fulfillment_status]
  if ff and not ff(rec.fulfillment) then return false end
  if q.ids then
    local found = false
    for _, id in ipairs(q.ids) do if id == rec.id then found = true end end
    if not found then return false end
  end
  return true
end

local function sort_value(rec, field)
  if field == "id" then return rec.id end
  return field_epoch(rec, field)
end

-- true when key (va, ia) comes before key (vb, ib) in the query's order; id breaks ties so
-- the cursor is stable when many orders share a second
local function key_less(q, va, ia, vb, ib)
  if va ~= vb then
    if q.desc then return va > vb end
    return va < vb
  end
  if q.desc then return ia > ib end
  return ia < ib
end

-- All matching records in the query's order. Records are kept in id order already.
local function collect(sim, q)
  local out = {}
  for _, rec in ipairs(sim.records) do
    if matches(rec, q) then out[#out + 1] = rec end
  end
  if q.order_field ~= "id" or q.desc then
    local f = q.order_field
    table.sort(out, function(a, b)
      return key_less(q, sort_value(a, f), a.id, sort_value(b, f), b.id)
    end)
  end
  return out
end

---------------------------------------------------------------------------------------------
-- Paging
---------------------------------------------------------------------------------------------

local function encode_page_info(q, direction, rec)
  return common.b64url(common.encode({ q = q, direction = direction,
    last_value = sort_value(rec, q.order_field), last_id = rec.id }))
end

local function decode_page_info(s)
  local raw = common.unb64url(s)
  local t = raw and common.decode(raw)
  if type(t) ~= "table" or type(t.q) ~= "table" or not tonumber(t.last_id)
      or not tonumber(t.last_value) or not ORDER_FIELDS[t.q.order_field or ""]
      or not STATUSES[t.q.status or ""] then
    return nil
  end
  t.q.dates = type(t.q.dates) == "table" and t.q.dates or {}
  return t
end

-- Indices [first, last] of `all` (ordered) for a cursor { direction, last_value, last_id }
-- or for the first page when cursor is nil.
local function slice(q, all, cursor, limit)
  local f = q.order_field
  if not cursor then return 1, math.min(#all, limit) end
  local cv, cid = cursor.last_value, cursor.last_id
  if cursor.direction == "next" then -- the records after the cursor
    local first = common.bsearch(#all, function(i)
      return key_less(q, cv, cid, sort_value(all[i], f), all[i].id)
    end)
    return first, math.min(#all, first + limit - 1)
  end
  -- previous: the `limit` records just before the cursor
  local last = common.bsearch(#all, function(i)
    return not key_less(q, sort_value(all[i], f), all[i].id, cv, cid)
  end) - 1
  return math.max(1, last - limit + 1), last
end

local function link_header(sim, version, q, all, first, last, limit)
  local links = {}
  local base = sim.url .. "/admin/api/" .. version .. "/orders.json?page_info="
  if first > 1 and first <= last then
    links[#links + 1] = "<" .. base .. encode_page_info(q, "previous", all[first]) ..
        "&limit=" .. limit .. '>; rel="previous"'
  end
  if last < #all and last >= 1 then
    links[#links + 1] = "<" .. base .. encode_page_info(q, "next", all[last]) ..
        "&limit=" .. limit .. '>; rel="next"'
  end
  return #links > 0 and table.concat(links, ", ") or nil
end

-- Only the requested top-level fields; such a page is encoded on the fly.
local function select_fields(sim, rec, fields)
  if not fields then return rec.json end
  local doc, out = sim:doc(rec), {}
  for name in fields:gmatch("[^,%s]+") do
    if doc[name] ~= nil then out[name] = doc[name] end
  end
  return common.encode(out, true)
end

local function parse_limit(value)
  if value == nil or value == "" then return 50 end
  local n = math.tointeger(tonumber(value))
  if not n or n < 1 or n > 250 then return nil end
  return n
end

local PAGE_INFO_ALLOWED = { page_info = true, limit = true, fields = true }

local function list_orders(sim, req, version)
  local params, list = common.parse_query(req.query_string)
  local limit = parse_limit(params.limit)
  if not limit then return bad_request({ limit = "must be between 1 and 250" }) end
  local q, cursor, err
  if params.page_info then
    for _, kv in ipairs(list) do
      if not PAGE_INFO_ALLOWED[kv[1]] then return bad_request(PAGE_INFO_MSG:format(kv[1])) end
    end
    cursor = decode_page_info(params.page_info)
    if not cursor then return bad_request({ page_info = "Invalid value." }) end
    q = cursor.q
  else
    q, err = build_query(sim, params)
    if not q then return err end
  end
  return sim:serve_list(req.uri, function()
    local all = sim:query(common.canonical(q), function() return collect(sim, q) end)
    local first, last = slice(q, all, cursor, limit)
    local parts = {}
    for i = first, last do parts[#parts + 1] = select_fields(sim, all[i], params.fields) end
    local resp = common.response(200, '{"orders":[' .. table.concat(parts, ",") .. "]}")
    resp.headers.Link = link_header(sim, version, q, all, first, last, limit)
    return resp
  end)
end

local function count_orders(sim, req)
  local params = common.parse_query(req.query_string)
  local q, err = build_query(sim, params)
  if not q then return err end
  local n = 0
  for _, rec in ipairs(sim.records) do if matches(rec, q) then n = n + 1 end end
  return common.response(200, { count = n })
end

local function one_order(sim, req, id)
  local rec = sim.by_id[tonumber(id)]
  if not rec then return common.response(404, { errors = "Not Found" }) end
  local params = common.parse_query(req.query_string)
  return common.response(200, '{"order":' .. select_fields(sim, rec, params.fields) .. "}")
end

---------------------------------------------------------------------------------------------
-- Shop and locations
---------------------------------------------------------------------------------------------

local function shop(sim)
  local domain = sim.shop .. ".myshopify.com"
  return common.response(200, { shop = {
    id = 69143617626, name = "Cartwright Demo Store", email = "owner@example.com",
    domain = domain, myshopify_domain = domain, province = "Texas", province_code = "TX",
    country = "US", country_code = "US", country_name = "United States",
    address1 = "500 Congress Ave", address2 = "", city = "Austin", zip = "78701",
    phone = "+15125550100", latitude = 30.2672, longitude = -97.7431,
    source = null, primary_locale = "en", currency = sim.currency,
    customer_email = "support@example.com", timezone = "(GMT-05:00) Eastern Time (US & Canada)",
    iana_timezone = "America/New_York", shop_owner = "Dana Grant",
    money_format = "${{amount}}", money_with_currency_format = "${{amount}} USD",
    money_in_emails_format = "${{amount}}", money_with_currency_in_emails_format = "${{amount}} USD",
    weight_unit = "lb", taxes_included = false, tax_shipping = false, county_taxes = true,
    auto_configure_tax_inclusivity = null, plan_display_name = "Basic", plan_name = "basic",
    has_discounts = true, has_gift_cards = false, has_storefront = true,
    google_apps_domain = null, google_apps_login_enabled = null,
    eligible_for_payments = true, requires_extra_payments_agreement = false,
    password_enabled = false, setup_required = false, pre_launch_enabled = false,
    finances = true, primary_location_id = sim.locations[1].id, checkout_api_supported = false,
    multi_location_enabled = true, enabled_presentment_currencies = { sim.currency },
    transactional_sms_disabled = false, marketing_sms_consent_enabled_at_checkout = false,
    created_at = "2021-02-12T13:51:00-05:00", updated_at = "2025-01-06T09:12:44-05:00",
  } })
end

local function locations(sim)
  local out = {}
  for i, l in ipairs(sim.locations) do
    out[i] = { id = l.id, name = l.name, address1 = l.address1, address2 = null, city = l.city,
      zip = l.zip, province = null, province_code = l.province_code, country = "US",
      country_code = "US", country_name = "United States", phone = null, active = true,
      legacy = false, localized_country_name = "United States", localized_province_name = null,
      created_at = "2021-02-12T13:51:00-05:00", updated_at = "2021-02-12T13:51:00-05:00",
      deleted_at = null, admin_graphql_api_id = "gid://shopify/Location/" .. l.id }
  end
  return common.response(200, { locations = out })
end

---------------------------------------------------------------------------------------------
-- Stock (GraphQL Admin API): a figure per (inventory item, location) for every variant of the
-- catalog (and opts.stock_skus more, "STK-00001"…); locations, productVariants by `sku:`,
-- nodes → inventoryLevel, inventorySetQuantities with changeFromQuantity per quantity and
-- @idempotent(key:) (2026-04 on), a points budget per second (extensions.cost, THROTTLED).
-- An order placed through POST /_sim/orders lowers its lines' figures at the primary location.
---------------------------------------------------------------------------------------------

local ITEM_GID, LOCATION_GID, VARIANT_GID = "gid://shopify/InventoryItem/", "gid://shopify/Location/",
  "gid://shopify/ProductVariant/"
S.GRAPHQL = { maximum = 2000, restore = 100 } -- points: the Standard plan's budget, restored per second
S.STOCK = { 100, 25 } -- the first figure at each location of a new variant

local function add_variant(sim, sku, n, figures)
  local v = { sku = sku, variant_id = 44100000000000 + n * 100, item_id = 46200000000000 + n * 100 }
  sim.variants[#sim.variants + 1] = v
  sim.variant_by_sku[sku], sim.variant_by_item[v.item_id] = v, v
  sim.levels[v.item_id] = {}
  for i, l in ipairs(sim.locations) do sim.levels[v.item_id][l.id] = figures and figures[i] or S.STOCK[i] or 0 end
  return v
end

-- The counters tests read, zero after every reset.
local STOCK_STATS = { "stock_push_requests", "stock_lookup_requests", "stock_read_requests",
  "stock_location_requests", "stock_push_replays", "graphql_throttled",
  "shipment_requests", "status_requests", "order_reads" }

function setup_stock(sim, opts)
  sim.variants, sim.variant_by_sku, sim.variant_by_item, sim.levels = {}, {}, {}, {}
  sim.idempotent = {} -- key -> { input = canonical text, body = the first answer }
  sim.ship, sim.fo_by_id, sim.fulfillment_seq = {}, {}, 0 -- shipments, below
  for _, item in ipairs(common.catalog) do add_variant(sim, item.sku, item.variant_no) end
  for i = 1, tonumber(opts.stock_skus) or 0 do add_variant(sim, string.format("STK-%05d", i), #common.catalog + i) end
  local g = opts.graphql or {}
  sim.gql = { maximum = g.maximum or S.GRAPHQL.maximum, restore = g.restore or S.GRAPHQL.restore, force = 0 }
  sim.gql.available, sim.gql.at = sim.gql.maximum, nil
  -- the counters survive /_sim/reset-stats; orders placed now lower the stock
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    for _, k in ipairs(STOCK_STATS) do self.stats[k] = 0 end
  end
  sim:reset_stats()
  sim.add_orders = function(self, n, at)
    local ids = common.Sim.add_orders(self, n, at)
    local primary = self.locations[1].id
    for _, id in ipairs(ids) do
      for _, li in ipairs(self:order(id).line_items) do
        local v = self.variant_by_sku[li.sku]
        if v then self.levels[v.item_id][primary] = self.levels[v.item_id][primary] - li.quantity end
      end
    end
    return ids
  end
end

local function gid_number(gid, prefix)
  if type(gid) ~= "string" or gid:sub(1, #prefix) ~= prefix then return nil end
  return math.tointeger(tonumber(gid:sub(#prefix + 1)))
end

local function location_by(sim, v)
  for _, l in ipairs(sim.locations) do
    if v == nil or tostring(v) == tostring(l.id) or v == l.name or v == LOCATION_GID .. l.id then return l end
  end
  return nil
end

-- Points: the budget refills `restore` a second up to `maximum`; a query asking for more than
-- is left is refused whole (THROTTLED, HTTP 200).
local function cost_ext(sim, requested, actual)
  local g = sim.gql
  return { cost = { requestedQueryCost = requested, actualQueryCost = actual or null,
    throttleStatus = { maximumAvailable = g.maximum, currentlyAvailable = math.floor(g.available),
                       restoreRate = g.restore } } }
end

local function spend(sim, requested)
  local g, now = sim.gql, sim.clock()
  if g.at then g.available = math.min(g.maximum, g.available + (now - g.at) * g.restore) end
  g.at = now
  if g.force > 0 or requested > g.available then
    g.force = math.max(0, g.force - 1)
    sim.stats.graphql_throttled = sim.stats.graphql_throttled + 1
    return false
  end
  g.available = g.available - requested
  return true
end

local function gql_answer(sim, data, requested, actual)
  return common.response(200, common.encode({ data = data, extensions = cost_ext(sim, requested, actual) }, true))
end

local function gql_error(message, code)
  return common.response(200, { errors = { { message = message,
    extensions = code and { code = code } or nil, locations = common.EMPTY } } })
end

-- sku:"A" OR sku:B … -> list of SKUs | nil (a term that is not a sku: filter)
local function parse_sku_query(q)
  local out, pos = {}, 1
  q = q or ""
  for _ = 1, 100000 do -- bounded by the query's length
    pos = q:find("%S", pos)
    if not pos then break end
    if q:sub(pos, pos + 2) == "OR " then pos = pos + 3
    else
      if q:sub(pos, pos + 3) ~= "sku:" then return nil end
      pos = pos + 4
      if q:sub(pos, pos) == '"' then
        local buf, i = {}, pos + 1
        while i <= #q and q:sub(i, i) ~= '"' do
          local c = q:sub(i, i)
          if c == "\\" then i = i + 1; c = q:sub(i, i) end
          buf[#buf + 1] = c
          i = i + 1
        end
        if i > #q then return nil end
        out[#out + 1], pos = table.concat(buf), i + 1
      else
        local s, e = q:find("^%S+", pos)
        out[#out + 1], pos = q:sub(s, e), e + 1
      end
    end
  end
  return out
end

local function gql_locations(sim, query)
  sim.stats.stock_location_requests = sim.stats.stock_location_requests + 1
  if not spend(sim, 4) then return nil, 4 end
  local nodes = {}
  for i, l in ipairs(sim.locations) do nodes[i] = { id = LOCATION_GID .. l.id, name = l.name } end
  local data = { locations = { nodes = nodes } }
  if query:find("location%s*{") then data.location = nodes[1] end
  return gql_answer(sim, data, 4, 3)
end

local function gql_variants(sim, vars)
  sim.stats.stock_lookup_requests = sim.stats.stock_lookup_requests + 1
  local first = math.tointeger(tonumber(vars.first)) or 250
  if first < 1 or first > 250 then return gql_error("The first argument must be between 1 and 250") end
  local requested = 2 + 2 * first
  if not spend(sim, requested) then return nil, requested end
  local skus = parse_sku_query(vars.query)
  if not skus then return gql_error("sim: only sku:… OR sku:… queries are served") end
  local want = {}
  for _, s in ipairs(skus) do want[s:lower()] = true end -- Shopify's search ignores case
  local matched = {}
  for _, v in ipairs(sim.variants) do
    if want[v.sku:lower()] then matched[#matched + 1] = v end
  end
  local from = math.tointeger(tonumber(common.unb64url(vars.after or "") or "")) or 0
  local nodes = {}
  for i = from + 1, math.min(#matched, from + first) do
    local v = matched[i]
    nodes[#nodes + 1] = { id = VARIANT_GID .. v.variant_id, sku = v.sku,
      inventoryItem = { id = ITEM_GID .. v.item_id } }
  end
  local last = from + #nodes
  local data = { productVariants = { nodes = common.list(nodes), pageInfo = { hasNextPage = last < #matched,
    endCursor = #nodes > 0 and common.b64url(tostring(last)) or null } } }
  return gql_answer(sim, data, requested, 2 + 2 * #nodes)
end

local function gql_levels(sim, vars)
  sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1
  local ids = type(vars.ids) == "table" and vars.ids or {}
  if #ids > 250 then return gql_error("The ids argument takes at most 250 ids") end
  local requested = 1 + 3 * #ids
  if not spend(sim, requested) then return nil, requested end
  local loc = location_by(sim, gid_number(vars.locationId, LOCATION_GID) or -1)
  local nodes = {}
  for i, gid in ipairs(ids) do
    local v = sim.variant_by_item[gid_number(gid, ITEM_GID) or -1]
    if v then
      local level = loc and { quantities = { { name = "available", quantity = sim.levels[v.item_id][loc.id] } } } or null
      nodes[i] = { id = gid, inventoryLevel = level }
    else
      nodes[i] = null
    end
  end
  return gql_answer(sim, { nodes = common.list(nodes) }, requested, requested)
end

local NAMES = { available = true, on_hand = true }
local REASONS = { correction = true, cycle_count_available = true, damaged = true, movement_created = true,
  movement_received = true, movement_updated = true, other = true, promotion = true, received = true,
  restock = true, safety_stock = true, shrinkage = true }

-- The user errors of one inventorySetQuantities input (nothing applied when there are any).
local function set_errors(sim, input)
  local errs = {}
  local function err(field, code, message) errs[#errs + 1] = { field = field, code = code, message = message } end
  if not NAMES[input.name] then err({ "input", "name" }, "INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.") end
  if not REASONS[input.reason] then err({ "input", "reason" }, "INVALID_REASON", "The specified reason is invalid.") end
  local seen = {}
  for i, q in ipairs(input.quantities) do
    local at = function(f) return { "input", "quantities", tostring(i - 1), f } end
    local v = sim.variant_by_item[gid_number(q.inventoryItemId, ITEM_GID) or -1]
    local loc = location_by(sim, gid_number(q.locationId, LOCATION_GID) or -1)
    local qty = math.tointeger(q.quantity)
    if not v then err(at("inventoryItemId"), "INVALID_INVENTORY_ITEM", "The specified inventory item could not be found.")
    elseif not loc then err(at("locationId"), "INVALID_LOCATION", "The specified location could not be found.")
    elseif not qty or qty < 0 then err(at("quantity"), "INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.")
    elseif seen[v.item_id .. ":" .. loc.id] then
      err(at("inventoryItemId"), "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
        "The combination of inventoryItemId and locationId must be unique.")
    else
      seen[v.item_id .. ":" .. loc.id] = true
      local from = q.changeFromQuantity
      if from ~= null and math.tointeger(from) ~= sim.levels[v.item_id][loc.id] then
        err(at("changeFromQuantity"), "CHANGE_FROM_QUANTITY_STALE",
          "The changeFromQuantity value does not match persisted value.")
      end
    end
  end
  return errs
end

local function gql_set(sim, query, vars)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local input = type(vars.input) == "table" and vars.input or nil
  local qs = input and type(input.quantities) == "table" and input.quantities or nil
  if not qs then return gql_error("Variable $input of type InventorySetQuantitiesInput! was provided invalid value") end
  if #qs > 250 then return gql_error("The input quantities exceed the maximum of 250.", "MAX_INPUT_SIZE_EXCEEDED") end
  for i, q in ipairs(qs) do
    if type(q) ~= "table" or q.changeFromQuantity == nil then
      return gql_error("Variable $input of type InventorySetQuantitiesInput! was provided invalid value for quantities."
        .. (i - 1) .. ".changeFromQuantity (Expected value to not be null)", "INVALID_VARIABLE")
    end
  end
  local name = query:match("@idempotent%s*%(%s*key%s*:%s*%$([%w_]+)%s*%)")
  local key = name and vars[name] or query:match('@idempotent%s*%(%s*key%s*:%s*"([^"]*)"%s*%)')
  if type(key) ~= "string" or key == "" then
    return gql_error("The @idempotent directive is required for this mutation.", "BAD_REQUEST")
  end
  if not spend(sim, 10) then return nil, 10 end
  local canon = common.canonical(input)
  local prior = sim.idempotent[key]
  if prior and prior.input == canon then
    sim.stats.stock_push_replays = sim.stats.stock_push_replays + 1
    return common.response(200, prior.body)
  end
  local errs
  if prior then
    errs = { { field = common.EMPTY, code = "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
      message = "The same idempotency key cannot be used with different operation parameters." } }
  else
    errs = set_errors(sim, input)
  end
  local group = null
  if #errs == 0 then
    for _, q in ipairs(qs) do
      local item, loc = gid_number(q.inventoryItemId, ITEM_GID), gid_number(q.locationId, LOCATION_GID)
      sim.levels[item][loc] = math.tointeger(q.quantity)
    end
    group = { createdAt = common.iso_utc(sim:now()), reason = input.reason }
  end
  local body = common.encode({ data = { inventorySetQuantities = { inventoryAdjustmentGroup = group,
    userErrors = common.list(errs) } }, extensions = cost_ext(sim, 10, 10) }, true)
  if not prior then sim.idempotent[key] = { input = canon, body = body } end
  return common.response(200, body)
end

local gql_fulfill, gql_cancel, gql_order -- the shipments section, below

-- Webhooks: webhookSubscriptionCreate(topic, webhookSubscription { callbackUrl, format }) registers
-- a hook; a new order goes to ORDERS_CREATE hooks as the REST order JSON, signed with the app's
-- client secret (the sim's webhook secret, else its app's client_secret, else S.WEBHOOK_SECRET).
S.WEBHOOK_SECRET = "shpss_sim_webhook_secret"
local WEBHOOK_TOPICS = { ORDERS_CREATE = "orders/create", ORDERS_UPDATED = "orders/updated",
  ORDERS_CANCELLED = "orders/cancelled" }

local function gql_webhook(sim, vars)
  local sub = type(vars.sub) == "table" and vars.sub or type(vars.webhookSubscription) == "table"
    and vars.webhookSubscription or {}
  local topic = WEBHOOK_TOPICS[vars.topic]
  local errs = {}
  if not topic then errs[1] = { field = { "topic" }, message = "Topic is not supported" } end
  if type(sub.callbackUrl) ~= "string" or not sub.callbackUrl:match("^https?://") then
    errs[#errs + 1] = { field = { "webhookSubscription", "callbackUrl" }, message = "Address is invalid" }
  end
  local made = null
  if #errs == 0 then
    local h = sim:add_hook{ url = sub.callbackUrl, topic = topic }
    made = { id = "gid://shopify/WebhookSubscription/" .. h.id, topic = vars.topic }
  end
  return common.response(200, { data = { webhookSubscriptionCreate = { webhookSubscription = made,
    userErrors = common.list(errs) } }, extensions = cost_ext(sim, 10, 10) })
end

function S.webhook_delivery(sim, hook, rec)
  if hook.topic ~= "orders/create" then return nil end
  local secret = sim.webhook_secret or (sim.app and sim.app.client_secret) or S.WEBHOOK_SECRET
  return { body = rec.json, headers = { ["X-Shopify-Topic"] = hook.topic,
    ["X-Shopify-Hmac-Sha256"] = common.sign(secret, rec.json), ["X-Shopify-Shop-Domain"] = "sim.myshopify.com",
    ["X-Shopify-API-Version"] = "2026-10", ["X-Shopify-Webhook-Id"] = sim.rng:uuid(),
    ["X-Shopify-Triggered-At"] = common.iso_utc(sim:now()) } }
end

-- POST /admin/api/{version}/graphql.json { query, variables }: the operations the connector
-- sends, told apart by their root field.
local function graphql(sim, req)
  if req.method ~= "POST" then return common.response(404, { errors = "Not Found" }) end
  local body = common.decode(req.body or "")
  if type(body) ~= "table" or type(body.query) ~= "string" then
    return common.response(400, { errors = { query = "Required parameter missing or invalid" } })
  end
  local q, vars = body.query, type(body.variables) == "table" and body.variables or {}
  local resp, requested
  if q:find("webhookSubscriptionCreate", 1, true) then return gql_webhook(sim, vars) end
  if q:find("fulfillmentCreate", 1, true) then resp, requested = gql_fulfill(sim, q, vars)
  elseif q:find("orderCancel", 1, true) then resp, requested = gql_cancel(sim, q, vars)
  elseif q:find("order%s*%(") then resp, requested = gql_order(sim, q, vars)
  elseif q:find("inventorySetQuantities", 1, true) then resp, requested = gql_set(sim, q, vars)
  elseif q:find("productVariants", 1, true) then resp, requested = gql_variants(sim, vars)
  elseif q:find("inventoryLevel", 1, true) then resp, requested = gql_levels(sim, vars)
  elseif q:find("locations", 1, true) then resp, requested = gql_locations(sim, q)
  else return gql_error("sim: this operation is not served") end
  if resp then return resp end
  return common.response(200, { errors = { { message = "Throttled", extensions = { code = "THROTTLED",
    documentation = "https://shopify.dev/api/usage/rate-limits" } } }, extensions = cost_ext(sim, requested) })
end

-- GET /_sim/stock -> { locations = [{ id, name, primary }], stock = { SKU = { [location id] = N } } }
-- POST { sku, location? (id, GID or name; default primary), quantity, create? } or { items = […] }
-- POST /_sim/graphql { maximum, restore, throttle = N (the next N queries answer THROTTLED) }
local function stock_control(sim, req, body)
  if req.path == "/_sim/graphql" and req.method == "POST" then
    local g = sim.gql
    g.maximum, g.restore = tonumber(body.maximum) or g.maximum, tonumber(body.restore) or g.restore
    g.available = math.min(g.available, g.maximum)
    g.force = tonumber(body.throttle) or g.force
    return common.response(200, { maximum = g.maximum, restore = g.restore, throttle = g.force })
  end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "POST" then
    for _, s in ipairs(type(body.items) == "table" and body.items or { body }) do
      local v, loc, qty = sim.variant_by_sku[s.sku], location_by(sim, s.location), math.tointeger(s.quantity)
      if not v and s.create and type(s.sku) == "string" then v = add_variant(sim, s.sku, #sim.variants + 1, {}) end
      if not v then return common.response(404, { error = "no variant with sku " .. tostring(s.sku) }) end
      if not loc or not qty then return common.response(400, { error = "needs a known location and a whole quantity" }) end
      sim.levels[v.item_id][loc.id] = qty
    end
  elseif req.method ~= "GET" then
    return nil
  end
  local locs, stock = {}, {}
  for i, l in ipairs(sim.locations) do locs[i] = { id = tostring(l.id), name = l.name, primary = i == 1 } end
  for _, v in ipairs(sim.variants) do
    local t = {}
    for _, l in ipairs(sim.locations) do t[tostring(l.id)] = sim.levels[v.item_id][l.id] end
    stock[v.sku] = t
  end
  return common.response(200, { locations = locs, stock = stock })
end

---------------------------------------------------------------------------------------------
-- Shipments (GraphQL): one fulfillment order per order at the primary location (its lines'
-- remainingQuantity from the order's fulfillable quantities), fulfillmentCreate (without
-- @idempotent, which Shopify documents for inventory and refund mutations only: refused here),
-- the order's fulfillments (also in the REST document),
-- orderCancel, and order(id:) with cancelledAt, closedAt and displayFulfillmentStatus.
-- GET /_sim/shipments/{order id} lists what the shop holds for an order (with notifyCustomer).
---------------------------------------------------------------------------------------------

local ORDER_GID, FO_GID, FO_LINE_GID, LINE_GID, FULFILLMENT_GID = "gid://shopify/Order/",
  "gid://shopify/FulfillmentOrder/", "gid://shopify/FulfillmentOrderLineItem/", "gid://shopify/LineItem/",
  "gid://shopify/Fulfillment/"

local function arr(v) return type(v) == "table" and v or {} end -- EMPTY (a decoded []) as {}

local function idempotency_key(query, vars)
  local name = query:match("@idempotent%s*%(%s*key%s*:%s*%$([%w_]+)%s*%)")
  local key = name and vars[name] or query:match('@idempotent%s*%(%s*key%s*:%s*"([^"]*)"%s*%)')
  return type(key) == "string" and key ~= "" and key or nil
end

-- The value of argument `name`: its variable, else a literal written in the document.
local function arg(query, vars, name)
  local var = query:match("[^%w_]" .. name .. "%s*:%s*%$([%w_]+)")
  if var then return vars[var] end
  local lit = query:match("[^%w_]" .. name .. "%s*:%s*\"([^\"]*)\"") or query:match("[^%w_]" .. name .. "%s*:%s*([%w_]+)")
  if lit == "true" then return true elseif lit == "false" then return false end
  return lit
end

-- The order's shipping record, its fulfillment order made on first use from the document.
local function ship_record(sim, rec)
  local r = sim.ship[rec.id]
  if r then return r end
  local doc = sim:doc(rec)
  local fo = { id = 6400000000000 + rec.n, lines = {}, location_id = sim.locations[1].id }
  local left = 0
  for i, li in ipairs(doc.line_items) do
    local remaining = math.tointeger(li.fulfillable_quantity) or 0
    fo.lines[i] = { id = 7300000000000 + rec.n * 1000 + i, line_item_id = li.id, sku = li.sku,
                    quantity = li.quantity, remaining = remaining }
    left = left + remaining
  end
  fo.status = (doc.cancelled_at ~= null or left == 0) and "CLOSED" or "OPEN"
  r = { order_id = rec.id, fo = fo, fulfillments = {}, cancels = {} }
  sim.ship[rec.id], sim.fo_by_id[fo.id] = r, r
  return r
end

local FULFILLMENT_STATUS = { partial = "PARTIALLY_FULFILLED", fulfilled = "FULFILLED" }

local function fo_node(fo)
  local lines = {}
  for i, l in ipairs(fo.lines) do
    lines[i] = { id = FO_LINE_GID .. l.id, remainingQuantity = l.remaining, totalQuantity = l.quantity,
                 lineItem = { id = LINE_GID .. l.line_item_id, sku = l.sku } }
  end
  return { id = FO_GID .. fo.id, status = fo.status, assignedLocation = { location = { id = LOCATION_GID .. fo.location_id } },
           lineItems = { nodes = common.list(lines) } }
end

-- A REST fulfillment as GraphQL shows it.
local function fulfillment_node(f)
  local info = {}
  local numbers = type(f.tracking_numbers) == "table" and f.tracking_numbers or { f.tracking_number }
  local urls = arr(f.tracking_urls)
  for i, n in ipairs(numbers) do
    if n ~= null then info[i] = { company = f.tracking_company, number = n, url = urls[i] or null } end
  end
  return { id = f.admin_graphql_api_id, status = tostring(f.status):upper(), trackingInfo = common.list(info),
           createdAt = f.created_at }
end

function gql_order(sim, query, vars)
  sim.stats.order_reads = sim.stats.order_reads + 1
  if not spend(sim, 5) then return nil, 5 end
  local rec = sim.by_id[gid_number(vars.id or arg(query, vars, "id"), ORDER_GID)]
  if not rec then return gql_answer(sim, { order = null }, 5, 1) end
  local doc, r = sim:doc(rec), ship_record(sim, rec)
  local fulfillments = {}
  for i, f in ipairs(arr(doc.fulfillments)) do fulfillments[i] = fulfillment_node(f) end
  local order = { id = ORDER_GID .. rec.id, name = doc.name, cancelledAt = doc.cancelled_at, closedAt = doc.closed_at,
    displayFulfillmentStatus = FULFILLMENT_STATUS[doc.fulfillment_status] or "UNFULFILLED",
    fulfillmentOrders = { nodes = { fo_node(r.fo) } }, fulfillments = common.list(fulfillments) }
  return gql_answer(sim, { order = order }, 5, 5)
end

-- What the input asks to fulfil, checked: { [fo line] = quantity }, the record | nil, errors.
local function fulfil_plan(sim, input)
  local groups = type(input.lineItemsByFulfillmentOrder) == "table" and input.lineItemsByFulfillmentOrder or {}
  if #groups == 0 then
    return nil, { { field = { "fulfillment", "lineItemsByFulfillmentOrder" }, message = "Line items by fulfillment order can't be blank" } }
  end
  local plan, r = {}, nil
  for gi, g in ipairs(groups) do
    local field = { "fulfillment", "lineItemsByFulfillmentOrder", tostring(gi - 1) }
    local fr = sim.fo_by_id[gid_number(g.fulfillmentOrderId, FO_GID)]
    if not fr then return nil, { { field = field, message = "Fulfillment order does not exist." } } end
    if r and fr ~= r then return nil, { { field = field, message = "All fulfillment orders must belong to the same order." } } end
    r = fr
    if fr.fo.status ~= "OPEN" and fr.fo.status ~= "IN_PROGRESS" then
      return nil, { { field = field, message = "Fulfillment order " .. g.fulfillmentOrderId .. " has an unfulfillable status= " .. fr.fo.status:lower() .. "." } }
    end
    local items = g.fulfillmentOrderLineItems
    if items == nil or items == null then -- the whole fulfillment order
      for _, l in ipairs(fr.fo.lines) do if l.remaining > 0 then plan[l] = (plan[l] or 0) + l.remaining end end
    else
      for _, it in ipairs(items) do
        local id, qty, line = gid_number(it.id, FO_LINE_GID), math.tointeger(it.quantity), nil
        for _, l in ipairs(fr.fo.lines) do if l.id == id then line = l end end
        if not line then return nil, { { field = field, message = "Invalid fulfillment order line item id: " .. tostring(it.id) } } end
        if not qty or qty < 1 then return nil, { { field = field, message = "Quantity must be greater than 0" } } end
        plan[line] = (plan[line] or 0) + qty
      end
    end
  end
  for line, qty in pairs(plan) do
    if qty > line.remaining then
      return nil, { { field = { "fulfillment" }, message = string.format(
        "Invalid quantity: %d of line item %s requested, %d remaining to fulfill.", qty, LINE_GID .. line.line_item_id, line.remaining) } }
    end
  end
  return plan, r
end

-- Applies a plan: the fulfillment order's remaining quantities and status, the order document's
-- fulfillments, fulfillable quantities and fulfillment_status. Returns the REST fulfillment.
local function fulfil(sim, r, plan, input)
  sim.fulfillment_seq = sim.fulfillment_seq + 1
  local fid, now = 4950000000000 + sim.fulfillment_seq, sim:now()
  local doc = sim:order(r.order_id)
  local left, shipped, lines = 0, {}, {}
  for _, l in ipairs(r.fo.lines) do
    local q = plan[l]
    if q then
      l.remaining = l.remaining - q
      shipped[l.line_item_id] = q
    end
    left = left + l.remaining
  end
  r.fo.status = left == 0 and "CLOSED" or "IN_PROGRESS"
  for _, li in ipairs(doc.line_items) do
    local q = shipped[li.id]
    if q then
      li.fulfillable_quantity = li.fulfillable_quantity - q
      li.fulfillment_status = li.fulfillable_quantity == 0 and "fulfilled" or "partial"
      lines[#lines + 1] = { id = li.id, sku = li.sku, quantity = q }
    end
  end
  local t = type(input.trackingInfo) == "table" and input.trackingInfo or {}
  local number = t.number or (type(t.numbers) == "table" and t.numbers[1]) or null
  local url = t.url or (type(t.urls) == "table" and t.urls[1]) or null
  local f = { id = fid, admin_graphql_api_id = FULFILLMENT_GID .. fid, order_id = r.order_id,
    name = doc.name .. "." .. (#arr(doc.fulfillments) + 1), status = "success", service = "manual",
    location_id = r.fo.location_id, shipment_status = null,
    created_at = common.iso(now, sim.tz), updated_at = common.iso(now, sim.tz),
    tracking_company = t.company or null, tracking_number = number,
    tracking_numbers = number ~= null and { number } or EMPTY, tracking_url = url,
    tracking_urls = url ~= null and { url } or EMPTY, origin_address = {}, receipt = {}, line_items = lines }
  local fulfillments = arr(doc.fulfillments)
  fulfillments[#fulfillments + 1] = f
  sim:change_order(r.order_id, { fields = { line_items = doc.line_items, fulfillments = fulfillments,
    fulfillment_status = left == 0 and "fulfilled" or "partial" } })
  r.fulfillments[#r.fulfillments + 1] = { id = fid, tracking_company = f.tracking_company, tracking_number = number,
    tracking_url = url, notify_customer = input.notifyCustomer == true, line_items = lines }
  return f
end

function gql_fulfill(sim, query, vars)
  sim.stats.shipment_requests = sim.stats.shipment_requests + 1
  if query:find("fulfillmentCreateV2", 1, true) then
    return gql_error("sim: fulfillmentCreateV2 is deprecated; use fulfillmentCreate")
  end
  local input = arg(query, vars, "fulfillment")
  if type(input) ~= "table" then return gql_error("Variable $fulfillment of type FulfillmentInput! was provided invalid value", "INVALID_VARIABLE") end
  -- Shopify documents @idempotent for inventory and refund mutations, not this one: a client
  -- that sends it here is refused (the sim's choice: what the shop does with it is unconfirmed)
  if idempotency_key(query, vars) then
    return gql_error("sim: @idempotent is not documented for fulfillmentCreate; a retry must look first (find)",
      "BAD_REQUEST")
  end
  if not spend(sim, 10) then return nil, 10 end
  local errs, f = nil, null
  local plan, r = fulfil_plan(sim, input)
  if plan then
    f = fulfillment_node(fulfil(sim, r, plan, input))
  else
    errs = r
  end
  local body = common.encode({ data = { fulfillmentCreate = { fulfillment = f, userErrors = common.list(errs or {}) } },
    extensions = cost_ext(sim, 10, 10) }, true)
  return common.response(200, body)
end

local CANCEL_REASONS = { CUSTOMER = true, DECLINED = true, FRAUD = true, INVENTORY = true, OTHER = true, STAFF = true }

function gql_cancel(sim, query, vars)
  sim.stats.status_requests = sim.stats.status_requests + 1
  local reason, restock = arg(query, vars, "reason"), arg(query, vars, "restock")
  if not CANCEL_REASONS[reason] or type(restock) ~= "boolean" then
    return gql_error("orderCancel: reason (OrderCancelReason!) and restock (Boolean!) are required", "INVALID_VARIABLE")
  end
  if not spend(sim, 10) then return nil, 10 end
  local rec = sim.by_id[gid_number(arg(query, vars, "orderId"), ORDER_GID)]
  local errs = {}
  if not rec then
    errs[1] = { field = { "orderId" }, code = "NOT_FOUND", message = "Order does not exist" }
  elseif sim:doc(rec).cancelled_at ~= null then
    errs[1] = { field = { "orderId" }, code = "INVALID", message = "Cannot cancel an order that has already been canceled" }
  end
  local job = null
  if #errs == 0 then
    local r = ship_record(sim, rec)
    sim:change_order(rec.id, { status = "cancelled", fields = { cancel_reason = reason:lower() } })
    r.fo.status = "CLOSED"
    local notify = arg(query, vars, "notifyCustomer")
    r.cancels[#r.cancels + 1] = { reason = reason, restock = restock, notify_customer = notify == true,
      staff_note = arg(query, vars, "staffNote") or null }
    job = { id = "gid://shopify/Job/" .. sim.token_rng:hex(16), done = false }
  end
  return gql_answer(sim, { orderCancel = { job = job, orderCancelUserErrors = common.list(errs),
    userErrors = common.list(errs) } }, 10, 10)
end

-- GET /_sim/shipments/{order id} -> { order_id, fulfillment_order = { id, status, lines },
-- fulfillments = [{ id, tracking_*, notify_customer, line_items }], cancels, cancelled_at,
-- fulfillment_status }
local function shipments_control(sim, req)
  local id = req.path:match("^/_sim/shipments/(%d+)$")
  if not id or req.method ~= "GET" then return nil end
  local rec = sim.by_id[tonumber(id)]
  if not rec then return common.response(404, { error = "no such order" }) end
  local r, doc = ship_record(sim, rec), sim:doc(rec)
  local lines = {}
  for i, l in ipairs(r.fo.lines) do
    lines[i] = { id = l.id, line_item_id = l.line_item_id, sku = l.sku, quantity = l.quantity, remaining = l.remaining }
  end
  return common.response(200, { order_id = rec.id,
    fulfillment_order = { id = r.fo.id, status = r.fo.status, lines = common.list(lines) },
    fulfillments = common.list(r.fulfillments), cancels = common.list(r.cancels),
    cancelled_at = doc.cancelled_at, fulfillment_status = doc.fulfillment_status })
end

-- An "accepted then failed" fault ({ after_apply = true, status | delay, op = a root field the
-- query must name, on = "any" }): the operation is applied, then the answer is an error or late.
local function graphql_faults(sim, req)
  local f = sim.faults[1]
  if not (f and f.after_apply and f.on == "any") then
    return sim:apply_any_fault(function() return graphql(sim, req) end)
  end
  if f.op and not tostring(req.body):find(tostring(f.op), 1, true) then return graphql(sim, req) end
  f = sim:forced_fault(false)
  local resp = graphql(sim, req)
  if f.status then return S.fault_response(sim, tonumber(f.status), f) end
  if f.delay then task.sleep(tonumber(f.delay)) end
  return resp
end

---------------------------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------------------------

function S.fault_response(sim, status, fault)
  if status == 429 then
    local cap = sim.rate and sim.rate.capacity or 40
    return common.response(429,
      { errors = THROTTLE_MSG:format(string.format("%g", sim.rate and sim.rate.per_second or 2)) },
      { ["Retry-After"] = tostring(fault and fault.retry_after or "2.0"),
        ["X-Shopify-Shop-Api-Call-Limit"] = cap .. "/" .. cap })
  end
  local text = { [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
    [504] = "Gateway Timeout" }
  return common.response(status, { errors = text[status] or "Error" })
end

local function route(sim, req, version, rest)
  if rest == "graphql.json" then return graphql_faults(sim, req) end
  if req.method ~= "GET" then return common.response(404, { errors = "Not Found" }) end
  if rest == "orders.json" then return list_orders(sim, req, version) end
  return sim:apply_any_fault(function()
    if rest == "orders/count.json" then return count_orders(sim, req) end
    local id = rest:match("^orders/(%d+)%.json$")
    if id then return one_order(sim, req, id) end
    if rest == "shop.json" then return shop(sim) end
    if rest == "locations.json" then return locations(sim) end
    return common.response(404, { errors = "Not Found" })
  end)
end

-- The version a request is served as: a supported one (or unstable) as asked, any other as
-- the oldest supported one.
local function served_version(sim, asked)
  if asked == "unstable" then return asked end
  for _, v in ipairs(sim.api_versions) do
    if v == asked then return asked end
  end
  return sim.api_versions[1]
end

-- POST /admin/oauth/access_token: grant_type=client_credentials, client_id, client_secret as a
-- form (or JSON) -> { access_token, scope, expires_in }.
local function grant(sim, req)
  local ctype = (req.headers["content-type"] or ""):lower()
  local p = ctype:find("json", 1, true) and common.decode(req.body or "") or common.parse_query(req.body or "")
  p = type(p) == "table" and p or {}
  local app = sim.app
  if p.grant_type ~= "client_credentials" then
    sim.grants.refused = sim.grants.refused + 1
    return common.response(400, { error = "unsupported_grant_type",
      error_description = "The authorization grant type is not supported by the authorization server." })
  end
  if not app or p.client_id ~= app.client_id or p.client_secret ~= app.client_secret then
    sim.grants.refused = sim.grants.refused + 1
    return common.response(400, { error = "invalid_client", error_description = GRANT_MSG })
  end
  local tok = "shpat_" .. sim.token_rng:hex(32)
  sim.issued[tok] = sim.clock() + app.ttl
  sim.grants.issued = sim.grants.issued + 1
  sim.grants.tokens[#sim.grants.tokens + 1] = tok
  return common.response(200, { access_token = tok, scope = "read_orders,read_locations", expires_in = app.announced })
end

-- nil when the request's token is good, else the 401 to answer.
local function refuse(sim, req)
  local tok = req.headers["x-shopify-access-token"]
  if tok and tok == sim.token then return nil end
  local expires = tok and sim.issued[tok]
  if expires and sim.clock() < expires then return nil end
  if expires then sim.grants.expired = sim.grants.expired + 1 end
  return common.response(401, { errors = AUTH_MSG })
end

function S.handle(sim, req)
  if req.path == "/admin/oauth/access_token" and req.method == "POST" then return grant(sim, req) end
  local asked, rest = req.path:match("^/admin/api/(%d%d%d%d%-%d%d)/(.+)$")
  if not asked then asked, rest = req.path:match("^/admin/api/(unstable)/(.+)$") end
  if not asked then return common.response(404, { errors = "Not Found" }) end
  local denied = refuse(sim, req)
  if denied then return denied end
  local version = served_version(sim, asked)
  sim.request_seq = sim.request_seq + 1
  local headers = { ["X-Shopify-API-Version"] = version,
    ["X-Request-Id"] = string.format("sim-%08x", sim.request_seq) }
  if rest == "orders.json" then sim.stats.order_list_requests = sim.stats.order_list_requests + 1 end
  local resp
  if sim.bucket and rest ~= "graphql.json" then -- GraphQL has its points budget instead
    local ok, used = sim.bucket:take(sim.clock())
    headers["X-Shopify-Shop-Api-Call-Limit"] = used .. "/" .. sim.rate.capacity
    if not ok then resp = S.fault_response(sim, 429) end
  end
  resp = resp or route(sim, req, asked, rest)
  for k, v in pairs(headers) do
    if resp.headers[k] == nil then resp.headers[k] = v end
  end
  return resp
end

-- /_sim/rate: POST { capacity, per_second } replaces the leaky bucket, { off = true } drops it.
-- /_sim/app: GET -> the grant's counts and the tokens it issued (tests look for them where
-- they must not be); POST { client_id, client_secret, token_ttl, expires_in } sets the app,
-- { expire = true } makes every token issued so far expire now.
function S.control(sim, req, body)
  local stock = stock_control(sim, req, body) or shipments_control(sim, req)
  if stock then return stock end
  if req.path == "/_sim/rate" and req.method == "POST" then
    -- { capacity, per_second } a new leaky bucket, { off = true } none
    sim.rate, sim.bucket = nil, nil
    if not body.off then
      sim.rate = { capacity = tonumber(body.capacity) or 40, per_second = tonumber(body.per_second) or 2 }
      sim.bucket = common.leaky_bucket(sim.rate.capacity, sim.rate.per_second)
    end
    return common.response(200, { rate = sim.rate or common.null })
  end
  if req.path ~= "/_sim/app" then return nil end
  if req.method == "POST" then
    set_app(sim, body)
    if body.expire then
      local now = sim.clock()
      for tok in pairs(sim.issued) do sim.issued[tok] = now end
    end
  elseif req.method ~= "GET" then
    return nil
  end
  return common.response(200, { issued = sim.grants.issued, refused = sim.grants.refused,
    expired = sim.grants.expired, tokens = common.list(sim.grants.tokens),
    ttl = sim.app and sim.app.ttl or common.null })
end

---------------------------------------------------------------------------------------------

-- require("sim.shopify").start{ port = 0, orders = 100, seed = 1, token = "shpat_test", ... }
function S.start(opts)
  return common.start(S, opts)
end

return S
