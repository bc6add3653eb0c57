-- tests/sim/prestashop.lua: a PrestaShop 8 webservice simulator (/api/…): the key as the Basic
-- user with an empty password (or ?ws_key=), PrestaShop's own 401 and error bodies; XML by
-- default, JSON with output_format=JSON or an Io-Format/Output-Format header; list parameters
-- display (full, [fields]), filter[field] ([a|b], [a,b], >[n], <[n], ![v], [v]%), date=1 (required
-- for date_add/date_upd filters: without it the cart's "This filter does not exist"), sort,
-- limit=offset,count, no totals; an empty list is `[]` in JSON; dates are the shop's wall clock
-- without a zone (UTC+1 unless opts.utc_offset). Resources: orders, customers, addresses,
-- countries, states, currencies, carriers, order_states, configurations, products, combinations,
-- stock_availables (PUT/PATCH one row, XML body), order_carriers (PUT, XML), order_histories
-- (POST, XML). JSON write bodies are refused as 8.1 refuses them (500, code 127). Orders placed
-- after start take stock; cancelling gives it back. Uses sim.common for everything cart-neutral.

local common = require "sim.common"
local crypto = require "cartwright.crypto"

local P = { name = "prestashop" }
local money = common.money

local DEFAULT_KEY = "PS8SIMKEY0000000000000000000TEST" -- 32 characters, as PrestaShop wants

-- Fresh-install order states (install-dev/data/xml/order_state.xml): id, name, paid, shipped,
-- delivery, logable, template
local STATES = {
  { 1, "Awaiting check payment", 0, 0, 0, 0, "cheque" },
  { 2, "Payment accepted", 1, 0, 0, 1, "payment" },
  { 3, "Processing in progress", 1, 0, 1, 1, "preparation" },
  { 4, "Shipped", 1, 1, 1, 1, "shipped" },
  { 5, "Delivered", 1, 1, 1, 1, "" },
  { 6, "Canceled", 0, 0, 0, 0, "order_canceled" },
  { 7, "Refunded", 1, 0, 0, 0, "refund" },
  { 8, "Payment error", 0, 0, 0, 0, "payment_error" },
  { 9, "On backorder (paid)", 1, 0, 0, 1, "outofstock" },
  { 10, "Awaiting bank wire payment", 0, 0, 0, 0, "bankwire" },
  { 11, "Remote payment accepted", 1, 0, 0, 1, "payment" },
  { 12, "On backorder (not paid)", 0, 0, 0, 0, "outofstock" },
  { 13, "Awaiting Cash On Delivery validation", 0, 0, 0, 0, "cashondelivery" },
}
local STATE_WEIGHTS = { { 5, 1 }, { 36, 2 }, { 18, 3 }, { 12, 4 }, { 8, 5 }, { 4, 6 }, { 2, 7 }, { 2, 8 },
  { 1, 9 }, { 8, 10 }, { 1, 11 }, { 1, 12 }, { 2, 13 } }
local STATE_WORDS = { cancelled = 6, canceled = 6, paid = 2, shipped = 4, delivered = 5, refunded = 7,
  processing = 3, pending = 10, awaiting = 10 }
local PAYMENT = { [1] = { "ps_checkpayment", "Payments by check" }, [10] = { "ps_wirepayment", "Bank transfer" },
  [13] = { "ps_cashondelivery", "Cash on delivery (COD)" } }

-- PrestaShop's fresh-install country ids for the catalog's places
local COUNTRIES = { { 1, "DE", "Germany" }, { 4, "CA", "Canada" }, { 8, "FR", "France" },
  { 17, "GB", "United Kingdom" }, { 21, "US", "United States" }, { 24, "AU", "Australia" } }

-- carriers by the shipping kinds of common.pick_shipping
local CARRIERS = { { 1, "Click and collect", "pickup" }, { 2, "My carrier", "standard" },
  { 3, "Express", "express" }, { 4, "Overnight", "overnight" }, { 5, "Freight LTL", "freight" },
  { 6, "Free shipping", "free" } }
local CARRIER_OF = {}
for _, c in ipairs(CARRIERS) do CARRIER_OF[c[3]] = c[1] end

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

function P.setup(sim, opts)
  sim.key = opts.key or DEFAULT_KEY
  sim.offset = math.tointeger(tonumber(opts.utc_offset)) or 60 -- minutes east of UTC
  -- dst = "eu": summer time as the EU has it (one hour more from the last Sunday of March to
  -- the last Sunday of October, 01:00 UTC both), e.g. Europe/Paris with utc_offset 60
  sim.dst = opts.dst == "eu"
  sim.timezone = opts.timezone or (sim.dst and sim.offset == 60 and "Europe/Paris")
    or (sim.offset == 60 and "Etc/GMT-1") or nil
  sim.shop_name = opts.shop_name or "PrestaShop Sim Store"
  sim.currency = opts.currency or "EUR"
  sim.permissions = opts.permissions -- nil = every resource; else { orders = true, … }
  sim.patch = opts.patch ~= false -- 8.x takes PATCH; false = 1.7 (405)
  if opts.rate then -- PrestaShop has no limit of its own; a host or WAF may add one
    sim.bucket = common.leaky_bucket(opts.rate.capacity or 40, opts.rate.per_second or 2)
  end
  sim.customers, sim.addresses, sim.customer_list = {}, {}, {}
  sim.address_seq, sim.detail_seq = 0, 0
  sim.states_res = {} -- region code -> state row
  sim.order_carriers, sim.histories, sim.emails = {}, {}, {}
  sim.history_seq = 0
  P.setup_products(sim, opts)
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    local s = self.stats
    s.stock_lookup_requests, s.stock_read_requests, s.stock_push_requests = 0, 0, 0
    s.shipment_requests, s.status_requests = 0, 0
    s.customers_requests, s.addresses_requests, s.lookup_requests = 0, 0, 0
  end
  sim:reset_stats()
end

-- Products: one per catalog family (id = family number, reference = the family code), with a
-- combination per variant (id = the variant number, reference = its SKU); a family of one
-- variant is a product without combinations whose reference is the SKU. stock_availables: one
-- row per combination and one per product (id_product_attribute 0) holding their sum.
function P.setup_products(sim, opts)
  local stock = math.tointeger(tonumber(opts.stock)) or 50
  sim.products, sim.combinations, sim.stock_rows, sim.stock_by_sku = {}, {}, {}, {}
  local families = {}
  for _, item in ipairs(common.catalog) do
    local f = families[item.product_no] or { items = {} }
    families[item.product_no] = f
    f.items[#f.items + 1] = item
  end
  local function row(product, attribute, sku)
    local r = { id = #sim.stock_rows + 1, id_product = product, id_product_attribute = attribute,
      id_shop = 1, id_shop_group = 0, quantity = stock, depends_on_stock = 0, out_of_stock = 2, location = "" }
    sim.stock_rows[r.id] = r
    if sku then sim.stock_by_sku[sku:lower()] = r end
    return r
  end
  for no = 1, common.product_count do
    local f = families[no]
    local single = #f.items == 1
    local p = { id = no, reference = single and f.items[1].sku or f.items[1].sku:match("^[^-]+"),
      name = f.items[1].title, price = f.items[1].price, combos = {} }
    sim.products[no] = p
    if single then
      p.stock = row(no, 0, p.reference)
    else
      for _, item in ipairs(f.items) do
        local c = { id = item.variant_no, id_product = no, reference = item.sku, title = item.variant_title }
        sim.combinations[c.id] = c
        p.combos[#p.combos + 1] = c
        c.stock = row(no, c.id, item.sku)
      end
      p.stock = row(no, 0, nil)
      P.sum_product(p)
    end
  end
end

function P.sum_product(p)
  if #p.combos == 0 then return end
  local total = 0
  for _, c in ipairs(p.combos) do total = total + c.stock.quantity end
  p.stock.quantity = total
end

local function set_quantity(sim, r, q)
  r.quantity = q
  if r.id_product_attribute ~= 0 then P.sum_product(sim.products[r.id_product]) end
end

---------------------------------------------------------------------------------------------
-- Orders
---------------------------------------------------------------------------------------------

local function six(cents) return money(cents, 6) end -- PrestaShop's decimal(20,6)

-- 01:00 UTC of the last Sunday of month mo of year y
local function last_sunday_1am(y, mo)
  local t = common.epoch(mo == 12 and y + 1 or y, mo == 12 and 1 or mo + 1, 1) - 86400
  local wd = select(7, common.civil(t))
  return t - wd * 86400 + 3600
end

local function in_summer(epoch)
  local y = common.civil(epoch)
  return epoch >= last_sunday_1am(y, 3) and epoch < last_sunday_1am(y, 10)
end

-- the shop's wall clock, "YYYY-MM-DD HH:MM:SS"
local function wall(sim, epoch)
  local off = sim.offset + ((sim.dst and in_summer(epoch)) and 60 or 0)
  return (common.local_time(epoch, off):gsub("T", " "))
end

local function state_id(sim, code)
  local r = sim.states_res[code]
  if not r then
    sim.state_seq = (sim.state_seq or 100) + 1
    r = { id = sim.state_seq, code = code }
    sim.states_res[code] = r
  end
  return r.id
end

local function new_address(sim, p, a, id_customer)
  sim.address_seq = sim.address_seq + 1
  local country
  for _, c in ipairs(COUNTRIES) do if c[2] == a.country_code then country = c[1] end end
  local doc = { id = sim.address_seq, id_customer = tostring(id_customer), id_manufacturer = "0",
    id_supplier = "0", id_warehouse = "0", id_country = tostring(country or 21),
    id_state = a.region_code ~= "" and tostring(state_id(sim, a.country_code .. "-" .. a.region_code)) or "0",
    alias = "My address", company = p.company or "", lastname = p.last_name, firstname = p.first_name,
    vat_number = "", address1 = a.address1, address2 = a.address2 or "", postcode = a.zip, city = a.city,
    other = "", phone = p.phone, phone_mobile = "", dni = "", deleted = "0",
    date_add = "", date_upd = "" }
  sim.addresses[doc.id] = { doc = doc, region = a.region, region_code = a.region_code, country_code = a.country_code }
  return doc.id
end

-- A customer (a quarter come back) and the address the order ships to.
local function pick_customer(sim, created)
  local rng = sim.rng
  if #sim.customer_list > 4 and rng:chance(0.25) then
    local c = sim.customers[sim.customer_list[rng:int(1, #sim.customer_list)]]
    return c.doc.id, c.address
  end
  local p, a = common.person(rng), common.address(rng)
  local id = #sim.customer_list + 1
  local doc = { id = id, id_default_group = "3", id_lang = "1", newsletter_date_add = "0000-00-00 00:00:00",
    ip_registration_newsletter = "", last_passwd_gen = wall(sim, created), secure_key = rng:hex(32),
    deleted = "0", passwd = "$2y$10$" .. crypto.hex(crypto.sha256(p.email)):sub(1, 53), -- a hash, as the real one
    lastname = p.last_name, firstname = p.first_name, email = p.email,
    id_gender = "0", birthday = "0000-00-00", newsletter = "0", optin = "0", website = "", company = p.company or "",
    siret = "", ape = "", outstanding_allow_amount = "0.000000", show_public_prices = "0", id_risk = "0",
    max_payment_days = "0", active = "1", note = "", is_guest = rng:chance(0.2) and "1" or "0", id_shop = "1",
    id_shop_group = "1", date_add = wall(sim, created), date_upd = wall(sim, created), reset_password_token = "",
    reset_password_validity = "0000-00-00 00:00:00" }
  local c = { doc = doc }
  c.address = new_address(sim, p, a, id)
  sim.customers[id] = c
  sim.customer_list[#sim.customer_list + 1] = id
  return id, c.address
end

function P.generate(sim, n, created, updated)
  local rng = sim.rng
  local id_customer, id_address = pick_customer(sim, created)
  local ship_to = sim.addresses[id_address]
  local invoice = id_address
  if rng:chance(0.1) then -- a billing address of its own
    local c = sim.customers[id_customer].doc
    invoice = new_address(sim, { first_name = c.firstname, last_name = c.lastname, phone = "+15125550100" },
      common.address(rng), id_customer)
  end
  local lines = common.pick_lines(rng, n)
  local sub = 0
  for _, l in ipairs(lines) do sub = sub + l.price * l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, sub)
  local discount = common.pick_discount(rng, sub)
  local rate = common.tax_rate({ country_code = ship_to.country_code, region_code = ship_to.region_code })
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, rate)
  local rows = {}
  for i, l in ipairs(lines) do
    sim.detail_seq = sim.detail_seq + 1
    local item = l.item
    local combo = not item.unknown and sim.combinations[item.variant_no]
    local product = item.unknown and 0 or item.product_no
    local incl = l.price + (l.tax // math.max(l.quantity, 1))
    rows[i] = { id = tostring(sim.detail_seq), product_id = tostring(product),
      product_attribute_id = tostring(combo and combo.id or 0), product_quantity = tostring(l.quantity),
      product_name = item.title .. (combo and (" - " .. item.variant_title) or ""),
      product_reference = item.sku, product_ean13 = "", product_isbn = "", product_upc = "", product_mpn = "",
      product_price = six(l.price), id_customization = "0",
      unit_price_tax_incl = six(incl), unit_price_tax_excl = six(l.price) }
  end
  local st = rng:weighted(STATE_WEIGHTS)
  local pay = PAYMENT[st] or (rng:chance(0.7) and { "ps_checkout", "PrestaShop Checkout" } or { "ps_wirepayment", "Bank transfer" })
  local incl = t.total
  local doc = {
    id = n, id_address_delivery = tostring(id_address), id_address_invoice = tostring(invoice),
    id_cart = tostring(n + 40), id_currency = "1", id_lang = "1", id_customer = tostring(id_customer),
    id_carrier = tostring(CARRIER_OF[kind]), current_state = tostring(st), module = pay[1],
    invoice_number = "0", invoice_date = "0000-00-00 00:00:00", delivery_number = "0",
    delivery_date = "0000-00-00 00:00:00", valid = (st == 6 or st == 8) and "0" or "1",
    date_add = "", date_upd = "", shipping_number = "", note = common.pick_note(rng) or "",
    id_shop_group = "1", id_shop = "1", secure_key = rng:hex(32), payment = pay[2], recyclable = "0",
    gift = "0", gift_message = "", mobile_theme = "0",
    total_discounts = six(t.discount), total_discounts_tax_incl = six(t.discount), total_discounts_tax_excl = six(t.discount),
    total_paid = six(incl), total_paid_tax_incl = six(incl), total_paid_tax_excl = six(incl - t.tax),
    total_paid_real = (st == 2 or st == 3 or st == 4 or st == 5) and six(incl) or six(0),
    total_products = six(t.subtotal), total_products_wt = six(t.subtotal + t.tax),
    total_shipping = six(t.shipping), total_shipping_tax_incl = six(t.shipping), total_shipping_tax_excl = six(t.shipping),
    carrier_tax_rate = "0.000", total_wrapping = six(0), total_wrapping_tax_incl = six(0), total_wrapping_tax_excl = six(0),
    round_mode = "2", round_type = "2", conversion_rate = "1.000000",
    reference = rng:token(9):upper():gsub("[^A-Z]", "X"),
    associations = { order_rows = rows },
  }
  local rec = { id = n, n = n, doc = doc, created = created, updated = updated }
  sim.order_carriers[n] = { id = n, id_order = n, id_carrier = CARRIER_OF[kind], id_order_invoice = 0,
    weight = "0.000000", shipping_cost_tax_excl = six(t.shipping), shipping_cost_tax_incl = six(t.shipping),
    tracking_number = "", date_add = "" }
  if sim.selling then P.take_stock(sim, rec, doc) end
  return rec
end

function P.render(sim, rec)
  local doc = rec.doc
  doc.date_add, doc.date_upd = wall(sim, rec.created), wall(sim, rec.updated)
  sim.order_carriers[rec.id].date_add = doc.date_add
  rec.json = common.encode(doc, true)
  rec.state = tonumber(doc.current_state)
  rec.reference = doc.reference
  rec.upd_text, rec.add_text = doc.date_upd, doc.date_add
end

-- Orders placed after start take stock (PrestaShop does when the order is validated); a
-- cancelled one gives it back.
function P.take_stock(sim, rec, doc)
  local cancelled = doc.current_state == "6"
  local sign
  if not cancelled and not rec.stock_taken then sign = -1
  elseif cancelled and rec.stock_taken then sign = 1
  else return end
  for _, row in ipairs(doc.associations.order_rows) do
    local r = sim.stock_by_sku[row.product_reference:lower()]
    if r then set_quantity(sim, r, r.quantity + sign * tonumber(row.product_quantity)) end
  end
  rec.stock_taken = sign < 0
end

function P.change(sim, rec, changes)
  local s = changes.status
  if s == nil then return true end
  local id = math.tointeger(tonumber(s)) or STATE_WORDS[tostring(s):lower()]
  if not id or not STATES[id] then return nil, "unknown status '" .. tostring(s) .. "'" end
  rec.doc.current_state = tostring(id)
  if sim.selling then P.take_stock(sim, rec, rec.doc) end
  return true
end

---------------------------------------------------------------------------------------------
-- Output: XML (PrestaShop's default) and JSON
---------------------------------------------------------------------------------------------

local function cdata(v)
  return "<![CDATA[" .. tostring(v):gsub("%]%]>", "]]]]><![CDATA[>") .. "]]>"
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if a == "id" or b == "id" then return a == "id" and b ~= "id" end
    if a == "associations" or b == "associations" then return b == "associations" and a ~= "associations" end
    return a < b
  end)
  return keys
end

local function xml_object(name, doc, out)
  out[#out + 1] = "<" .. name .. ">"
  for _, k in ipairs(sorted_keys(doc)) do
    local v = doc[k]
    if k == "associations" and type(v) == "table" then
      out[#out + 1] = "<associations>"
      for _, ak in ipairs(sorted_keys(v)) do
        local one = ak:gsub("s$", "")
        out[#out + 1] = "<" .. ak .. " nodeType=\"" .. one .. "\" virtualEntity=\"true\">"
        for _, item in ipairs(v[ak]) do xml_object(one, item, out) end
        out[#out + 1] = "</" .. ak .. ">"
      end
      out[#out + 1] = "</associations>"
    elseif type(v) ~= "table" then
      out[#out + 1] = "<" .. k .. ">" .. cdata(v) .. "</" .. k .. ">"
    end
  end
  out[#out + 1] = "</" .. name .. ">"
end

local XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'

local function xml_doc(build)
  local out = { XML_HEAD }
  build(out)
  out[#out + 1] = "\n</prestashop>\n"
  return table.concat(out)
end

local function wants_json(req, q)
  local f = q.output_format or req.headers["output-format"] or req.headers["io-format"]
  return type(f) == "string" and f:upper() == "JSON"
end

local function send(_, req, status, json_body, xml_body, headers)
  headers = headers or {}
  headers["PSWS-Version"] = "8.1.7"
  headers["X-Powered-By"] = "PrestaShop Webservice"
  if req.json then
    headers["Content-Type"] = "application/json"
    return common.response(status, json_body, headers)
  end
  headers["Content-Type"] = "text/xml;charset=utf-8"
  return common.response(status, xml_body, headers)
end

-- PrestaShop's error body: { errors = [{ code, message }] } / <errors><error>…
local function ps_error(sim, req, status, code, message, headers)
  local json_body = common.encode({ errors = { { code = code, message = message } } })
  local xml = xml_doc(function(out)
    out[#out + 1] = "<errors>\n<error>\n<code>" .. cdata(code) .. "</code>\n<message>" .. cdata(message)
      .. "</message>\n</error>\n</errors>"
  end)
  return send(sim, req, status, json_body, xml, headers)
end

function P.fault_response(sim, status)
  if status == 429 then -- PrestaShop has no 429: the host's (nginx limit_req, a WAF)
    return common.response(429, "<html><head><title>429 Too Many Requests</title></head><body>"
      .. "<center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>",
      { ["Content-Type"] = "text/html", ["Retry-After"] = "1" })
  end
  if status >= 500 then
    return ps_error(sim, sim.current or { json = false }, status, 0, "Internal error")
  end
  return ps_error(sim, sim.current or { json = false }, status, 0, "Error " .. status)
end

-- PHP prints a notice ahead of the answer when display_errors is on
function P.malformed_body(_, body)
  return "<br />\n<b>Notice</b>:  Undefined index: id_order_state in <b>/var/www/html/classes/order/Order.php"
    .. "</b> on line <b>1412</b><br />\n" .. body
end

---------------------------------------------------------------------------------------------
-- A minimal XML reader for write bodies: <prestashop><resource><field>text</field>…
---------------------------------------------------------------------------------------------

local ENTITIES = { lt = "<", gt = ">", amp = "&", quot = '"', apos = "'" }
local function unescape(s)
  return (s:gsub("&(#?x?)(%w+);", function(kind, v)
    if kind == "" then return ENTITIES[v] or ("&" .. v .. ";") end
    local n = kind == "#x" and tonumber(v, 16) or tonumber(v)
    return n and utf8.char(n) or ""
  end))
end

-- -> { name = resource element name, fields = { [name] = text } } | nil, err
function P.parse_xml(body)
  if type(body) ~= "string" then return nil, "String could not be parsed as XML" end
  local s = body:gsub("^%s*<%?xml.-%?>", "")
  local inner = s:match("^%s*<prestashop[^>]*>(.*)</prestashop>%s*$")
  if not inner then return nil, "String could not be parsed as XML" end
  local name, content = inner:match("^%s*<([%w_]+)[^>]*>(.*)</([%w_]+)>%s*$")
  if not name then return nil, "String could not be parsed as XML" end
  local fields = {}
  local pos = 1
  while true do
    local a, b, tag, _, selfclose = content:find("^%s*<([%w_]+)([^>]-)(/?)>", pos)
    if not a then break end
    if selfclose == "/" then
      fields[tag] = ""
      pos = b + 1
    else
      local close = content:find("</" .. tag .. ">", b + 1, true)
      if not close then return nil, "String could not be parsed as XML" end
      local raw = content:sub(b + 1, close - 1)
      if raw:find("<", 1, true) and not raw:find("^%s*<!%[CDATA%[") then
        fields[tag] = { nested = raw } -- associations and the like: not read here
      else
        local text = raw:gsub("<!%[CDATA%[(.-)%]%]>", function(c) return "\0" .. c .. "\0" end)
        -- text outside CDATA is unescaped; inside is literal
        local parts = {}
        for piece, lit in (text .. "\0\0"):gmatch("([^%z]*)%z([^%z]*)%z") do
          parts[#parts + 1] = unescape(piece) .. lit
        end
        if text:find("<", 1, true) then return nil, "String could not be parsed as XML" end
        fields[tag] = table.concat(parts)
      end
      pos = close + #tag + 3
    end
  end
  if content:find("%S", pos) then return nil, "String could not be parsed as XML" end
  return { name = name, fields = fields }
end

---------------------------------------------------------------------------------------------
-- Lists: filter, sort, limit, display
---------------------------------------------------------------------------------------------

-- One filter value against a field's text; numeric when both read as numbers.
local function cmp(a, b)
  local na, nb = tonumber(a), tonumber(b)
  if na and nb then return na < nb and -1 or (na > nb and 1 or 0) end
  a, b = tostring(a):lower(), tostring(b):lower()
  return a < b and -1 or (a > b and 1 or 0)
end

-- spec: "[a|b]", "[a,b]", ">[n]", "<[n]", "![v]", "[v]%", "%[v]", "%[v]%", "[v]" or a bare value -> matcher
local function matcher(spec, is_date)
  local function date_ok(v) -- MySQL compares a DATETIME with an ISO 'T' text as nothing
    return not (is_date and v:find("T", 1, true))
  end
  local lead, op, body, pct = spec:match("^(%%?)([<>!]?)%[(.*)%](%%?)$")
  if not op then lead, body, op, pct = "", spec, "", "" end
  local low = body:lower()
  if lead == "%" and pct == "%" then -- contains
    return function(x) return tostring(x):lower():find(low, 1, true) ~= nil end
  elseif lead == "%" then -- ends with
    return function(x) local t = tostring(x):lower() return t:sub(-#low) == low end
  elseif pct == "%" then -- begins with
    return function(x) return tostring(x):lower():sub(1, #low) == low end
  end
  if op == ">" then return function(x) return cmp(x, body) > 0 end end
  if op == "<" then return function(x) return cmp(x, body) < 0 end end
  if op == "!" then return function(x) return cmp(x, body) ~= 0 end end
  local lo, hi = body:match("^([^,]*),([^,]*)$")
  if lo then
    if not date_ok(lo) or not date_ok(hi) then return function() return false end end
    if is_date then -- a bare date is midnight: the last day of [A,B] is lost (#10822)
      if #lo == 10 then lo = lo .. " 00:00:00" end
      if #hi == 10 then hi = hi .. " 00:00:00" end
    end
    return function(x) return cmp(x, lo) >= 0 and cmp(x, hi) <= 0 end
  end
  local set = {}
  for v in (body .. "|"):gmatch("([^|]*)|") do set[#set + 1] = v end
  return function(x)
    for _, v in ipairs(set) do if cmp(x, v) == 0 then return true end end
    return false
  end
end

-- The list parameters of a request: filters (name -> matcher), sort, offset, count, display.
-- -> params | nil, error response
local function list_params(sim, req, q, fields)
  local p = { filters = {} }
  for k, v in pairs(q) do
    local f = k:match("^filter%[([%w_]+)%]$")
    if f then
      local is_date = f == "date_add" or f == "date_upd"
      if not fields[f] or (is_date and q.date ~= "1") then
        local list = {}
        for name in pairs(fields) do
          if not ((name == "date_add" or name == "date_upd") and q.date ~= "1") then list[#list + 1] = name end
        end
        table.sort(list)
        return nil, ps_error(sim, req, 400, 32, 'This filter does not exist. Did you mean: "' .. (list[1] or "id")
          .. '"? The full list is: "' .. table.concat(list, '", "') .. '"')
      end
      if v == "" then return nil, ps_error(sim, req, 400, 33, 'The filter "' .. f .. '" is malformed.') end
      p.filters[#p.filters + 1] = { f, matcher(v, is_date) }
    end
  end
  if q.sort then
    local body = q.sort:match("^%[(.*)%]$") or q.sort
    p.sort = {}
    for part in body:gmatch("[^,]+") do
      local field, dir = part:match("^(.+)_(%a+)$")
      dir = dir and dir:upper()
      if not field or (dir ~= "ASC" and dir ~= "DESC") then
        return nil, ps_error(sim, req, 400, 37, 'The "sort" value has to be formed as this example: "field_ASC" or'
          .. " '[field_1_DESC,field_2_ASC,field_3_ASC,...]' (\"field\" has to be an available field)")
      end
      if not fields[field] then
        return nil, ps_error(sim, req, 400, 38, "Unable to filter by this field. However, these are available: id")
      end
      p.sort[#p.sort + 1] = { field, dir == "DESC" }
    end
  end
  if q.limit then
    local a, b = q.limit:match("^%s*(%d*)%s*,%s*(%d*)%s*$")
    if a then p.offset, p.count = tonumber(a) or 0, tonumber(b) or 0
    elseif q.limit:find(",.*,") then
      return nil, ps_error(sim, req, 400, 39, 'The "limit" value has to be formed as this example: "5,25" or "10"')
    else p.offset, p.count = 0, tonumber(q.limit) or 0 end
  end
  if q.display == "full" then p.full = true
  elseif q.display then
    local body = q.display:match("^%[(.*)%]$")
    if not body then
      return nil, ps_error(sim, req, 400, 36, "The 'display' syntax is wrong. You can set 'full' or '[field_1,field_2,field_3,...]'.")
    end
    p.fields = {}
    for name in body:gmatch("[^,%[%]]+") do
      if not fields[name] then
        return nil, ps_error(sim, req, 400, 35, 'Unable to display this field "' .. name .. '".')
      end
      p.fields[#p.fields + 1] = name
    end
  end
  return p
end

-- rows: list of docs (tables). get(doc, field) reads a field's text.
local function select_rows(rows, p)
  local out = {}
  for _, doc in ipairs(rows) do
    local ok = true
    for _, f in ipairs(p.filters) do
      local v = doc[f[1]]
      if v == nil or not f[2](v) then ok = false break end
    end
    if ok then out[#out + 1] = doc end
  end
  if p.sort then
    table.sort(out, function(a, b)
      for _, s in ipairs(p.sort) do
        local c = cmp(a[s[1]], b[s[1]])
        if c ~= 0 then if s[2] then return c > 0 end return c < 0 end
      end
      return a.id < b.id
    end)
  end
  if p.count then
    local page = {}
    for i = p.offset + 1, math.min(#out, p.offset + p.count) do page[#page + 1] = out[i] end
    out = page
  end
  return out
end

local function shown(doc, p)
  if p.full then return doc end
  if p.fields then
    local d = {}
    for _, f in ipairs(p.fields) do d[f] = doc[f] end
    return d
  end
  return { id = doc.id }
end

-- A list answer in the request's format; an empty list is [] in JSON (no total anywhere).
local function list_answer(sim, req, plural, singular, docs, p, raw_json)
  local jparts, xml = {}, {}
  for i, doc in ipairs(docs) do
    jparts[i] = (p.full and raw_json and raw_json[i]) or common.encode(shown(doc, p), true)
  end
  local json_body = #docs == 0 and "[]" or ('{"' .. plural .. '":[' .. table.concat(jparts, ",") .. "]}")
  if req.json then return send(sim, req, 200, json_body) end
  xml[1] = "<" .. plural .. ">\n"
  for _, doc in ipairs(docs) do
    if p.full or p.fields then
      local out = {}
      xml_object(singular, shown(doc, p), out)
      xml[#xml + 1] = table.concat(out, "\n") .. "\n"
    else
      xml[#xml + 1] = "<" .. singular .. " id=\"" .. doc.id .. "\" xlink:href=\"" .. sim.url .. "/api/" .. plural
        .. "/" .. doc.id .. "\"/>\n"
    end
  end
  xml[#xml + 1] = "</" .. plural .. ">"
  return send(sim, req, 200, nil, xml_doc(function(out) out[#out + 1] = table.concat(xml) end))
end

local function one_answer(sim, req, singular, doc)
  local out = {}
  xml_object(singular, doc, out)
  return send(sim, req, 200, '{"' .. singular .. '":' .. common.encode(doc, true) .. "}",
    xml_doc(function(o) o[#o + 1] = table.concat(out, "\n") end))
end

local function field_set(doc, extra)
  local f = {}
  for k in pairs(doc) do if k ~= "associations" then f[k] = true end end
  for _, k in ipairs(extra or {}) do f[k] = true end
  return f
end

---------------------------------------------------------------------------------------------
-- Resources as docs
---------------------------------------------------------------------------------------------

local function state_docs()
  local out = {}
  for i, s in ipairs(STATES) do
    out[i] = { id = s[1], unremovable = "1", delivery = tostring(s[5]), hidden = "0", send_email = s[7] ~= "" and "1" or "0",
      module_name = "", invoice = tostring(s[3]), color = "#34209E", logable = tostring(s[6]), shipped = tostring(s[4]),
      paid = tostring(s[3]), pdf_delivery = "0", pdf_invoice = tostring(s[3]), deleted = "0", name = s[2], template = s[7] }
  end
  return out
end

local function sim_state_list(sim) -- the regions in use, as PrestaShop's states
  local out = {}
  for code, r in pairs(sim.states_res) do
    local country = code:match("^(%a+)")
    local cid = 21
    for _, c in ipairs(COUNTRIES) do if c[2] == country then cid = c[1] end end
    out[#out + 1] = { id = r.id, id_zone = "2", id_country = tostring(cid), iso_code = code:match("%-(.+)$"),
      name = code:match("%-(.+)$"), active = "1" }
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

local function resource_docs(sim, name)
  if name == "order_states" then return state_docs() end
  if name == "countries" then
    local out = {}
    for i, c in ipairs(COUNTRIES) do
      out[i] = { id = c[1], id_zone = "1", id_currency = "0", call_prefix = "1", iso_code = c[2], active = "1",
        contains_states = "1", need_identification_number = "0", need_zip_code = "1", zip_code_format = "",
        display_tax_label = "1", name = c[3] }
    end
    return out
  end
  if name == "states" then return sim_state_list(sim) end
  if name == "currencies" then
    return { { id = 1, names = sim.currency, name = sim.currency, symbol = "", iso_code = sim.currency,
      numeric_iso_code = "978", precision = "2", conversion_rate = "1.000000", deleted = "0", active = "1" } }
  end
  if name == "carriers" then
    local out = {}
    for i, c in ipairs(CARRIERS) do
      out[i] = { id = c[1], deleted = "0", is_module = "0", id_tax_rules_group = "1", id_reference = tostring(c[1]),
        name = c[2], active = "1", is_free = c[3] == "free" and "1" or "0",
        url = c[3] == "express" and "https://track.example/@" or "", shipping_handling = "1", delay = "" }
    end
    return out
  end
  if name == "configurations" then
    local out = {
      { id = 1, value = sim.shop_name, name = "PS_SHOP_NAME", id_shop_group = "", id_shop = "", date_add = "", date_upd = "" },
      { id = 2, value = "1", name = "PS_WEBSERVICE", id_shop_group = "", id_shop = "", date_add = "", date_upd = "" },
    }
    if sim.timezone then
      out[#out + 1] = { id = 3, value = sim.timezone, name = "PS_TIMEZONE", id_shop_group = "", id_shop = "", date_add = "", date_upd = "" }
    end
    return out
  end
  if name == "customers" then
    local out = {}
    for _, id in ipairs(sim.customer_list) do out[#out + 1] = sim.customers[id].doc end
    return out
  end
  if name == "addresses" then
    local out = {}
    for i = 1, sim.address_seq do out[#out + 1] = sim.addresses[i].doc end
    return out
  end
  if name == "products" then
    local out = {}
    for i = 1, common.product_count do
      local p = sim.products[i]
      out[i] = { id = p.id, reference = p.reference, name = p.name, active = "1", price = six(p.price),
        id_category_default = "2", type = "simple",
        product_type = #p.combos > 0 and "combinations" or "standard" }
    end
    return out
  end
  if name == "combinations" then
    local out = {}
    for i = 1, #common.catalog do
      local c = sim.combinations[i]
      if c then out[#out + 1] = { id = c.id, id_product = tostring(c.id_product), reference = c.reference,
        ean13 = "", price = "0.000000", minimal_quantity = "1", default_on = "" } end
    end
    return out
  end
  if name == "stock_availables" then
    local out = {}
    for i, r in ipairs(sim.stock_rows) do
      out[i] = { id = r.id, id_product = tostring(r.id_product), id_product_attribute = tostring(r.id_product_attribute),
        id_shop = tostring(r.id_shop), id_shop_group = tostring(r.id_shop_group), quantity = tostring(r.quantity),
        depends_on_stock = tostring(r.depends_on_stock), out_of_stock = tostring(r.out_of_stock), location = r.location }
    end
    return out
  end
  if name == "order_carriers" then
    local out = {}
    for _, rec in ipairs(sim.records) do
      local oc = sim.order_carriers[rec.id]
      out[#out + 1] = { id = oc.id, id_order = tostring(oc.id_order), id_carrier = tostring(oc.id_carrier),
        id_order_invoice = tostring(oc.id_order_invoice), weight = oc.weight, shipping_cost_tax_excl = oc.shipping_cost_tax_excl,
        shipping_cost_tax_incl = oc.shipping_cost_tax_incl, tracking_number = oc.tracking_number, date_add = oc.date_add }
    end
    return out
  end
  if name == "order_histories" then
    local out = {}
    for _, h in ipairs(sim.histories) do out[#out + 1] = h end
    return out
  end
end

local SINGULAR = { orders = "order", customers = "customer", addresses = "address", countries = "country",
  states = "state", currencies = "currency", carriers = "carrier", order_states = "order_state",
  configurations = "configuration", products = "product", combinations = "combination",
  stock_availables = "stock_available", order_carriers = "order_carrier", order_histories = "order_history" }

-- the order resource's fields (filters and sort may name them)
local ORDER_FIELDS = {}
for name in ([[id id_address_delivery id_address_invoice id_cart id_currency id_lang id_customer id_carrier
  current_state module invoice_number invoice_date delivery_number delivery_date valid date_add date_upd
  shipping_number note id_shop_group id_shop secure_key payment recyclable gift gift_message mobile_theme
  total_discounts total_discounts_tax_incl total_discounts_tax_excl total_paid total_paid_tax_incl
  total_paid_tax_excl total_paid_real total_products total_products_wt total_shipping total_shipping_tax_incl
  total_shipping_tax_excl carrier_tax_rate total_wrapping total_wrapping_tax_incl total_wrapping_tax_excl
  round_mode round_type conversion_rate reference]]):gmatch("%S+") do ORDER_FIELDS[name] = true end

---------------------------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------------------------

local COUNTERS = { customers = "customers_requests", addresses = "addresses_requests",
  countries = "lookup_requests", states = "lookup_requests", currencies = "lookup_requests",
  carriers = "lookup_requests", order_states = "lookup_requests",
  products = "stock_lookup_requests", combinations = "stock_lookup_requests" }

local function list_orders(sim, req, q)
  sim.stats.order_list_requests = sim.stats.order_list_requests + 1
  local fields = ORDER_FIELDS
  local p, err = list_params(sim, req, q, fields)
  if not p then return err end
  return sim:serve_list(nil, function()
    local docs, raws = {}, {}
    -- the fields most filters read, kept until the next change
    local light = sim:query("light", function()
      local out = {}
      for _, rec in ipairs(sim.records) do
        out[#out + 1] = { id = rec.id, rec = rec, date_upd = rec.upd_text, date_add = rec.add_text,
          current_state = tostring(rec.state), reference = rec.reference }
      end
      return out
    end)
    -- filters on other fields read the document
    local needs_doc = false
    for _, f in ipairs(p.filters) do
      if not (f[1] == "id" or f[1] == "date_upd" or f[1] == "date_add" or f[1] == "current_state" or f[1] == "reference") then
        needs_doc = true
      end
    end
    if p.sort then for _, s in ipairs(p.sort) do if light[1] and light[1][s[1]] == nil then needs_doc = true end end end
    if needs_doc then
      local full = {}
      for i, l in ipairs(light) do
        local d = l.rec.doc
        d.rec = l.rec
        full[i] = d
      end
      light = full
    end
    local rows = select_rows(light, p)
    for i, l in ipairs(rows) do
      local rec = l.rec
      raws[i] = rec.json
      docs[i] = (p.full and not req.json or p.fields) and sim:doc(rec) or { id = rec.id }
    end
    return list_answer(sim, req, "orders", "order", docs, p, raws)
  end)
end

-- PrestaShop takes numeric text in any field; the few checks its ObjectModel makes.
local TRACKING = "^[~:#,%%&_=%(%)%[%]%.%? %+%-@/%w]+$"

-- Reads leave a queued after_apply fault for the write it is meant for.
local function read_fault(sim, fn)
  local f = sim.faults[1]
  if f and f.after_apply then return fn() end
  return sim:apply_any_fault(fn)
end

-- writes run under the queued faults, after_apply ones included (common.apply_write)
local function shipment_fault(sim, fn) return common.apply_write(sim, fn, true) end

-- The XML body of a write, or PrestaShop's answer to one it cannot read.
local function write_body(sim, req, singular)
  local x, err = P.parse_xml(req.body)
  if not x then
    return nil, ps_error(sim, req, 500, 127, "XML error : " .. err .. "\nXML length : " .. #(req.body or "")
      .. "\nOriginal XML : " .. (req.body or ""))
  end
  if x.name ~= singular then
    return nil, ps_error(sim, req, 400, 89, "The resource in the body (" .. x.name .. ") is not " .. singular)
  end
  return x.fields
end

local function put_stock(sim, req, id, patch)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local r = sim.stock_rows[id]
  local f, err = write_body(sim, req, "stock_available")
  if not f then return err end
  if not f.id or f.id == "" then return ps_error(sim, req, 400, 90, "id is required when modifying a resource") end
  if tonumber(f.id) ~= id then return ps_error(sim, req, 400, 89, "id is duplicate in request") end
  if not r then return ps_error(sim, req, 404, 87, "Id(s) not exists: " .. id) end
  if not patch then
    for _, k in ipairs{ "id_product", "id_product_attribute", "quantity", "depends_on_stock", "out_of_stock" } do
      if f[k] == nil then
        return ps_error(sim, req, 400, 41, "parameter \"" .. k .. "\" required")
      end
    end
  end
  local q = f.quantity
  if q ~= nil and not tostring(q):match("^%-?%d+$") then
    return ps_error(sim, req, 400, 85, "Validation error: \"Property StockAvailable->quantity is not valid\"")
  end
  if q ~= nil then set_quantity(sim, r, math.tointeger(tonumber(q))) end
  local docs = resource_docs(sim, "stock_availables")
  return one_answer(sim, req, "stock_available", docs[id])
end

local function put_order_carrier(sim, req, id)
  sim.stats.shipment_requests = sim.stats.shipment_requests + 1
  local f, err = write_body(sim, req, "order_carrier")
  if not f then return err end
  if not f.id or tonumber(f.id) ~= id then return ps_error(sim, req, 400, 90, "id is required when modifying a resource") end
  local oc = sim.order_carriers[id]
  if not oc then return ps_error(sim, req, 404, 87, "Id(s) not exists: " .. id) end
  for _, k in ipairs{ "id_order", "id_carrier" } do
    if f[k] == nil or f[k] == "" then return ps_error(sim, req, 400, 41, "parameter \"" .. k .. "\" required") end
  end
  local t = f.tracking_number or ""
  if #t > 64 or (t ~= "" and not t:match(TRACKING)) then
    return ps_error(sim, req, 400, 85, "Validation error: \"Property OrderCarrier->tracking_number is not valid\"")
  end
  oc.tracking_number = t
  oc.id_carrier = tonumber(f.id_carrier) or oc.id_carrier
  local q = common.parse_query(req.query_string)
  if q.sendemail == "1" and t ~= "" then
    local carrier = CARRIERS[oc.id_carrier]
    -- PrestaShop sends in_transit only when the carrier has a tracking URL; a failure is only logged
    if carrier and carrier[3] == "express" then
      sim.emails[#sim.emails + 1] = { order = oc.id_order, template = "in_transit", tracking = t }
    end
  end
  return one_answer(sim, req, "order_carrier", resource_docs(sim, "order_carriers")[id])
end

local function post_history(sim, req)
  sim.stats.status_requests = sim.stats.status_requests + 1
  local f, err = write_body(sim, req, "order_history")
  if not f then return err end
  if f.id and f.id ~= "" then return ps_error(sim, req, 400, 91, "id is forbidden when adding a new resource") end
  local rec = sim.by_id[tonumber(f.id_order)]
  local state = tonumber(f.id_order_state)
  if not rec then return ps_error(sim, req, 400, 85, "Validation error: \"Property OrderHistory->id_order is not valid\"") end
  if not state or not STATES[state] then
    return ps_error(sim, req, 400, 85, "Validation error: \"Property OrderHistory->id_order_state is not valid\"")
  end
  sim.history_seq = sim.history_seq + 1
  local now = sim:now()
  local h = { id = sim.history_seq, id_employee = "0", id_order_state = tostring(state), id_order = tostring(rec.id),
    date_add = wall(sim, now) }
  sim.histories[#sim.histories + 1] = h
  assert(sim:change_order(rec.id, { status = state, at = now }))
  local q = common.parse_query(req.query_string)
  if q.sendemail == "1" and STATES[state][7] ~= "" then
    sim.emails[#sim.emails + 1] = { order = rec.id, template = STATES[state][7] }
  end
  local out = {}
  xml_object("order_history", h, out)
  return send(sim, req, 201, '{"order_history":' .. common.encode(h, true) .. "}",
    xml_doc(function(o) o[#o + 1] = table.concat(out, "\n") end))
end

local function authenticate(sim, req, q)
  local auth = req.headers["authorization"]
  local key
  if auth then
    local b64 = auth:match("^[Bb]asic%s+(%S+)$")
    local decoded = b64 and crypto.unbase64(b64)
    key = decoded and decoded:match("^([^:]*)") or ""
  elseif q.ws_key then
    key = q.ws_key
  end
  local realm = { ["WWW-Authenticate"] =
    'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. No password required."' }
  if key == nil then
    return ps_error(sim, req, 401, 16, "Please enter the authentication key as the login. No password required", realm)
  elseif key == "" then
    return ps_error(sim, req, 401, 17, "Authentication key is empty", realm)
  elseif #key ~= 32 then
    return ps_error(sim, req, 401, 18, "Invalid authentication key format", realm)
  elseif key ~= sim.key then
    return ps_error(sim, req, 401, 20, "Authentification key is not active", realm)
  end
  return nil
end

local function route(sim, req, q)
  local res, id = req.path:match("^/api/([%w_]+)/?(%d*)$")
  if req.path == "/api" or req.path == "/api/" then
    local out = {}
    for k in pairs(SINGULAR) do out[#out + 1] = k end
    table.sort(out)
    return send(sim, req, 200, common.encode({ api = out }), xml_doc(function(o)
      o[#o + 1] = "<api shopName=\"" .. sim.shop_name .. "\">"
      for _, k in ipairs(out) do o[#o + 1] = "<" .. k .. " xlink:href=\"" .. sim.url .. "/api/" .. k .. "\" get=\"true\"/>" end
      o[#o + 1] = "</api>"
    end))
  end
  if not res or not SINGULAR[res] then
    return ps_error(sim, req, 400, 27, 'Resource of type "' .. tostring(res or req.path) .. '" does not exists')
  end
  if sim.permissions and not sim.permissions[res] then
    return ps_error(sim, req, 401, 26, 'Resource of type "' .. res .. '" is not allowed with this authentication key')
  end
  id = tonumber(id)
  local m = req.method
  if m == "GET" and res == "orders" and not id then return list_orders(sim, req, q) end
  if (m == "PUT" or m == "PATCH") and res == "stock_availables" and id then
    if m == "PATCH" and not sim.patch then -- 1.7's checkHTTPMethod
      sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
      return ps_error(sim, req, 405, 23, "Method PATCH is not valid")
    end
    return sim:apply_any_fault(function() return put_stock(sim, req, id, m == "PATCH") end)
  end
  if m == "PUT" and res == "order_carriers" and id then
    return shipment_fault(sim, function() return put_order_carrier(sim, req, id) end)
  end
  if m == "POST" and res == "order_histories" and not id then
    return shipment_fault(sim, function() return post_history(sim, req) end)
  end
  if m ~= "GET" and m ~= "HEAD" then
    return ps_error(sim, req, 405, 101, "Method " .. m .. " is not allowed for the resource " .. res)
  end
  return read_fault(sim, function()
    if res == "orders" then
      local rec = sim.by_id[id]
      if not rec then return send(sim, req, 404, "", "") end
      return one_answer(sim, req, "order", sim:doc(rec))
    end
    local counter = COUNTERS[res]
    if res == "stock_availables" then -- by id: a read; by product: the look-up of the rows
      counter = (q["filter[id]"] or id) and "stock_read_requests" or "stock_lookup_requests"
    end
    if counter then sim.stats[counter] = sim.stats[counter] + 1 end
    local docs = resource_docs(sim, res)
    if id then
      for _, d in ipairs(docs) do if d.id == id then return one_answer(sim, req, SINGULAR[res], d) end end
      return send(sim, req, 404, "", "")
    end
    local fields = field_set(docs[1] or { id = 1 }, { "date_add", "date_upd" })
    fields.id = true
    local p, err = list_params(sim, req, q, fields)
    if not p then return err end
    return list_answer(sim, req, res, SINGULAR[res], select_rows(docs, p), p)
  end)
end

function P.handle(sim, req)
  local q = common.parse_query(req.query_string)
  req.json = wants_json(req, q)
  sim.current = req
  if req.path ~= "/api" and req.path:sub(1, 5) ~= "/api/" then
    return common.response(404, "<html><body><h1>Page not found</h1></body></html>", { ["Content-Type"] = "text/html" })
  end
  local denied = authenticate(sim, req, q)
  if denied then return denied end
  if sim.bucket and not sim.bucket:take(sim.clock()) then return P.fault_response(sim, 429) end
  return route(sim, req, q)
end

---------------------------------------------------------------------------------------------
-- /_sim/ endpoints of this cart: stock and shipments
---------------------------------------------------------------------------------------------

function P.control(sim, req, body)
  local ship_id = tonumber(req.path:match("^/_sim/shipments/(%d+)$"))
  if ship_id and req.method == "GET" then
    local rec = sim.by_id[ship_id]
    if not rec then return common.response(404, { error = "no such order" }) end
    local oc = sim.order_carriers[ship_id]
    local hist, emails = {}, {}
    for _, h in ipairs(sim.histories) do if tonumber(h.id_order) == ship_id then hist[#hist + 1] = h end end
    for _, e in ipairs(sim.emails) do if e.order == ship_id then emails[#emails + 1] = e end end
    return common.response(200, { order_carrier = { id = oc.id, id_carrier = oc.id_carrier, tracking_number = oc.tracking_number,
      carrier = CARRIERS[oc.id_carrier] and CARRIERS[oc.id_carrier][2] }, current_state = rec.state,
      histories = common.list(hist), emails = common.list(emails) })
  end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "GET" then
    local out = {}
    for sku, r in pairs(sim.stock_by_sku) do out[sku:upper()] = r.quantity end
    return common.response(200, out)
  elseif req.method == "POST" then
    local r = type(body.sku) == "string" and sim.stock_by_sku[body.sku:lower()]
    if not r then return common.response(404, { error = "no product with sku " .. tostring(body.sku) }) end
    local q = math.tointeger(tonumber(body.quantity))
    if not q then return common.response(400, { error = "quantity must be a whole number" }) end
    set_quantity(sim, r, q)
    return common.response(200, { sku = body.sku, quantity = q })
  end
  return common.response(405, { error = "GET or POST" })
end

-- For tests in the same process: sim:stock(sku) -> quantity | nil
function P.stock(sim, sku)
  local r = sim.stock_by_sku[sku:lower()]
  return r and r.quantity
end

-- require("sim.prestashop").start{ port = 0, orders = 100, seed = 1, key = "…32 chars…" }
function P.start(opts)
  opts = opts or {}
  local sim = common.start(P, opts)
  sim.stock = P.stock
  sim.selling = true -- orders placed from now on take stock
  return sim
end

return P
