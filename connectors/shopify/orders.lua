-- Shopify connector, orders (Admin REST API): pulls orders changed in a time window with cursor
-- paging (Link rel="next"), maps each one to the normalized order of docs/order-model.md, and
-- reads the shop's call limit (X-Shopify-Shop-Api-Call-Limit) for the cart's rate limiter.
-- Uses: ctx:request (rate limit + retries), cjson.safe, cartwright.jsonraw, cartwright.cartdata
-- (null, id and money helpers), cartwright.time, cartwright.log; the package (init.lua) for the
-- shop's address; token.lua for the access token of a cart set up with client credentials.
-- Contract: docs/connectors.md.

local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"
local task = require "cartwright.task"
local time = require "cartwright.time"
local cd = require "cartwright.cartdata"
local log = require "cartwright.log"
local shopify = require "connectors.shopify"
local token = require "connectors.shopify.token"

-- every read of a document goes through these: JSON null is truthy and numbers are floats
local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
local cents, fmt_cents, money = cd.cents, cd.fmt_cents, cd.money
local full_name, null = cd.full_name, json.null

local API_VERSION = shopify.api_version
local PAGE_MAX, PAGE_DEFAULT = 250, 50

-- Shopify dates carry the shop's offset ("2025-03-04T10:15:22-05:00"); the model wants UTC "Z".
local utc = time.datetime_utc

-- The pipeline asks for an order's updated_at (the hook below) right after normalize converted
-- it: the last conversion is kept.
local last_updated, last_updated_utc
local function updated_utc(s)
  if s ~= last_updated then last_updated, last_updated_utc = s, utc(s) end
  return last_updated_utc
end

---------------------------------------------------------------- HTTP
local function base_url(ctx)
  return shopify.origin(ctx.cart) .. "/admin/api/" .. (ctx.cart.api_version or API_VERSION) .. "/"
end

-- Shopify serves a version it no longer supports as its oldest supported one and says which
-- in X-Shopify-API-Version: a warning, once per run (ctx) of the cart, names both.
local function check_version(ctx, res)
  local served = res.headers["x-shopify-api-version"]
  local asked = ctx.cart.api_version or API_VERSION
  if not served or served == asked or ctx.shopify_version_warned then return end
  ctx.shopify_version_warned = true
  log.warn("shopify served another API version than the one asked for (the one asked for is retired or"
    .. " unknown: set api_version to a supported one)", { cart = ctx.cart.name, requested = asked, served = served })
end

-- GET with the token; a non-2xx answer becomes "http 401: <body> (what)". The message never
-- carries the token: it only travels in a header. A token from the client-credentials grant
-- the shop refuses (401: expired or revoked) is renewed and the request sent once more.
local function get(ctx, url, what)
  local res, err
  for _ = 1, 2 do
    local tok, terr = token.get(ctx)
    if not tok then return nil, terr .. " (" .. what .. ")" end
    res, err = ctx:request{ method = "GET", url = url, headers = { ["Accept"] = "application/json" },
      before_send = function(o)
        -- read again after the rate limiter's wait: a token due meanwhile is renewed first
        tok = token.get(ctx) or tok
        o.headers["X-Shopify-Access-Token"] = tok
      end }
    if not (res and res.status == 401 and token.refused(ctx, tok)) then break end
    log.debug("shopify refused the access token; getting a new one", { cart = ctx.cart.name, what = what })
  end
  if res and res.status >= 200 and res.status <= 299 then check_version(ctx, res) end
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

-- The next link is checked before it is followed (the cart's own origin, never a page already
-- read: ctx:pager), but the page that sent it is stored first: its orders are good.
local function fetch_orders(ctx, q, on_page)
  local limit = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local url = base_url(ctx) .. "orders.json?" .. cd.query{
    { "status", "any" }, { "updated_at_min", q.since }, { "updated_at_max", q["until"] },
    { "limit", limit }, { "order", "updated_at asc" } }
  local pager = ctx:pager("orders")
  local page, perr = pager:next(url)
  if not page then return nil, perr end
  local pending = fetch_page(ctx, url, page)
  while pending do
    local ok, got, err = pending:wait()
    if not ok then return nil, got end
    if not got then return nil, err end
    pending = nil
    local more, stop = pager:got(#got.raws, got.next ~= nil)
    if more and got.next then
      page, stop = pager:link(got.next)
      if page then
        pending = fetch_page(ctx, got.next, page)
        task.yield() -- the request goes out now, and the cart answers while this page is stored
      end
    end
    if #got.raws > 0 then
      local stored, serr = on_page(got.raws, got.docs)
      if cd.stopped(stored, serr) then
        if pending then pending:wait() end -- let the request in flight finish cleanly
        return nil, serr
      end
    end
    if stop then return nil, stop end
  end
  return true
end

local function address(a, email)
  a = tbl(a)
  local name, first, last, company, line1, line2, city, code, province, country =
    a.name, a.first_name, a.last_name, a.company, a.address1, a.address2, a.city, a.province_code, a.province,
    a.country_code
  if name == null or name == "" then name = nil end
  if first == null or first == "" then first = nil end
  if last == null or last == "" then last = nil end
  if company == null or company == "" then company = nil end
  if line1 == null or line1 == "" then line1 = nil end
  if line2 == null or line2 == "" then line2 = nil end
  if city == null or city == "" then city = nil end
  if code == null or code == "" then code = nil end
  if province == null or province == "" then province = nil end
  if country == null or country == "" then country = nil end
  return {
    name = name or full_name(first, last), first_name = first, last_name = last,
    company = company, address1 = line1, address2 = line2,
    city = city, region = code or province, postal_code = str(a.zip),
    country = country, phone = str(a.phone), email = email,
  }
end

local function line(li)
  local tax = 0
  local taxes = tbl(li.tax_lines)
  for i = 1, #taxes do tax = tax + (cents(taxes[i].price) or 0) end
  local props = {}
  local ps = tbl(li.properties)
  for i = 1, #ps do
    local p = ps[i]
    props[i] = { name = str(p.name), value = str(p.value) }
  end
  local sku, name = li.sku, li.name
  if sku == null or sku == "" then sku = nil end
  if not name or name == null or name == "" then name = nn(li.title) end
  return {
    external_id = str(li.id), sku = sku, name = name,
    quantity = int(li.quantity), price = money(li.price), tax = fmt_cents(tax), properties = props,
  }
end

local function shipping_total(o)
  local set = tbl(tbl(o.total_shipping_price_set).shop_money).amount
  if nn(set) then return money(set) end
  local sum = 0
  local sls = tbl(o.shipping_lines)
  for i = 1, #sls do sum = sum + (cents(sls[i].price) or 0) end
  return fmt_cents(sum)
end

-- Shopify's own open/closed/cancelled, as its `status` filter names them.
local function cart_status(o)
  return nn(o.cancelled_at) and "cancelled" or nn(o.closed_at) and "closed" or "open"
end

local function normalize(_ctx, o)
  if type(o) ~= "table" then return nil, "shopify order is not a JSON object" end
  local id = str(o.id)
  if not id then return nil, "shopify order without id" end
  local updated = updated_utc(o.updated_at)
  if not updated then return nil, "shopify order " .. id .. ": bad updated_at " .. tostring(nn(o.updated_at)) end

  local c, b = tbl(o.customer), tbl(o.billing_address)
  local email = nn(o.email) or nn(o.contact_email) or nn(c.email)
  local ship = address(o.shipping_address)
  local sl = tbl(tbl(o.shipping_lines)[1])
  ship.code, ship.title, ship.price = nn(sl.code), nn(sl.title), money(sl.price)

  local lines = {}
  local items = tbl(o.line_items)
  for i = 1, #items do lines[i] = line(items[i]) end
  local custom = {}
  local attrs = tbl(o.note_attributes)
  for i = 1, #attrs do
    local a = attrs[i]
    local k = str(a.name)
    if k then custom[k] = str(a.value) end
  end
  local discounts = {}
  local codes = tbl(o.discount_codes)
  for i = 1, #codes do
    local d = codes[i]
    discounts[i] = { code = str(d.code), amount = money(d.amount) }
  end

  return {
    external_id = id,
    number = str(o.order_number) or (nn(o.name) and (o.name:gsub("^#", ""))) or id,
    cart_status = cart_status(o),
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

-- X-Shopify-Shop-Api-Call-Limit: 32/40 = 32 calls of the shop's bucket of 40 are used (by us
-- and by every other app of the shop). What is left, less one to spare, is what the limiter may
-- spend now. The size is the plan's bucket, and Shopify drains a twentieth of it each second
-- (40 @ 2/s Standard, 80 @ 4/s Advanced, 400 @ 20/s Plus): the limiter is sized from it. A count
-- above the size, a size of 0 or text is ignored.
local function observe(res)
  local used, size = (res.headers["x-shopify-shop-api-call-limit"] or ""):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  used, size = tonumber(used), tonumber(size)
  if used and size > 0 and used <= size then return { left = size - used - 1, capacity = size, per_second = size / 20 } end
  return nil
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  default_download_statuses = { "open" },
  statuses = { "open", "closed", "cancelled" },
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  order_shape = SHAPE, -- the parts of an order normalize reads (for benchmarks and tests)
  -- pages come in updated_at order, so the pipeline may move the watermark after each page
  sorted_by_updated = true,
  -- id and status without normalizing: closed orders seen for the first time are skipped cheaply
  peek = function(o) return str(o.id), cart_status(o) end,
  updated_at = function(doc) return updated_utc(doc.updated_at) end,
  observe = observe,
}
