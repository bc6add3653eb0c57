-- BigCommerce connector, orders (Orders V2 API): pulls orders changed in a time window by keyset
-- paging on id, each page with its orders' consignments (line items and ship-to addresses) in
-- the same call, asks for an order's products only when a consignment says it left lines out
-- (and for its products and shipping addresses when the store sent no consignments), maps the
-- documents to the normalized order of docs/order-model.md, and reads the store's quota
-- headers (X-Rate-Limit-*) for the cart's rate limiter.
-- Uses: ctx:request (rate limit + retries), cartwright.task, cjson.safe, cartwright.jsonraw,
-- cartwright.cartdata (null, id and money helpers), cartwright.time.

local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"
local task = require "cartwright.task"
local time = require "cartwright.time"
local cd = require "cartwright.cartdata"

-- every read of a document goes through these: JSON null is truthy and numbers are floats
local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
local cents, fmt_cents = cd.cents, cd.fmt_cents

-- BigCommerce sends money with 4 decimals ("361.9500"), so every amount is rounded to 2 (no
-- pass-through of an already 2-decimal string, as cd.money does)
local function money(v) return fmt_cents(cents(v)) end

local PAGE_MAX, PAGE_DEFAULT = 250, 50
local SUB_LIMIT = 250 -- per-order sub-resources page at 50 by default; ask for the maximum

-- BigCommerce's own status names (the `status` field; merchants may rename the label, which
-- shows in `custom_status`, not here).
local STATUSES = {
  "Incomplete", "Pending", "Shipped", "Partially Shipped", "Refunded", "Cancelled", "Declined",
  "Awaiting Payment", "Awaiting Pickup", "Awaiting Shipment", "Completed", "Awaiting Fulfillment",
  "Manual Verification Required", "Disputed", "Partially Refunded",
}

-- Orders V2 dates are RFC 2822 ("Tue, 05 Mar 2019 21:40:11 +0000"), in queries and in documents.
local from_rfc2822 = time.rfc2822_utc

local function to_rfc2822(iso) -- "2025-03-04T15:00:00Z" -> "Tue, 04 Mar 2025 15:00:00 +0000"
  local t = time.parse(iso)
  return t and time.format_rfc2822(t)
end

---------------------------------------------------------------- HTTP
local function v2_url(ctx)
  local host = (ctx.cart.url or "https://api.bigcommerce.com"):gsub("/+$", "")
  return host .. "/stores/" .. ctx.cart.store_hash .. "/v2/"
end

-- GET with the token; 2xx (204 included) is returned, anything else becomes
-- "http 401: <body> (what)". The token only travels in a header, never in a message.
local function get(ctx, url, what)
  local res, err = ctx:request{ method = "GET", url = url, headers = {
    ["X-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json" } }
  return cd.ok_response(ctx, what, res, err)
end

local function empty(res) -- BigCommerce answers an empty list with 204 and no body
  return res.status == 204 or not res.body or not res.body:find("%S")
end

-- A per-order list (products, shipping addresses, coupons): its raw JSON array and its decoded
-- table. One page is the usual case and its body is kept verbatim; longer lists are joined.
-- The pager stops a cart that answers every page number with the same full page.
local function sub_list(ctx, path, what)
  local raws, items, pager = {}, {}, ctx:pager(what)
  while true do
    local page, perr = pager:next()
    if not page then return nil, nil, perr end
    local res, err = get(ctx, v2_url(ctx) .. path .. "?limit=" .. SUB_LIMIT .. "&page=" .. page, what)
    if not res then return nil, nil, err end
    if empty(res) then break end
    local arr, jerr = jraw.decode(res.body)
    if type(arr) ~= "table" then return nil, nil, "bad JSON in " .. what .. ": " .. tostring(jerr) end
    if page == 1 and #arr < SUB_LIMIT then return res.body, arr end
    local ids = {}
    for _, v in ipairs(arr) do ids[#ids + 1] = str(tbl(v).id) end
    local fresh, ferr = pager:fresh(ids)
    if not fresh then return nil, nil, ferr end
    local inner = res.body:match("^%s*%[%s*(.-)%s*%]%s*$")
    if not inner then return nil, nil, "bad JSON in " .. what .. ": not an array" end
    if inner ~= "" then raws[#raws + 1] = inner end
    for _, v in ipairs(arr) do items[#items + 1] = v end
    if #arr < SUB_LIMIT then break end
  end
  return "[" .. table.concat(raws, ",") .. "]", items
end

---------------------------------------------------------------- consignments
-- include=consignments.line_items puts each order's consignments in the list:
-- consignment_structure=object gives { shipping = {…}, pickups = {…}, downloads = {…}, email = … },
-- stores answering in the legacy form an array wrapping that object; accept both. A consignment
-- lists at most 50 line items and then carries "__warning__" (bigcommerce/docs #960).
local CONSIGNMENT_KINDS = { "shipping", "pickups", "downloads" }

-- The consignment objects of an order, or nil when the store sent none (a link, or nothing:
-- the include was not honoured).
local function consignment_groups(order)
  local c = nn(order.consignments)
  if type(c) ~= "table" or c.url or c.resource then return nil end
  if c[1] ~= nil then return c end -- the legacy array form
  return { c }
end

-- Did BigCommerce leave line items out of one of these consignments?
local function truncated(groups)
  for _, g in ipairs(groups) do
    for _, kind in ipairs(CONSIGNMENT_KINDS) do
      for _, c in ipairs(tbl(tbl(g)[kind])) do
        if nn(tbl(c).__warning__) ~= nil then return true end
      end
    end
  end
  return false
end

local function by_id(a, b)
  return (int(tbl(a).id) or math.maxinteger) < (int(tbl(b).id) or math.maxinteger)
end

-- The order's line items and shipping addresses as /products and /shipping_addresses list
-- them (by id), read from its consignments.
local function from_consignments(groups)
  local lines, ships = {}, {}
  for _, g in ipairs(groups) do
    for _, kind in ipairs(CONSIGNMENT_KINDS) do
      for _, c in ipairs(tbl(tbl(g)[kind])) do
        if kind == "shipping" then ships[#ships + 1] = c end
        for _, p in ipairs(tbl(tbl(c).line_items)) do lines[#lines + 1] = p end
      end
    end
  end
  table.sort(lines, by_id)
  table.sort(ships, by_id)
  return lines, ships
end

-- The coupons of an order read from its lines, without the /coupons call: each line item lists
-- what a coupon took off it (applied_discounts: { code, amount }). When the amounts that carry a
-- code add up to the order's coupon_discount they are its coupons, in the /coupons shape
-- ({ code, discount }), in the order the lines name them; otherwise nil (a coupon on no line,
-- such as one for free shipping, or a store that leaves the code out), and the order pays for
-- the call.
local function coupons_from_lines(products, order)
  local want = cents(order.coupon_discount) or 0
  if want == 0 then return {} end
  local sums, codes, total = {}, {}, 0
  for _, p in ipairs(tbl(products)) do
    for _, d in ipairs(tbl(tbl(p).applied_discounts)) do
      local code, amount = str(tbl(d).code), cents(tbl(d).amount)
      if code and amount then
        if not sums[code] then codes[#codes + 1] = code end
        sums[code], total = (sums[code] or 0) + amount, total + amount
      end
    end
  end
  if total ~= want then return nil end
  local out = {}
  for i, code in ipairs(codes) do out[i] = { code = code, discount = fmt_cents(sums[code]) } end
  return out
end

-- One order's full document: { order = the order as listed, products = … only when its
-- consignments are incomplete or absent, shipping_addresses = … only when absent, coupons = … }.
-- The raw is assembled by concatenation, never re-encoded, so the stored bytes are exactly what
-- BigCommerce sent.
local function with_details(ctx, raw, order)
  local id = str(order.id)
  local groups = consignment_groups(order)
  local parts, doc = { '{"order":', raw }, { order = order }
  if not groups or truncated(groups) then
    local praw, products, err = sub_list(ctx, "orders/" .. id .. "/products", "products of order " .. id)
    if not praw then return nil, nil, err end
    parts[#parts + 1] = ',"products":' .. praw
    doc.products = products
  end
  if not groups then
    local araw, addrs, aerr = sub_list(ctx, "orders/" .. id .. "/shipping_addresses",
      "shipping addresses of order " .. id)
    if not araw then return nil, nil, aerr end
    parts[#parts + 1] = ',"shipping_addresses":' .. araw
    doc.shipping_addresses = addrs
  end
  -- Coupon codes cost a third call, so only orders that used a coupon and whose lines do not
  -- account for it (coupons_from_lines) pay for it.
  if (cents(order.coupon_discount) or 0) ~= 0
    and not coupons_from_lines(doc.products or (from_consignments(groups)), order) then
    local craw, coupons, cerr = sub_list(ctx, "orders/" .. id .. "/coupons", "coupons of order " .. id)
    if not craw then return nil, nil, cerr end
    parts[#parts + 1] = ',"coupons":' .. craw
    doc.coupons = coupons
  end
  parts[#parts + 1] = "}"
  return table.concat(parts), doc
end

-- Details for a page of orders, a few orders at a time. Workers take the next index from a
-- shared counter (coroutines only switch inside ctx:request, so the counter needs no lock);
-- every call goes through ctx:request, so the store's rate limit still holds.
local function page_details(ctx, raws, orders)
  local n, next_i, failure = #orders, 0, nil
  local out_raws, docs = {}, {}
  local function worker()
    while not failure do
      next_i = next_i + 1
      local i = next_i
      if i > n then return end
      local raw, doc, err = with_details(ctx, raws[i], orders[i])
      if not raw then failure = failure or err; return end
      out_raws[i], docs[i] = raw, doc
    end
  end
  local tasks = {}
  for w = 1, math.max(1, math.min(ctx.cart.concurrency or 4, n)) do tasks[w] = task.spawn(worker) end
  for _, t in ipairs(tasks) do
    local ok, err = t:wait()
    if not ok then failure = failure or tostring(err) end
  end
  if failure then return nil, nil, failure end
  return out_raws, docs
end

---------------------------------------------------------------- hooks
local function test(ctx)
  local res, err = get(ctx, v2_url(ctx) .. "store", "GET /v2/store")
  if not res then return nil, err end
  local doc, jerr = json.decode(res.body or "")
  if type(doc) ~= "table" then return nil, "bad JSON in /v2/store: " .. tostring(jerr) end
  return { api_version = "v2", shop = nn(doc.name) or nn(doc.domain) or ctx.cart.store_hash }
end

-- Keyset paging: sort=id:asc and min_id = last id + 1, inside the frozen modified window.
-- page=N would be offset paging on a moving set: an order modified while we page leaves the
-- window, everything after it shifts down one place and one order is never seen (cart-apis.md
-- §7 item 2). With min_id a departure changes nothing we have not read yet, and the window's
-- upper bound is in the past, so no order can enter it behind our cursor.
local function fetch_orders(ctx, q, on_page)
  local limit = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local since, upto = to_rfc2822(q.since), to_rfc2822(q["until"])
  local min_id, pager = nil, ctx:pager("orders")
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local url = v2_url(ctx) .. "orders?" .. cd.query{
      { "min_date_modified", since }, { "max_date_modified", upto }, { "min_id", min_id },
      { "sort", "id:asc" }, { "limit", limit },
      { "include", "consignments.line_items" }, { "consignment_structure", "object" } }
    local res, err = get(ctx, url, "orders page " .. page)
    if not res then return nil, err end
    if empty(res) then return true end
    -- each order's bytes and its document in one pass; ids above 2^53 keep every digit
    local raws, orders = jraw.split_decode(res.body)
    if not raws then return nil, "bad JSON in orders page " .. page .. ": " .. tostring(orders) end
    if #orders == 0 then return true end
    -- a cart that ignores min_id (or sorts otherwise) would send these pages forever
    local ids = {}
    for _, o in ipairs(orders) do ids[#ids + 1] = int(tbl(o).id) end
    local ascending, aerr = pager:ascending(ids, min_id, "min_id")
    if not ascending then return nil, aerr end
    local full_raws, docs, derr = page_details(ctx, raws, orders)
    if not full_raws then return nil, derr end
    local ok, serr = on_page(full_raws, docs)
    if cd.stopped(ok, serr) then return nil, serr end
    local last = int(tbl(orders[#orders]).id)
    if #orders < limit or not last then return true end -- a short page is the last one
    min_id = last + 1
  end
end

local function address(a)
  a = tbl(a)
  local first, last = nn(a.first_name), nn(a.last_name)
  return {
    name = cd.full_name(first, last), first_name = first, last_name = last, company = nn(a.company),
    address1 = nn(a.street_1), address2 = nn(a.street_2), city = nn(a.city),
    -- V2 addresses carry the state's name only ("Texas"), no code.
    region = nn(a.state), postal_code = str(a.zip), country = nn(a.country_iso2),
    phone = str(a.phone), email = nn(a.email),
  }
end

local function line(p)
  local props = {}
  for _, opt in ipairs(tbl(p.product_options)) do
    props[#props + 1] = { name = str(opt.display_name) or str(opt.name),
                          value = str(opt.display_value) or str(opt.value) }
  end
  return {
    external_id = str(p.id), sku = nn(p.sku), name = nn(p.name), quantity = int(p.quantity),
    -- Tax-exclusive unit price, as the other connectors give it; the line's tax is separate.
    price = money(nn(p.price_ex_tax) or p.base_price), tax = money(p.total_tax),
    properties = props,
  }
end

local function form_fields(into, a)
  for _, f in ipairs(tbl(tbl(a).form_fields)) do
    local k = str(f.name)
    if k then into[k] = str(f.value) end
  end
end

local function normalize(_ctx, doc)
  local o = type(doc) == "table" and doc.order
  if type(o) ~= "table" then return nil, "bigcommerce document without an order object" end
  local id = str(o.id)
  if not id then return nil, "bigcommerce order without id" end
  local updated = from_rfc2822(o.date_modified)
  if not updated then
    return nil, "bigcommerce order " .. id .. ": bad date_modified " .. tostring(nn(o.date_modified))
  end

  local b = tbl(o.billing_address)
  local products, addrs = doc.products, doc.shipping_addresses
  local groups = consignment_groups(o)
  if groups and (products == nil or addrs == nil) then
    local clines, cships = from_consignments(groups)
    products, addrs = products or clines, addrs or cships
  end
  local s = tbl(addrs)[1]
  local ship = address(s)
  ship.code = nn(tbl(s).shipping_method) -- free text, the only method name V2 gives
  ship.title = ship.code
  ship.price = money(nn(tbl(s).cost_ex_tax) or o.shipping_cost_ex_tax)

  local lines = {}
  for i, p in ipairs(tbl(products)) do lines[i] = line(p) end
  local custom = {}
  form_fields(custom, b)
  form_fields(custom, s)
  local discounts = {}
  local coupons = doc.coupons
  if coupons == nil then coupons = coupons_from_lines(products, o) or {} end
  for _, c in ipairs(coupons) do
    discounts[#discounts + 1] = { code = str(c.code), amount = money(nn(c.discount) or c.amount) }
  end

  return {
    external_id = id,
    number = id, -- the V2 id is the number shown in the control panel
    cart_status = nn(o.status),
    payment_status = nn(o.payment_status),
    fulfillment_status = nil, -- V2 has none of its own; the status says it
    created_at = from_rfc2822(o.date_created), updated_at = updated,
    currency = nn(o.currency_code),
    totals = { total = money(o.total_inc_tax), subtotal = money(o.subtotal_ex_tax), tax = money(o.total_tax),
               shipping = money(o.shipping_cost_ex_tax),
               discount = fmt_cents((cents(o.discount_amount) or 0) + (cents(o.coupon_discount) or 0)) },
    customer = cd.billing_customer(b, o.customer_id), -- customer_id 0 = guest
    billing = address(b),
    shipping = ship,
    lines = lines,
    notes = nn(o.customer_message),
    custom_fields = custom,
    discounts = discounts,
  }
end

-- The store's quota, on every answer: X-Rate-Limit-Requests-Left of X-Rate-Limit-Requests-Quota
-- per X-Rate-Limit-Time-Window-Ms, and X-Rate-Limit-Time-Reset-Ms until the window starts
-- again (the wait ctx:request honours on a 429). The quota and its window size the limiter
-- (Standard and Plus 150 per 30 s, Pro 450). A count or a time that is not a whole number, more
-- left than the quota, a quota or a window of 0 or a reset beyond the window is ignored.
local function count(v)
  return tonumber((v or ""):match("^%s*(%d+)%s*$"))
end

local function observe(res)
  local h = res.headers
  local left, quota = count(h["x-rate-limit-requests-left"]), count(h["x-rate-limit-requests-quota"])
  local reset, window = count(h["x-rate-limit-time-reset-ms"]), count(h["x-rate-limit-time-window-ms"])
  if left and quota and (quota == 0 or left > quota) then left = nil end
  if reset and window and reset > window then reset = nil end
  local capacity, per_second
  if quota and window and quota > 0 and window > 0 then capacity, per_second = quota, quota * 1000 / window end
  if not left and not reset and not capacity then return nil end
  return { left = left, reset = reset and reset / 1000, capacity = capacity, per_second = per_second }
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  -- Paid and waiting to be fulfilled, the set order managers download by default (Ordoro's
  -- published default is the same three). Awaiting Payment is unpaid (authorize-only);
  -- Partially Shipped only follows a shipment, so the order was downloaded before it.
  default_download_statuses = { "Awaiting Fulfillment", "Awaiting Shipment", "Awaiting Pickup" },
  statuses = STATUSES,
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  observe = observe,
}
