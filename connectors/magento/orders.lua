-- Magento connector, orders (REST GET /V1/orders with searchCriteria): pulls orders modified in
-- a time window by keyset paging on entity_id, and maps each order to the normalized order of
-- docs/order-model.md: entity_id is the API id, increment_id the number people see; status
-- (the merchant's label under a fixed state) is the cart status; a configurable product's
-- parent line and its child line are one line. Magento core sends no quota headers: no observe.
-- Uses: api.lua (URLs, OAuth or Bearer), cartwright.jsonraw, cartwright.cartdata.

local jraw = require "cartwright.jsonraw"
local cd = require "cartwright.cartdata"
local api = require "connectors.magento.api"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
local cents, fmt_cents, money = cd.cents, cd.fmt_cents, cd.money

-- Magento caps pageSize only with Web API input limits on (300 then); 100 keeps pages quick
local PAGE_MAX, PAGE_DEFAULT = 300, 100

-- The default statuses of a 2.4 store, to ours. A store's own statuses (each under one of the
-- fixed states) are added in rules/status_map.lua; until then their orders are held, named.
local STATUSES = {
  pending = "received", pending_payment = "received", payment_review = "received", fraud = "received",
  holded = "received", processing = "payment_received", complete = "shipped", closed = "cancelled",
  canceled = "cancelled", paypal_canceled_reversal = "payment_received", paypal_reversed = "cancelled",
}

-- what normalize and peek read; the rest of a ~10 KB order is skipped at scan speed
local ADDRESS = true
local SHAPE = {
  entity_id = true, increment_id = true, state = true, status = true, created_at = true, updated_at = true,
  customer_email = true, customer_firstname = true, customer_lastname = true, customer_id = true,
  customer_note = true, order_currency_code = true, grand_total = true, subtotal = true, tax_amount = true,
  shipping_amount = true, discount_amount = true, coupon_code = true, discount_description = true,
  shipping_description = true, total_paid = true, total_refunded = true, billing_address = ADDRESS,
  payment = { method = true },
  items = { item_id = true, parent_item_id = true, product_type = true, sku = true, name = true,
            qty_ordered = true, qty_shipped = true, qty_canceled = true, price = true, tax_amount = true },
  extension_attributes = { shipping_assignments = { shipping = { address = ADDRESS, method = true } } },
}

-- Magento's timestamps are UTC without a zone: "2025-03-04 15:00:07"
local function utc(s)
  s = nn(s)
  if type(s) ~= "string" then return nil end
  local day, hms = s:match("^(%d%d%d%d%-%d%d%-%d%d)[Tt ](%d%d:%d%d:%d%d)")
  return day and (day .. "T" .. hms .. "Z") or nil
end

-- "2025-03-04T15:00:00Z" -> "2025-03-04 15:00:00", as Magento's filters compare
local function wall(iso)
  return iso and (iso:gsub("T", " "):gsub("Z$", "")) or nil
end

---------------------------------------------------------------- hooks
-- storeConfigs names the shop (its base URL) in one call; an integration without the Stores
-- resource gets a 401 naming it there, so anything but a 401 about the credentials themselves
-- falls back to one order (the right this connector really needs).
local function test(ctx)
  local doc, err = api.get_json(ctx, "store/storeConfigs", {}, "GET store/storeConfigs")
  if doc then
    local want, first = ctx.cart.store_code or "default", nil
    for _, s in ipairs(tbl(doc)) do
      first = first or s
      if nn(tbl(s).code) == want then first = s break end
    end
    return { api_version = "V1", shop = nn(tbl(first).base_url) or api.base(ctx) }
  end
  if err:match("^http 401") and not err:match("Magento_Backend::store") then return nil, err end
  local orders, oerr = api.get_json(ctx, "orders", api.criteria({}, nil, 1, 1), "GET orders")
  if not orders then return nil, oerr end
  if type(orders) ~= "table" or type(orders.items) ~= "table" then return nil, "bad JSON in GET orders" end
  return { api_version = "V1", shop = ctx.cart.url }
end

-- Keyset paging: updated_at in [since, until] (both inclusive), entity_id > the last one read,
-- sorted by entity_id, always currentPage 1. Offset paging would skip an order that leaves the
-- window while we page (cart-apis.md §7 item 2), and an out-of-range currentPage answered the
-- last page again on 2.0-2.3 (a loop); asking for page 1 after the last id avoids both. A page
-- shorter than asked, or total_count (of the rest) no larger than the page, ends the listing.
local function fetch_orders(ctx, q, on_page)
  local size = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local since, upto = wall(q.since), wall(q["until"])
  local last, pager = nil, ctx:pager("orders")
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local groups = { { { "updated_at", since, "gteq" } }, { { "updated_at", upto, "lteq" } } }
    if last then groups[3] = { { "entity_id", last, "gt" } } end
    local what = "orders page " .. page
    local res, err = api.call(ctx, "GET", "orders", api.criteria(groups, { { "entity_id", "ASC" } }, size, 1), what)
    if not res then return nil, err end
    -- each order's bytes and its document in one pass; ids above 2^53 keep every digit
    local raws, orders = jraw.split_decode(res.body, "items", SHAPE)
    if not raws then return nil, "bad JSON in " .. what .. ": " .. tostring(orders) end
    if #orders == 0 then return true end
    local ids = {}
    for i, o in ipairs(orders) do
      ids[i] = int(tbl(o).entity_id)
      -- the next page starts after the last id: without one it would start over, forever
      if not ids[i] then return nil, what .. ": order " .. i .. " has no entity_id" end
    end
    local ascending, aerr = pager:ascending(ids, last and last + 1, "entity_id gt")
    if not ascending then return nil, aerr end
    local ok, serr = on_page(raws, orders)
    if cd.stopped(ok, serr) then return nil, serr end
    local total = tonumber(res.body:match('"total_count"%s*:%s*(%d+)%s*}%s*$'))
    if #orders < size or (total and total <= #orders) then return true end
    last = ids[#ids]
  end
end

local function address(a, email)
  a = tbl(a)
  local street = tbl(a.street)
  local first, last = nn(a.firstname), nn(a.lastname)
  local rest = {}
  for i = 2, #street do rest[#rest + 1] = str(street[i]) end
  return {
    name = cd.full_name(first, last), first_name = first, last_name = last, company = nn(a.company),
    address1 = str(street[1]), address2 = #rest > 0 and table.concat(rest, ", ") or nil, city = nn(a.city),
    region = nn(a.region_code) or nn(a.region), postal_code = str(a.postcode), country = nn(a.country_id),
    phone = str(a.telephone), email = email or nn(a.email),
  }
end

-- The order's lines, each once: a configurable's child line repeats its parent's SKU and
-- quantity at price 0, so it is left out (its name, the variant's, is kept on the line). A
-- bundle's children are the parts shipped: they stay, with the bundle's own line.
local function lines_of(o)
  local items, by_id, child_of = tbl(o.items), {}, {}
  for _, it in ipairs(items) do
    local id = int(tbl(it).item_id)
    if id then by_id[id] = it end
  end
  for _, it in ipairs(items) do
    local parent = by_id[int(it.parent_item_id) or false]
    if parent and nn(parent.product_type) == "configurable" then child_of[int(parent.item_id)] = it end
  end
  local lines = {}
  for _, it in ipairs(items) do
    local parent = by_id[int(it.parent_item_id) or false]
    if not (parent and nn(parent.product_type) == "configurable") then
      local qty = tonumber(nn(it.qty_ordered))
      if qty and qty ~= math.floor(qty) then
        return nil, "line " .. tostring(str(it.item_id)) .. " has a fractional quantity " .. tostring(qty)
          .. " (a decimal-quantity product); the order model counts whole units"
      end
      local child = child_of[int(it.item_id) or false]
      lines[#lines + 1] = {
        external_id = str(it.item_id), sku = nn(it.sku), name = nn(child and child.name) or nn(it.name),
        quantity = int(it.qty_ordered), price = money(it.price), tax = money(it.tax_amount), properties = {},
      }
    end
  end
  return lines
end

-- paid, partially_paid or unpaid from total_paid (Magento has no payment status field); refunded
-- or partially_refunded from total_refunded
local function payment_status(o)
  local paid, total, refunded = cents(nn(o.total_paid)) or 0, cents(nn(o.grand_total)) or 0, cents(nn(o.total_refunded)) or 0
  if refunded > 0 then return refunded >= paid and "refunded" or "partially_refunded" end
  if paid <= 0 and total > 0 then return "unpaid" end
  return paid >= total and "paid" or "partially_paid"
end

-- shipped, partially_shipped or unshipped from the lines' qty_shipped (no field of its own)
local function fulfillment_status(o)
  local want, done = 0, 0
  for _, it in ipairs(tbl(o.items)) do
    if nn(it.parent_item_id) == nil then
      want = want + (tonumber(nn(it.qty_ordered)) or 0) - (tonumber(nn(it.qty_canceled)) or 0)
      done = done + (tonumber(nn(it.qty_shipped)) or 0)
    end
  end
  if want <= 0 then return nil end
  if done >= want then return "shipped" end
  return done > 0 and "partially_shipped" or "unshipped"
end

local function normalize(_ctx, o)
  if type(o) ~= "table" then return nil, "magento order is not a JSON object" end
  local id = str(o.entity_id)
  if not id then return nil, "magento order without entity_id" end
  local updated = utc(o.updated_at)
  if not updated then return nil, "magento order " .. id .. ": bad updated_at " .. tostring(nn(o.updated_at)) end
  local lines, lerr = lines_of(o)
  if not lines then return nil, "magento order " .. id .. ": " .. lerr end
  local b = tbl(o.billing_address)
  local shipping = tbl(tbl(tbl(tbl(o.extension_attributes).shipping_assignments)[1]).shipping)
  local ship = address(shipping.address)
  ship.code, ship.title, ship.price = nn(shipping.method), nn(o.shipping_description), money(o.shipping_amount)
  local discount = math.abs(cents(nn(o.discount_amount)) or 0)
  local discounts = {}
  if discount > 0 then
    discounts[1] = { code = str(o.coupon_code) or str(o.discount_description), amount = fmt_cents(discount) }
  end
  return {
    external_id = id,
    number = str(o.increment_id) or id,
    cart_status = nn(o.status),
    payment_status = payment_status(o),
    fulfillment_status = fulfillment_status(o),
    created_at = utc(o.created_at), updated_at = updated,
    currency = nn(o.order_currency_code),
    totals = { total = money(o.grand_total), subtotal = money(o.subtotal), tax = money(o.tax_amount),
               shipping = money(o.shipping_amount), discount = fmt_cents(discount) },
    customer = { email = nn(o.customer_email) or nn(b.email), first_name = nn(o.customer_firstname) or nn(b.firstname),
                 last_name = nn(o.customer_lastname) or nn(b.lastname), phone = str(b.telephone),
                 external_id = cd.customer_id(o.customer_id) },
    billing = address(b, nn(o.customer_email)),
    shipping = ship,
    lines = lines,
    notes = nn(o.customer_note),
    custom_fields = { payment_method = nn(tbl(o.payment).method), state = nn(o.state) },
    discounts = discounts,
  }
end

local function peek(o)
  if type(o) ~= "table" then return nil end
  return str(o.entity_id), nn(o.status)
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  -- processing = invoiced (paid), to ship; pending = placed and not invoiced yet: an order paid
  -- offline (check, bank transfer) or authorized only, which merchants usually ship from too
  default_download_statuses = { "pending", "processing" },
  statuses = STATUSES,
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  peek = peek,
  order_shape = SHAPE,
}
