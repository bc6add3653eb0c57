-- PrestaShop connector, orders (webservice): pulls the orders changed in a time window, keyset
-- paging on id (filter[id]=>[last], sort=[id_ASC]) inside the frozen window filter[date_upd]=[A,B]
-- (date=1), and maps each to the normalized order of docs/order-model.md. An order names its
-- customer, addresses, carrier, currency and state only by id: each page's are looked up in a
-- few batched calls (filter[id]=[1|5|9]), kept for the run, and stored with the order as one
-- document joined from the cart's own bytes:
--   {"order":…,"customer":…,"address_delivery":…,"address_invoice":…,"country_delivery":…,
--    "state_delivery":…,"country_invoice":…,"state_invoice":…,"carrier":…,"currency":…,"order_state":…}
-- (null where the shop has no such row). Dates are the shop's wall clock (tz.lua).
-- PrestaShop sends no quota headers, so there is no observe hook.
-- Uses: api.lua, tz.lua, cartwright.cartdata, cartwright.time.

local time = require "cartwright.time"
local task = require "cartwright.task"
local cd = require "cartwright.cartdata"
local api = require "connectors.prestashop.api"
local tz = require "connectors.prestashop.tz"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
local cents, fmt_cents, money = cd.cents, cd.fmt_cents, cd.money

local PAGE_MAX, PAGE_DEFAULT = 100, 50

-- Fresh-install order states (install-dev/data/xml/order_state.xml) to ours. A shop's own
-- states (ids from 14) are held naming the id until rules/status_map.lua maps them.
local STATUSES = {
  ["1"] = "received",          -- Awaiting check payment
  ["2"] = "payment_received",  -- Payment accepted
  ["3"] = "payment_received",  -- Processing in progress
  ["4"] = "shipped",           -- Shipped
  ["5"] = "shipped",           -- Delivered
  ["6"] = "cancelled",         -- Canceled
  ["7"] = "cancelled",         -- Refunded
  ["8"] = "received",          -- Payment error
  ["9"] = "payment_received",  -- On backorder (paid)
  ["10"] = "received",         -- Awaiting bank wire payment
  ["11"] = "payment_received", -- Remote payment accepted
  ["12"] = "received",         -- On backorder (not paid)
  ["13"] = "received",         -- Awaiting Cash On Delivery validation
}

-- the zone of a timezone setting, parsed once
local zones = {}
local function zone_of(cart)
  local spec = cart.timezone
  local z = zones[spec]
  if z == nil then
    local why
    z, why = tz.zone(spec)
    if not z then return nil, why end
    zones[spec] = z
  end
  return z
end

---------------------------------------------------------------- hooks

-- GET of the resources the import reads, one row each: proves the key and names each resource
-- the key may not read (PrestaShop answers 401 code 26 for those). The shop's name and time
-- zone come from configurations when the key may read them.
local NEEDED = { "orders", "customers", "addresses", "countries", "states", "carriers", "currencies", "order_states" }

local function test(ctx)
  local zone, zerr = zone_of(ctx.cart)
  if not zone then return nil, zerr end
  local missing, version = {}, nil
  for _, resource in ipairs(NEEDED) do
    local res, err = api.raw(ctx, "GET", resource, { { "display", "[id]" }, { "limit", "1" } })
    if not res then return nil, err .. " (GET " .. resource .. ")" end
    version = version or res.headers["psws-version"]
    if res.status == 401 and (res.body or ""):find('"code":26', 1, true) then
      missing[#missing + 1] = resource
    elseif res.status < 200 or res.status > 299 then
      local _, m = ctx:fail(res)
      return nil, m .. " (GET " .. resource .. ")"
    end
  end
  if #missing > 0 then
    return nil, "the webservice key may not read " .. table.concat(missing, ", ")
      .. " (Advanced Parameters > Webservice: tick View (GET) for them)"
  end
  local shop = ctx.cart.url
  local _, docs = api.list(ctx, "configurations", { { "display", "[name,value]" },
    { "filter[name]", "[PS_SHOP_NAME|PS_TIMEZONE]" } }, "GET configurations")
  for _, c in ipairs(type(docs) == "table" and docs or {}) do
    if c.name == "PS_SHOP_NAME" and nn(c.value) then shop = c.value end
    if c.name == "PS_TIMEZONE" and type(c.value) == "string" then
      local theirs = tz.zone(c.value)
      if theirs and (theirs.std ~= zone.std or theirs.rule ~= zone.rule) then
        return nil, "timezone = " .. ctx.cart.timezone .. " but the shop's time zone is " .. c.value
          .. " (International > Localization > Configuration): set timezone = \"" .. c.value .. "\""
      end
    end
  end
  return { api_version = version and ("webservice " .. version) or "webservice", shop = shop }
end

-- The window [since, until] in UTC as the shop's wall clock, widened by the zone's offsets
-- around each end so a daylight-saving change inside it loses no wall-clock time.
local function wall_window(zone, since, untl)
  local a, b = time.parse(since), time.parse(untl)
  local lo = zone:offsets_near(a)
  local _, hi = zone:offsets_near(b)
  local function fmt(t) return (time.format(t):gsub("T", " "):gsub("Z$", "")) end
  return fmt(a + lo), fmt(b + hi)
end

-- The customer's fields the order needs: display=full would also bring its password hash,
-- secure key and reset token, which have no business in the order store.
local CUSTOMER = "[id,email,firstname,lastname,company,is_guest,id_lang,id_default_group,date_add,date_upd]"

local function raw_of(cache, id)
  local hit = id and cache[id]
  return hit and hit.raw or "null", hit and hit.doc or nil
end

-- The look-ups of one step at once, each in a task of its own (each still through ctx, under
-- the cart's limiter): a slow shop answers them side by side. steps: { { resource, ids,
-- display? } }. -> true | nil, err (the first failure)
local function fill_all(ctx, cache, what, steps)
  local tasks = {}
  for i, s in ipairs(steps) do
    tasks[i] = task.spawn(api.fill, ctx, cache[s[1]], s[1], s[2], s[1] .. " of " .. what, s[3])
  end
  local failure
  for _, t in ipairs(tasks) do
    local done, ok, err = t:wait()
    if not done then failure = failure or tostring(ok)
    elseif not ok then failure = failure or err end
  end
  if failure then return nil, failure end
  return true
end

-- The page's orders joined with what they refer to: fills the run's caches with batched
-- look-ups, then builds each document. -> raws, docs | nil, err
local function assemble(ctx, run, oraws, orders, what)
  local c = run.cache
  local cust, addr, carriers, currencies, states = {}, {}, {}, {}, {}
  for _, o in ipairs(orders) do
    cust[#cust + 1] = int(o.id_customer)
    addr[#addr + 1] = int(o.id_address_delivery)
    addr[#addr + 1] = int(o.id_address_invoice)
    carriers[#carriers + 1] = int(o.id_carrier)
    currencies[#currencies + 1] = int(o.id_currency)
    states[#states + 1] = int(o.current_state)
  end
  local ok, err = fill_all(ctx, c, what, { { "customers", cust, CUSTOMER }, { "addresses", addr },
    { "carriers", carriers }, { "currencies", currencies }, { "order_states", states } })
  if not ok then return nil, err end
  local countries, regions = {}, {}
  for _, a in ipairs(addr) do
    local hit = a and c.addresses[a]
    if hit then
      countries[#countries + 1] = int(hit.doc.id_country)
      regions[#regions + 1] = int(hit.doc.id_state)
    end
  end
  ok, err = fill_all(ctx, c, what, { { "countries", countries }, { "states", regions } })
  if not ok then return nil, err end

  local raws, docs = {}, {}
  for i, o in ipairs(orders) do
    -- the order's secure_key is its customer's (it opens the order-confirmation pages): not kept
    local oraw = oraws[i]:gsub('"secure_key"%s*:%s*"[^"]*"', '"secure_key":""')
    local d, parts = { order = o }, { '{"order":', oraw }
    local function add(name, cache, id)
      local raw, doc = raw_of(cache, id)
      parts[#parts + 1] = ',"' .. name .. '":' .. raw
      d[name] = doc
      return doc
    end
    add("customer", c.customers, int(o.id_customer))
    for _, role in ipairs{ "delivery", "invoice" } do
      local a = add("address_" .. role, c.addresses, int(o["id_address_" .. role])) or {}
      add("country_" .. role, c.countries, int(a.id_country))
      add("state_" .. role, c.states, int(a.id_state))
    end
    add("carrier", c.carriers, int(o.id_carrier))
    add("currency", c.currencies, int(o.id_currency))
    add("order_state", c.order_states, int(o.current_state))
    parts[#parts + 1] = "}"
    raws[i], docs[i] = table.concat(parts), d
  end
  return raws, docs
end

-- Keyset paging inside a frozen window: an order modified while we page leaves the window
-- without shifting the rest (id > last, not an offset), and one that enters it behind the
-- cursor is read by the next run's overlap. The end is a short page (PrestaShop sends no
-- total) or `[]`. The pager stops a cart that ignores filter[id].
local function fetch_orders(ctx, q, on_page)
  local zone, zerr = zone_of(ctx.cart)
  if not zone then return nil, zerr end
  local per = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local a, b = wall_window(zone, q.since, q["until"])
  local run = { cache = { customers = {}, addresses = {}, carriers = {}, currencies = {}, order_states = {},
    countries = {}, states = {} } }
  local last, pager = 0, ctx:pager("orders")
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local what = "orders page " .. page
    local oraws, orders = api.list(ctx, "orders", {
      { "display", "full" }, { "date", "1" }, { "filter[date_upd]", "[" .. a .. "," .. b .. "]" },
      { "filter[id]", ">[" .. last .. "]" }, { "sort", "[id_ASC]" }, { "limit", tostring(per) } }, what)
    if not oraws then return nil, orders end
    if #orders == 0 then return true end
    local ids = {}
    for i, o in ipairs(orders) do
      ids[i] = int(type(o) == "table" and o.id)
      if not ids[i] then return nil, "bad JSON in " .. what .. ": an order without id" end
    end
    local ok, aerr = pager:ascending(ids, last + 1, "filter[id]")
    if not ok then return nil, aerr end
    local raws, docs = assemble(ctx, run, oraws, orders, what)
    if not raws then return nil, docs end
    local fine, serr = on_page(raws, docs)
    if cd.stopped(fine, serr) then return nil, serr end
    if #orders < per then return true end
    last = ids[#ids]
  end
end

local function address(a, country, region, email)
  a = tbl(a)
  local first, last = nn(a.firstname), nn(a.lastname)
  return {
    name = cd.full_name(first, last), first_name = first, last_name = last, company = nn(a.company),
    address1 = nn(a.address1), address2 = nn(a.address2), city = nn(a.city),
    region = nn(tbl(region).iso_code), postal_code = str(a.postcode), country = nn(tbl(country).iso_code),
    phone = str(nn(a.phone) or nn(a.phone_mobile)), email = email,
  }
end

-- a line's tax: (unit price with tax - without) × quantity, on the digits
local function line_tax(row, qty)
  local incl, excl = cents(row.unit_price_tax_incl), cents(row.unit_price_tax_excl)
  if not incl or not excl or not qty then return nil end
  return fmt_cents((incl - excl) * qty)
end

local function diff(a, b)
  a, b = cents(a), cents(b)
  return a and b and fmt_cents(a - b) or nil
end

local function normalize(ctx, d)
  if type(d) ~= "table" or type(d.order) ~= "table" then return nil, "prestashop order is not a JSON object" end
  local o = d.order
  local id = str(o.id)
  if not id then return nil, "prestashop order without id" end
  local zone, zerr = zone_of(ctx.cart)
  if not zone then return nil, zerr end
  local upd = zone:utc(nn(o.date_upd))
  if not upd then return nil, "prestashop order " .. id .. ": bad date_upd " .. tostring(nn(o.date_upd)) end
  local add = zone:utc(nn(o.date_add))

  local customer, state, carrier = tbl(d.customer), tbl(d.order_state), tbl(d.carrier)
  local email = nn(customer.email)
  local lines = {}
  for i, row in ipairs(tbl(tbl(o.associations).order_rows)) do
    local qty = int(row.product_quantity)
    lines[i] = { external_id = str(row.id), sku = nn(row.product_reference), name = nn(row.product_name),
      quantity = qty, price = money(row.unit_price_tax_excl), tax = line_tax(row, qty), properties = {} }
  end
  local ship = address(d.address_delivery, d.country_delivery, d.state_delivery, email)
  ship.code, ship.title, ship.price = nn(carrier.name), nn(carrier.name), money(o.total_shipping_tax_excl)
  local custom = { payment = nn(o.payment), module = nn(o.module) }
  if o.gift == "1" then custom.gift_message = nn(o.gift_message) or "" end
  if custom.gift_message == "" then custom.gift_message = nil end

  return {
    external_id = id,
    number = nn(o.reference) or id,
    cart_status = str(o.current_state),
    payment_status = state.paid == "1" and "paid" or "unpaid",
    fulfillment_status = (state.shipped == "1" and "shipped") or (state.delivery == "1" and "preparing") or nil,
    created_at = add and time.format(add) or nil, updated_at = time.format(upd),
    currency = nn(tbl(d.currency).iso_code),
    totals = { total = money(o.total_paid_tax_incl), subtotal = money(o.total_products),
      tax = diff(o.total_paid_tax_incl, o.total_paid_tax_excl), shipping = money(o.total_shipping_tax_excl),
      discount = money(o.total_discounts_tax_excl) }, -- tax excluded, as subtotal and shipping: tax holds all of it
    customer = { email = email, first_name = nn(customer.firstname), last_name = nn(customer.lastname),
      phone = ship.phone, external_id = cd.customer_id(o.id_customer) },
    billing = address(d.address_invoice, d.country_invoice, d.state_invoice, email),
    shipping = ship,
    lines = lines,
    notes = nn(o.note),
    custom_fields = custom,
    discounts = {},
  }
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  -- paid and to ship, and cash on delivery (shipped before it is paid)
  default_download_statuses = { "2", "3", "9", "11", "13" },
  statuses = STATUSES,
  peek = function(d)
    local o = type(d) == "table" and tbl(d.order) or {}
    return str(o.id), str(o.current_state)
  end,
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
  _test = { wall_window = wall_window }, -- for unit tests only
}
