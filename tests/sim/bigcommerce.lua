-- tests/sim/bigcommerce.lua: a BigCommerce Orders V2 and Inventory V3 simulator.
-- Speaks /stores/{hash}/v2/…: X-Auth-Token auth, bare-array lists with page/limit and
-- 204 No Content for an empty page, RFC 2822 dates, 4-decimal money, products /
-- shipping_addresses / coupons as link resources, consignments on the order list
-- (include=consignments.line_items; the object form with consignment_structure=object, else the
-- legacy array form; at most 50 line items each, then "__warning__"), and the per-store 150
-- calls / 30 s quota with its X-Rate-Limit-* headers. And /stores/{hash}/v3/…: stock per variant
-- and location (catalog/variants, inventory/locations, inventory/items, inventory/adjustments/
-- absolute; see "Stock" below) that orders placed lower, and /_sim/stock to see and set it;
-- shipments per order and status changes (see "Shipments and status"), /_sim/shipments/{id}.
-- Uses sim.common for everything cart-neutral.

local common = require "sim.common"

local EMPTY, null = common.EMPTY, common.null

local B = { name = "bigcommerce" }

local function money4(cents) return common.money(cents, 4) end

-- ids and names from the V2 order status table (GET /v2/order_statuses)
local STATUS = { [0] = "Incomplete", "Pending", "Shipped", "Partially Shipped", "Refunded",
  "Cancelled", "Declined", "Awaiting Payment", "Awaiting Pickup", "Awaiting Shipment",
  "Completed", "Awaiting Fulfillment", "Manual Verification Required", "Disputed",
  "Partially Refunded" }
local STATUS_DESCRIPTION = {
  [0] = "An incomplete order happens when a shopper reached the payment page, but did not complete the transaction.",
  "Customer started the checkout process, but did not complete it.",
  "Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items action.",
  "Only some items in the order have been shipped, due to some products being pre-order only or other reasons.",
  "Seller has used the Refund action.",
  "Seller has cancelled an order, due to a stock inconsistency or other reasons.",
  "Seller has marked the order as declined for lack of manual payment, or other reasons.",
  "Customer has completed checkout process, but payment has yet to be confirmed.",
  "Order has been pulled, and is awaiting customer pickup from a seller-specified location.",
  "Order has been pulled and packaged, and is awaiting collection from a shipping provider.",
  "Client has paid for their digital product and their file(s) are available for download.",
  "Customer has completed the checkout process and payment has been confirmed.",
  "Order is on hold while some aspect needs to be manually confirmed.",
  "Customer has initiated a dispute resolution process for the PayPal transaction that paid for the order.",
  "Seller has partially refunded the order.",
}
local PAYMENT_STATUS = { [0] = "", "pending", "captured", "captured", "refunded", "void", "declined",
  "pending", "captured", "captured", "captured", "captured", "held for review", "captured",
  "partially refunded" }
-- words accepted by /_sim/orders/{id} {"status": ...}
local STATUS_WORDS = { incomplete = 0, pending = 1, shipped = 2, partially_shipped = 3,
  refunded = 4, cancelled = 5, declined = 6, awaiting_payment = 7, awaiting_pickup = 8,
  awaiting_shipment = 9, completed = 10, paid = 11, awaiting_fulfillment = 11,
  manual_verification_required = 12, disputed = 13, partially_refunded = 14 }

local setup_stock -- Stock, below
local list_shipments -- Shipments and status, below

local function errors(status, message)
  return common.response(status, { { status = status, message = message } })
end

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

-- The store's quota per 30 s window on each plan (`plan` option).
B.PLANS = { standard = { quota = 150 }, plus = { quota = 150 }, pro = { quota = 450 } }

function B.setup(sim, opts)
  sim.store_hash = opts.store_hash or opts.hash or "abc123"
  sim.token = opts.token or "bc_test"
  sim.currency = opts.currency or "USD"
  sim.customers = {}
  sim.product_seq, sim.address_seq = 0, 0
  -- long_orders = { every = N, lines = L }: every order whose sequence number is a multiple of
  -- N has L lines (more than 50 shows the consignment's "__warning__")
  sim.long_orders = opts.long_orders
  -- consignments = "object" (default: as consignment_structure asks), "array" (a store that
  -- answers in the legacy form whatever is asked) or false (include is ignored)
  sim.consignments = opts.consignments == nil and "object" or opts.consignments
  -- coupon_codes = false: a line's applied_discounts leave the coupon's code out (a store whose
  -- coupons only /coupons names)
  sim.coupon_codes = opts.coupon_codes ~= false
  local rate = opts.rate
  if rate ~= false then
    local plan = B.PLANS[opts.plan or "standard"] or error("sim.bigcommerce: unknown plan " .. tostring(opts.plan), 0)
    rate = rate or {}
    local quota = rate.quota or rate.capacity or plan.quota
    local window = rate.window or (rate.per_second and quota / rate.per_second) or 30
    sim.quota = common.fixed_window(quota, window)
  end
  sim.shipments, sim.shipment_seq = {}, 0 -- order id -> the shipments of that order
  setup_stock(sim, opts)
end

function B.base(sim) return sim.url .. "/stores/" .. sim.store_hash .. "/v2" end

---------------------------------------------------------------------------------------------
-- Order documents: the order, its products and its shipping addresses
---------------------------------------------------------------------------------------------

local SHIPPING_METHOD = { standard = "Flat Rate", express = "UPS® 2nd Day Air",
  overnight = "UPS® Next Day Air", free = "Free Shipping", pickup = "Pickup In Store",
  freight = "Freight LTL" }

-- weights of status ids: a recent window of a busy store, mostly awaiting fulfillment
local STATES = { { 64, 11 }, { 12, 9 }, { 6, 8 }, { 5, 10 }, { 4, 2 }, { 2, 7 }, { 1, 1 },
  { 2, 5 }, { 1, 4 }, { 1, 3 }, { 1, 0 }, { 0.5, 12 }, { 0.5, 14 }, { 0.5, 6 } }

local function pick_customer(sim, created)
  local rng = sim.rng
  if rng:chance(0.1) then -- a guest checkout
    return { id = 0, person = common.person(rng), address = common.address(rng), created = created }
  end
  if #sim.customers > 0 and rng:chance(0.25) then return rng:pick(sim.customers) end
  local c = { id = #sim.customers + 1, person = common.person(rng), address = common.address(rng) }
  sim.customers[#sim.customers + 1] = c
  return c
end

local function link(sim, id, what)
  return { url = B.base(sim) .. "/orders/" .. id .. "/" .. what, resource = "/orders/" .. id .. "/" .. what }
end

local function billing_doc(p, a, attrs)
  local fields = {}
  for i, kv in ipairs(attrs) do fields[i] = { name = kv.name, value = kv.value } end
  return { first_name = p.first_name, last_name = p.last_name, company = p.company or "",
    street_1 = a.address1, street_2 = a.address2, city = a.city, state = a.region,
    zip = a.zip, country = a.country, country_iso2 = a.country_code,
    phone = common.phone_digits(p.phone), email = p.email, form_fields = common.list(fields) }
end

local function option_docs(sim, item, product_id)
  if item.unknown or item.variant_title == "" then return EMPTY end
  local out = {}
  local names = { "Option", "Size" }
  local i = 0
  for label in item.variant_title:gmatch("[^/]+") do
    i = i + 1
    label = label:gsub("^%s+", ""):gsub("%s+$", "")
    local id = item.variant_no * 10 + i
    out[i] = { id = id, option_id = 90 + i, order_product_id = product_id,
      product_option_id = 200 + i, display_name = names[i] or "Option",
      display_name_customer = names[i] or "Option", display_name_merchant = names[i] or "Option",
      display_value = label, display_value_customer = label, display_value_merchant = label,
      value = tostring(id), type = "Multiple choice", name = (names[i] or "Option") .. item.product_no,
      display_style = "Rectangle" }
  end
  return out
end

local function product_doc(sim, order_id, address_id, l, shipped)
  sim.product_seq = sim.product_seq + 1
  local id, item = sim.product_seq, l.item
  local unit_tax = l.tax // l.quantity
  return {
    id = id, order_id = order_id,
    product_id = item.unknown and 0 or (100 + item.product_no),
    variant_id = item.unknown and 0 or (1000 + item.variant_no),
    order_address_id = address_id, name = item.title, name_customer = item.title,
    name_merchant = item.title, sku = item.sku, upc = "", type = "physical",
    base_price = money4(l.price), price_ex_tax = money4(l.price),
    price_inc_tax = money4(l.price + unit_tax), price_tax = money4(unit_tax),
    base_total = money4(l.price * l.quantity), total_ex_tax = money4(l.price * l.quantity),
    total_inc_tax = money4(l.price * l.quantity + l.tax), total_tax = money4(l.tax),
    weight = string.format("%.4f", item.grams / 453.6), width = "0.0000", height = "0.0000",
    depth = "0.0000", quantity = l.quantity,
    base_cost_price = "0.0000", cost_price_inc_tax = "0.0000", cost_price_ex_tax = "0.0000",
    cost_price_tax = "0.0000", is_refunded = false, quantity_refunded = 0,
    refund_amount = "0.0000", return_id = 0, wrapping_id = 0, wrapping_name = "",
    base_wrapping_cost = "0.0000", wrapping_cost_ex_tax = "0.0000",
    wrapping_cost_inc_tax = "0.0000", wrapping_cost_tax = "0.0000", wrapping_message = "",
    quantity_shipped = shipped and l.quantity or 0, event_name = null, event_date = "",
    fixed_shipping_cost = "0.0000", ebay_item_id = "", ebay_transaction_id = "",
    option_set_id = null, parent_order_product_id = null, is_bundled_product = false,
    bin_picking_number = "", external_id = null, fulfillment_source = "", brand = item.vendor,
    gift_certificate_id = null,
    applied_discounts = l.discount > 0 and { { id = "coupon", amount = money4(l.discount),
      name = "Coupon", code = sim.coupon_codes and l.coupon or nil, target = "order" } } or EMPTY,
    product_options = option_docs(sim, item, id),
    configurable_fields = EMPTY,
    discounted_total_inc_tax = money4(l.price * l.quantity - l.discount + l.tax),
  }
end

local function shipping_address_doc(sim, order_id, p, a, kind, cents, items_total, shipped)
  sim.address_seq = sim.address_seq + 1
  local id = sim.address_seq
  return { id = id, order_id = order_id, first_name = p.first_name, last_name = p.last_name,
    company = p.company or "", street_1 = a.address1, street_2 = a.address2, city = a.city,
    zip = a.zip, country = a.country, country_iso2 = a.country_code, state = a.region,
    email = p.email, phone = common.phone_digits(p.phone),
    items_total = items_total, items_shipped = shipped and items_total or 0,
    shipping_method = SHIPPING_METHOD[kind], base_cost = money4(cents),
    cost_ex_tax = money4(cents), cost_inc_tax = money4(cents), cost_tax = "0.0000",
    cost_tax_class_id = 2, base_handling_cost = "0.0000", handling_cost_ex_tax = "0.0000",
    handling_cost_inc_tax = "0.0000", handling_cost_tax = "0.0000",
    handling_cost_tax_class_id = 2, shipping_zone_id = a.country_code == "US" and 1 or 2,
    shipping_zone_name = a.country_code == "US" and "United States" or "International",
    shipping_quotes = link(sim, order_id, "shippingaddresses/" .. id .. "/shippingquotes"),
    form_fields = EMPTY }
end

local function coupon_docs(order_id, discount)
  if not discount then return {} end
  return { { id = order_id, coupon_id = ({ TENOFF = 1, SPRING15 = 2, WELCOME5 = 3 })[discount.code] or 9,
    order_id = order_id, code = discount.code, amount = discount.value,
    type = discount.kind == "fixed" and 2 or 1, discount = discount.cents / 100 } }
end

-- Money fields of the order from totals in cents.
local function money_fields(doc, t)
  doc.subtotal_ex_tax, doc.subtotal_inc_tax = money4(t.subtotal), money4(t.subtotal + t.tax)
  doc.subtotal_tax = money4(t.tax)
  doc.base_shipping_cost, doc.shipping_cost_ex_tax = money4(t.shipping), money4(t.shipping)
  doc.shipping_cost_inc_tax, doc.shipping_cost_tax = money4(t.shipping), "0.0000"
  doc.total_ex_tax = money4(t.total - t.tax)
  doc.total_inc_tax, doc.total_tax = money4(t.total), money4(t.tax)
  doc.discount_amount, doc.coupon_discount = money4(t.discount), money4(t.discount)
  for _, k in ipairs({ "base_handling_cost", "handling_cost_ex_tax", "handling_cost_inc_tax",
    "handling_cost_tax", "base_wrapping_cost", "wrapping_cost_ex_tax", "wrapping_cost_inc_tax",
    "wrapping_cost_tax", "refunded_amount", "store_credit_amount", "gift_certificate_amount" }) do
    doc[k] = "0.0000"
  end
end

function B.generate(sim, n, created, updated)
  local rng = sim.rng
  local id = 99 + n
  local status_id = rng:weighted(STATES)
  local shipped = status_id == 2 or status_id == 10
  local c = pick_customer(sim, created)
  local p = c.person
  local ship_to = rng:chance(0.15) and common.address(rng) or c.address
  local lines = common.pick_lines(rng, n)
  local long = sim.long_orders
  if long and n % long.every == 0 then
    for i = #lines + 1, long.lines do -- catalog items in turn, the same SKU again is allowed
      local item = common.catalog[(n + i * 7) % #common.catalog + 1]
      lines[i] = { item = item, quantity = 1 + i % 3, price = item.price }
    end
  end
  local subtotal, items = 0, 0
  for _, l in ipairs(lines) do subtotal, items = subtotal + l.price * l.quantity, items + l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, subtotal)
  local discount = common.pick_discount(rng, subtotal)
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, (common.tax_rate(ship_to)))
  local attrs = common.pick_attributes(rng, created)
  local address = shipping_address_doc(sim, id, p, ship_to, kind, ship_cents, items, shipped)
  local products = {}
  for i, l in ipairs(lines) do
    l.coupon = discount and discount.code
    products[i] = product_doc(sim, id, address.id, l, shipped)
  end
  local doc = {
    id = id, customer_id = c.id, date_created = common.rfc2822(created),
    date_shipped = shipped and common.rfc2822(updated) or "",
    status_id = status_id, status = STATUS[status_id], custom_status = STATUS[status_id],
    shipping_cost_tax_class_id = 2, handling_cost_tax_class_id = 2,
    wrapping_cost_tax_class_id = 3, items_total = items, items_shipped = shipped and items or 0,
    payment_method = rng:weighted({ { 70, "Credit Card" }, { 20, "PayPal" }, { 10, "Cash on Delivery" } }),
    payment_provider_id = rng:hex(8), payment_status = PAYMENT_STATUS[status_id],
    order_is_digital = false, ip_address = "198.51.100." .. rng:int(1, 254), ip_address_v6 = "",
    geoip_country = ship_to.country, geoip_country_iso2 = ship_to.country_code,
    currency_id = 1, currency_code = sim.currency, currency_exchange_rate = "1.0000000000",
    default_currency_id = 1, default_currency_code = sim.currency,
    store_default_currency_code = sim.currency,
    store_default_to_transactional_exchange_rate = "1.0000000000",
    staff_notes = "", customer_message = common.pick_note(rng) or "",
    shipping_address_count = 1, is_deleted = false, ebay_order_id = "0",
    cart_id = rng:uuid(), billing_address = billing_doc(p, c.address, attrs),
    is_email_opt_in = rng:chance(0.3), credit_card_type = null, order_source = "www",
    channel_id = 1, external_source = null, external_id = null, external_merchant_id = null,
    tax_provider_id = "BasicTaxProvider", customer_locale = "en",
    external_order_id = "",
    products = link(sim, id, "products"),
    shipping_addresses = link(sim, id, "shippingaddresses"),
    coupons = link(sim, id, "coupons"),
  }
  money_fields(doc, t)
  return { id = id, n = n, doc = doc, created = created, updated = updated,
    products = products, addresses = { address }, coupons = coupon_docs(id, discount) }
end

-- JSON plus what the filters read. Sub-resources are kept as one string per element so their
-- pages are joined, never re-encoded; their tables exist only while an order is generated.
function B.render(sim, rec)
  local doc = rec.doc
  doc.date_modified = common.rfc2822(rec.updated)
  rec.json = common.encode(doc)
  rec.status_id, rec.customer_id, rec.channel_id = doc.status_id, doc.customer_id, doc.channel_id
  rec.email, rec.deleted = doc.billing_address.email, doc.is_deleted
  rec.consignments_json = nil -- built again on the next list that includes it
  if rec.products then
    rec.product_strings, rec.address_strings = {}, {}
    for i, pr in ipairs(rec.products) do rec.product_strings[i] = common.encode(pr) end
    for i, a in ipairs(rec.addresses) do rec.address_strings[i] = common.encode(a) end
    rec.coupons_json = #rec.coupons > 0 and common.encode(rec.coupons) or nil
    rec.products, rec.addresses, rec.coupons = nil, nil, nil
  end
end

-- Decode, change and re-encode each element of a sub-resource.
local function update_each(strings, fn)
  for i, s in ipairs(strings) do
    local t = common.decode_doc(s)
    fn(t)
    strings[i] = common.encode(t)
  end
end

---------------------------------------------------------------------------------------------
-- Changes (POST /_sim/orders/{id}, sim:change_order)
---------------------------------------------------------------------------------------------

function B.change(sim, rec, changes, now)
  -- a number, a word ("cancelled", "paid") or a status name ("Awaiting Fulfillment")
  local word = tostring(changes.status or ""):lower():gsub("[%s%-]+", "_")
  local status_id = math.tointeger(tonumber(changes.status_id or changes.status)) or STATUS_WORDS[word]
  if changes.status == nil and changes.status_id == nil then return true end
  if not status_id or not STATUS[status_id] then
    return nil, "unknown status '" .. tostring(changes.status or changes.status_id) .. "'"
  end
  local doc = rec.doc
  doc.status_id, doc.status, doc.custom_status = status_id, STATUS[status_id], STATUS[status_id]
  doc.payment_status = PAYMENT_STATUS[status_id]
  if status_id == 2 or status_id == 10 then
    doc.date_shipped, doc.items_shipped = common.rfc2822(now), doc.items_total
    update_each(rec.product_strings, function(pr) pr.quantity_shipped = pr.quantity end)
    update_each(rec.address_strings, function(a) a.items_shipped = a.items_total end)
  end
  return true
end

---------------------------------------------------------------------------------------------
-- Queries
---------------------------------------------------------------------------------------------

-- RFC 2822 or ISO 8601 (an ISO date without offset is taken as UTC)
local function parse_date(s)
  local epoch = common.parse_rfc2822(s)
  if epoch then return epoch end
  return (common.parse_iso(s))
end

local DATE_PARAMS = { min_date_created = { "created", 1 }, max_date_created = { "created", -1 },
  min_date_modified = { "updated", 1 }, max_date_modified = { "updated", -1 } }
local SORT_FIELDS = { id = "id", date_created = "created", date_modified = "updated",
  status_id = "status_id", customer_id = "customer_id", channel_id = "channel_id" }

local function invalid(name) return errors(400, "The field '" .. name .. "' is invalid.") end

-- params -> q | nil, response
local function build_query(params)
  local q = { dates = {} }
  for name, spec in pairs(DATE_PARAMS) do
    if params[name] and params[name] ~= "" then
      local epoch = parse_date(params[name])
      if not epoch then return nil, invalid(name) end
      q.dates[#q.dates + 1] = { spec[1], spec[2], epoch }
    end
  end
  for _, name in ipairs({ "min_id", "max_id", "status_id", "customer_id", "channel_id" }) do
    if params[name] and params[name] ~= "" then
      q[name] = math.tointeger(tonumber(params[name]))
      if not q[name] then return nil, invalid(name) end
    end
  end
  q.email = params.email
  local field, dir = (params.sort or "id:asc"):match("^([%w_]+):?(%a*)$")
  if not field or not SORT_FIELDS[field] or not (dir == "" or dir == "asc" or dir == "desc") then
    return nil, invalid("sort")
  end
  q.sort, q.desc = SORT_FIELDS[field], dir == "desc"
  return q
end

local function value_of(rec, key) return rec[key] end

local function matches(rec, q)
  if rec.deleted then return false end
  -- Incomplete (0) orders only show up when asked for by status_id
  if q.status_id then
    if rec.status_id ~= q.status_id then return false end
  elseif rec.status_id == 0 then
    return false
  end
  if q.min_id and rec.id < q.min_id then return false end
  if q.max_id and rec.id > q.max_id then return false end
  if q.customer_id and rec.customer_id ~= q.customer_id then return false end
  if q.channel_id and rec.channel_id ~= q.channel_id then return false end
  if q.email and q.email ~= "" and rec.email ~= q.email then return false end
  for _, d in ipairs(q.dates) do
    local v = rec[d[1]]
    if d[2] > 0 and v < d[3] or d[2] < 0 and v > d[3] then return false end
  end
  return true
end

local function collect(sim, q)
  local out = {}
  for _, rec in ipairs(sim.records) do
    if matches(rec, q) then out[#out + 1] = rec end
  end
  if q.sort ~= "id" or q.desc then
    table.sort(out, function(a, b)
      local va, vb = value_of(a, q.sort), value_of(b, q.sort)
      if va == vb then va, vb = a.id, b.id end
      if q.desc then return va > vb end
      return va < vb
    end)
  end
  return out
end

-- page >= 1 and 1 <= limit <= 250 (a larger limit is cut to 250, not refused)
local function paging(params)
  local page = math.tointeger(tonumber(params.page or 1))
  local limit = math.tointeger(tonumber(params.limit or 50))
  if not page or page < 1 then return nil, invalid("page") end
  if not limit or limit < 1 then return nil, invalid("limit") end
  return page, math.min(limit, 250)
end

-- The JSON strings of a slice joined into an array; 204 when the slice is empty.
local function array_page(strings, page, limit)
  local first = (page - 1) * limit + 1
  local last = math.min(#strings, first + limit - 1)
  if first > last then return common.response(204, nil) end
  return common.response(200, "[" .. table.concat(strings, ",", first, last) .. "]")
end

-- Consignments (include=consignments.line_items): one shipping consignment per address, its
-- fields those of the address plus line_items, the order's products shipped there; at most 50,
-- then the "__warning__" object BigCommerce adds (bigcommerce/docs #960).
local LINE_ITEMS_MAX = 50
local WARNING = '"__warning__":{"message":"Not all line items of this consignment are returned.'
  .. ' Please use the order products endpoint to get all line items."}'

local function consignments_json(rec)
  if rec.consignments_json then return rec.consignments_json end
  local shipping = {}
  for i, a in ipairs(rec.address_strings) do
    local items = {}
    -- every product of an order goes to its one address (the simulator makes one per order)
    if i == 1 then
      for j = 1, math.min(#rec.product_strings, LINE_ITEMS_MAX) do items[j] = rec.product_strings[j] end
    end
    local tail = #rec.product_strings > LINE_ITEMS_MAX and i == 1 and "," .. WARNING or ""
    shipping[i] = a:sub(1, -2) .. ',"line_items":[' .. table.concat(items, ",") .. "]" .. tail .. "}"
  end
  rec.consignments_json = '{"pickups":[],"shipping":[' .. table.concat(shipping, ",")
    .. '],"downloads":[],"email":{"gift_certificates":[]}}'
  return rec.consignments_json
end

-- The order's JSON, with its consignments when the request includes them: "object" or "array".
local function order_json(rec, form)
  if not form then return rec.json end
  local c = consignments_json(rec)
  if form == "array" then c = "[" .. c .. "]" end
  return rec.json:sub(1, -2) .. ',"consignments":' .. c .. "}"
end

-- The form the consignments of a list are sent in, or nil when the list leaves them out.
local function consignment_form(sim, params)
  if not sim.consignments then return nil end
  local wanted = false
  for inc in (params.include or ""):gmatch("[^,]+") do
    if inc == "consignments" or inc == "consignments.line_items" then wanted = true end
  end
  if not wanted then return nil end
  if sim.consignments == "array" or params.consignment_structure ~= "object" then return "array" end
  return "object"
end

local function list_orders(sim, req)
  local params = common.parse_query(req.query_string)
  local q, err = build_query(params)
  if not q then return err end
  local page, limit = paging(params)
  if not page then return limit end
  return sim:serve_list(req.uri, function()
    local all = sim:query(common.canonical(q), function() return collect(sim, q) end)
    local first = (page - 1) * limit + 1
    local last = math.min(#all, first + limit - 1)
    if first > last then return common.response(204, nil) end
    local parts, form = {}, consignment_form(sim, params)
    for i = first, last do parts[#parts + 1] = order_json(all[i], form) end
    return common.response(200, "[" .. table.concat(parts, ",") .. "]")
  end)
end

local function count_orders(sim, req)
  local q, err = build_query(common.parse_query(req.query_string))
  if not q then return err end
  local by_status, n = {}, 0
  for _, rec in ipairs(sim.records) do
    if matches(rec, q) then n = n + 1 end
    by_status[rec.status_id] = (by_status[rec.status_id] or 0) + 1
  end
  local statuses = {}
  for id = 0, 14 do
    statuses[#statuses + 1] = { id = id, name = STATUS[id], system_label = STATUS[id],
      custom_label = STATUS[id], system_description = STATUS_DESCRIPTION[id],
      count = by_status[id] or 0, sort_order = id }
  end
  return common.response(200, { statuses = statuses, count = n })
end

-- /orders/{id}[/products|/shipping_addresses|/shippingaddresses|/coupons]
local function order_resource(sim, req, id, sub)
  local rec = sim.by_id[tonumber(id)]
  if not rec then return errors(404, "The requested resource was not found.") end
  if sub == "" then return common.response(200, rec.json) end
  local page, limit = paging(common.parse_query(req.query_string))
  if not page then return limit end
  if sub == "/products" then
    sim.stats.products_requests = (sim.stats.products_requests or 0) + 1
    return array_page(rec.product_strings, page, limit)
  end
  if sub == "/shipping_addresses" or sub == "/shippingaddresses" then
    sim.stats.addresses_requests = (sim.stats.addresses_requests or 0) + 1
    return array_page(rec.address_strings, page, limit)
  end
  if sub == "/shipments" then
    sim.stats.shipment_list_requests = sim.stats.shipment_list_requests + 1
    return list_shipments(sim, req, rec)
  end
  if sub == "/coupons" then
    sim.stats.coupons_requests = (sim.stats.coupons_requests or 0) + 1
    if not rec.coupons_json or page > 1 then return common.response(204, nil) end
    return common.response(200, rec.coupons_json)
  end
  return errors(404, "The requested resource was not found.")
end

local function order_statuses()
  local out = {}
  for id = 0, 14 do
    out[#out + 1] = { id = id, name = STATUS[id], system_label = STATUS[id], custom_label = STATUS[id],
      system_description = STATUS_DESCRIPTION[id], order = id }
  end
  return common.response(200, out)
end

local function store(sim)
  return common.response(200, {
    id = sim.store_hash, account_uuid = "0b7f4c0e-5a1d-4a55-9d1b-6f0a3f2e9c11",
    domain = "cartwright-demo.mybigcommerce.com", secure_url = "https://cartwright-demo.mybigcommerce.com",
    control_panel_base_url = "https://store-" .. sim.store_hash .. ".mybigcommerce.com",
    status = "live", name = "Cartwright Demo Store", first_name = "Dana", last_name = "Grant",
    address = "500 Congress Ave\nAustin, Texas 78701", country = "United States", country_code = "US",
    phone = "5125550100", admin_email = "owner@example.com", order_email = "orders@example.com",
    favicon_url = "", timezone = { name = "America/Chicago", raw_offset = -21600, dst_offset = -18000,
      dst_correction = true, date_format = { display = "jS M Y", export = "M jS Y",
        extended_display = "M jS Y @ g:i A" } },
    language = "en", currency = sim.currency, currency_symbol = "$", decimal_separator = ".",
    thousands_separator = ",", decimal_places = 2, currency_symbol_location = "left",
    weight_units = "LBS", dimension_units = "Inches", dimension_decimal_places = 2,
    dimension_decimal_token = ".", dimension_thousands_token = ",", plan_name = "Standard",
    plan_level = "Standard", plan_is_trial = false, industry = "Home & Garden",
    logo = EMPTY, is_price_entered_with_tax = false, store_id = 1001234,
    default_channel_id = 1, default_site_id = 1000, active_comparison_modules = EMPTY,
    features = { stencil_enabled = true, sitewidehttps_enabled = true,
      facebook_catalog_id = "", checkout_type = "optimized", wishlists_enabled = true,
      graphql_storefront_api_enabled = true, shopper_consent_tracking_enabled = false,
      multi_storefront_enabled = false },
  })
end

---------------------------------------------------------------------------------------------
-- Stock: V3 Catalog variants, Inventory locations, items and absolute adjustments
---------------------------------------------------------------------------------------------
-- Every catalog item is a variant (variant_id 1000 + variant_no of product 100 + product_no,
-- the ids the orders carry). `stock_skus = N` adds N products without options ("BULK-00001"…):
-- each is only its base variant (sku_id null), tracked by product, so an adjustment by its
-- variant_id is refused with BigCommerce's 422. A figure per (variant, location): two
-- locations, 1 the default (the store's; orders take their stock from it). `stock = N`: the
-- first figure at location 1 (100); location 2 starts at 0.

B.LOCATIONS = { { id = 1, code = "BC-LOCATION-1", label = "Fifth Avenue AppleStore" },
  { id = 2, code = "BIGC-2", label = "Berlin Store" } }
local QUANTITY_MAX = 2147483647
local ADJUSTMENT_MAX = 2000 -- items per absolute adjustment

function setup_stock(sim, opts)
  sim.variants, sim.variant_by_sku, sim.variant_by_id, sim.product_variants = {}, {}, {}, {}
  local initial = math.tointeger(tonumber(opts.stock)) or 100
  local function add(v)
    v.stock = { [1] = initial, [2] = 0 }
    sim.variants[#sim.variants + 1] = v
    sim.variant_by_sku[v.sku], sim.variant_by_id[v.id] = v, v
    local list = sim.product_variants[v.product_id] or {}
    list[#list + 1] = v
    sim.product_variants[v.product_id] = list
  end
  for _, item in ipairs(common.catalog) do
    add{ id = 1000 + item.variant_no, product_id = 100 + item.product_no, sku = item.sku,
      sku_id = 5000 + item.variant_no, price = item.price, label = item.variant_title }
  end
  for i = 1, math.tointeger(tonumber(opts.stock_skus)) or 0 do
    add{ id = 100000 + i, product_id = 50000 + i, sku = string.format("BULK-%05d", i), price = 1000,
      by_product = true }
  end
  -- the counters of the stock endpoints, zeroed with the others
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    local s = self.stats
    s.stock_push_requests, s.stock_lookup_requests, s.stock_read_requests = 0, 0, 0
    s.stock_location_requests, s.stock_adjusted = 0, 0
    s.shipment_requests, s.shipment_list_requests, s.status_requests = 0, 0, 0
  end
  sim:reset_stats()
  -- an order placed at the store takes its quantities from the default location
  sim.add_orders = function(self, n, at)
    local ids = common.Sim.add_orders(self, n, at)
    for _, id in ipairs(ids) do
      for _, s in ipairs(self.by_id[id].product_strings) do
        local p = common.decode_doc(s)
        local v = self.variant_by_id[p.variant_id]
        if v then v.stock[1] = v.stock[1] - p.quantity end
      end
    end
    return ids
  end
end

local function problem(status, title, errs)
  return common.response(status, { status = status, title = title,
    type = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
    errors = errs or {} })
end

-- "1,2,x" -> { [1] = true, [2] = true, ["x"] = true } (numbers as integers), nil when absent
local function in_set(v, numeric)
  if v == nil then return nil end
  local set = {}
  for part in v:gmatch("[^,]+") do
    set[numeric and (math.tointeger(tonumber(part)) or part) or part] = true
  end
  return set
end

-- { data, meta.pagination } of one page of `list` (limit default 50, at most `max`)
local function v3_page(list, params, max, doc)
  local page = math.tointeger(tonumber(params.page or 1))
  local limit = math.tointeger(tonumber(params.limit or 50))
  if not page or page < 1 or not limit or limit < 1 then return problem(422, "Invalid page or limit") end
  limit = math.min(limit, max)
  local total = #list
  local pages = math.max(1, (total + limit - 1) // limit)
  local data = {}
  for i = (page - 1) * limit + 1, math.min(total, page * limit) do data[#data + 1] = doc(list[i]) end
  local links = { current = "?page=" .. page .. "&limit=" .. limit }
  if page > 1 then links.previous = "?page=" .. (page - 1) .. "&limit=" .. limit end
  if page < pages then links.next = "?page=" .. (page + 1) .. "&limit=" .. limit end
  return common.response(200, { data = common.list(data), meta = { pagination = { total = total,
    count = #data, per_page = limit, current_page = page, total_pages = pages, links = links } } })
end

local function location_doc(l)
  return { id = l.id, code = l.code, label = l.label, description = "", managed_by_external_source = false,
    type_id = "PHYSICAL", enabled = true, time_zone = "America/New_York",
    created_at = "2024-01-15T09:00:00Z", updated_at = "2024-01-15T09:00:00Z",
    address = { address1 = l.id == 1 and "767 5th Ave" or "Kurfürstendamm 26", city = l.id == 1
      and "New York" or "Berlin", zip = l.id == 1 and "10153" or "10719", country_code = l.id == 1 and "USA" or "DEU" },
    storefront_visibility = true }
end

local function list_locations(sim, params)
  local ids = in_set(params["location_id:in"], true)
  local out = {}
  for _, l in ipairs(B.LOCATIONS) do
    if (not ids or ids[l.id]) and (params.is_default == nil or (params.is_default == "true") == (l.id == 1)) then
      out[#out + 1] = l
    end
  end
  return v3_page(out, params, 1000, location_doc)
end

local function variant_doc(v, fields)
  local doc = { id = v.id, product_id = v.product_id, sku = v.sku, sku_id = v.sku_id or null,
    price = v.price / 100, calculated_price = v.price / 100, cost_price = 0, upc = "", mpn = "",
    gtin = "", inventory_level = v.stock[1] + v.stock[2], inventory_warning_level = 0,
    purchasing_disabled = false, bin_picking_number = "",
    option_values = v.by_product and EMPTY or { { id = v.id * 10, label = v.label, option_id = 90,
      option_display_name = "Option" } } }
  if not fields then return doc end
  local out = { id = v.id }
  for f in pairs(fields) do out[f] = doc[f] end
  return out
end

-- GET /v3/catalog/variants: sku, sku:in, product_id:in; 250 a page at most
local function list_variants(sim, params)
  local skus = in_set(params["sku:in"])
  if params.sku then skus = { [params.sku] = true } end
  local products = in_set(params["product_id:in"], true)
  local out = {}
  for _, v in ipairs(sim.variants) do
    if (not skus or skus[v.sku]) and (not products or products[v.product_id]) then out[#out + 1] = v end
  end
  local fields = in_set(params.include_fields)
  return v3_page(out, params, 250, function(v) return variant_doc(v, fields) end)
end

-- GET /v3/inventory/items: sku:in, variant_id:in, product_id:in, location_id:in; 1000 a page
local function list_items(sim, params)
  local skus, variants = in_set(params["sku:in"]), in_set(params["variant_id:in"], true)
  local products, locations = in_set(params["product_id:in"], true), in_set(params["location_id:in"], true)
  local out = {}
  for _, v in ipairs(sim.variants) do
    if (not skus or skus[v.sku]) and (not variants or variants[v.id]) and (not products or products[v.product_id]) then
      out[#out + 1] = v
    end
  end
  return v3_page(out, params, 1000, function(v)
    local at = {}
    for _, l in ipairs(B.LOCATIONS) do
      if not locations or locations[l.id] then
        at[#at + 1] = { location_id = l.id, location_code = l.code, location_name = l.label,
          available_to_sell = v.stock[l.id], total_inventory_onhand = v.stock[l.id], location_enabled = true,
          settings = { safety_stock = 0, is_in_stock = true, warning_level = 0, bin_picking_number = "" } }
      end
    end
    return { identity = { sku = v.sku, variant_id = v.id, product_id = v.product_id, sku_id = v.sku_id or null },
      locations = common.list(at) }
  end)
end

-- The variant one adjustment item names, or nil, the reason BigCommerce gives.
local function adjusted_item(sim, it)
  local loc = math.tointeger(tonumber(it.location_id))
  if not loc or not B.LOCATIONS[loc] then return nil, "Location with id " .. tostring(it.location_id) .. " not found" end
  local q = math.tointeger(tonumber(it.quantity))
  if not q or q < 0 or q > QUANTITY_MAX then return nil, "Invalid quantity " .. tostring(it.quantity) end
  local v
  if it.variant_id ~= nil then
    v = sim.variant_by_id[math.tointeger(tonumber(it.variant_id))]
    if not v then return nil, "Items with identity: [variant_id " .. tostring(it.variant_id) .. "] not found" end
    if v.by_product then
      return nil, "Item with variant_id " .. v.id .. " is tracked by product, please update stock by product id"
    end
  elseif it.product_id ~= nil then
    local list = sim.product_variants[math.tointeger(tonumber(it.product_id))]
    if not list then return nil, "Items with identity: [product_id " .. tostring(it.product_id) .. "] not found" end
    v = list[1]
    if not v.by_product then
      return nil, "Item with product_id " .. v.product_id .. " is tracked by variant, please update stock by variant id"
    end
  elseif it.sku ~= nil then
    v = sim.variant_by_sku[tostring(it.sku)]
    if not v then return nil, "Items with identity: [sku " .. tostring(it.sku) .. "] not found" end
  else
    return nil, "One of sku, product_id or variant_id is required"
  end
  return { v = v, location = loc, quantity = q }
end

-- PUT /v3/inventory/adjustments/absolute: all items or none (a 422 names the items refused)
local function absolute_adjustment(sim, req)
  local body = common.decode(req.body or "")
  if type(body) ~= "table" or type(body.items) ~= "table" or #body.items == 0 then
    return problem(422, "Payload contains invalid fields", { items = "items is required" })
  end
  if #body.items > ADJUSTMENT_MAX then
    return problem(413, "The request payload is too large. The maximum items allowed in the array is " .. ADJUSTMENT_MAX)
  end
  local apply, refused = {}, {}
  for i, it in ipairs(body.items) do
    local a, why = adjusted_item(sim, type(it) == "table" and it or {})
    if a then apply[i] = a else refused[#refused + 1] = why end
  end
  if #refused > 0 then return problem(422, "[" .. table.concat(refused, ", ") .. "]") end
  for _, a in ipairs(apply) do a.v.stock[a.location] = a.quantity end
  sim.stats.stock_adjusted = sim.stats.stock_adjusted + #apply
  return common.response(200, { transaction_id = sim.rng:uuid() })
end

-- the stock counters: every request to these endpoints, faults included
local COUNTED = { ["GET /inventory/locations"] = "stock_location_requests",
  ["GET /catalog/variants"] = "stock_lookup_requests", ["GET /inventory/items"] = "stock_read_requests",
  ["PUT /inventory/adjustments/absolute"] = "stock_push_requests" }

-- POST /v3/hooks { scope, destination, is_active, headers }: a hook ({ data = hook }); a new order
-- goes to store/order/created hooks as the thin payload, with the hook's headers (its secret).
local function create_hook(sim, req)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" or type(b.scope) ~= "string" or type(b.destination) ~= "string"
      or not b.destination:match("^https?://") then
    return problem(422, "scope and destination (https) are required")
  end
  local headers = type(b.headers) == "table" and b.headers or {}
  local h = sim:add_hook{ url = b.destination, topic = b.scope, headers = headers }
  local now = sim:now()
  return common.response(200, { data = { id = h.id, client_id = "sim", store_hash = sim.store_hash,
    scope = b.scope, destination = b.destination, is_active = b.is_active ~= false, headers = headers,
    created_at = now, updated_at = now }, meta = {} })
end

function B.webhook_delivery(sim, hook, rec)
  if hook.topic ~= "store/order/created" then return nil end
  local headers = {}
  for k, v in pairs(hook.headers or {}) do headers[k] = tostring(v) end
  local body = common.encode({ scope = hook.topic, store_id = "1001", producer = "stores/" .. sim.store_hash,
    created_at = sim:now(), hash = sim.rng:hex(40), data = { type = "order", id = rec.id } })
  return { body = body, headers = headers }
end

local function route_v3(sim, req, rest)
  local params = common.parse_query(req.query_string)
  local counter = COUNTED[req.method .. " " .. rest]
  if counter then sim.stats[counter] = sim.stats[counter] + 1 end
  return sim:apply_any_fault(function()
    if req.method == "GET" and rest == "/inventory/locations" then return list_locations(sim, params) end
    if req.method == "GET" and rest == "/catalog/variants" then return list_variants(sim, params) end
    if req.method == "GET" and rest == "/inventory/items" then return list_items(sim, params) end
    if req.method == "PUT" and rest == "/inventory/adjustments/absolute" then return absolute_adjustment(sim, req) end
    if req.method == "POST" and rest == "/hooks" then return create_hook(sim, req) end
    return problem(404, "The requested resource was not found.")
  end)
end

-- /_sim/stock: GET every figure { [sku] = { ["1"] = n, ["2"] = n } } (?sku= one); POST
-- { sku, location?, quantity } or { items = { … } } sets figures (location: id or label; the
-- default location when left out) and answers the figures of those SKUs.
local function sim_location(v)
  if v == nil then return 1 end
  for _, l in ipairs(B.LOCATIONS) do
    if tostring(l.id) == tostring(math.tointeger(tonumber(v)) or v) or l.label == v then return l.id end
  end
end

local function figures(v)
  local out = {}
  for _, l in ipairs(B.LOCATIONS) do out[tostring(l.id)] = v.stock[l.id] end
  return out
end

function B.control(sim, req, body)
  local sid = req.path:match("^/_sim/shipments/(%d+)$")
  if sid and req.method == "GET" then
    local rec = sim.by_id[tonumber(sid)]
    if not rec then return common.response(404, { error = "no such order" }) end
    return common.response(200, common.list(sim.shipments[rec.id] or {}))
  end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "GET" then
    local params, out = common.parse_query(req.query_string), {}
    for _, v in ipairs(sim.variants) do
      if not params.sku or params.sku == v.sku then out[v.sku] = figures(v) end
    end
    return common.response(200, next(out) and out or {})
  elseif req.method ~= "POST" then
    return common.response(405, { error = "GET or POST" })
  end
  local list, out = body.items or { body }, {}
  for _, it in ipairs(list) do -- every item is checked before any is set
    local v, loc, q = sim.variant_by_sku[tostring(it.sku)], sim_location(it.location), math.tointeger(tonumber(it.quantity))
    if not v then return common.response(404, { error = "no such sku " .. tostring(it.sku) }) end
    if not loc then return common.response(400, { error = "no such location " .. tostring(it.location) }) end
    if not q then return common.response(400, { error = "quantity must be a whole number" }) end
  end
  for _, it in ipairs(list) do
    local v = sim.variant_by_sku[tostring(it.sku)]
    v.stock[sim_location(it.location)] = math.tointeger(tonumber(it.quantity))
    out[v.sku] = figures(v)
  end
  return common.response(200, out)
end

---------------------------------------------------------------------------------------------
-- Shipments and status: POST|GET /v2/orders/{id}/shipments, PUT /v2/orders/{id} { status_id }
---------------------------------------------------------------------------------------------
-- Shipments are kept per order (sim.shipments[order_id], /_sim/shipments/{order_id} lists
-- them). A POST is checked as BigCommerce does: an address of the order, items that are its
-- products at that address, quantities not over what is left to ship, carrier codes from its
-- lists; then the products' quantity_shipped and the order's status (Shipped or Partially
-- Shipped) follow. Counted in shipment_requests (POST), shipment_list_requests (GET) and
-- status_requests (PUT). A fault queued with after_apply = true lets the write happen, then
-- answers its status or waits its delay: the "accepted, then the answer was lost" case.

-- tracking_carrier values the simulator knows (the store's list is ~900 AfterShip slugs)
local TRACKING_CARRIERS = { ups = true, usps = true, fedex = true, dhl = true,
  ["dhl-global-mail"] = true, ["canada-post"] = true, ["australia-post"] = true, ontrac = true,
  lasership = true, purolator = true, dpd = true, gls = true, tnt = true, ["parcel-force"] = true,
  ["myhermes-uk"] = true, postnl = true, ["new-zealand-post"] = true }
local PROVIDERS = { auspost = true, canadapost = true, endicia = true, usps = true, fedex = true,
  royalmail = true, ups = true, upsready = true, upsonline = true, shipperhq = true }
local TRACKING_URL = { ups = "https://www.ups.com/track?tracknum=", usps = "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
  fedex = "https://www.fedex.com/fedextrack/?trknbr=", dhl = "https://www.dhl.com/en/express/tracking.html?AWB=" }

-- writes run under the queued faults, after_apply ones included (common.apply_write)
local function apply_write(sim, fn) return common.apply_write(sim, fn) end

local function decode_strings(strings)
  local out = {}
  for i, s in ipairs(strings) do out[i] = common.decode_doc(s) end
  return out
end

local function bad(field) return errors(400, "The field '" .. field .. "' is invalid.") end

-- The shipment a POST asks for, checked: { address, items = { { product, quantity } } } | nil, response
local function checked_shipment(rec, body)
  local aid = math.tointeger(tonumber(body.order_address_id))
  local address
  for _, a in ipairs(decode_strings(rec.address_strings)) do
    if a.id == aid then address = a end
  end
  if not address then return nil, bad("order_address_id") end
  if type(body.items) ~= "table" or #body.items == 0 then return nil, bad("items") end
  if #tostring(body.tracking_number or "") > 50 then return nil, bad("tracking_number") end
  local tc, sp = body.tracking_carrier, body.shipping_provider
  if tc ~= nil and tc ~= "" and not TRACKING_CARRIERS[tc] then return nil, bad("tracking_carrier") end
  if sp ~= nil and sp ~= "" and not PROVIDERS[sp] then return nil, bad("shipping_provider") end
  local products, wanted, items = {}, {}, {}
  for _, p in ipairs(decode_strings(rec.product_strings)) do products[p.id] = p end
  for i, it in ipairs(body.items) do
    local pid = type(it) == "table" and math.tointeger(tonumber(it.order_product_id))
    local q = type(it) == "table" and math.tointeger(tonumber(it.quantity))
    local p = pid and products[pid]
    if not p or p.order_address_id ~= aid then return nil, bad("items[" .. (i - 1) .. "].order_product_id") end
    if not q or q < 1 then return nil, bad("items[" .. (i - 1) .. "].quantity") end
    wanted[pid] = (wanted[pid] or 0) + q
    if wanted[pid] > p.quantity - p.quantity_shipped then
      return nil, errors(400, "The quantity specified is greater than the quantity of the product that is"
        .. " available to ship.")
    end
    items[i] = { order_product_id = pid, product_id = p.product_id, quantity = q }
  end
  return { address = address, items = items, wanted = wanted }
end

local function create_shipment(sim, req, rec)
  local body = common.decode(req.body or "")
  if type(body) ~= "table" then return errors(400, "The request body is not valid JSON.") end
  local s, refusal = checked_shipment(rec, body)
  if not s then return refusal end
  local order = sim:doc(rec)
  sim.shipment_seq = sim.shipment_seq + 1
  local tracking, carrier = tostring(body.tracking_number or ""), body.tracking_carrier or ""
  local tlink = body.tracking_link or ""
  local doc = { id = sim.shipment_seq, order_id = rec.id, customer_id = order.customer_id,
    order_address_id = s.address.id, date_created = common.rfc2822(sim:now()),
    tracking_number = tracking, merchant_shipping_cost = "0.0000",
    shipping_method = body.shipping_method or "", comments = body.comments or "",
    shipping_provider = body.shipping_provider or "custom", tracking_carrier = carrier,
    tracking_link = tlink, shipping_provider_display_name = body.shipping_provider ~= "" and body.shipping_provider or "Custom",
    generated_tracking_link = tlink ~= "" and tlink or (TRACKING_URL[carrier] and tracking ~= "" and TRACKING_URL[carrier] .. tracking) or "",
    billing_address = order.billing_address, shipping_address = s.address, items = s.items }
  local list = sim.shipments[rec.id] or {}
  list[#list + 1] = doc
  sim.shipments[rec.id] = list
  -- the products shipped, then the order's status
  local left, shipped = 0, 0
  update_each(rec.product_strings, function(p)
    p.quantity_shipped = p.quantity_shipped + (s.wanted[p.id] or 0)
    left, shipped = left + p.quantity - p.quantity_shipped, shipped + p.quantity_shipped
  end)
  update_each(rec.address_strings, function(a)
    if a.id == s.address.id then
      for _, it in ipairs(s.items) do a.items_shipped = a.items_shipped + it.quantity end
    end
  end)
  sim:change_order(rec.id, { status_id = left == 0 and 2 or 3, fields = { items_shipped = shipped } })
  return common.response(201, doc)
end

function list_shipments(sim, req, rec)
  local page, limit = paging(common.parse_query(req.query_string))
  if not page then return limit end
  local strings = {}
  for i, s in ipairs(sim.shipments[rec.id] or {}) do strings[i] = common.encode(s) end
  return array_page(strings, page, limit)
end

-- PUT /v2/orders/{id}: only status_id is honoured here
local function update_order(sim, req, rec)
  local body = common.decode(req.body or "")
  if type(body) ~= "table" then return errors(400, "The request body is not valid JSON.") end
  if body.status_id == nil then return common.response(200, rec.json) end
  local id = math.tointeger(tonumber(body.status_id))
  if not id or not STATUS[id] then return bad("status_id") end
  sim:change_order(rec.id, { status_id = id })
  return common.response(200, rec.json)
end

---------------------------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------------------------

local function rate_headers(sim, left, reset_ms)
  return { ["X-Rate-Limit-Time-Window-Ms"] = tostring(math.floor(sim.quota.window * 1000)),
    ["X-Rate-Limit-Time-Reset-Ms"] = tostring(reset_ms),
    ["X-Rate-Limit-Requests-Quota"] = tostring(sim.quota.quota),
    ["X-Rate-Limit-Requests-Left"] = tostring(left) }
end

-- A refusal in the form of the API asked: V2 a list of { status, message }, V3 a problem object.
local function refusal(sim, status, message)
  if sim.serving_v3 then return problem(status, message) end
  return errors(status, message)
end

function B.fault_response(sim, status, fault)
  if status == 429 then
    local resp = refusal(sim, 429, "You have exceeded the number of requests allowed in this time window.")
    if sim.quota then
      -- short, so a test need not wait a window; whole ms (a fault queued over HTTP has 200.0)
      local reset = math.floor(tonumber(fault and fault.reset_ms) or 1500)
      for k, v in pairs(rate_headers(sim, 0, reset)) do resp.headers[k] = v end
    end
    return resp
  end
  local text = { [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
    [504] = "Gateway Timeout" }
  return refusal(sim, status, text[status] or "Error")
end

local function route(sim, req, rest)
  local oid, osub = rest:match("^/orders/(%d+)(.*)$")
  local rec = oid and sim.by_id[tonumber(oid)]
  if req.method == "POST" and osub == "/shipments" then
    sim.stats.shipment_requests = sim.stats.shipment_requests + 1
    if not rec then return errors(404, "The requested resource was not found.") end
    return apply_write(sim, function() return create_shipment(sim, req, rec) end)
  end
  if req.method == "PUT" and osub == "" then
    sim.stats.status_requests = sim.stats.status_requests + 1
    if not rec then return errors(404, "The requested resource was not found.") end
    return apply_write(sim, function() return update_order(sim, req, rec) end)
  end
  if req.method ~= "GET" then return errors(405, "The requested method is not supported.") end
  if rest == "/orders" then return list_orders(sim, req) end
  return sim:apply_any_fault(function()
    if rest == "/orders/count" then return count_orders(sim, req) end
    local id, sub = rest:match("^/orders/(%d+)(.*)$")
    if id then return order_resource(sim, req, id, sub) end
    if rest == "/store" then return store(sim) end
    if rest == "/time" then return common.response(200, { time = sim:now() }) end
    if rest == "/order_statuses" then return order_statuses() end
    return errors(404, "The requested resource was not found.")
  end)
end

function B.handle(sim, req)
  local hash, version, rest = req.path:match("^/stores/([^/]+)/(v[23])(/.*)$")
  if not hash or hash ~= sim.store_hash then
    return errors(404, "The requested resource was not found.")
  end
  -- the form of this request's refusals (a handler runs to its first sleep before another starts)
  sim.serving_v3 = version == "v3"
  if version == "v2" then rest = rest:gsub("%.json$", "") end -- the old .json suffix still works
  if req.headers["x-auth-token"] ~= sim.token then
    return refusal(sim, 401, "You are not authorized to access this resource. Check the X-Auth-Token header.")
  end
  if rest == "/orders" and version == "v2" then sim.stats.order_list_requests = sim.stats.order_list_requests + 1 end
  local resp, headers
  if sim.quota then
    local ok, left, reset_ms = sim.quota:take(sim.clock())
    headers = rate_headers(sim, left, reset_ms)
    if not ok then resp = refusal(sim, 429, "You have exceeded the number of requests allowed in this time window.") end
  end
  if version == "v3" then resp = resp or route_v3(sim, req, rest) end
  resp = resp or route(sim, req, rest)
  for k, v in pairs(headers or {}) do
    if resp.headers[k] == nil then resp.headers[k] = v end
  end
  return resp
end

---------------------------------------------------------------------------------------------

-- require("sim.bigcommerce").start{ port = 0, orders = 100, seed = 1, token = "bc_test", store_hash = "abc123" }
function B.start(opts)
  return common.start(B, opts)
end

return B
