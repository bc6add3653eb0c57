-- Shopify connector (Admin REST API): pulls orders changed in a time window with cursor paging
-- (Link rel="next") and maps each one to the normalized order of docs/order-model.md.
-- Uses: ctx:request (rate limit + retries), cjson.safe, cartwright.jsonraw, cartwright.cartdata
-- (null, id and money helpers), cartwright.time. Contract: docs/connectors.md.

local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"
local task = require "cartwright.task"
local time = require "cartwright.time"
local cd = require "cartwright.cartdata"

-- every read of a document goes through these: JSON null is truthy and numbers are floats
local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
local cents, fmt_cents, money = cd.cents, cd.fmt_cents, cd.money

local API_VERSION = "2025-01"
local PAGE_MAX, PAGE_DEFAULT = 250, 50

local schema = {
  url = { type = "string", required = true,
    description = "Shop address, e.g. https://acme.myshopify.com (https:// is added when missing)" },
  token = { type = "string", required = true, secret = true,
    description = "Admin API access token of a custom app (shpat_…), needs read_orders" },
  api_version = { type = "string", default = API_VERSION,
    description = "Admin API version in the URL (YYYY-MM); Shopify answers with the one it used" },
}

-- Shopify dates carry the shop's offset ("2025-03-04T10:15:22-05:00"); the model wants UTC "Z".
local utc = time.datetime_utc

---------------------------------------------------------------- HTTP
local function base_url(ctx)
  local url = ctx.cart.url:gsub("/+$", "")
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return url .. "/admin/api/" .. (ctx.cart.api_version or API_VERSION) .. "/"
end

-- GET with the token; a non-2xx answer becomes "http 401: <body> (what)". The message never
-- carries the token: it only travels in a header.
local function get(ctx, url, what)
  local res, err = ctx:request{ method = "GET", url = url, headers = {
    ["X-Shopify-Access-Token"] = ctx.cart.token, ["Accept"] = "application/json" } }
  return cd.ok_response(ctx, what, res, err)
end

-- Link: <https://…/orders.json?limit=50&page_info=abc>; rel="previous", <…>; rel="next"
local function next_link(link)
  if type(link) ~= "string" then return nil end
  for url, rel in link:gmatch('<([^>]+)>%s*;%s*rel="?([%w-]+)"?') do
    if rel == "next" then return url end
  end
  return nil
end

---------------------------------------------------------------- hooks
local function test(ctx)
  local res, err = get(ctx, base_url(ctx) .. "shop.json", "GET shop.json")
  if not res then return nil, err end
  local doc, jerr = json.decode(res.body)
  if type(doc) ~= "table" or type(doc.shop) ~= "table" then
    return nil, "bad JSON in shop.json: " .. tostring(jerr or "no shop object")
  end
  return {
    -- Shopify answers with the version it really served (an unsupported one falls forward).
    api_version = res.headers["x-shopify-api-version"] or ctx.cart.api_version or API_VERSION,
    shop = nn(doc.shop.name) or nn(doc.shop.myshopify_domain),
  }
end

-- Cursor paging: the first request carries the filters; every later one is the Link rel="next"
-- URL verbatim, because with page_info Shopify accepts only limit/fields (others -> 400) and the
-- link already has them. status=any: the default (open) would hide cancelled and closed orders,
-- whose changes must still reach the pipeline, which applies the download statuses itself.
-- The parts of an order normalize reads. Pages are decoded to this shape only (the raw bytes
-- are kept whole for storage): the *_set money twins, client details and the rest are skipped
-- at scan speed, which is most of the cost of reading a page.
local ADDRESS = { name = true, first_name = true, last_name = true, company = true, address1 = true,
  address2 = true, city = true, province = true, province_code = true, zip = true, country_code = true,
  phone = true }
local SHAPE = {
  id = true, order_number = true, name = true, email = true, contact_email = true, phone = true,
  created_at = true, updated_at = true, cancelled_at = true, closed_at = true, currency = true,
  financial_status = true, fulfillment_status = true, note = true,
  total_price = true, subtotal_price = true, total_tax = true, total_discounts = true,
  total_shipping_price_set = { shop_money = { amount = true } },
  customer = { id = true, email = true, first_name = true, last_name = true, phone = true },
  billing_address = ADDRESS, shipping_address = ADDRESS,
  shipping_lines = { code = true, title = true, price = true },
  line_items = { id = true, sku = true, name = true, title = true, quantity = true, price = true,
                 tax_lines = { price = true }, properties = true },
  note_attributes = true, discount_codes = { code = true, amount = true },
}

-- GET one page in its own task, so the next page is on its way while this one is stored.
local function fetch_page(ctx, url, page)
  return task.spawn(function()
    local res, err = get(ctx, url, "orders page " .. page)
    if not res then return nil, err end
    local raws, docs = jraw.split_decode(res.body, "orders", SHAPE)
    if not raws then return nil, "bad JSON in orders page " .. page .. ": " .. tostring(docs) end
    return { raws = raws, docs = docs, next = next_link(res.headers.link) }
  end)
end

local function fetch_orders(ctx, q, on_page)
  local limit = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local url = base_url(ctx) .. "orders.json?" .. cd.query{
    { "status", "any" }, { "updated_at_min", q.since }, { "updated_at_max", q["until"] },
    { "limit", limit }, { "order", "updated_at asc" } }
  local page = 1
  local pending = fetch_page(ctx, url, page)
  while pending do
    local ok, got, err = pending:wait()
    if not ok then return nil, got end
    if not got then return nil, err end
    pending = nil
    if got.next then
      page = page + 1
      pending = fetch_page(ctx, got.next, page)
    end
    if #got.raws > 0 then
      local stored, perr = on_page(got.raws, got.docs)
      if cd.stopped(stored, perr) then
        if pending then pending:wait() end -- let the request in flight finish cleanly
        return nil, perr
      end
    end
  end
  return true
end

local function address(a, email)
  a = tbl(a)
  local first, last = nn(a.first_name), nn(a.last_name)
  return {
    name = nn(a.name) or cd.full_name(first, last), first_name = first, last_name = last,
    company = nn(a.company), address1 = nn(a.address1), address2 = nn(a.address2),
    city = nn(a.city), region = nn(a.province_code) or nn(a.province), postal_code = str(a.zip),
    country = nn(a.country_code), phone = str(a.phone), email = email,
  }
end

local function line(li)
  local tax = 0
  for _, t in ipairs(tbl(li.tax_lines)) do tax = tax + (cents(t.price) or 0) end
  local props = {}
  for _, p in ipairs(tbl(li.properties)) do
    props[#props + 1] = { name = str(p.name), value = str(p.value) }
  end
  return {
    external_id = str(li.id), sku = nn(li.sku), name = nn(li.name) or nn(li.title),
    quantity = int(li.quantity), price = money(li.price), tax = fmt_cents(tax), properties = props,
  }
end

local function shipping_total(o)
  local set = tbl(tbl(o.total_shipping_price_set).shop_money).amount
  if nn(set) then return money(set) end
  local sum = 0
  for _, s in ipairs(tbl(o.shipping_lines)) do sum = sum + (cents(s.price) or 0) end
  return fmt_cents(sum)
end

local function normalize(_ctx, o)
  if type(o) ~= "table" then return nil, "shopify order is not a JSON object" end
  local id = str(o.id)
  if not id then return nil, "shopify order without id" end
  local updated = utc(o.updated_at)
  if not updated then return nil, "shopify order " .. id .. ": bad updated_at " .. tostring(nn(o.updated_at)) end

  local c, b = tbl(o.customer), tbl(o.billing_address)
  local email = nn(o.email) or nn(o.contact_email) or nn(c.email)
  local ship = address(o.shipping_address)
  local sl = tbl(tbl(o.shipping_lines)[1])
  ship.code, ship.title, ship.price = nn(sl.code), nn(sl.title), money(sl.price)

  local lines = {}
  for i, li in ipairs(tbl(o.line_items)) do lines[i] = line(li) end
  local custom = {}
  for _, a in ipairs(tbl(o.note_attributes)) do
    local k = str(a.name)
    if k then custom[k] = str(a.value) end
  end
  local discounts = {}
  for _, d in ipairs(tbl(o.discount_codes)) do
    discounts[#discounts + 1] = { code = str(d.code), amount = money(d.amount) }
  end

  return {
    external_id = id,
    number = str(o.order_number) or (nn(o.name) and (o.name:gsub("^#", ""))) or id,
    cart_status = nn(o.cancelled_at) and "cancelled" or nn(o.closed_at) and "closed" or "open",
    payment_status = nn(o.financial_status),
    fulfillment_status = nn(o.fulfillment_status),
    created_at = utc(o.created_at), updated_at = updated,
    currency = nn(o.currency),
    totals = { total = money(o.total_price), subtotal = money(o.subtotal_price), tax = money(o.total_tax),
               shipping = shipping_total(o), discount = money(o.total_discounts) },
    customer = { email = email, first_name = nn(c.first_name) or nn(b.first_name),
                 last_name = nn(c.last_name) or nn(b.last_name), phone = str(c.phone) or str(o.phone),
                 external_id = str(c.id) },
    billing = address(o.billing_address, email),
    shipping = ship,
    lines = lines,
    notes = nn(o.note),
    custom_fields = custom,
    discounts = discounts,
  }
end

return {
  name = "shopify", api_version = API_VERSION,
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  default_download_statuses = { "open" },
  statuses = { "open", "closed", "cancelled" },
  rate = { capacity = 40, per_second = 2 }, -- Standard plan leaky bucket; Plus shops allow more
  schema = schema,
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  -- pages come in updated_at order, so the pipeline may move the watermark after each page
  sorted_by_updated = true,
  updated_at = function(doc) return utc(doc.updated_at) end,
}
