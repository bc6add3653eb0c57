-- Cart.com connector, orders (REST API v1): pulls orders modified in a time window by keyset
-- paging on id (updated_at=gte:A AND lt:B, id=gt:last, sort=id), each page with its items and
-- custom fields (expand), then the page's ship-to and bill-to addresses and customers in one
-- batched call each (order_addresses/select_many, customers/select_many: Cart.com embeds
-- neither), and the store's order statuses once per run; maps each assembled document to the
-- normalized order of docs/order-model.md, and reads X-AC-Call-Limit for the cart's limiter.
-- Uses: api.lua, cjson.safe, cartwright.jsonraw, cartwright.cartdata, cartwright.time.

local jraw = require "cartwright.jsonraw"
local task = require "cartwright.task"
local time = require "cartwright.time"
local cd = require "cartwright.cartdata"
local api = require "connectors.cartcom.api"

-- every read of a document goes through these: JSON null is truthy and numbers are floats
local nn, tbl, str, int, money = cd.nn, cd.tbl, cd.str, cd.int, cd.money
local cents, fmt_cents = cd.cents, cd.fmt_cents

-- 100 is the cart's documented default; 250 are asked for (the API's maximum is not documented:
-- a store that answers fewer still pages correctly, as the end is its next_page)
local PAGE_MAX, PAGE_DEFAULT = 250, 250
local IDS_PER_CALL = 250 -- ids in one select_many at most, and its page size (followed when the store pages smaller)
-- characters the ids of one select_many take in the URL (each id and its encoded comma, %2C):
-- the query stays well under the 2,048 a default IIS server takes
local IDS_CHARS = 1500
local CUSTOMER_FIELDS = "id,email,first_name,last_name,phone_number,company,customer_number,no_account"

-- The simulator's and (as far as documented) a new store's statuses. A store may rename them or
-- add its own: a status missing here holds its orders, naming the status (rules/status_map.lua
-- takes a `cartcom` table for those).
local STATUSES = {
  ["Pending Processing"] = "payment_received", ["Awaiting Payment"] = "received", ["On Hold"] = "received",
  ["Back Ordered"] = "payment_received", ["Partially Shipped"] = "payment_received",
  ["Shipped"] = "shipped", ["Cancelled"] = "cancelled", ["Declined"] = "cancelled", ["Refunded"] = "cancelled",
}

---------------------------------------------------------------- the store's statuses
-- id -> { raw, doc } of every order status of the store (one call per run; ids are the store's)
local function load_statuses(ctx)
  local res, err = api.get(ctx, "order_statuses", { { "count", 250 } }, "GET order_statuses")
  if not res then return nil, err end
  local raws, docs = jraw.split_decode(res.body, "order_statuses")
  if not raws then return nil, "bad JSON in GET order_statuses: " .. tostring(docs) end
  local out = {}
  for i, d in ipairs(docs) do
    local id = int(tbl(d).id)
    if id then out[id] = { raw = raws[i], doc = d } end
  end
  return out
end

---------------------------------------------------------------- addresses and customers
-- The raw JSON of each resource among `ids`, by id: { [id] = { raw, doc } }, IDS_PER_CALL ids a
-- call (select_many; ids the store no longer has are simply absent). A store that pages the
-- answer smaller than asked sends a next_page: followed.
local function select_many(ctx, resource, ids, fields, what)
  local out, list = {}, {}
  for id in pairs(ids) do list[#list + 1] = id end
  table.sort(list)
  local chunks, cur, len = {}, {}, 0
  for _, id in ipairs(list) do
    local text = string.format("%d", id)
    if #cur > 0 and (#cur >= IDS_PER_CALL or len + #text + 3 > IDS_CHARS) then chunks[#chunks + 1], cur, len = cur, {}, 0 end
    cur[#cur + 1], len = text, len + #text + 3
  end
  if #cur > 0 then chunks[#chunks + 1] = cur end
  for _, chunk in ipairs(chunks) do
    local pager = ctx:pager(what)
    for page = 1, math.huge do
      local n, perr = pager:next(page)
      if not n then return nil, perr end
      local res, err = api.get(ctx, resource .. "/select_many", { { "ids", table.concat(chunk, ",") },
        { "count", IDS_PER_CALL }, { "page", page > 1 and page or nil }, { "fields", fields } }, what)
      if not res then return nil, err end
      local raws, docs = jraw.split_decode(res.body, resource)
      if not raws then return nil, "bad JSON in " .. what .. ": " .. tostring(docs) end
      for i, d in ipairs(docs) do
        local id = int(tbl(d).id)
        if id then out[id] = { raw = raws[i], doc = d } end
      end
      local meta = jraw.decode(res.body, { next_page = true })
      if #docs == 0 or type(meta) ~= "table" or nn(meta.next_page) == nil then break end
    end
  end
  return out
end

local function id_of(v)
  local id = int(v)
  return id and id > 0 and id or nil
end

-- One page's documents: { order, order_status, shipping_address, billing_address, customer },
-- each raw as the cart sent it, joined as text (never re-encoded). Two calls for the page
-- (addresses, customers), not two per order.
local function with_details(ctx, raws, orders, statuses, page)
  local addr_ids, cust_ids = {}, {}
  for _, o in ipairs(orders) do
    o = tbl(o)
    local s, b, c = id_of(o.order_shipping_address_id), id_of(o.order_billing_address_id), id_of(o.customer_id)
    if s then addr_ids[s] = true end
    if b then addr_ids[b] = true end
    if c then cust_ids[c] = true end
  end
  local addrs, customers = {}, {}
  local err
  if next(addr_ids) then
    addrs, err = select_many(ctx, "order_addresses", addr_ids, nil, "addresses of orders page " .. page)
    if not addrs then return nil, nil, err end
  end
  if ctx.cart.customers ~= false and next(cust_ids) then
    customers, err = select_many(ctx, "customers", cust_ids, CUSTOMER_FIELDS, "customers of orders page " .. page)
    if not customers then return nil, nil, err end
  end
  local out_raws, docs = {}, {}
  for i, o in ipairs(orders) do
    o = tbl(o)
    local st = statuses[int(o.order_status_id) or -1]
    local s = addrs[id_of(o.order_shipping_address_id) or -1]
    local b = addrs[id_of(o.order_billing_address_id) or -1]
    local c = customers[id_of(o.customer_id) or -1]
    out_raws[i] = '{"order":' .. raws[i] .. ',"order_status":' .. (st and st.raw or "null")
      .. ',"shipping_address":' .. (s and s.raw or "null") .. ',"billing_address":' .. (b and b.raw or "null")
      .. ',"customer":' .. (c and c.raw or "null") .. "}"
    docs[i] = { order = o, order_status = st and st.doc, shipping_address = s and s.doc,
      billing_address = b and b.doc, customer = c and c.doc }
  end
  return out_raws, docs
end

---------------------------------------------------------------- hooks
-- order_statuses is what the connector reads first (scope read_orders); the store's name needs
-- the `system` scope, so the shop is named by its address.
local function test(ctx)
  local res, err = api.get(ctx, "order_statuses", { { "count", 1 } }, "GET order_statuses")
  if not res then return nil, err end
  local doc, derr = api.decode(res, "GET order_statuses")
  if not doc then return nil, derr end
  if type(doc.order_statuses) ~= "table" then return nil, "bad JSON in GET order_statuses: no order_statuses list" end
  return { api_version = "v1", shop = api.store_url(ctx.cart) }
end

-- The end of the listing: a 404 carrying the cart's own error body (Cart.com answers 404 for a
-- page out of range, and may for an empty first page). A 404 without it (an HTML page: a wrong
-- url) is an error.
local function past_the_end(res)
  local e = res and res.status == 404 and api.error_body(res)
  return e and math.tointeger(tonumber(e.status_code)) == 404
end

-- Keyset paging inside the frozen window: always page 1 of `id > last`, sorted by id. Page
-- numbers over the window would be offset paging on a moving set: an order modified while we
-- page leaves the window and the rest shift down one place, so one is never seen
-- (cart-apis.md §7 item 2). The window's bounds are UTC with Z: a raw "+" offset would reach
-- the cart as a space.
local function fetch_orders(ctx, q, on_page)
  local limit = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local statuses, serr = load_statuses(ctx)
  if not statuses then return nil, serr end
  -- Whole seconds, as the model keeps them: the window ends before the second after `until`, so
  -- an order modified at until + 0.4 s (Cart.com keeps milliseconds) is in it, as its
  -- updated_at (truncated) says.
  local upto = time.parse(q["until"])
  if not upto then return nil, "bad window end " .. tostring(q["until"]) end
  local window = "gte:" .. q.since .. " AND lt:" .. time.format(upto + 1)
  local last, pager = 0, ctx:pager("orders")
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local what = "orders page " .. page
    local res, err = api.send(ctx, "GET", "orders", { { "updated_at", window }, { "id", "gt:" .. last },
      { "sort", "id" }, { "count", limit }, { "page", 1 }, { "expand", "items,custom_fields" } })
    if past_the_end(res) then return true end
    res, err = api.ok(ctx, what, res, err)
    if not res then return nil, err end
    -- each order's bytes and its document in one pass; ids above 2^53 keep every digit
    local raws, orders = jraw.split_decode(res.body, "orders")
    if not raws then return nil, "bad JSON in " .. what .. ": " .. tostring(orders) end
    local meta = jraw.decode(res.body, { total_count = true, next_page = true })
    if #orders == 0 then return true end
    -- a cart that ignores id=gt (or sorts otherwise) would send these pages forever
    local ids = {}
    for i, o in ipairs(orders) do
      ids[i] = int(tbl(o).id)
      -- the next page starts after the last id: a page with an order without one is refused
      if not ids[i] then return nil, what .. ": order " .. i .. " has no id" end
    end
    local ascending, aerr = pager:ascending(ids, last + 1, "id=gt")
    if not ascending then return nil, aerr end
    local full, docs, derr = with_details(ctx, raws, orders, statuses, page)
    if not full then return nil, derr end
    local ok, oerr = on_page(full, docs)
    if cd.stopped(ok, oerr) then return nil, oerr end
    -- next_page is the cart's own "more follow"; total_count says the same when it is absent
    local more = type(meta) == "table" and nn(meta.next_page) ~= nil
    if type(meta) == "table" and meta.next_page == nil and int(meta.total_count) then
      more = int(meta.total_count) > #orders
    end
    if not more then return true end
    last = ids[#ids]
  end
end

---------------------------------------------------------------- normalize
local function address(a, email)
  a = tbl(a)
  local first, last = nn(a.first_name), nn(a.last_name)
  return {
    name = cd.full_name(first, last), first_name = first, last_name = last, company = nn(a.company),
    address1 = nn(a.address_line_1), address2 = nn(a.address_line_2), city = nn(a.city),
    region = nn(a.state_code) or nn(a.state), postal_code = str(a.postal_code), country = nn(a.country_code),
    phone = str(a.phone), email = email,
  }
end

local function date(v) return time.datetime_utc(nn(v)) end

-- Items: the products sold. A discount is an item of its own (is_discount_item, a negative
-- price): it goes to discounts. An item with a parent (a kit's component) is counted once, in
-- its parent, where it is named as a property.
local function lines_of(o)
  local lines, discounts, by_id, children = {}, {}, {}, {}
  for _, it in ipairs(tbl(o.items)) do
    it = tbl(it)
    if it.is_discount_item == true then
      local c = cents(it.price) or 0
      discounts[#discounts + 1] = { code = str(it.item_number) or nn(o.coupon_code),
        amount = fmt_cents(math.abs(c * (int(it.quantity) or 1))) }
    elseif int(it.parent_order_item_id) then
      children[#children + 1] = it
    else
      local props = {}
      for _, v in ipairs(tbl(it.variants)) do
        local d = str(tbl(v).description)
        local name, value = (d or ""):match("^([^:]+):%s*(.*)$")
        if name then props[#props + 1] = { name = name, value = value } elseif d then props[#props + 1] = { name = "variant", value = d } end
      end
      for _, p in ipairs(tbl(it.personalizations)) do
        props[#props + 1] = { name = str(tbl(p).name) or "personalization", value = str(tbl(p).value) }
      end
      if nn(it.line_item_note) then props[#props + 1] = { name = "note", value = str(it.line_item_note) } end
      local line = { external_id = str(it.id), sku = nn(it.item_number), name = nn(it.item_name),
        quantity = int(it.quantity), price = money(it.price), tax = money(it.tax), properties = props }
      lines[#lines + 1] = line
      if line.external_id then by_id[line.external_id] = line end
    end
  end
  for _, it in ipairs(children) do
    local parent = by_id[str(it.parent_order_item_id)]
    local text = (str(it.item_number) or str(it.item_name) or "?") .. " x " .. tostring(int(it.quantity) or 1)
    if parent then parent.properties[#parent.properties + 1] = { name = "component", value = text } end
  end
  if #discounts == 0 and (cents(o.discount_total) or 0) ~= 0 then
    discounts[1] = { code = nn(o.coupon_code), amount = money(o.discount_total) }
  end
  return lines, discounts
end

local function normalize(ctx, doc)
  local o = type(doc) == "table" and doc.order
  if type(o) ~= "table" then return nil, "cartcom document without an order object" end
  local id = str(o.id)
  if not id then return nil, "cartcom order without id" end
  local updated = date(o.updated_at)
  if not updated then return nil, "cartcom order " .. id .. ": bad updated_at " .. tostring(nn(o.updated_at)) end
  local st = tbl(doc.order_status)
  local c = tbl(doc.customer)
  local email = nn(c.email)
  local ship = address(doc.shipping_address)
  ship.code = nn(o.selected_shipping_provider_service) or nn(o.selected_shipping_method)
  ship.title = nn(o.selected_shipping_method)
  ship.price = money(o.shipping_total)
  local lines, discounts = lines_of(o)
  local custom = {}
  for _, f in ipairs(tbl(o.custom_fields)) do
    local k = str(tbl(f).name)
    if k then custom[k] = str(f.value) end
  end
  local bill = address(doc.billing_address, email)
  return {
    external_id = id,
    number = str(o.order_number) or id, -- order_number is usually empty: the id is the number shown
    cart_status = nn(st.name) or ("order_status_id " .. tostring(str(o.order_status_id))),
    payment_status = nil, -- in order payments, which the list does not carry
    fulfillment_status = (st.is_shipped == true and "shipped") or (st.is_partially_shipped == true and "partially_shipped") or nil,
    created_at = date(o.ordered_at) or date(o.created_at), updated_at = updated,
    currency = ctx and ctx.cart and ctx.cart.currency or "USD",
    totals = { total = money(o.grand_total), subtotal = money(o.subtotal), tax = money(o.tax_total),
               shipping = money(o.shipping_total), discount = money(o.discount_total) },
    customer = { email = email, first_name = nn(c.first_name) or bill.first_name, last_name = nn(c.last_name) or bill.last_name,
                 phone = str(c.phone_number) or bill.phone, -- a guest checkout has a customer record too, without an account
                 external_id = id_of(o.customer_id) and c.no_account ~= true and str(o.customer_id) or nil },
    billing = bill,
    shipping = ship,
    lines = lines,
    notes = nn(o.special_instructions),
    custom_fields = custom,
    discounts = discounts,
  }
end

-- X-AC-Call-Limit: "used/allowed" calls of the store's 10 s window (Steel 5, Bronze 10, Silver 20,
-- Gold+ 50; installed apps share 50). It sizes the limiter at allowed per 10 s; a count that
-- is not two whole numbers, more used than allowed or an allowance of 0 is ignored. The window
-- is fixed, not a leaky bucket, and the header does not say when it ends: a call counted 1 opened
-- it, so the time since this process saw that call is the window's age (per store origin,
-- whichever cart's ctx saw it). Not knowing, the window is taken to end a whole window from now:
-- never more than `left` calls go before then, so the limiter cannot refill into a 429.
local WINDOW = 10
local windows = {} -- origin -> { start = monotonic time the window opened (nil: unknown), used }

local function observe(res)
  local used, allowed = (res.headers["x-ac-call-limit"] or ""):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  used, allowed = tonumber(used), tonumber(allowed)
  if not used or not allowed or allowed == 0 or used > allowed then return nil end
  local origin = (res.url or ""):match("^(%a[%w+.-]*://[^/?#]+)") or ""
  local now, w = task.monotonic(), windows[origin]
  if used <= 1 then w = { start = now }
  elseif not w or used < w.used or (w.start and now - w.start >= WINDOW) then w = {} end
  w.used = used
  windows[origin] = w
  local reset = w.start and math.max(0, WINDOW - (now - w.start)) or WINDOW
  return { capacity = allowed, per_second = allowed / WINDOW, left = allowed - used, reset = reset }
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  -- paid and waiting to ship
  default_download_statuses = { "Pending Processing", "Back Ordered" },
  statuses = STATUSES,
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  observe = observe,
}
