-- tests/sim/magento.lua: a Magento 2.4 / Adobe Commerce REST simulator (orders, products and
-- their stock through MSI source items and the legacy stock items, shipments, order comments).
-- Speaks /rest/<store>/V1/…: integration access tokens signed with OAuth 1.0a (HMAC-SHA1 or
-- -SHA256, checked the way Magento's Oauth does: query + header parameters, nonce per consumer,
-- timestamp), the same token as a bare Bearer only when opts.bearer is on (off by default, as
-- since 2.4.4), admin tokens from POST /V1/integration/admin/token; searchCriteria filters,
-- sort orders and paging with total_count (opts.page_quirk: an out-of-range currentPage answers
-- the last page again, as 2.0-2.3 did; opts.input_limit: Web API input limits on, pageSize
-- <= 300 and 20 array items); dates as UTC "YYYY-MM-DD HH:MM:SS"; entity_id vs increment_id;
-- state vs status; configurable products as a parent line and a child line. Uses sim.common
-- for everything cart-neutral and cartwright.crypto for the HMACs.

local common = require "sim.common"
local crypto = require "cartwright.crypto"

local EMPTY, null = common.EMPTY, common.null

local M = { name = "magento" }

-- status -> state (the default statuses of a 2.4 store)
local STATE = { pending = "new", pending_payment = "pending_payment", processing = "processing",
  complete = "complete", closed = "closed", canceled = "canceled", holded = "holded",
  payment_review = "payment_review", fraud = "payment_review" }
local LABEL = { pending = "Pending", pending_payment = "Pending Payment", processing = "Processing",
  complete = "Complete", closed = "Closed", canceled = "Canceled", holded = "On Hold",
  payment_review = "Payment Review", fraud = "Suspected Fraud" }
-- a recent window of a busy store: mostly paid and still to ship
local STATUSES = { { 58, "processing" }, { 14, "complete" }, { 9, "pending" }, { 4, "holded" },
  { 5, "canceled" }, { 3, "closed" }, { 4, "pending_payment" }, { 2, "payment_review" }, { 1, "fraud" } }
-- orders whose items the store has invoiced (paid)
local INVOICED = { processing = true, complete = true, closed = true }
-- orders that hold stock (legacy inventory deducts at placement; MSI reserves)
local HOLDS_STOCK = { pending = true, pending_payment = true, processing = true, holded = true,
  payment_review = true, fraud = true, complete = true }

M.SOURCES = { { code = "default", name = "Default Source" }, { code = "warehouse_east", name = "East Warehouse" } }

local function ts(epoch) return (common.local_time(epoch, 0):gsub("T", " ")) end

local function message(status, text, params)
  return common.response(status, { message = text, parameters = params })
end

local function no_route() return message(404, "Request does not match any route.") end

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

function M.setup(sim, opts)
  sim.store = opts.store or "default"
  sim.ck, sim.cs = opts.consumer_key or "mg_ck", opts.consumer_secret or "mg_cs"
  sim.at, sim.ats = opts.access_token or "mg_at", opts.access_token_secret or "mg_ats"
  sim.bearer = opts.bearer == true
  sim.admin_user, sim.admin_password = opts.admin_user or "admin", opts.admin_password or "admin123"
  sim.admin_tokens = {} -- token -> expiry (4 h)
  sim.page_quirk = opts.page_quirk == true
  sim.input_limit = opts.input_limit == true
  sim.msi = opts.msi ~= false
  sim.nonces = {}
  sim.currency = opts.currency or "USD"
  sim.next_id, sim.item_seq, sim.history_seq = 0, 0, 0
  sim.customers = {}
  if opts.rate then
    sim.rate = { capacity = opts.rate.capacity or 40, per_second = opts.rate.per_second or 4 }
    sim.bucket = common.leaky_bucket(sim.rate.capacity, sim.rate.per_second)
  end
  M.setup_products(sim, opts)
  sim.shipments, sim.ship_seq, sim.track_seq, sim.emails = {}, 0, 0, {}
  sim.stock = M.stock
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    local s = self.stats
    s.stock_lookup_requests, s.stock_read_requests, s.stock_push_requests = 0, 0, 0
    s.shipment_requests, s.shipment_list_requests, s.status_requests, s.order_reads = 0, 0, 0, 0
  end
  sim:reset_stats()
end

---------------------------------------------------------------------------------------------
-- Products and stock: each catalog family with options is a configurable product (id 100 +
-- family, SKU the family code) whose simple children (1000 + variant) carry the SKUs; a family
-- of one variant is a simple product. opts.simple_products = N adds SIMPLE-0001… (5001…).
-- Stock per SKU and source: opts.stock (50) at the default source, 10 at warehouse_east.
---------------------------------------------------------------------------------------------

local function add_product(sim, p)
  sim.products[p.id] = p
  sim.by_sku[p.sku:lower()] = p
  sim.product_list[#sim.product_list + 1] = p
  if p.type_id == "simple" then
    p.stock_item_id = 30000 + p.id
    sim.qty[p.sku] = { default = sim.start_stock, warehouse_east = 10 }
  end
  return p
end

function M.setup_products(sim, opts)
  sim.products, sim.by_sku, sim.product_list, sim.qty, sim.reserved = {}, {}, {}, {}, {}
  sim.start_stock = math.tointeger(tonumber(opts.stock)) or 50
  local families = {}
  for _, item in ipairs(common.catalog) do
    families[item.product_no] = families[item.product_no] or {}
    table.insert(families[item.product_no], item)
  end
  for no = 1, common.product_count do
    local items = families[no]
    if #items == 1 then
      add_product(sim, { id = 100 + no, sku = items[1].sku, name = items[1].title, type_id = "simple",
        price = items[1].price })
    else
      local parent = add_product(sim, { id = 100 + no, sku = items[1].sku:match("^[^-]+"),
        name = items[1].title, type_id = "configurable", price = items[1].price })
      for _, item in ipairs(items) do
        add_product(sim, { id = 1000 + item.variant_no, sku = item.sku, parent_id = parent.id,
          name = item.title .. "-" .. item.variant_title:gsub(" / ", "-"), type_id = "simple", price = item.price })
      end
    end
  end
  for i = 1, math.tointeger(tonumber(opts.simple_products)) or 0 do
    add_product(sim, { id = 5000 + i, sku = string.format("SIMPLE-%04d", i), name = "Simple Item " .. i,
      type_id = "simple", price = 500 + (i % 40) * 50 })
  end
  if not sim.msi then -- one stock, no sources but the default
    for _, q in pairs(sim.qty) do q.warehouse_east = nil end
  end
end

function M.sources(sim)
  return sim.msi and M.SOURCES or { M.SOURCES[1] }
end

local function source_named(sim, code)
  for _, s in ipairs(M.sources(sim)) do if s.code == code then return s end end
end

-- For tests in the same process: sim:stock(sku[, source]) -> quantity | nil
function M.stock(sim, sku, source)
  local p = sim.by_sku[sku:lower()]
  return p and sim.qty[p.sku] and sim.qty[p.sku][source or "default"]
end

-- The salable quantity: every source's quantity less the reservations of open orders (MSI), or
-- the default source's (legacy: orders deduct at once).
local function salable(sim, p)
  local q = sim.qty[p.sku]
  if not q then return 0 end
  local n = 0
  for _, v in pairs(q) do n = n + v end
  return n - (sim.reserved[p.sku] or 0)
end

-- An order starts or stops holding stock: legacy inventory deducts the default source at once;
-- MSI only reserves (the sources are deducted when the order ships).
function M.hold_stock(sim, rec, doc)
  local want = HOLDS_STOCK[doc.status] == true and rec.selling
  if want == (rec.holding == true) then return end
  local sign = want and 1 or -1
  for _, it in ipairs(doc.items) do
    local p = it.parent_item_id == nil and sim.by_sku[it.sku:lower()]
    local open = it.qty_ordered - it.qty_shipped
    if p and sim.qty[p.sku] and open > 0 then
      if sim.msi then sim.reserved[p.sku] = (sim.reserved[p.sku] or 0) + sign * open
      else sim.qty[p.sku].default = sim.qty[p.sku].default - sign * open end
    end
  end
  rec.holding = want
end

---------------------------------------------------------------------------------------------
-- Order documents
---------------------------------------------------------------------------------------------

local SHIPPING = { standard = { "flatrate_flatrate", "Flat Rate - Fixed" },
  express = { "tablerate_bestway", "Best Way - Table Rate" },
  overnight = { "ups_1DA", "United Parcel Service - Next Day Air" },
  free = { "freeshipping_freeshipping", "Free Shipping - Free" },
  pickup = { "instore_pickup", "In-Store Pickup Delivery - In Store Pickup" },
  freight = { "freight_ltl", "Freight - LTL" } }
local PAYMENTS = { { 55, "braintree" }, { 20, "paypal_express" }, { 15, "checkmo" }, { 10, "banktransfer" } }

local function m(cents) return cents / 100 end

local function address_doc(sim, kind, p, a, parent)
  sim.item_seq = sim.item_seq + 1
  local street = { a.address1 }
  if a.address2 and a.address2 ~= "" then street[2] = a.address2 end
  return { address_type = kind, city = a.city, company = p.company, country_id = a.country_code,
    email = p.email, entity_id = sim.item_seq, firstname = p.first_name, lastname = p.last_name,
    parent_id = parent, postcode = a.zip, region = a.region, region_code = a.region_code,
    region_id = 12, street = street, telephone = common.phone_national(p.phone) }
end

local function new_item(sim, id, created, fields)
  sim.item_seq = sim.item_seq + 1
  local it = { item_id = sim.item_seq, order_id = id, quote_item_id = sim.item_seq + 7000, store_id = 1,
    created_at = ts(created), updated_at = ts(created), is_virtual = 0, qty_shipped = 0, qty_canceled = 0,
    qty_refunded = 0, no_discount = 0, free_shipping = 0, is_qty_decimal = 0 }
  for k, v in pairs(fields) do it[k] = v end
  return it
end

-- One ordered line: a simple item, or a configurable's parent line (price) and its simple child
-- (same SKU, price 0, parent_item_id; the child carries a copy of its parent as parent_item).
local function line_items(sim, id, created, l, rate, invoiced)
  local item = l.item
  local gross, net = l.price * l.quantity, l.price * l.quantity - l.discount
  local p = not item.unknown and sim.by_sku[item.sku:lower()]
  local parent = p and p.parent_id and sim.products[p.parent_id]
  local price_fields = { qty_ordered = l.quantity, qty_invoiced = invoiced and l.quantity or 0,
    price = m(l.price), base_price = m(l.price), original_price = m(l.price), base_original_price = m(l.price),
    price_incl_tax = m(l.price + l.tax // l.quantity), row_total = m(gross), base_row_total = m(gross),
    row_total_incl_tax = m(gross + l.tax), tax_amount = m(l.tax), base_tax_amount = m(l.tax),
    tax_percent = math.floor(rate * 10000 + 0.5) / 100, discount_amount = m(l.discount),
    base_discount_amount = m(l.discount), discount_percent = 0, amount_refunded = 0,
    row_invoiced = invoiced and m(net) or 0, weight = item.grams / 1000, row_weight = item.grams * l.quantity / 1000 }
  local function with(t)
    for k, v in pairs(price_fields) do t[k] = v end
    return t
  end
  if not parent then
    return { new_item(sim, id, created, with{ product_id = p and p.id or (90000 + (item.variant_no or 0)),
      product_type = "simple", sku = item.sku, name = item.title }) }
  end
  local par = new_item(sim, id, created, with{ product_id = parent.id, product_type = "configurable",
    sku = item.sku, name = item.title,
    product_option = { extension_attributes = { configurable_item_options = {
      { option_id = "93", option_value = 49 + (item.variant_no % 7) } } } } })
  local child = new_item(sim, id, created, { product_id = p.id, product_type = "simple", sku = item.sku,
    name = p.name, parent_item_id = par.item_id, qty_ordered = l.quantity, qty_invoiced = price_fields.qty_invoiced,
    price = 0, base_price = 0, original_price = m(l.price), row_total = 0, base_row_total = 0,
    row_total_incl_tax = 0, tax_amount = 0, base_tax_amount = 0, tax_percent = 0, discount_amount = 0,
    base_discount_amount = 0, discount_percent = 0, weight = item.grams / 1000, row_weight = 0 })
  local copy = {}
  for k, v in pairs(par) do copy[k] = v end
  child.parent_item = copy
  return { par, child }
end

local function pick_customer(sim)
  local rng = sim.rng
  if rng:chance(0.25) then return { id = nil, person = common.person(rng), address = common.address(rng) } end
  if #sim.customers > 0 and rng:chance(0.25) then return rng:pick(sim.customers) end
  local c = { id = #sim.customers + 1, person = common.person(rng), address = common.address(rng) }
  sim.customers[#sim.customers + 1] = c
  return c
end

function M.generate(sim, n, created, updated)
  local rng = sim.rng
  sim.next_id = sim.next_id + 1
  local id, status = sim.next_id, rng:weighted(STATUSES)
  local c = pick_customer(sim)
  local p = c.person
  local ship_to = rng:chance(0.15) and common.address(rng) or c.address
  local lines = common.pick_lines(rng, n)
  local subtotal = 0
  for _, l in ipairs(lines) do subtotal = subtotal + l.price * l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, subtotal)
  local discount = common.pick_discount(rng, subtotal)
  local rate = common.tax_rate(ship_to)
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, rate)
  local invoiced = INVOICED[status] == true
  local items, qty = {}, 0
  for _, l in ipairs(lines) do
    qty = qty + l.quantity
    for _, it in ipairs(line_items(sim, id, created, l, rate, invoiced)) do items[#items + 1] = it end
  end
  if status == "complete" or status == "closed" then
    for _, it in ipairs(items) do it.qty_shipped = it.qty_ordered end
  end
  local payment = rng:weighted(PAYMENTS)
  local method = SHIPPING[kind]
  local ship_addr = address_doc(sim, "shipping", p, ship_to, id)
  local doc = {
    entity_id = id, increment_id = string.format("%09d", id), state = STATE[status], status = status,
    protect_code = rng:hex(6), store_id = 1, store_name = "Main Website\nMain Website Store\nDefault Store View",
    created_at = ts(created), customer_email = p.email, customer_firstname = p.first_name,
    customer_lastname = p.last_name, customer_id = c.id, customer_is_guest = c.id and 0 or 1,
    customer_group_id = c.id and 1 or 0, customer_note = common.pick_note(rng), customer_note_notify = 1,
    order_currency_code = sim.currency, base_currency_code = sim.currency, global_currency_code = sim.currency,
    store_currency_code = sim.currency, base_to_global_rate = 1, base_to_order_rate = 1,
    subtotal = m(t.subtotal), base_subtotal = m(t.subtotal), subtotal_incl_tax = m(t.subtotal + t.tax),
    discount_amount = -m(t.discount), base_discount_amount = -m(t.discount),
    discount_description = discount and discount.code or null, coupon_code = discount and discount.code or null,
    shipping_amount = m(t.shipping), base_shipping_amount = m(t.shipping), shipping_incl_tax = m(t.shipping),
    shipping_tax_amount = 0, shipping_description = method[2],
    tax_amount = m(t.tax), base_tax_amount = m(t.tax), grand_total = m(t.total), base_grand_total = m(t.total),
    total_paid = invoiced and m(t.total) or null, total_invoiced = invoiced and m(t.total) or null,
    total_due = invoiced and 0 or m(t.total), total_qty_ordered = qty, total_item_count = #lines,
    is_virtual = 0, email_sent = 1, quote_id = 7000 + id, remote_ip = "203.0.113." .. rng:int(1, 254),
    weight = 1, items = items,
    billing_address = address_doc(sim, "billing", p, c.address, id),
    payment = { entity_id = id, parent_id = id, method = payment, amount_ordered = m(t.total),
      base_amount_ordered = m(t.total), amount_paid = invoiced and m(t.total) or null,
      shipping_amount = m(t.shipping), account_status = null, additional_information = { payment } },
    status_histories = EMPTY,
    extension_attributes = {
      shipping_assignments = { { shipping = { address = ship_addr, method = method[1],
        total = { shipping_amount = m(t.shipping), base_shipping_amount = m(t.shipping),
          shipping_incl_tax = m(t.shipping), shipping_tax_amount = 0 } }, items = items } },
      payment_additional_info = { { key = "method_title", value = payment } },
      applied_taxes = EMPTY, item_applied_taxes = EMPTY, converting_from_quote = true,
    },
  }
  local rec = { id = id, n = n, doc = doc, created = created, updated = updated, selling = sim.selling }
  M.hold_stock(sim, rec, doc)
  return rec
end

function M.render(sim, rec)
  local doc = rec.doc
  doc.updated_at = ts(rec.updated)
  rec.json = common.encode(doc)
  rec.status, rec.state, rec.increment_id = doc.status, doc.state, doc.increment_id
  rec.email = doc.customer_email
end

local function add_history(sim, doc, comment, status, notified, at)
  sim.history_seq = sim.history_seq + 1
  local list = type(doc.status_histories) == "table" and doc.status_histories or {}
  table.insert(list, 1, { entity_id = sim.history_seq, parent_id = doc.entity_id, comment = comment,
    status = status, is_customer_notified = notified and 1 or 0, is_visible_on_front = 0,
    created_at = ts(at), entity_name = "order" })
  doc.status_histories = list
end

-- status words of /_sim/orders/{id} and sim:change_order
local WORDS = { cancelled = "canceled", paid = "processing", shipped = "complete", fulfilled = "complete",
  on_hold = "holded", hold = "holded", new = "pending" }

function M.change(sim, rec, changes, now)
  if changes.status == nil then return true end
  local word = tostring(changes.status):lower():gsub("[%s%-]+", "_")
  local status = WORDS[word] or word
  if not STATE[status] then return nil, "unknown status '" .. tostring(changes.status) .. "'" end
  local doc = rec.doc
  doc.status, doc.state = status, STATE[status]
  if INVOICED[status] and doc.total_paid == null then
    doc.total_paid, doc.total_invoiced, doc.total_due = doc.grand_total, doc.grand_total, 0
  end
  add_history(sim, doc, null, status, false, now)
  M.hold_stock(sim, rec, doc)
  return true
end

---------------------------------------------------------------------------------------------
-- searchCriteria: filter groups (AND) of filters (OR), sort orders, pageSize and currentPage
---------------------------------------------------------------------------------------------

-- searchCriteria[a][0][b]=v pairs -> nested tables keyed by the bracketed names
local function search_criteria(pairs_)
  local sc = {}
  for _, kv in ipairs(pairs_) do
    local rest = kv[1]:match("^searchCriteria(%[.*)$")
    if rest then
      local path = {}
      for seg in rest:gmatch("%[([^%]]*)%]") do path[#path + 1] = seg end
      local node = sc
      for i = 1, #path - 1 do
        if type(node[path[i]]) ~= "table" then node[path[i]] = {} end
        node = node[path[i]]
      end
      if #path > 0 then node[path[#path]] = kv[2] end
    end
  end
  return sc
end

-- { ["0"] = a, ["1"] = b } -> { a, b } in index order
local function indexed(t)
  local keys = {}
  for k in pairs(type(t) == "table" and t or {}) do
    if tonumber(k) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tonumber(a) < tonumber(b) end)
  local out = {}
  for i, k in ipairs(keys) do out[i] = t[k] end
  return out
end

local DATE_FIELDS = { created_at = true, updated_at = true }

-- A value for comparing: numbers as numbers, dates as epochs (MySQL reads the wall clock as
-- given: an offset is not applied), other text lower case (MySQL's _ci collations).
local function key_of(field, v)
  if v == nil or v == null then return nil end
  if DATE_FIELDS[field] then
    local e = common.parse_iso(tostring(v))
    return e
  end
  if type(v) == "number" then return v end
  local n = tonumber(v)
  if n and tostring(v):match("^%-?%d+%.?%d*$") and not tostring(v):match("^0%d") then return n end
  return tostring(v):lower()
end

local function compare(a, b)
  if type(a) ~= type(b) then a, b = tostring(a), tostring(b) end
  if a < b then return -1 elseif a > b then return 1 end
  return 0
end

local CONDITIONS = { eq = true, neq = true, gt = true, gteq = true, lt = true, lteq = true, ["in"] = true,
  nin = true, like = true, nlike = true, from = true, to = true, null = true, notnull = true, finset = true }

local function like_pattern(v)
  local p = tostring(v):lower():gsub("[%^%$%(%)%.%[%]%*%+%-%?]", "%%%0"):gsub("%%%%", ".*"):gsub("_", ".")
  return "^" .. p:gsub("%%%.%*", ".*") .. "$"
end

-- the set of an in/nin/finset value's parts, as key_of gives them
local function part_set(field, want)
  local set = {}
  for part in (tostring(want) .. ","):gmatch("([^,]*),") do
    local k = key_of(field, part)
    if k ~= nil then set[k] = true end
  end
  return set
end

local function test(field, cond, have, want, set)
  if cond == "null" then return have == nil end
  if cond == "notnull" then return have ~= nil end
  if have == nil then return false end
  local h = key_of(field, have)
  if cond == "in" or cond == "nin" or cond == "finset" then
    return (cond == "nin") ~= ((set or part_set(field, want))[h] == true)
  end
  if cond == "like" or cond == "nlike" then
    return (cond == "nlike") ~= (tostring(have):lower():match(like_pattern(want)) ~= nil)
  end
  local w = key_of(field, want)
  if w == nil then return false end
  local c = compare(h, w)
  if cond == "eq" then return c == 0 elseif cond == "neq" then return c ~= 0
  elseif cond == "gt" then return c > 0 elseif cond == "gteq" or cond == "from" then return c >= 0
  elseif cond == "lt" then return c < 0 end
  return c <= 0 -- lteq, to
end

-- rows: the entities; get(row, field) -> value | nil; render(row) -> JSON text.
-- -> response (200 with items, search_criteria, total_count; 400 for bad criteria)
local function search(sim, pairs_, rows, get, render, default_sort)
  local sc = search_criteria(pairs_)
  local groups, echo_groups = {}, {}
  for gi, g in ipairs(indexed(sc.filter_groups)) do
    local filters, echo = {}, {}
    for _, f in ipairs(indexed(type(g) == "table" and g.filters)) do
      if type(f) ~= "table" or not f.field then return message(400, "\"%fieldName\" is required. Enter and try again.",
        { fieldName = "field" }) end
      local cond = f.condition_type or "eq"
      if not CONDITIONS[cond] then return message(400, "Invalid condition type") end
      filters[#filters + 1] = { field = f.field, cond = cond, value = f.value,
        set = (cond == "in" or cond == "nin" or cond == "finset") and part_set(f.field, f.value) or nil }
      echo[#echo + 1] = { field = f.field, value = f.value, condition_type = cond }
    end
    groups[gi], echo_groups[gi] = filters, { filters = common.list(echo) }
  end
  local sorts, echo_sorts = {}, {}
  for _, s in ipairs(indexed(sc.sortOrders)) do
    if type(s) == "table" and s.field then
      local dir = (s.direction or "ASC"):upper()
      sorts[#sorts + 1] = { field = s.field, desc = dir == "DESC" }
      echo_sorts[#echo_sorts + 1] = { field = s.field, direction = dir }
    end
  end
  if #sorts == 0 then sorts[1] = { field = default_sort, desc = false } end
  local size = sc.pageSize and math.tointeger(tonumber(sc.pageSize))
  local page = math.tointeger(tonumber(sc.currentPage or 1)) or 1
  if sc.pageSize and (not size or size < 0) then return message(400, "Invalid value of \"%value\" provided for the"
    .. " %fieldName field.", { fieldName = "pageSize", value = sc.pageSize }) end
  if sim.input_limit then
    size = size or 20
    if size > 300 then return message(400, "Maximum SearchCriteria pageSize is %max", { max = 300 }) end
  end
  local hits = {}
  for _, row in ipairs(rows) do
    local ok = true
    for _, filters in ipairs(groups) do
      local any = false
      for _, f in ipairs(filters) do
        if test(f.field, f.cond, get(row, f.field), f.value, f.set) then any = true break end
      end
      if not any then ok = false break end
    end
    if ok then hits[#hits + 1] = row end
  end
  table.sort(hits, function(a, b)
    for _, s in ipairs(sorts) do
      local c = compare(key_of(s.field, get(a, s.field)) or "", key_of(s.field, get(b, s.field)) or "")
      if c ~= 0 then return (c < 0) ~= s.desc end
    end
    return false
  end)
  local first, last = 1, #hits
  if size and size > 0 then
    local pages = math.max(1, math.ceil(#hits / size))
    if page > pages and sim.page_quirk then page = pages end
    first, last = (page - 1) * size + 1, math.min(#hits, page * size)
  end
  local parts = {}
  for i = first, last do parts[#parts + 1] = render(hits[i]) end
  local echo = { filter_groups = common.list(echo_groups), page_size = size, current_page = page }
  if #echo_sorts > 0 then echo.sort_orders = echo_sorts end
  return common.response(200, '{"items":[' .. table.concat(parts, ",") .. '],"search_criteria":'
    .. common.encode(echo) .. ',"total_count":' .. #hits .. "}")
end

---------------------------------------------------------------------------------------------
-- Authentication
---------------------------------------------------------------------------------------------

local function not_authorized(resource)
  return message(401, "The consumer isn't authorized to access %resources.", { resources = resource })
end

-- "OAuth k="v", …" -> { k = v } (values percent-decoded), or nil
local function oauth_header(h)
  if type(h) ~= "string" or h:sub(1, 6):lower() ~= "oauth " then return nil end
  local out = {}
  for k, v in h:sub(7):gmatch('([%w_]+)%s*=%s*"([^"]*)"') do out[k] = common.percent_decode(v) end
  return out
end

local REQUIRED = { "oauth_consumer_key", "oauth_nonce", "oauth_signature", "oauth_signature_method",
  "oauth_timestamp", "oauth_token" }

-- strcmp byte order, as PHP's ksort
local function byte_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The base string Magento's Oauth helper builds: the request URL without its query, the query
-- and header parameters but oauth_signature and realm, each name and value encoded, sorted by
-- name then value, joined with &.
function M.base_string(method, url, params)
  local enc = common.urlencode
  local list = {}
  for _, kv in ipairs(params) do list[#list + 1] = { enc(kv[1]), enc(kv[2]) } end
  table.sort(list, function(a, b)
    if a[1] ~= b[1] then return byte_less(a[1], b[1]) end
    return byte_less(a[2], b[2])
  end)
  for i, kv in ipairs(list) do list[i] = kv[1] .. "=" .. kv[2] end
  return method:upper() .. "&" .. enc(url) .. "&" .. enc(table.concat(list, "&"))
end

-- -> true | nil, 401 response
local function oauth(sim, req, pairs_, o)
  for _, name in ipairs(REQUIRED) do
    if not o[name] or o[name] == "" then return nil, message(401, "%fieldName is a required field.", { fieldName = name }) end
  end
  if o.oauth_version and o.oauth_version ~= "1.0" then
    return nil, message(401, "oauth_version is not supported: %1", { o.oauth_version })
  end
  if o.oauth_consumer_key ~= sim.ck then
    return nil, message(401, "A consumer having the specified key does not exist")
  end
  local hmac = ({ ["HMAC-SHA1"] = crypto.hmac_sha1, ["HMAC-SHA256"] = crypto.hmac_sha256 })[o.oauth_signature_method]
  if not hmac then return nil, message(401, "Signature method %1 is not supported", { o.oauth_signature_method }) end
  if o.oauth_token ~= sim.at then return nil, message(401, "Specified token does not exist") end
  local params = {}
  for _, kv in ipairs(pairs_) do params[#params + 1] = kv end
  for k, v in pairs(o) do
    if k ~= "oauth_signature" and k ~= "realm" then params[#params + 1] = { k, v } end
  end
  local base = M.base_string(req.method, sim.url .. req.path, params)
  local want = crypto.base64(hmac(common.urlencode(sim.cs) .. "&" .. common.urlencode(sim.ats), base))
  if not crypto.equal(want, o.oauth_signature) then
    if sim.opts.debug or os.getenv("SIM_DEBUG") then
      io.stderr:write("[sim magento] signature mismatch for ", req.uri, "\n  base string: ", base, "\n")
    end
    return nil, message(401, "The signature is invalid. Verify and try again.")
  end
  local stamp, now = math.tointeger(tonumber(o.oauth_timestamp)), sim:now()
  if not stamp or stamp <= 0 or stamp > now + 600 or stamp < now - 600 then
    return nil, message(401, "The timestamp is invalid. Verify and try again.")
  end
  for n, at in pairs(sim.nonces) do if at < now - 600 then sim.nonces[n] = nil end end
  if sim.nonces[o.oauth_nonce] then
    return nil, message(401, "The nonce is already being used by the consumer with ID %1.", { "1" })
  end
  sim.nonces[o.oauth_nonce] = now
  return true
end

-- -> true | nil, 401 response
local function authenticate(sim, req, pairs_, resource)
  local h = req.headers["authorization"]
  local o = oauth_header(h)
  if o then return oauth(sim, req, pairs_, o) end
  local bearer = type(h) == "string" and h:match("^[Bb]earer%s+(%S+)%s*$")
  if bearer then
    local exp = sim.admin_tokens[bearer]
    if exp and exp > sim:now() then return true end
    if sim.bearer and crypto.equal(bearer, sim.at) then return true end
  end
  return nil, not_authorized(resource)
end

-- POST /V1/integration/admin/token {"username","password"} -> "token" (4 hours)
local function admin_token(sim, req)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" or type(b.username) ~= "string" or type(b.password) ~= "string" then
    return message(400, "One or more input exceptions have occurred.")
  end
  if b.username ~= sim.admin_user or not crypto.equal(b.password, sim.admin_password) then
    return message(401, "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later.")
  end
  local token = sim.rng:token(32)
  sim.admin_tokens[token] = sim:now() + 4 * 3600
  return common.response(200, common.encode(token))
end

---------------------------------------------------------------------------------------------
-- Routes: orders
---------------------------------------------------------------------------------------------

local ORDER_FIELDS = { entity_id = "id", increment_id = "increment_id", status = "status", state = "state",
  customer_email = "email" }

local function order_field(rec, field)
  if field == "updated_at" then return ts(rec.updated) end
  if field == "created_at" then return ts(rec.created) end
  local k = ORDER_FIELDS[field]
  return k and rec[k] or nil
end

local function list_orders(sim, req, pairs_)
  sim.stats.order_list_requests = sim.stats.order_list_requests + 1
  return sim:serve_list(req.uri, function()
    return search(sim, pairs_, sim.records, order_field, function(rec) return rec.json end, "entity_id")
  end)
end

local function order_missing()
  return message(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
end

-- writes run under the queued faults, after_apply ones included (common.apply_write)
local function write_fault(sim, fn) return common.apply_write(sim, fn, true) end

local function json_body(req)
  local b = req.body and req.body ~= "" and common.decode(req.body)
  if type(b) ~= "table" then return nil, message(400, "Decoding error: Syntax error") end
  return b
end

local function email(sim, id, template, detail)
  sim.emails[id] = sim.emails[id] or {}
  table.insert(sim.emails[id], { template = template, detail = detail })
end

local function truthy(v) return v == true or v == 1 or v == "1" or v == "true" end

-- POST /V1/orders/{id}/comments {"statusHistory":{comment, is_customer_notified, status, …}}:
-- the status must be one of the order's state (the simulator's check), or empty.
local function add_comment(sim, req, rec)
  local b, err = json_body(req)
  if not b then return err end
  local h = type(b.statusHistory) == "table" and b.statusHistory
  if not h then return message(400, "\"%fieldName\" is required. Enter and try again.", { fieldName = "statusHistory" }) end
  local doc = sim:doc(rec)
  local status = type(h.status) == "string" and h.status ~= "" and h.status or nil
  if status and STATE[status] ~= doc.state then
    return message(400, "The order status \"%1\" is not assigned to the order state \"%2\".", { status, doc.state })
  end
  local now = sim:now()
  rec.doc = doc
  if status then doc.status = status end
  add_history(sim, doc, type(h.comment) == "string" and h.comment or null, status or doc.status,
    truthy(h.is_customer_notified), now)
  if truthy(h.is_customer_notified) then email(sim, rec.id, "order_comment", h.comment) end
  rec.updated = now
  M.render(sim, rec)
  rec.doc = nil
  sim:invalidate()
  return common.response(200, "true")
end

-- POST /V1/orders/{id}/cancel|hold|unhold -> true | false (Magento's can*() said no)
local function order_action(sim, rec, action)
  local doc = sim:doc(rec)
  local shipped = false
  for _, it in ipairs(doc.items) do if it.qty_shipped > 0 then shipped = true end end
  local to
  if action == "cancel" then
    if doc.state == "canceled" or doc.state == "complete" or doc.state == "closed" or doc.state == "holded"
      or doc.state == "payment_review" or shipped then return common.response(200, "false") end
    to = "canceled"
  elseif action == "hold" then
    if doc.state ~= "new" and doc.state ~= "processing" and doc.state ~= "pending_payment" then
      return message(400, "A hold action is not available.")
    end
    rec.hold_before = doc.status
    to = "holded"
  else
    if doc.state ~= "holded" then return message(400, "You can't remove the hold.") end
    to = rec.hold_before or (doc.total_paid ~= null and "processing" or "pending")
  end
  sim:change_order(rec.id, { status = to })
  if action == "cancel" then email(sim, rec.id, "order_cancel") end
  return common.response(200, "true")
end

---------------------------------------------------------------------------------------------
-- Routes: shipments
---------------------------------------------------------------------------------------------

local CARRIERS = { custom = true, ups = true, usps = true, fedex = true, dhl = true }

local function shipment_doc(s) return s end

-- POST /V1/order/{id}/ship {items?, notify, appendComment, comment, tracks}: the shipment id.
local function ship_order(sim, req, rec)
  local b, err = json_body(req)
  if not b then return err end
  local doc = sim:doc(rec)
  local function refuse(msg)
    return message(400, "Shipment Document Validation Error(s):\n" .. msg)
  end
  if doc.state == "canceled" or doc.state == "complete" or doc.state == "closed" or doc.state == "holded"
      or doc.state == "payment_review" then
    return refuse("The order does not allow a shipment to be created.")
  end
  local by_id, left = {}, {}
  for _, it in ipairs(doc.items) do by_id[it.item_id] = it end
  for _, it in ipairs(doc.items) do
    if not it.parent_item_id then left[it.item_id] = it.qty_ordered - it.qty_shipped - it.qty_canceled end
  end
  local want = {}
  if type(b.items) == "table" and #b.items > 0 then
    for _, x in ipairs(b.items) do
      local iid = type(x) == "table" and math.tointeger(tonumber(x.order_item_id))
      local qty = type(x) == "table" and tonumber(x.qty)
      local it = iid and by_id[iid]
      if not it then return refuse("You can't create a shipment without products.") end
      if it.parent_item_id then it = by_id[it.parent_item_id] end -- a configurable's child ships its parent
      if not qty or qty <= 0 or qty ~= math.floor(qty) or qty > left[it.item_id] then
        return refuse("We found an invalid quantity to ship for item \"" .. it.sku .. "\".")
      end
      left[it.item_id] = left[it.item_id] - qty
      want[#want + 1] = { item = it, qty = math.tointeger(qty) }
    end
  else
    for _, it in ipairs(doc.items) do
      local n = left[it.item_id]
      if n and n > 0 then want[#want + 1] = { item = it, qty = n } end
    end
  end
  if #want == 0 then return refuse("You can't create a shipment without products.") end
  local tracks = {}
  for _, t in ipairs(type(b.tracks) == "table" and b.tracks or {}) do
    if type(t) ~= "table" or type(t.track_number) ~= "string" or t.track_number == "" then
      return message(400, "\"%fieldName\" is required. Enter and try again.", { fieldName = "track_number" })
    end
    if type(t.carrier_code) ~= "string" or not CARRIERS[t.carrier_code] then
      return refuse("Please enter a valid carrier code.")
    end
    tracks[#tracks + 1] = t
  end
  -- applied: quantities, the source deduction (MSI: from the default source, its reservation
  -- compensated), state, the shipment with its tracks
  local now = sim:now()
  sim.ship_seq = sim.ship_seq + 1
  local sid = sim.ship_seq
  local s_items, s_tracks = {}, {}
  for _, w in ipairs(want) do
    local it = w.item
    it.qty_shipped = it.qty_shipped + w.qty
    for _, c in ipairs(doc.items) do
      if c.parent_item_id == it.item_id then c.qty_shipped = c.qty_shipped + w.qty end
    end
    local p = sim.by_sku[it.sku:lower()]
    if p and sim.qty[p.sku] and sim.msi then
      sim.qty[p.sku].default = sim.qty[p.sku].default - w.qty
      if rec.holding then sim.reserved[p.sku] = (sim.reserved[p.sku] or 0) - w.qty end
    end
    s_items[#s_items + 1] = { entity_id = sid * 100 + #s_items + 1, parent_id = sid, order_item_id = it.item_id,
      product_id = it.product_id, sku = it.sku, name = it.name, qty = w.qty, price = it.price, weight = it.weight }
  end
  for _, t in ipairs(tracks) do
    sim.track_seq = sim.track_seq + 1
    s_tracks[#s_tracks + 1] = { entity_id = sim.track_seq, parent_id = sid, order_id = rec.id,
      track_number = t.track_number, title = type(t.title) == "string" and t.title or "",
      carrier_code = t.carrier_code, created_at = ts(now), updated_at = ts(now), qty = null, weight = null,
      description = null }
  end
  local comments = EMPTY
  if type(b.comment) == "table" and type(b.comment.comment) == "string" then
    comments = { { entity_id = sid, parent_id = sid, comment = b.comment.comment,
      is_customer_notified = truthy(b.notify) and 1 or 0,
      is_visible_on_front = math.tointeger(tonumber(b.comment.is_visible_on_front)) or 0, created_at = ts(now) } }
  end
  local list = sim.shipments[rec.id] or {}
  sim.shipments[rec.id] = list
  list[#list + 1] = { entity_id = sid, increment_id = string.format("%09d", sid), order_id = rec.id,
    store_id = 1, created_at = ts(now), updated_at = ts(now), total_qty = #s_items, email_sent = truthy(b.notify) and 1 or null,
    customer_id = doc.customer_id, billing_address_id = doc.billing_address.entity_id, items = s_items,
    tracks = common.list(s_tracks), comments = comments, packages = EMPTY }
  if truthy(b.notify) then email(sim, rec.id, "shipment_new", s_tracks[1] and s_tracks[1].track_number) end
  local all = true
  for _, it in ipairs(doc.items) do
    if not it.parent_item_id and it.qty_shipped + it.qty_canceled < it.qty_ordered then all = false end
  end
  if all and doc.total_paid ~= null then doc.state, doc.status = "complete", "complete"
  elseif doc.state == "new" then doc.state, doc.status = "processing", "processing" end
  if truthy(b.appendComment) and comments ~= EMPTY then
    add_history(sim, doc, b.comment.comment, doc.status, truthy(b.notify), now)
  end
  rec.doc = doc
  if all and rec.holding then rec.holding = false end
  rec.updated = now
  M.render(sim, rec)
  rec.doc = nil
  sim:invalidate()
  return common.response(200, common.encode(tostring(sid)))
end

local SHIPMENT_FIELDS = { order_id = "order_id", entity_id = "entity_id", increment_id = "increment_id" }

local function list_shipments(sim, pairs_)
  sim.stats.shipment_list_requests = sim.stats.shipment_list_requests + 1
  local rows = {}
  for _, list in pairs(sim.shipments) do for _, s in ipairs(list) do rows[#rows + 1] = s end end
  return search(sim, pairs_, rows, function(s, f) return SHIPMENT_FIELDS[f] and s[SHIPMENT_FIELDS[f]] end,
    function(s) return common.encode(shipment_doc(s)) end, "entity_id")
end

---------------------------------------------------------------------------------------------
-- Routes: products, stock items, MSI sources and source items
---------------------------------------------------------------------------------------------

local function stock_item_doc(sim, p)
  local q = sim.qty[p.sku]
  local qty = q and q.default or 0
  return { item_id = p.stock_item_id or (30000 + p.id), product_id = p.id, stock_id = 1, qty = qty,
    is_in_stock = p.type_id == "configurable" or qty > 0, is_qty_decimal = false, show_default_notification_message = false,
    use_config_min_qty = true, min_qty = 0, use_config_min_sale_qty = 1, min_sale_qty = 1,
    use_config_max_sale_qty = true, max_sale_qty = 10000, use_config_backorders = true, backorders = 0,
    use_config_notify_stock_qty = true, notify_stock_qty = 1, use_config_qty_increments = true,
    qty_increments = 0, use_config_enable_qty_inc = true, enable_qty_increments = false,
    use_config_manage_stock = true, manage_stock = true, low_stock_date = null, is_decimal_divided = false,
    stock_status_changed_auto = 0 }
end

local function product_doc(sim, p)
  local at = ts(sim:now() - 90 * 86400 + p.id * 60)
  return { id = p.id, sku = p.sku, name = p.name, attribute_set_id = 4, price = m(p.price), status = 1,
    visibility = p.parent_id and 1 or 4, type_id = p.type_id, created_at = at, updated_at = at, weight = 1,
    extension_attributes = { website_ids = { 1 }, category_links = EMPTY, stock_item = stock_item_doc(sim, p),
      configurable_product_links = p.type_id == "configurable" and EMPTY or nil },
    product_links = EMPTY, options = EMPTY, media_gallery_entries = EMPTY, tier_prices = EMPTY,
    custom_attributes = { { attribute_code = "url_key", value = p.sku:lower() } } }
end

local PRODUCT_FIELDS = { sku = "sku", type_id = "type_id", entity_id = "id", id = "id", name = "name" }

local function list_products(sim, pairs_)
  local sc = search_criteria(pairs_)
  local by_sku = false
  for _, g in ipairs(indexed(sc.filter_groups)) do
    for _, f in ipairs(indexed(type(g) == "table" and g.filters)) do
      if type(f) == "table" and f.field == "sku" then by_sku = true end
    end
  end
  if by_sku then sim.stats.stock_lookup_requests = sim.stats.stock_lookup_requests + 1 end
  return search(sim, pairs_, sim.product_list, function(p, f) return PRODUCT_FIELDS[f] and p[PRODUCT_FIELDS[f]] end,
    function(p) return common.encode(product_doc(sim, p)) end, "entity_id")
end

local function product_missing()
  return message(404, "The product that was requested doesn't exist. Verify the product and try again.")
end

-- PUT /V1/products/{sku}/stockItems/{itemId} {"stockItem":{"qty":12,"is_in_stock":true}} -> item id
local function put_stock_item(sim, req, sku)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local b, err = json_body(req)
  if not b then return err end
  local p = sim.by_sku[sku:lower()]
  if not p then return product_missing() end
  local si = type(b.stockItem) == "table" and b.stockItem
  if not si then return message(400, "\"%fieldName\" is required. Enter and try again.", { fieldName = "stockItem" }) end
  if si.qty ~= nil then
    local q = tonumber(si.qty)
    if not q then return message(400, "The \"%1\" value is invalid for the \"%2\" field.", { tostring(si.qty), "qty" }) end
    if sim.qty[p.sku] then sim.qty[p.sku].default = math.tointeger(q) or q end
  end
  return common.response(200, tostring(p.stock_item_id or (30000 + p.id)))
end

local function source_doc(s)
  return { source_code = s.code, name = s.name, enabled = true, description = "", latitude = 0, longitude = 0,
    country_id = "US", postcode = "78701", use_default_carrier_config = true, carrier_links = EMPTY }
end

local SOURCE_ITEM_FIELDS = { sku = "sku", source_code = "source_code", quantity = "quantity", status = "status" }

local function source_item_rows(sim)
  local rows = {}
  for _, p in ipairs(sim.product_list) do
    local q = sim.qty[p.sku]
    if q then
      for _, s in ipairs(M.sources(sim)) do
        if q[s.code] then
          rows[#rows + 1] = { sku = p.sku, source_code = s.code, quantity = q[s.code], status = q[s.code] > 0 and 1 or 0 }
        end
      end
    end
  end
  return rows
end

-- POST /V1/inventory/source-items {"sourceItems":[{sku, source_code, quantity, status}]}: the whole
-- batch is validated first and one invalid item saves nothing (400 "Validation Failed").
local function save_source_items(sim, req)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local b, err = json_body(req)
  if not b then return err end
  local items = b.sourceItems
  if type(items) ~= "table" or #items == 0 then return message(400, "Input data is empty") end
  if sim.input_limit and #items > 20 then
    return message(400, "Maximum items of type \"%type\" is %max", { type = "sourceItems", max = 20 })
  end
  local errors = {}
  local function bad(msg, params) errors[#errors + 1] = { message = msg, parameters = params } end
  for _, it in ipairs(items) do
    if type(it) ~= "table" then bad("\"%field\" can not be empty.", { field = "sku" })
    else
      if type(it.sku) ~= "string" or it.sku == "" then bad("\"%field\" can not be empty.", { field = "sku" })
      elseif not (sim.by_sku[it.sku:lower()] and sim.qty[sim.by_sku[it.sku:lower()].sku]) then
        bad("Product with SKU \"%sku\" does not exist.", { sku = it.sku }) -- the simulator's check
      end
      if type(it.source_code) ~= "string" or it.source_code == "" then
        bad("\"%field\" can not be empty.", { field = "source_code" })
      elseif not source_named(sim, it.source_code) then
        bad("Source with code \"%code\" does not exist.", { code = it.source_code })
      end
      if tonumber(it.quantity) == nil then bad("\"%field\" should be numeric.", { field = "quantity" }) end
      local st = tonumber(it.status)
      if st ~= 0 and st ~= 1 then bad("\"%field\" should a known status.", { field = "status" }) end
    end
  end
  if #errors > 0 then
    return common.response(400, { message = "Validation Failed", errors = errors })
  end
  for _, it in ipairs(items) do
    local p = sim.by_sku[it.sku:lower()]
    local q = tonumber(it.quantity)
    sim.qty[p.sku][it.source_code] = math.tointeger(q) or q
  end
  return common.response(200, "[]")
end

local function route_stock(sim, req, rest, pairs_)
  local mth = req.method
  if rest == "/products" and mth == "GET" then return list_products(sim, pairs_) end
  local sku = rest:match("^/stockItems/([^/]+)$")
  if sku and mth == "GET" then
    sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1
    local p = sim.by_sku[common.percent_decode(sku):lower()]
    if not p then return product_missing() end
    return common.response(200, stock_item_doc(sim, p))
  end
  sku = rest:match("^/products/([^/]+)/stockItems/%d+$")
  if sku and mth == "PUT" then
    return write_fault(sim, function() return put_stock_item(sim, req, common.percent_decode(sku)) end)
  end
  if not sim.msi or not rest:match("^/inventory/") then return nil end
  if rest == "/inventory/sources" and mth == "GET" then
    local out = {}
    for i, s in ipairs(M.sources(sim)) do out[i] = source_doc(s) end
    return common.response(200, { items = out, search_criteria = { filter_groups = EMPTY }, total_count = #out })
  end
  if rest == "/inventory/source-items" and mth == "GET" then
    sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1
    return search(sim, pairs_, source_item_rows(sim), function(r, f) return SOURCE_ITEM_FIELDS[f] and r[SOURCE_ITEM_FIELDS[f]] end,
      common.encode, "sku")
  end
  if rest == "/inventory/source-items" and mth == "POST" then
    return write_fault(sim, function() return save_source_items(sim, req) end)
  end
  return nil
end

---------------------------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------------------------

local function store_configs(sim)
  return common.response(200, { { id = 1, code = "default", website_id = 1, locale = "en_US",
    base_currency_code = sim.currency, default_display_currency_code = sim.currency, timezone = "America/Chicago",
    weight_unit = "lbs", base_url = sim.url .. "/", base_link_url = sim.url .. "/", base_static_url = sim.url .. "/static/",
    base_media_url = sim.url .. "/media/", secure_base_url = sim.url .. "/", secure_base_link_url = sim.url .. "/",
    secure_base_static_url = sim.url .. "/static/", secure_base_media_url = sim.url .. "/media/" } })
end

-- The ACL resource a route needs (named in Magento's 401 when the caller is not authorized).
local function resource_of(rest, mth)
  if rest:match("^/orders/%d+/comments$") then return "Magento_Sales::comment" end
  if rest:match("^/orders/%d+/cancel$") then return "Magento_Sales::cancel" end
  if rest:match("^/orders/%d+/u?n?hold$") then return "Magento_Sales::hold" end
  if rest:match("^/order/%d+/ship$") then return "Magento_Sales::ship" end
  if rest:match("^/shipments") then return "Magento_Sales::shipment" end
  if rest:match("^/orders") then return "Magento_Sales::actions_view" end
  if rest:match("^/inventory/sources") then return "Magento_InventoryApi::source" end
  if rest:match("^/inventory/") then return mth == "GET" and "Magento_InventoryApi::source" or "Magento_InventoryApi::source_edit" end
  if rest:match("stockItems") then return "Magento_CatalogInventory::cataloginventory" end
  if rest:match("^/products") then return "Magento_Catalog::products" end
  return "Magento_Backend::store"
end

local function route(sim, req, rest, pairs_)
  local mth = req.method
  if rest == "/orders" and mth == "GET" then return list_orders(sim, req, pairs_) end
  local id = math.tointeger(tonumber(rest:match("^/orders?/(%d+)")))
  local tail = id and rest:match("^/orders?/%d+(.*)$")
  if id and (tail == "/comments" or tail == "/cancel" or tail == "/hold" or tail == "/unhold") and mth == "POST"
      and rest:match("^/orders/") then
    return write_fault(sim, function()
      sim.stats.status_requests = sim.stats.status_requests + 1
      local rec = sim.by_id[id]
      if not rec then return order_missing() end
      if tail == "/comments" then return add_comment(sim, req, rec) end
      return order_action(sim, rec, tail:sub(2))
    end)
  end
  if id and tail == "/ship" and mth == "POST" and rest:match("^/order/") then
    return write_fault(sim, function()
      sim.stats.shipment_requests = sim.stats.shipment_requests + 1
      local rec = sim.by_id[id]
      if not rec then return order_missing() end
      return ship_order(sim, req, rec)
    end)
  end
  local stocked = route_stock(sim, req, rest, pairs_)
  if stocked then return stocked end
  if mth ~= "GET" then return no_route() end
  return sim:apply_any_fault(function()
    if id and tail == "" and rest:match("^/orders/") then
      sim.stats.order_reads = sim.stats.order_reads + 1
      local rec = sim.by_id[id]
      if not rec then return order_missing() end
      return common.response(200, rec.json)
    end
    if rest == "/shipments" then return list_shipments(sim, pairs_) end
    if rest == "/store/storeConfigs" then return store_configs(sim) end
    return no_route()
  end)
end

function M.fault_response(sim, status, fault)
  local retry = tostring(fault and fault.retry_after or 1)
  if status == 429 then
    return common.response(429, { message = "Too Many Requests" }, { ["Retry-After"] = retry })
  elseif status == 503 then
    return common.response(503, "<!doctype html><html><head><title>Error 503: Service Unavailable</title></head>"
      .. "<body><h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable to service your"
      .. " request due to maintenance downtime or capacity problems. Please try again later.</p></body></html>",
      { ["Content-Type"] = "text/html; charset=UTF-8", ["Retry-After"] = retry })
  end
  return message(status, "Internal Error. Details are available in Magento log file. Report ID: webapi-"
    .. sim.rng:hex(13))
end

-- A PHP deprecation printed ahead of the JSON by a badly behaved extension
function M.malformed_body(_, body)
  return "<br />\n<b>Deprecated</b>:  Creation of dynamic property Vendor\\Module\\Plugin\\OrderRepository::$logger"
    .. " is deprecated in <b>/var/www/html/app/code/Vendor/Module/Plugin/OrderRepository.php</b> on line <b>18</b><br />\n"
    .. body
end

function M.handle(sim, req)
  local _, pairs_ = common.parse_query(req.query_string)
  local store, rest = req.path:match("^/rest/([%w_]+)/V1(/.*)$")
  if not rest then
    rest = req.path:match("^/rest/V1(/.*)$")
    store = "default"
  end
  if not rest then return no_route() end
  if store ~= "default" and store ~= "all" and store ~= sim.store then
    return message(400, "Requested store is not found")
  end
  if rest == "/integration/admin/token" and req.method == "POST" then return admin_token(sim, req) end
  local ok, err = authenticate(sim, req, pairs_, resource_of(rest, req.method))
  if not ok then return err end
  if sim.bucket and not sim.bucket:take(sim.clock()) then
    if rest == "/orders" then sim.stats.order_list_requests = sim.stats.order_list_requests + 1 end
    return M.fault_response(sim, 429)
  end
  return route(sim, req, rest, pairs_)
end

---------------------------------------------------------------------------------------------
-- /_sim/ endpoints of this cart
---------------------------------------------------------------------------------------------

local function figures(sim, sku)
  local out = {}
  for code, q in pairs(sim.qty[sku] or {}) do out[code] = q end
  return out
end

-- /_sim/stock: GET { [sku] = { [source_code] = quantity } } (?sku= one); POST { sku, location?
-- (a source code; default "default"), quantity } sets one. /_sim/salable: GET { [sku] = the
-- salable quantity (sources less MSI reservations) }. /_sim/shipments/{order_id}: the order's
-- shipments, status, state and the emails Magento sent. /_sim/config: GET | POST { bearer,
-- page_quirk, input_limit } switches those options.
function M.control(sim, req, body)
  local sid = math.tointeger(tonumber(req.path:match("^/_sim/shipments/(%d+)$")))
  if sid and req.method == "GET" then
    local rec = sim.by_id[sid]
    if not rec then return common.response(404, { error = "no such order" }) end
    return common.response(200, { status = rec.status, state = rec.state,
      shipments = common.list(sim.shipments[sid] or {}), emails = common.list(sim.emails[sid] or {}) })
  end
  if req.path == "/_sim/config" then
    if req.method == "POST" then
      for _, k in ipairs{ "bearer", "page_quirk", "input_limit" } do
        if body[k] ~= nil then sim[k] = body[k] == true end
      end
    end
    return common.response(200, { bearer = sim.bearer, page_quirk = sim.page_quirk, input_limit = sim.input_limit,
      msi = sim.msi })
  end
  if req.path == "/_sim/salable" and req.method == "GET" then
    local out = {}
    for _, p in ipairs(sim.product_list) do if sim.qty[p.sku] then out[p.sku] = salable(sim, p) end end
    return common.response(200, out)
  end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "GET" then
    local one = common.parse_query(req.query_string).sku
    local out = {}
    for _, p in ipairs(sim.product_list) do
      if sim.qty[p.sku] and (not one or one:lower() == p.sku:lower()) then out[p.sku] = figures(sim, p.sku) end
    end
    return common.response(200, out)
  elseif req.method == "POST" then
    local p = type(body.sku) == "string" and sim.by_sku[body.sku:lower()]
    if not p or not sim.qty[p.sku] then return common.response(404, { error = "no product with sku " .. tostring(body.sku) }) end
    local code = body.location or "default"
    if not source_named(sim, code) then return common.response(404, { error = "no source " .. tostring(code) }) end
    local q = math.tointeger(tonumber(body.quantity))
    if not q then return common.response(400, { error = "quantity must be a whole number" }) end
    sim.qty[p.sku][code] = q
    return common.response(200, { sku = p.sku, location = code, quantity = q })
  end
  return common.response(405, { error = "GET or POST" })
end

---------------------------------------------------------------------------------------------

-- require("sim.magento").start{ port = 0, orders = 100, seed = 1, bearer = false, page_quirk = false,
--   input_limit = false, msi = true, consumer_key = "mg_ck", consumer_secret = "mg_cs",
--   access_token = "mg_at", access_token_secret = "mg_ats", stock = 50, simple_products = 0 }
function M.start(opts)
  local sim = common.start(M, opts)
  sim.selling = true -- orders placed from now on take stock
  return sim
end

return M
