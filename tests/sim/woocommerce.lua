-- tests/sim/woocommerce.lua: a WooCommerce REST v3 simulator (orders, products and their stock,
-- system_status, index). Speaks /wp-json/wc/v3/…: HTTP Basic ck:cs (or consumer_key/
-- consumer_secret in the query) and OAuth 1.0a one-legged, verified the way
-- WC_REST_Authentication does it; page/per_page paging with X-WP-Total(Pages) and Link;
-- site-local dates without offset; WordPress' strict after/before comparisons; products and
-- variations with stock, their batch updates (100 items at most), and the stock an order
-- takes; shipments: the core Fulfillments API (opts.fulfillments = false: a site without it),
-- the Shipment Tracking extension (opts.shipment_tracking = true), order notes, status PUTs and
-- the emails WooCommerce would send for them. Uses sim.common for everything cart-neutral and
-- cartwright.crypto for the HMACs.

local common = require "sim.common"
local crypto = require "cartwright.crypto"

local EMPTY, null = common.EMPTY, common.null
local money = common.money

local W = { name = "woocommerce" }

local VERSION = "9.4.2"
local STATUSES = { "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed" }
local STATUS_LABEL = { pending = "Pending payment", processing = "Processing", ["on-hold"] = "On hold",
  completed = "Completed", cancelled = "Cancelled", refunded = "Refunded", failed = "Failed",
  ["checkout-draft"] = "Draft" }
local STATUS_ENUM = "any, trash, auto-draft, pending, processing, on-hold, completed, cancelled, refunded, "
    .. "failed, and checkout-draft"
local VALID_STATUS = { any = true, trash = true, ["auto-draft"] = true, ["checkout-draft"] = true }
for _, s in ipairs(STATUSES) do VALID_STATUS[s] = true end

local function wp_error(status, code, message, extra)
  local data = { status = status }
  for k, v in pairs(extra or {}) do data[k] = v end
  return common.response(status, { code = code, message = message, data = data })
end

---------------------------------------------------------------------------------------------
-- Setup
---------------------------------------------------------------------------------------------

function W.setup(sim, opts)
  sim.ck = opts.consumer_key or opts.ck or "ck_test"
  sim.cs = opts.consumer_secret or opts.cs or "cs_test"
  sim.currency = opts.currency or "USD"
  sim.tz = opts.tz_offset or -300 -- minutes; the site's zone (UTC-5, gmt_offset -5)
  sim.customers = {}
  sim.next_id = 1000
  sim.item_seq, sim.meta_seq = 100, 5000
  sim.nonces = {} -- nonce -> timestamp, forgotten after the 15-minute window
  -- "plain": the site has plain permalinks, /wp-json/… is WordPress's 404 page and the API
  -- answers only at /?rest_route=/wc/v3/…; "pretty" (default) answers at both
  sim.permalinks = opts.permalinks or "pretty"
  if opts.rate then -- WooCommerce has no limit of its own; a host or WAF may add one
    sim.rate = { capacity = opts.rate.capacity or 40, per_second = opts.rate.per_second or 2 }
    sim.bucket = common.leaky_bucket(sim.rate.capacity, sim.rate.per_second)
  end
  W.setup_products(sim, opts)
  sim.stock = W.stock
  -- shipments: the Fulfillments API is on unless opts.fulfillments == false (WooCommerce < 10.2
  -- or the feature off: its routes are not registered); the extension only when asked for
  sim.fulfillments_api = opts.fulfillments ~= false
  sim.shipment_tracking = opts.shipment_tracking == true
  sim.shipments = {} -- order id -> { fulfillments, trackings, notes, emails }
  sim.ship_seq = 0
  -- the stock calls are counted from the start and after every reset
  sim.reset_stats = function(self)
    common.Sim.reset_stats(self)
    self.stats.stock_lookup_requests, self.stats.stock_read_requests = 0, 0
    self.stats.stock_push_requests = 0
    self.stats.shipment_requests, self.stats.status_requests = 0, 0
  end
  sim:reset_stats()
end

local function api(sim, path) return sim.url .. "/wp-json/wc/v3" .. path end

---------------------------------------------------------------------------------------------
-- Order documents
---------------------------------------------------------------------------------------------

local function item_id(sim)
  sim.item_seq = sim.item_seq + 1
  return sim.item_seq
end

local function meta(sim, key, value, display_key, display_value)
  sim.meta_seq = sim.meta_seq + 1
  local m = { id = sim.meta_seq, key = key, value = value }
  if display_key then m.display_key, m.display_value = display_key, display_value end
  return m
end

local function pick_customer(sim)
  local rng = sim.rng
  if rng:chance(0.25) then return { id = 0, person = common.person(rng), address = common.address(rng) } end
  if #sim.customers > 0 and rng:chance(0.25) then return rng:pick(sim.customers) end
  local c = { id = #sim.customers + 2, person = common.person(rng), address = common.address(rng) }
  sim.customers[#sim.customers + 1] = c
  return c
end

local function address_doc(p, a, with_email)
  local d = { first_name = p.first_name, last_name = p.last_name, company = p.company or "",
    address_1 = a.address1, address_2 = a.address2, city = a.city, state = a.region_code,
    postcode = a.zip, country = a.country_code, phone = common.phone_national(p.phone) }
  if with_email then d.email = p.email end
  return d
end

local function line_doc(sim, l, rate_id)
  local item = l.item
  local gross, net = l.price * l.quantity, l.price * l.quantity - l.discount
  local metas = {}
  if not item.unknown and item.variant_title ~= "" then
    metas[1] = meta(sim, "pa_option", item.variant_title:lower():gsub("%s*/%s*", "-"), "Option",
      item.variant_title)
  end
  return {
    id = item_id(sim),
    name = item.variant_title ~= "" and (item.title .. " - " .. item.variant_title) or item.title,
    product_id = item.unknown and 0 or (200 + item.product_no),
    variation_id = (item.unknown or sim.simple_item[item.sku]) and 0 or (600 + item.variant_no),
    quantity = l.quantity, tax_class = "",
    subtotal = money(gross), subtotal_tax = money(l.tax), total = money(net), total_tax = money(l.tax),
    taxes = l.tax > 0 and { { id = rate_id, total = money(l.tax), subtotal = money(l.tax) } } or EMPTY,
    meta_data = common.list(metas), sku = item.sku,
    price = net / l.quantity / 100, -- a number, not a string, in WooCommerce
    image = { id = item.unknown and "" or (300 + item.product_no),
      src = item.unknown and "" or (sim.url .. "/wp-content/uploads/" .. item.sku:lower() .. ".jpg") },
    parent_name = item.variant_title ~= "" and item.title or null,
  }
end

local SHIPPING = { standard = { "flat_rate", "Flat rate", "1" }, express = { "flat_rate", "Express", "4" },
  overnight = { "flat_rate", "Overnight", "5" }, free = { "free_shipping", "Free shipping", "2" },
  pickup = { "local_pickup", "Local pickup", "3" }, freight = { "freight_ltl", "Freight (LTL)", "7" } }

local function shipping_line(sim, kind, cents, line_docs)
  local names = {}
  for i, l in ipairs(line_docs) do names[i] = l.name .. " &times; " .. l.quantity end
  local m = SHIPPING[kind]
  return { id = item_id(sim), method_title = m[2], method_id = m[1], instance_id = m[3],
    total = money(cents), total_tax = "0.00", taxes = EMPTY, tax_status = "taxable",
    meta_data = { meta(sim, "Items", table.concat(names, ", "), "Items", table.concat(names, ", ")) } }
end

local function tax_lines(sim, rate, title, ship_to, tax_cents, rate_id)
  if rate <= 0 then return EMPTY end
  return { { id = item_id(sim), rate_code = ship_to.country_code .. "-" .. ship_to.region_code .. "-" ..
      title:upper() .. "-1", rate_id = rate_id, label = title, compound = false,
    tax_total = money(tax_cents), shipping_tax_total = "0.00",
    rate_percent = math.floor(rate * 100000 + 0.5) / 1000, meta_data = EMPTY } }
end

local function coupon_lines(sim, d)
  if not d then return EMPTY end
  return { { id = item_id(sim), code = d.code:lower(), discount = money(d.cents), discount_tax = "0.00",
    discount_type = d.kind == "fixed" and "fixed_cart" or "percent", nominal_amount = d.value,
    free_shipping = false, meta_data = EMPTY } }
end

-- a recent window of a busy store: mostly still to be shipped
local STATES = { { 64, "processing" }, { 14, "completed" }, { 8, "on-hold" }, { 5, "pending" },
  { 4, "cancelled" }, { 3, "refunded" }, { 2, "failed" } }
local PAID = { processing = true, completed = true, refunded = true }
local GATEWAYS = { { 60, { "stripe", "Credit Card (Stripe)" } }, { 25, { "ppcp-gateway", "PayPal" } },
  { 10, { "bacs", "Direct bank transfer" } }, { 5, { "cod", "Cash on delivery" } } }

local function order_meta(sim, attrs)
  local out = { meta(sim, "_wc_order_attribution_source_type", sim.rng:pick({ "typein", "organic", "referral" })),
    meta(sim, "_wc_order_attribution_device_type", sim.rng:pick({ "Desktop", "Mobile" })),
    meta(sim, "is_vat_exempt", "no") }
  for _, a in ipairs(attrs) do out[#out + 1] = meta(sim, a.name, a.value) end
  return out
end

function W.generate(sim, n, created, updated)
  local rng = sim.rng
  sim.next_id = sim.next_id + rng:int(1, 4) -- post ids are shared with other content: gaps
  local id, status = sim.next_id, rng:weighted(STATES)
  local c = pick_customer(sim)
  local p = c.person
  local ship_to = rng:chance(0.15) and common.address(rng) or c.address
  local lines = common.pick_lines(rng, n)
  local subtotal = 0
  for _, l in ipairs(lines) do subtotal = subtotal + l.price * l.quantity end
  local kind, ship_cents = common.pick_shipping(rng, n, subtotal)
  local discount = common.pick_discount(rng, subtotal)
  local rate, title = common.tax_rate(ship_to)
  local t = common.totals(lines, ship_cents, discount and discount.cents or 0, rate)
  local fee = rng:chance(0.03) and 400 or 0 -- gift wrapping
  local gateway = rng:weighted(GATEWAYS)
  local rate_id = ({ US = 1, CA = 2 })[ship_to.country_code] or 3
  local line_docs = {}
  for i, l in ipairs(lines) do line_docs[i] = line_doc(sim, l, rate_id) end
  local total = t.total + fee
  local doc = {
    id = id, parent_id = 0, status = status, currency = sim.currency, version = VERSION,
    prices_include_tax = false,
    date_created = common.local_time(created, sim.tz), date_created_gmt = common.local_time(created, 0),
    discount_total = money(t.discount), discount_tax = "0.00", shipping_total = money(t.shipping),
    shipping_tax = "0.00", cart_tax = money(t.tax), total = money(total), total_tax = money(t.tax),
    customer_id = c.id, order_key = "wc_order_" .. rng:token(13),
    billing = address_doc(p, c.address, true), shipping = address_doc(p, ship_to, false),
    payment_method = gateway[1], payment_method_title = gateway[2],
    transaction_id = (PAID[status] and gateway[1] == "stripe") and ("ch_" .. rng:token(24)) or "",
    customer_ip_address = "203.0.113." .. rng:int(1, 254),
    customer_user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    created_via = "checkout", customer_note = common.pick_note(rng) or "",
    cart_hash = rng:hex(32), number = tostring(id),
    meta_data = order_meta(sim, common.pick_attributes(rng, created)),
    line_items = line_docs,
    tax_lines = tax_lines(sim, rate, title, ship_to, t.tax, rate_id),
    shipping_lines = { shipping_line(sim, kind, ship_cents, line_docs) },
    fee_lines = fee > 0 and { { id = item_id(sim), name = "Gift wrapping", tax_class = "",
      tax_status = "none", amount = money(fee), total = money(fee), total_tax = "0.00",
      taxes = EMPTY, meta_data = EMPTY } } or EMPTY,
    coupon_lines = coupon_lines(sim, discount),
    refunds = status == "refunded" and { { id = id + 1, reason = "", total = money(-total) } } or EMPTY,
    payment_url = sim.url .. "/checkout/order-pay/" .. id .. "/?pay_for_order=true&key=wc_order_x",
    is_editable = status == "pending" or status == "on-hold" or status == "failed",
    needs_payment = status == "pending" or status == "failed",
    needs_processing = true, currency_symbol = "$",
    _links = { self = { { href = api(sim, "/orders/" .. id),
      targetHints = { allow = { "GET", "POST", "PUT", "PATCH", "DELETE" } } } },
      collection = { { href = api(sim, "/orders") } } },
  }
  if c.id > 0 then doc._links.customer = { { href = api(sim, "/customers/" .. c.id) } } end
  local rec = { id = id, n = n, doc = doc, created = created, updated = updated,
    paid = PAID[status] and math.min(created + 45, updated) or nil,
    completed = status == "completed" and updated or nil }
  if sim.selling then W.take_stock(sim, rec, doc) end
  return rec
end

-- Local and GMT twins of a time that may be missing.
local function put_date(sim, doc, name, epoch)
  doc["date_" .. name] = epoch and common.local_time(epoch, sim.tz) or null
  doc["date_" .. name .. "_gmt"] = epoch and common.local_time(epoch, 0) or null
end

-- JSON plus what the filters read
function W.render(sim, rec)
  local doc = rec.doc
  put_date(sim, doc, "modified", rec.updated)
  put_date(sim, doc, "paid", rec.paid)
  put_date(sim, doc, "completed", rec.completed)
  rec.json = common.encode(doc)
  rec.status, rec.customer_id = doc.status, doc.customer_id
end

---------------------------------------------------------------------------------------------
-- Changes (POST /_sim/orders/{id}, sim:change_order)
---------------------------------------------------------------------------------------------

local STATUS_WORDS = { paid = "processing", shipped = "completed", fulfilled = "completed" }

function W.change(sim, rec, changes, now)
  if changes.status == nil then return true end
  local word = tostring(changes.status):lower():gsub("[%s_]+", "-") -- "On hold", "on_hold"
  local status = STATUS_WORDS[word] or word
  if not STATUS_LABEL[status] then return nil, "unknown status '" .. tostring(changes.status) .. "'" end
  local doc = rec.doc
  doc.status = status
  W.take_stock(sim, rec, doc)
  if PAID[status] and not rec.paid then rec.paid = now end
  if status == "completed" then rec.completed = now end
  doc.needs_payment = status == "pending" or status == "failed"
  if status == "refunded" then
    doc.refunds = { { id = rec.id + 1, reason = "", total = "-" .. doc.total } }
  end
  return true
end

---------------------------------------------------------------------------------------------
-- PHP's view of a query string: keys with [] become arrays, as $_GET has them
---------------------------------------------------------------------------------------------

-- PHP's "a[k]=v": set key k (an existing k keeps its place); "a[]=v": append with the next
-- integer key, one above the largest so far.
local function php_array_set(arr, sub, value)
  if sub == "" then
    local next_index = 0
    for _, kv in ipairs(arr) do
      local n = math.tointeger(tonumber(kv[1]))
      if n and n >= next_index then next_index = n + 1 end
    end
    sub = tostring(next_index)
  end
  for _, kv in ipairs(arr) do
    if kv[1] == sub then kv[2] = value return end
  end
  arr[#arr + 1] = { sub, value }
end

-- pairs {{k, v}} -> list of {key, value} (value a string or a list of {subkey, value}),
-- in first-seen order, plus a map key -> value. A repeated plain key keeps the last value.
local function php_params(pairs_)
  local list, map = {}, {}
  local function set(key, value)
    if map[key] == nil then list[#list + 1] = { key } end
    map[key] = value
  end
  for _, kv in ipairs(pairs_) do
    local base, sub = kv[1]:match("^([^%[]+)%[([^%]]*)%]$")
    if base then
      local arr = type(map[base]) == "table" and map[base] or {}
      php_array_set(arr, sub, kv[2])
      set(base, arr)
    else
      set(kv[1], kv[2])
    end
  end
  for _, entry in ipairs(list) do entry[2] = map[entry[1]] end
  return list, map
end

---------------------------------------------------------------------------------------------
-- Authentication (WC_REST_Authentication)
---------------------------------------------------------------------------------------------

local function auth_error(message)
  return wp_error(401, "woocommerce_rest_authentication_error", message)
end

-- byte order, as PHP's strcmp (Lua's < follows the C locale's collation)
local function strcmp_less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local enc = common.urlencode

-- The signature base string for params (list of {key, value}, oauth_signature removed):
-- keys sorted by strcmp, keys and values RFC 3986-encoded, each "key=value" encoded once more,
-- joined with %26 (an encoded &); nested arrays become key%5Bsub%5D as WooCommerce writes them.
function W.base_string(method, url, params)
  table.sort(params, function(a, b) return strcmp_less(a[1], b[1]) end)
  local out = {}
  local function add(key, value)
    if type(value) == "table" then
      for _, kv in ipairs(value) do add(key .. "%5B" .. kv[1] .. "%5D", kv[2]) end
    else
      out[#out + 1] = enc(key .. "=" .. enc(value))
    end
  end
  for _, kv in ipairs(params) do add(enc(kv[1]), kv[2]) end
  return method:upper() .. "&" .. enc(url) .. "&" .. table.concat(out, "%26")
end

-- OAuth params from an "Authorization: OAuth k="v", …" header, urldecoded as WooCommerce does.
local function header_params(header)
  local out = {}
  if not header or header:sub(1, 6) ~= "OAuth " then return out end
  for name, quoted, bare in header:gmatch('(oauth_[%l_%-]*)=:?("?)([^,]*)') do
    local value = bare
    if quoted == '"' then value = bare:match('^([^"]*)') end
    out[name] = common.form_decode(value)
  end
  return out
end

local OAUTH_NAMES = { "oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature",
  "oauth_signature_method" }

-- -> true | nil, error response | nil (no OAuth attempted)
local function oauth(sim, req, list, map)
  for name, value in pairs(header_params(req.headers["authorization"])) do
    if map[name] == nil then list[#list + 1] = { name, value } end
    map[name] = value
    for _, kv in ipairs(list) do if kv[1] == name then kv[2] = value end end
  end
  local missing, have = {}, false
  for _, name in ipairs(OAUTH_NAMES) do
    if map[name] == nil or map[name] == "" then missing[#missing + 1] = name else have = true end
  end
  if not have then return nil end
  if #missing > 0 then
    return nil, wp_error(401, "woocommerce_rest_authentication_missing_parameter",
      (#missing == 1 and "Missing OAuth parameter " or "Missing OAuth parameters ") .. table.concat(missing, ", "))
  end
  if map.oauth_consumer_key ~= sim.ck then return nil, auth_error("Consumer key is invalid.") end
  local method = map.oauth_signature_method
  local given = common.percent_decode((map.oauth_signature:gsub(" ", "+")))
  local params = {}
  for _, kv in ipairs(list) do
    if kv[1] ~= "oauth_signature" then params[#params + 1] = { kv[1], kv[2] } end
  end
  local base = W.base_string(req.method, sim.url .. req.path, params)
  local hmac = method == "HMAC-SHA1" and crypto.hmac_sha1 or method == "HMAC-SHA256" and crypto.hmac_sha256
  if not hmac then return nil, auth_error("Invalid signature - signature method is invalid.") end
  if not crypto.equal(crypto.base64(hmac(sim.cs .. "&", base)), given) then
    -- a connector author's best clue; the real cart never shows it
    if sim.opts.debug or os.getenv("SIM_DEBUG") then
      io.stderr:write("[sim woocommerce] signature mismatch for ", req.uri, "\n  base string: ", base, "\n")
    end
    return nil, auth_error("Invalid signature - provided signature does not match.")
  end
  return W.check_nonce(sim, tonumber(map.oauth_timestamp), map.oauth_nonce)
end

-- A timestamp within 15 minutes of now, and a nonce not seen within that window.
function W.check_nonce(sim, timestamp, nonce)
  local now = sim:now()
  if not timestamp or timestamp < now - 900 or timestamp > now + 900 then
    return nil, auth_error("Invalid timestamp.")
  end
  for n, ts in pairs(sim.nonces) do
    if ts < now - 900 then sim.nonces[n] = nil end
  end
  if sim.nonces[nonce] then return nil, auth_error("Invalid nonce - nonce has already been used.") end
  sim.nonces[nonce] = timestamp
  return true
end

-- Basic ck:cs (or consumer_key/consumer_secret in the query), then OAuth 1.0a.
-- -> true | nil, error response | nil (no credentials: the route's permission check answers)
local function authenticate(sim, req, list, map)
  local key, secret
  if type(map.consumer_key) == "string" and map.consumer_key ~= ""
      and type(map.consumer_secret) == "string" and map.consumer_secret ~= "" then
    key, secret = map.consumer_key, map.consumer_secret
  else
    local b64 = (req.headers["authorization"] or ""):match("^[Bb]asic%s+(%S+)")
    local pair = b64 and crypto.unbase64(b64)
    if pair then key, secret = pair:match("^([^:]*):(.*)$") end
  end
  local err
  if key and key ~= "" and secret and secret ~= "" and key == sim.ck then
    if crypto.equal(secret, sim.cs) then return true end
    err = auth_error("Consumer secret is invalid.")
  end
  local ok, oerr = oauth(sim, req, list, map)
  -- WooCommerce keeps the last error it recorded, and an error outlives a later success
  if oerr then return nil, oerr end
  if err then return nil, err end
  return ok
end

---------------------------------------------------------------------------------------------
-- The order list
---------------------------------------------------------------------------------------------

-- rest_parse_date's pattern; Z or ±HH[:MM] or nothing
local function valid_date_time(s)
  if type(s) ~= "string" then return false end
  local rest = s:match("^%d%d%d%d%-%d%d%-%d%d[Tt ]%d%d:%d%d:%d%d(.*)$")
  if not rest then return false end
  rest = rest:gsub("^%.%d+", "")
  return rest == "" or rest == "Z" or rest:match("^[+-]%d%d$") ~= nil or rest:match("^[+-]%d%d:%d%d$") ~= nil
end

local function as_bool(v)
  if v == "true" or v == "1" or v == true then return true end
  if v == "false" or v == "0" or v == "" or v == false then return false end
  return nil
end

local function as_int(v)
  return type(v) == "string" and math.tointeger(tonumber(v)) or nil
end

-- WordPress reads an array param from a list or a comma/space separated string.
local function as_list(v)
  local out = {}
  if type(v) == "table" then
    for _, kv in ipairs(v) do out[#out + 1] = kv[2] end
  elseif type(v) == "string" then
    for s in v:gmatch("[^,%s]+") do out[#out + 1] = s end
  end
  return out
end

local ORDERBY = { date = true, id = true, include = true, title = true, slug = true, modified = true }

-- map (PHP view of the query) -> q | nil, 400 response
local function build_query(map)
  local bad, q = {}, {}
  local function fail(name, code, message) bad[#bad + 1] = { name, code, message } end
  q.page = map.page == nil and 1 or as_int(map.page)
  if not q.page then fail("page", "rest_invalid_type", "page is not of type integer.")
  elseif q.page < 1 then fail("page", "rest_out_of_bounds", "page must be greater than or equal to 1") end
  q.per_page = map.per_page == nil and 10 or as_int(map.per_page)
  if not q.per_page or q.per_page < 1 or q.per_page > 100 then
    fail("per_page", "rest_out_of_bounds", "per_page must be between 1 (inclusive) and 100 (inclusive)")
  end
  if map.offset ~= nil then
    q.offset = as_int(map.offset)
    if not q.offset then fail("offset", "rest_invalid_type", "offset is not of type integer.") end
  end
  for _, name in ipairs({ "after", "before", "modified_after", "modified_before" }) do
    if map[name] ~= nil then
      if valid_date_time(map[name]) then q[name] = map[name] else fail(name, "rest_invalid_date", "Invalid date.") end
    end
  end
  q.gmt = false
  if map.dates_are_gmt ~= nil then q.gmt = as_bool(map.dates_are_gmt) end
  if q.gmt == nil then fail("dates_are_gmt", "rest_invalid_type", "dates_are_gmt is not of type boolean.") end
  q.order = map.order == nil and "desc" or map.order
  if q.order ~= "asc" and q.order ~= "desc" then
    fail("order", "rest_not_in_enum", "order is not one of asc and desc.")
  end
  q.orderby = map.orderby == nil and "date" or map.orderby
  if not ORDERBY[q.orderby] then
    fail("orderby", "rest_not_in_enum", "orderby is not one of date, id, include, title, slug, and modified.")
  end
  q.status = as_list(map.status or "any")
  for i, s in ipairs(q.status) do
    if not VALID_STATUS[s] then
      fail("status", "rest_not_in_enum", "status[" .. (i - 1) .. "] is not one of " .. STATUS_ENUM .. ".")
    end
  end
  if map.customer ~= nil then q.customer = as_int(map.customer) end
  q.include, q.exclude = as_list(map.include), as_list(map.exclude)
  if #bad > 0 then return nil, W.invalid_params(bad) end
  return q
end

function W.invalid_params(bad)
  local names, params, details = {}, {}, {}
  for i, b in ipairs(bad) do
    names[i] = b[1]
    params[b[1]] = b[3]
    details[b[1]] = { code = b[2], message = b[3], data = null }
  end
  return wp_error(400, "rest_invalid_param", "Invalid parameter(s): " .. table.concat(names, ", "),
    { params = params, details = details })
end

-- WP_Date_Query compares wall-clock strings: a value without offset is read as is against the
-- local or the _gmt column; a value with an offset is first moved to the site's zone, even when
-- dates_are_gmt picks the _gmt column. after/before are strict (> and <).
local function date_value(sim, s)
  local epoch, has_offset = common.parse_iso(s)
  if has_offset then return epoch + sim.tz * 60 end
  return epoch
end

local function date_ok(sim, q, rec)
  local shift = q.gmt and 0 or sim.tz * 60
  local created, updated = rec.created + shift, rec.updated + shift
  if q.after and created <= date_value(sim, q.after) then return false end
  if q.before and created >= date_value(sim, q.before) then return false end
  if q.modified_after and updated <= date_value(sim, q.modified_after) then return false end
  if q.modified_before and updated >= date_value(sim, q.modified_before) then return false end
  return true
end

local function in_list(list, id)
  for _, v in ipairs(list) do if tonumber(v) == id then return true end end
  return false
end

local function matches(sim, q, rec)
  local status = rec.status
  local any = false
  for _, s in ipairs(q.status) do
    if s == "any" or s == status then any = true end
  end
  if not any then return false end
  if q.customer and rec.customer_id ~= q.customer then return false end
  if #q.include > 0 and not in_list(q.include, rec.id) then return false end
  if #q.exclude > 0 and in_list(q.exclude, rec.id) then return false end
  return date_ok(sim, q, rec)
end

-- ORDER BY post_date {dir}, ID {dir} (WooCommerce adds ID to date and modified)
local function sorter(q)
  local key = ({ date = "created", modified = "updated" })[q.orderby]
  local desc = q.order == "desc"
  return function(a, b)
    local va, vb = a.id, b.id
    if key and a[key] ~= b[key] then va, vb = a[key], b[key] end
    if desc then return va > vb end
    return va < vb
  end
end

local function collect(sim, q)
  local out = {}
  for _, rec in ipairs(sim.records) do
    if matches(sim, q, rec) then out[#out + 1] = rec end
  end
  table.sort(out, sorter(q))
  return out
end

-- Link: the request's own query (oauth_* included, as WordPress echoes it) with page changed.
local function page_link(sim, pairs_, page)
  local out, replaced = {}, false
  for _, kv in ipairs(pairs_) do
    if kv[1] == "page" then
      out[#out + 1] = { "page", tostring(page) }
      replaced = true
    else
      out[#out + 1] = kv
    end
  end
  if not replaced then out[#out + 1] = { "page", tostring(page) } end
  return "<" .. api(sim, "/orders") .. "?" .. common.build_query(out) .. ">"
end

local function list_orders(sim, req, pairs_, map)
  local q, err = build_query(map)
  if not q then return err end
  local frozen = {}
  for k, v in pairs(q) do
    if k ~= "page" and k ~= "offset" and k ~= "per_page" then frozen[k] = v end
  end
  return sim:serve_list(req.uri, function()
    local all = sim:query(common.canonical(frozen), function() return collect(sim, q) end)
    local pages = math.ceil(#all / q.per_page)
    local first = q.offset and (q.offset + 1) or ((q.page - 1) * q.per_page + 1)
    local last = math.min(#all, first + q.per_page - 1)
    local parts = {}
    for i = first, last do parts[#parts + 1] = all[i].json end
    local resp = common.response(200, "[" .. table.concat(parts, ",") .. "]",
      { ["X-WP-Total"] = tostring(#all), ["X-WP-TotalPages"] = tostring(pages) })
    local links = {}
    if q.page > 1 then links[#links + 1] = page_link(sim, pairs_, math.min(q.page - 1, pages)) .. '; rel="prev"' end
    if pages > q.page then links[#links + 1] = page_link(sim, pairs_, q.page + 1) .. '; rel="next"' end
    if #links > 0 then resp.headers.Link = table.concat(links, ", ") end
    return resp
  end)
end

---------------------------------------------------------------------------------------------
-- Other routes
---------------------------------------------------------------------------------------------

local function one_order(sim, id)
  local rec = sim.by_id[tonumber(id)]
  if not rec then return wp_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.") end
  return common.response(200, rec.json)
end

local function totals_report(sim)
  local counts = {}
  for _, rec in ipairs(sim.records) do counts[rec.status] = (counts[rec.status] or 0) + 1 end
  local out = {}
  for _, s in ipairs(STATUSES) do
    out[#out + 1] = { slug = s, name = STATUS_LABEL[s], total = counts[s] or 0 }
  end
  return common.response(200, out)
end

local function system_status(sim)
  return common.response(200, {
    environment = { home_url = sim.url, site_url = sim.url, version = VERSION,
      log_directory = "/var/www/html/wp-content/uploads/wc-logs/", log_directory_writable = true,
      wp_version = "6.7.1", wp_multisite = false, wp_memory_limit = 268435456, wp_debug_mode = false,
      wp_cron = true, language = "en_US", external_object_cache = null,
      server_info = "Apache/2.4.62 (Debian)", php_version = "8.2.26", php_post_max_size = 67108864,
      php_max_execution_time = 30, php_max_input_vars = 1000, curl_version = "7.88.1, OpenSSL/3.0.15",
      suhosin_installed = false, max_upload_size = 67108864, mysql_version = "8.0.40",
      mysql_version_string = "8.0.40", default_timezone = "UTC", fsockopen_or_curl_enabled = true,
      soapclient_enabled = true, domdocument_enabled = true, gzip_enabled = true,
      mbstring_enabled = true, remote_post_successful = true, remote_post_response = 200,
      remote_get_successful = true, remote_get_response = 200 },
    database = { wc_database_version = VERSION, database_prefix = "wp_", database_tables = {},
      database_size = { data = 12.5, index = 4.1 } },
    active_plugins = { { plugin = "woocommerce/woocommerce.php", name = "WooCommerce",
      version = VERSION, version_latest = VERSION, url = "https://woocommerce.com/",
      author_name = "Automattic", author_url = "https://woocommerce.com", network_activated = false } },
    inactive_plugins = EMPTY, dropins_mu_plugins = { dropins = EMPTY, mu_plugins = EMPTY },
    theme = { name = "Storefront", version = "4.6.0", version_latest = "4.6.0",
      author_url = "https://woocommerce.com/", is_child_theme = false, has_woocommerce_support = true,
      has_woocommerce_file = false, has_outdated_templates = false, overrides = EMPTY },
    settings = { api_enabled = true, force_ssl = false, currency = sim.currency, currency_symbol = "$",
      currency_position = "left", thousand_separator = ",", decimal_separator = ".",
      number_of_decimals = 2, geolocation_enabled = false, taxonomies = { external = "external",
        grouped = "grouped", simple = "simple", variable = "variable" },
      woocommerce_com_connected = "no", enforce_approved_download_dirs = true,
      HPOS_enabled = true,
      order_datastore = "Automattic\\WooCommerce\\Internal\\DataStores\\Orders\\OrdersTableDataStore",
      HPOS_sync_enabled = false },
    security = { secure_connection = false, hide_errors = true },
    pages = EMPTY, post_type_counts = EMPTY,
  })
end

local function index(sim)
  return common.response(200, {
    name = "Cartwright Demo Shop", description = "Just another WooCommerce store",
    url = sim.url, home = sim.url, gmt_offset = sim.tz / 60, timezone_string = "",
    namespaces = { "oembed/1.0", "wc/v1", "wc/v2", "wc/v3", "wc/store/v1", "wp/v2", "wp-site-health/v1" },
    authentication = EMPTY, routes = { ["/wc/v3"] = { namespace = "wc/v3", methods = { "GET" } },
      ["/wc/v3/orders"] = { namespace = "wc/v3", methods = { "GET", "POST" } } },
    _links = { help = { { href = "https://developer.wordpress.org/rest-api/" } } },
  })
end

---------------------------------------------------------------------------------------------
-- Products and their stock
---------------------------------------------------------------------------------------------

-- The catalog's families as WooCommerce products: a family with options is a variable product
-- (id 200 + family, SKU = the family's code) whose variations (600 + variant) carry the SKUs;
-- a family with one variant is a simple product. opts.simple_products = N adds simple products
-- SIMPLE-0001… (ids from 5001). Every product and variation manages its stock, opts.stock each
-- (50), except the SKUs listed in opts.unmanaged. SKUs match case-insensitively, as MySQL's
-- collation compares them.
local function new_product(sim, p)
  p.stock = p.manage_stock and p.stock or nil
  sim.products[p.id] = p
  sim.by_sku[p.sku:lower()] = p
  if p.type ~= "variation" then sim.product_ids[#sim.product_ids + 1] = p.id end
  return p
end

function W.setup_products(sim, opts)
  sim.products, sim.by_sku, sim.product_ids, sim.simple_item = {}, {}, {}, {}
  local stock = math.tointeger(tonumber(opts.stock)) or 50
  local unmanaged = {}
  for _, sku in ipairs(opts.unmanaged or {}) do unmanaged[sku] = true end
  local families = {}
  for _, item in ipairs(common.catalog) do
    local f = families[item.product_no]
    if not f then
      f = { no = item.product_no, items = {} }
      families[item.product_no] = f
    end
    f.items[#f.items + 1] = item
  end
  sim.products_created = sim:now() - 90 * 86400
  for no = 1, common.product_count do
    local f = families[no]
    local first = f.items[1]
    if #f.items == 1 then
      sim.simple_item[first.sku] = true
      new_product(sim, { id = 200 + no, type = "simple", sku = first.sku, name = first.title, price = first.price,
        manage_stock = not unmanaged[first.sku], stock = stock, parent_id = 0 })
    else
      local parent = new_product(sim, { id = 200 + no, type = "variable", sku = first.sku:match("^[^-]+"),
        name = first.title, price = first.price, manage_stock = false, parent_id = 0, children = {} })
      for _, item in ipairs(f.items) do
        local v = new_product(sim, { id = 600 + item.variant_no, type = "variation", sku = item.sku,
          name = item.title .. " - " .. item.variant_title, option = item.variant_title, price = item.price,
          manage_stock = not unmanaged[item.sku], stock = stock, parent_id = parent.id })
        parent.children[#parent.children + 1] = v.id
      end
    end
  end
  for i = 1, math.tointeger(tonumber(opts.simple_products)) or 0 do
    local sku = string.format("SIMPLE-%04d", i)
    new_product(sim, { id = 5000 + i, type = "simple", sku = sku, name = "Simple Item " .. i,
      price = 500 + (i % 40) * 50, manage_stock = not unmanaged[sku], stock = stock, parent_id = 0 })
  end
end

-- Orders that hold stock (WooCommerce reduces it when an order reaches one of these and gives
-- it back when an order that took it is cancelled or set back to pending).
local TAKES_STOCK = { processing = true, completed = true, ["on-hold"] = true }
local GIVES_BACK = { cancelled = true, pending = true }

-- The seeded history predates the stock figures: only orders placed or changed after start
-- move them.
function W.take_stock(sim, rec, doc)
  local sign
  if TAKES_STOCK[doc.status] and not rec.stock_taken then sign = -1
  elseif GIVES_BACK[doc.status] and rec.stock_taken then sign = 1
  else return end
  for _, li in ipairs(doc.line_items) do
    local p = type(li.sku) == "string" and sim.by_sku[li.sku:lower()]
    if p and p.manage_stock then p.stock = p.stock + sign * li.quantity end
  end
  rec.stock_taken = sign < 0
end

local function stock_status(p)
  if not p.manage_stock then return "instock" end
  return p.stock > 0 and "instock" or "outofstock"
end

-- A product or variation as GET products answers it (a variation in that list, when asked by
-- sku, has the product shape with type "variation").
local function product_doc(sim, p)
  local created = common.local_time(sim.products_created + p.id * 60, sim.tz)
  local parent = p.parent_id > 0 and sim.products[p.parent_id]
  local slug = p.name:lower():gsub("[^%w]+", "-")
  return {
    id = p.id, name = p.name, slug = slug, permalink = sim.url .. "/product/" .. slug .. "/",
    date_created = created, date_created_gmt = created, date_modified = created, date_modified_gmt = created,
    type = p.type, status = "publish", featured = false, catalog_visibility = "visible",
    description = "", short_description = "", sku = p.sku,
    price = money(p.price), regular_price = p.type == "variable" and "" or money(p.price), sale_price = "",
    on_sale = false, purchasable = true, total_sales = 0, virtual = false, downloadable = false,
    tax_status = "taxable", tax_class = "", manage_stock = p.manage_stock,
    stock_quantity = p.manage_stock and p.stock or null, backorders = "no", backorders_allowed = false,
    backordered = false, low_stock_amount = null, sold_individually = false, weight = "",
    dimensions = { length = "", width = "", height = "" }, shipping_required = true, shipping_class = "",
    parent_id = p.parent_id, categories = EMPTY, tags = EMPTY, images = EMPTY,
    attributes = p.option and { { id = 0, name = "Option", option = p.option } } or EMPTY,
    default_attributes = EMPTY, variations = common.list(p.children), grouped_products = EMPTY,
    menu_order = 0, meta_data = EMPTY, stock_status = stock_status(p), has_options = p.type == "variable",
    _links = { self = { { href = parent and api(sim, "/products/" .. parent.id .. "/variations/" .. p.id)
      or api(sim, "/products/" .. p.id) } }, collection = { { href = api(sim, "/products") } },
      up = parent and { { href = api(sim, "/products/" .. parent.id) } } or nil },
  }
end

-- A variation as /products/{id}/variations answers it
local function variation_doc(sim, p)
  local created = common.local_time(sim.products_created + p.id * 60, sim.tz)
  return {
    id = p.id, type = "variation", name = p.name, parent_id = p.parent_id, date_created = created,
    date_created_gmt = created, date_modified = created, date_modified_gmt = created, description = "",
    permalink = sim.url .. "/product/?attribute_option=" .. common.urlencode(p.option), sku = p.sku,
    price = money(p.price), regular_price = money(p.price), sale_price = "", on_sale = false,
    status = "publish", purchasable = true, virtual = false, downloadable = false, tax_status = "taxable",
    tax_class = "", manage_stock = p.manage_stock, stock_quantity = p.manage_stock and p.stock or null,
    stock_status = stock_status(p), backorders = "no", backorders_allowed = false, backordered = false,
    low_stock_amount = null, weight = "", dimensions = { length = "", width = "", height = "" },
    shipping_class = "", image = null, attributes = { { id = 0, name = "Option", option = p.option } },
    menu_order = 0, meta_data = EMPTY,
    _links = { self = { { href = api(sim, "/products/" .. p.parent_id .. "/variations/" .. p.id) } },
      collection = { { href = api(sim, "/products/" .. p.parent_id .. "/variations") } },
      up = { { href = api(sim, "/products/" .. p.parent_id) } } },
  }
end

-- WP_REST_Request's checks of page and per_page, then include as a list of ids.
-- -> { page, per_page, include = set | nil, order, orderby } | nil, 400 response
local function list_params(map)
  local bad, q = {}, {}
  q.page = map.page == nil and 1 or as_int(map.page)
  if not q.page or q.page < 1 then bad[#bad + 1] = { "page", "rest_invalid_type", "page is not of type integer." } end
  q.per_page = map.per_page == nil and 10 or as_int(map.per_page)
  if not q.per_page or q.per_page < 1 or q.per_page > 100 then
    bad[#bad + 1] = { "per_page", "rest_out_of_bounds", "per_page must be between 1 (inclusive) and 100 (inclusive)" }
  end
  if map.include ~= nil then
    q.include = {}
    for _, v in ipairs(as_list(map.include)) do
      local id = as_int(v)
      if not id then bad[#bad + 1] = { "include", "rest_invalid_type", "include[0] is not of type integer." } break end
      q.include[id] = true
    end
  end
  q.order = map.order == nil and "desc" or map.order
  if q.order ~= "asc" and q.order ~= "desc" then bad[#bad + 1] = { "order", "rest_not_in_enum", "order is not one of asc and desc." } end
  q.fields = map._fields
  q.orderby = map.orderby == nil and "date" or map.orderby
  if not ORDERBY[q.orderby] then
    bad[#bad + 1] = { "orderby", "rest_not_in_enum", "orderby is not one of date, id, include, title, slug, and modified." }
  end
  if #bad > 0 then return nil, W.invalid_params(bad) end
  return q
end

-- The SKUs of a `sku` parameter: split at commas and, when there are several, the whole string
-- too (WC_REST_Products_V2_Controller::prepare_objects_query), lower case.
local function sku_set(value)
  local set = {}
  if type(value) ~= "string" or value == "" then return nil end
  local n = 0
  for part in (value .. ","):gmatch("([^,]*),") do
    set[part:lower()] = true
    n = n + 1
  end
  if n > 1 then set[value:lower()] = true end
  return set
end

-- WordPress' _fields=a,b: only those top-level keys of each object
local function only_fields(doc, fields)
  if type(fields) ~= "string" or fields == "" then return doc end
  local out = {}
  for key in fields:gmatch("[^,%s]+") do out[key] = doc[key] end
  return out
end

-- One page of `list` (products), in the query's order, with WordPress' paging headers.
local function page_of(sim, list, q, render, path)
  -- products share one post_date per id here, so date and id order alike
  table.sort(list, function(a, b)
    if q.order == "asc" then return a.id < b.id end
    return a.id > b.id
  end)
  local pages = math.ceil(#list / q.per_page)
  local out = {}
  for i = (q.page - 1) * q.per_page + 1, math.min(#list, q.page * q.per_page) do
    out[#out + 1] = only_fields(render(sim, list[i]), q.fields)
  end
  local resp = common.response(200, common.list(out),
    { ["X-WP-Total"] = tostring(#list), ["X-WP-TotalPages"] = tostring(pages) })
  if pages > q.page then
    resp.headers.Link = "<" .. api(sim, path) .. "?page=" .. (q.page + 1) .. '>; rel="next"'
  end
  return resp
end

-- GET products: by sku (products and variations, exact and case-insensitive), by include, or all
-- products (no variations).
local function list_products(sim, map)
  local q, err = list_params(map)
  if not q then return err end
  local skus = sku_set(map.sku)
  if skus then sim.stats.stock_lookup_requests = sim.stats.stock_lookup_requests + 1
  elseif q.include then sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1 end
  local list = {}
  for _, p in pairs(sim.products) do
    local ok = (skus and skus[p.sku:lower()]) or (not skus and p.type ~= "variation")
    if ok and q.include and not q.include[p.id] then ok = false end
    if ok then list[#list + 1] = p end
  end
  return page_of(sim, list, q, product_doc, "/products")
end

local function list_variations(sim, parent_id, map)
  local q, err = list_params(map)
  if not q then return err end
  sim.stats.stock_read_requests = sim.stats.stock_read_requests + 1
  local skus = sku_set(map.sku)
  local list = {}
  for _, p in pairs(sim.products) do
    if p.type == "variation" and p.parent_id == parent_id and (not q.include or q.include[p.id])
        and (not skus or skus[p.sku:lower()]) then
      list[#list + 1] = p
    end
  end
  return page_of(sim, list, q, variation_doc, "/products/" .. parent_id .. "/variations")
end

local function one_product(sim, id)
  local p = sim.products[id]
  if not p or p.type == "variation" then
    return wp_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
  end
  return common.response(200, product_doc(sim, p))
end

-- wc_stock_amount: intval of what was sent
local function stock_amount(v)
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge or n == -math.huge then return 0 end
  return math.tointeger(n < 0 and math.ceil(n) or math.floor(n))
end

local function item_error(id, code, message, status)
  return { id = id, error = { code = code, message = message, data = { status = status } } }
end

-- One update of a batch: { id, manage_stock, stock_quantity } -> the object's new document,
-- or { id, error = { code, message, data } } (WC_REST_Controller::batch_items).
local function update_one(sim, parent_id, item)
  local id = type(item) == "table" and as_int(tostring(item.id)) or nil
  local p = id and sim.products[id]
  if parent_id then
    if not p or p.type ~= "variation" or p.parent_id ~= parent_id then
      return item_error(id or 0, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 400)
    end
  elseif not p then
    return item_error(id or 0, "woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
  elseif p.type == "variation" then
    return item_error(id, "woocommerce_rest_invalid_product_id", "To manipulate product variations you should use"
      .. " the /products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.", 404)
  end
  if item.manage_stock ~= nil then
    p.manage_stock = item.manage_stock == true or item.manage_stock == "true" or item.manage_stock == 1
    if p.manage_stock and not p.stock then p.stock = 0 end
  end
  -- stock_quantity counts only where stock is managed; otherwise it is emptied
  if p.manage_stock and item.stock_quantity ~= nil then p.stock = stock_amount(item.stock_quantity) end
  if not p.manage_stock then p.stock = nil end
  return parent_id and variation_doc(sim, p) or product_doc(sim, p)
end

-- POST products/batch and products/{id}/variations/batch: create/update/delete, 100 items in
-- all at most (woocommerce_rest_batch_items_limit), else 413 and nothing done. Only updates are
-- applied here; an answer lists the keys that were sent.
local function batch(sim, req, parent_id)
  sim.stats.stock_push_requests = sim.stats.stock_push_requests + 1
  local body = req.body and req.body ~= "" and common.decode(req.body)
  if type(body) ~= "table" then return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.") end
  local total = 0
  for _, key in ipairs{ "create", "update", "delete" } do
    if type(body[key]) == "table" then total = total + #body[key] end
  end
  if total > 100 then
    return wp_error(413, "woocommerce_rest_request_entity_too_large", "Unable to accept more than 100 items for this request.")
  end
  local out = {}
  if type(body.update) == "table" then
    local done = {}
    for i, item in ipairs(body.update) do done[i] = update_one(sim, parent_id, item) end
    out.update = common.list(done)
  end
  for _, key in ipairs{ "create", "delete" } do
    if type(body[key]) == "table" then
      local refused = {}
      for i in ipairs(body[key]) do
        refused[i] = item_error(0, "woocommerce_rest_sim_unsupported", "the simulator only updates", 400)
      end
      out[key] = common.list(refused)
    end
  end
  return common.response(200, out)
end

-- The products routes -> response | nil (not one of them)
local function route_products(sim, req, rest, map)
  local m = req.method
  if rest == "/products" and m == "GET" then return list_products(sim, map) end
  if rest == "/products/batch" and (m == "POST" or m == "PUT" or m == "PATCH") then return batch(sim, req, nil) end
  local id = as_int(rest:match("^/products/(%d+)$"))
  if id and m == "GET" then return one_product(sim, id) end
  id = as_int(rest:match("^/products/(%d+)/variations$"))
  if id and m == "GET" then return list_variations(sim, id, map) end
  id = as_int(rest:match("^/products/(%d+)/variations/batch$"))
  if id and (m == "POST" or m == "PUT" or m == "PATCH") then return batch(sim, req, id) end
  return nil
end

local function is_products_route(rest)
  return rest == "/products" or rest:match("^/products/") ~= nil
end

-- /_sim/stock: GET -> { [sku] = quantity (null: not managed) } of every product and variation
-- (variable parents left out); POST { sku, quantity } sets one (a sale or a count at the cart).
function W.control(sim, req, body)
  local ship_id = as_int(req.path:match("^/_sim/shipments/(%d+)$"))
  if ship_id and req.method == "GET" then return W.sim_shipments(sim, ship_id) end
  if req.path ~= "/_sim/stock" then return nil end
  if req.method == "GET" then
    local out = {}
    for _, p in pairs(sim.products) do
      if p.type ~= "variable" then out[p.sku] = p.manage_stock and p.stock or null end
    end
    return common.response(200, out)
  elseif req.method == "POST" then
    local p = type(body.sku) == "string" and sim.by_sku[body.sku:lower()]
    if not p or p.type == "variable" then return common.response(404, { error = "no product with sku " .. tostring(body.sku) }) end
    local q = math.tointeger(tonumber(body.quantity))
    if not q then return common.response(400, { error = "quantity must be a whole number" }) end
    p.manage_stock, p.stock = true, q
    return common.response(200, { sku = p.sku, quantity = q })
  end
  return common.response(405, { error = "GET or POST" })
end

-- For tests in the same process: sim:stock(sku) -> quantity | nil (not managed or no such SKU)
function W.stock(sim, sku)
  local p = sim.by_sku[sku:lower()]
  return p and p.stock
end

---------------------------------------------------------------------------------------------
-- Shipments: fulfillments, shipment trackings, notes, status changes and their emails
---------------------------------------------------------------------------------------------

local function ship_store(sim, id)
  local st = sim.shipments[id]
  if not st then
    st = { fulfillments = {}, trackings = {}, notes = {}, emails = {} }
    sim.shipments[id] = st
  end
  return st
end

local function ship_seq(sim)
  sim.ship_seq = sim.ship_seq + 1
  return sim.ship_seq
end

-- writes run under the queued faults, after_apply ones included (common.apply_write)
local function shipment_fault(sim, fn) return common.apply_write(sim, fn, true) end

local function no_order()
  return wp_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
end

local function json_body(req)
  local body = req.body and req.body ~= "" and common.decode(req.body)
  if type(body) ~= "table" then return nil, wp_error(400, "rest_invalid_json", "Invalid JSON body passed.") end
  return body
end

-- An email WooCommerce would send: to the customer or the shop's admin, by its template id.
local function email(sim, id, to, template, detail)
  local st = ship_store(sim, id)
  st.emails[#st.emails + 1] = { to = to, template = template, detail = detail }
end

local function meta_of(list, key)
  for _, m in ipairs(list) do if m.key == key then return m.value end end
  return nil
end

-- Quantity of each line already in a fulfillment that is not deleted.
local function fulfilled_qty(st)
  local done = {}
  for _, f in ipairs(st.fulfillments) do
    if f.date_deleted == null then
      for _, it in ipairs(meta_of(f.meta_data, "_items") or {}) do
        done[it.item_id] = (done[it.item_id] or 0) + it.qty
      end
    end
  end
  return done
end

-- POST orders/{id}/fulfillments: _items required, each a line of the order, no more than it has
-- left unfulfilled (the simulator's check: the code is its own).
local function create_fulfillment(sim, req, rec, map)
  local body, err = json_body(req)
  if not body then return err end
  if type(body.meta_data) ~= "table" then
    return wp_error(400, "rest_missing_callback_param", "Missing parameter(s): meta_data", { params = { "meta_data" } })
  end
  local st = ship_store(sim, rec.id)
  local items = meta_of(body.meta_data, "_items")
  if type(items) ~= "table" or #items == 0 then
    return wp_error(400, "woocommerce_rest_fulfillment_invalid_items", "The fulfillment should contain at least one item.")
  end
  local left, done = {}, fulfilled_qty(st)
  for _, li in ipairs(rec.doc.line_items) do left[li.id] = li.quantity - (done[li.id] or 0) end
  local clean = {}
  for i, it in ipairs(items) do
    local item, qty = type(it) == "table" and math.tointeger(tonumber(it.item_id)), type(it) == "table" and math.tointeger(tonumber(it.qty))
    if not item or not left[item] or not qty or qty < 1 or qty > left[item] then
      return wp_error(400, "woocommerce_rest_fulfillment_invalid_items", "Invalid item or quantity in the fulfillment.")
    end
    left[item] = left[item] - qty
    clean[i] = { item_id = item, qty = qty }
  end
  local metas = {}
  for _, m in ipairs(body.meta_data) do
    if type(m) == "table" and type(m.key) == "string" then
      sim.meta_seq = sim.meta_seq + 1
      metas[#metas + 1] = { id = sim.meta_seq, key = m.key, value = m.key == "_items" and clean or m.value }
    end
  end
  local fulfilled = body.is_fulfilled == true or body.is_fulfilled == "true"
  local f = { id = ship_seq(sim), entity_type = "WC_Order", entity_id = tostring(rec.id),
    status = type(body.status) == "string" and body.status or "unfulfilled", is_fulfilled = fulfilled,
    date_updated = common.local_time(sim:now(), 0), date_deleted = null, meta_data = metas }
  st.fulfillments[#st.fulfillments + 1] = f
  if as_bool(map.notify_customer) and fulfilled then
    email(sim, rec.id, "customer", "customer_fulfillment_created", meta_of(metas, "_tracking_number"))
  end
  return common.response(201, f)
end

local function note_doc(n)
  return { id = n.id, author = n.author, date_created = n.date_created, date_created_gmt = n.date_created_gmt,
    note = n.note, customer_note = n.customer_note, added_by_user = n.added_by_user }
end

local function add_note(sim, rec, text, customer, by_user)
  local st = ship_store(sim, rec.id)
  local n = { id = 9000 + ship_seq(sim), author = by_user and "cartwright" or "WooCommerce",
    date_created = common.local_time(sim:now(), sim.tz), date_created_gmt = common.local_time(sim:now(), 0),
    note = text, customer_note = customer, added_by_user = by_user }
  st.notes[#st.notes + 1] = n
  if customer then email(sim, rec.id, "customer", "customer_note", text) end
  return n
end

-- GET|POST orders/{id}/notes (newest first, as WooCommerce lists them)
local function route_notes(sim, req, rec, map)
  if req.method == "GET" then
    local out, st = {}, ship_store(sim, rec.id)
    local kind = map.type or "any"
    for i = #st.notes, 1, -1 do
      local n = st.notes[i]
      if kind == "any" or (kind == "customer") == n.customer_note then out[#out + 1] = note_doc(n) end
    end
    return common.response(200, common.list(out))
  end
  local body, err = json_body(req)
  if not body then return err end
  if type(body.note) ~= "string" or body.note == "" then
    return wp_error(400, "rest_missing_callback_param", "Missing parameter(s): note", { params = { "note" } })
  end
  local customer = body.customer_note == true or body.customer_note == "true"
  return common.response(201, note_doc(add_note(sim, rec, body.note, customer, true)))
end

-- What WooCommerce emails on a status change, with its default email settings.
local STATUS_EMAIL = { completed = { "customer", "customer_completed_order" },
  processing = { "customer", "customer_processing_order" }, ["on-hold"] = { "customer", "customer_on_hold_order" },
  refunded = { "customer", "customer_refunded_order" }, cancelled = { "admin", "cancelled_order" },
  failed = { "admin", "failed_order" } }

-- PUT orders/{id} { status }: the status only (other fields are kept as they are here).
local function update_order(sim, req, rec, map)
  sim.stats.status_requests = sim.stats.status_requests + 1
  local body, err = json_body(req)
  if not body then return err end
  local status = body.status
  if status ~= nil and (type(status) ~= "string" or not STATUS_LABEL[status]) then
    return W.invalid_params({ { "status", "rest_not_in_enum", "status is not one of pending, processing,"
      .. " on-hold, completed, cancelled, refunded, failed, and checkout-draft." } })
  end
  local before = rec.status
  if status and status ~= before then
    sim:change_order(rec.id, { status = status })
    add_note(sim, rec, "Order status changed from " .. STATUS_LABEL[before] .. " to " .. STATUS_LABEL[status] .. ".",
      false, false)
    local e = STATUS_EMAIL[status]
    if e then email(sim, rec.id, e[1], e[2]) end
  end
  return common.response(200, only_fields(sim:doc(rec), map._fields))
end

-- The order routes for shipments and status -> response | nil (not one of them)
local function route_shipments(sim, req, rest, map)
  local id = as_int(rest:match("^/orders/(%d+)"))
  local tail = id and rest:match("^/orders/%d+(.*)$")
  local m = req.method
  if not id or not (tail == "/notes" or (tail == "/fulfillments" and sim.fulfillments_api) or (tail == "" and m == "PUT")) then
    return nil
  end
  if tail ~= "" and m ~= "GET" and m ~= "POST" then return nil end
  return shipment_fault(sim, function()
    local rec = sim.by_id[id]
    if not rec then return no_order() end
    if tail == "" then return update_order(sim, req, rec, map) end
    sim.stats.shipment_requests = sim.stats.shipment_requests + 1
    if tail == "/notes" then return route_notes(sim, req, rec, map) end
    if m == "GET" then
      local out = {}
      for _, f in ipairs(ship_store(sim, id).fulfillments) do out[#out + 1] = f end
      return common.response(200, common.list(out))
    end
    return create_fulfillment(sim, req, rec, map)
  end)
end

local function is_shipment_route(sim, rest, method)
  local tail = rest:match("^/orders/%d+(.*)$")
  return tail == "/notes" or (tail == "/fulfillments" and sim.fulfillments_api) or (tail == "" and method == "PUT")
end

-- The Shipment Tracking extension's providers (a few of its list) and their links.
local PROVIDERS = { ["UPS"] = "https://www.ups.com/track?tracknum=%1$s",
  ["USPS"] = "https://tools.usps.com/go/TrackConfirmAction?tLabels=%1$s",
  ["FedEx"] = "https://www.fedex.com/fedextrack/?trknbr=%1$s", ["DHL"] = "https://www.dhl.com/track?tracking-id=%1$s" }

local function provider_named(name)
  for k, link in pairs(PROVIDERS) do
    if k:lower() == tostring(name):lower() then return k, link end
  end
  return nil
end

-- /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings: GET | POST
local function route_trackings(sim, req, rest)
  local id = as_int(rest:match("^/orders/(%d+)/shipment%-trackings$"))
  if not id or (req.method ~= "GET" and req.method ~= "POST") then
    return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")
  end
  return shipment_fault(sim, function()
    local rec = sim.by_id[id]
    if not rec then return wp_error(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.") end
    sim.stats.shipment_requests = sim.stats.shipment_requests + 1
    local st = ship_store(sim, id)
    if req.method == "GET" then return common.response(200, common.list(st.trackings)) end
    local body, err = json_body(req)
    if not body then return err end
    if type(body.tracking_number) ~= "string" or body.tracking_number == "" then
      return wp_error(400, "rest_missing_callback_param", "Missing parameter(s): tracking_number",
        { params = { "tracking_number" } })
    end
    local provider, link
    if type(body.custom_tracking_provider) == "string" and body.custom_tracking_provider ~= "" then
      provider, link = body.custom_tracking_provider, tostring(body.custom_tracking_link or "")
    else
      provider, link = provider_named(body.tracking_provider)
      provider = provider or tostring(body.tracking_provider or "")
    end
    local t = { tracking_id = sim.rng:hex(32), tracking_provider = provider,
      tracking_link = (link or ""):gsub("%%1%$s", (body.tracking_number:gsub("%%", "%%%%"))),
      tracking_number = body.tracking_number,
      date_shipped = type(body.date_shipped) == "string" and body.date_shipped or os.date("!%Y-%m-%d") }
    st.trackings[#st.trackings + 1] = t
    local resp = common.response(201, t)
    resp.headers.Location = "/wp-json/wc-shipment-tracking/v3/orders/" .. id .. "/shipment-trackings/" .. t.tracking_id
    return resp
  end)
end

-- GET /_sim/shipments/{order_id}: what the cart holds for an order and the emails it sent.
function W.sim_shipments(sim, id)
  local rec = sim.by_id[id]
  if not rec then return common.response(404, { error = "no such order" }) end
  local st = ship_store(sim, id)
  local notes = {}
  for i, n in ipairs(st.notes) do notes[i] = note_doc(n) end
  return common.response(200, { status = rec.status, fulfillments = common.list(st.fulfillments),
    trackings = common.list(st.trackings), notes = common.list(notes), emails = common.list(st.emails) })
end

---------------------------------------------------------------------------------------------
-- Request handling
---------------------------------------------------------------------------------------------

local MAINTENANCE = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Maintenance</title></head>'
    .. "<body><h1>Briefly unavailable for scheduled maintenance. Check back in a minute.</h1></body></html>"
local CRITICAL = "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/"
    .. "documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>"

function W.fault_response(sim, status, fault)
  -- WordPress maintenance mode sends Retry-After: 600; 1 s keeps fault tests fast
  local retry = tostring(fault and fault.retry_after or 1)
  if status == 429 then
    local resp = wp_error(429, "rest_too_many_requests", "Too many requests.")
    resp.headers["Retry-After"] = retry
    return resp
  elseif status == 503 then
    return common.response(503, MAINTENANCE, { ["Content-Type"] = "text/html; charset=UTF-8", ["Retry-After"] = retry })
  end
  return common.response(status, { code = "internal_server_error", message = CRITICAL,
    data = { status = status }, additional_errors = EMPTY })
end

-- A PHP notice printed ahead of the JSON: the classic broken WooCommerce response.
function W.malformed_body(sim, body)
  return "<br />\n<b>Deprecated</b>:  Creation of dynamic property WC_Gateway_Legacy::$supports is deprecated in "
      .. "<b>/var/www/html/wp-content/plugins/legacy-gateway/includes/class-gateway.php</b> on line <b>42</b>"
      .. "<br />\n" .. body
end

-- POST webhooks { name, topic, delivery_url, secret, status }: a webhook (201). A new order goes
-- to order.created webhooks as the order's JSON, signed with the webhook's secret.
local function create_webhook(sim, req)
  local b = common.decode(req.body or "")
  if type(b) ~= "table" then return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.") end
  if type(b.topic) ~= "string" or not b.topic:match("^%a+%.%a+$") then
    return wp_error(400, "rest_invalid_param", "Invalid parameter(s): topic", { params = { topic = "Invalid topic" } })
  end
  if type(b.delivery_url) ~= "string" or not b.delivery_url:match("^https?://") then
    return wp_error(400, "rest_invalid_param", "Invalid parameter(s): delivery_url")
  end
  local h = sim:add_hook{ url = b.delivery_url, topic = b.topic, secret = type(b.secret) == "string" and b.secret or "" }
  local r, e = b.topic:match("^(%a+)%.(%a+)$")
  return common.response(201, { id = h.id, name = b.name or "", status = b.status or "active", topic = b.topic,
    resource = r, event = e, delivery_url = b.delivery_url, secret = h.secret,
    date_created = common.local_time(sim:now(), 0) })
end

function W.webhook_delivery(sim, hook, rec)
  if hook.topic ~= "order.created" then return nil end
  return { body = rec.json, headers = { ["X-WC-Webhook-Source"] = sim.url .. "/",
    ["X-WC-Webhook-Topic"] = hook.topic, ["X-WC-Webhook-Resource"] = "order", ["X-WC-Webhook-Event"] = "created",
    ["X-WC-Webhook-Signature"] = common.sign(hook.secret or "", rec.json), ["X-WC-Webhook-ID"] = tostring(hook.id),
    ["X-WC-Webhook-Delivery-ID"] = tostring(sim.rng:int(1, 999999)) } }
end

local function route(sim, req, rest, pairs_, map)
  if rest == "/webhooks" and req.method == "POST" then return create_webhook(sim, req) end
  local shipped = route_shipments(sim, req, rest, map)
  if shipped then return shipped end
  if is_products_route(rest) then
    return sim:apply_any_fault(function()
      return route_products(sim, req, rest, map)
        or wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")
    end)
  end
  if req.method ~= "GET" then
    return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")
  end
  if rest == "/orders" then return list_orders(sim, req, pairs_, map) end
  return sim:apply_any_fault(function()
    local id = rest:match("^/orders/(%d+)$")
    if id then return one_order(sim, id) end
    if rest == "/system_status" then return system_status(sim) end
    if rest == "/reports/orders/totals" then return totals_report(sim) end
    return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")
  end)
end

local KNOWN = { ["/orders"] = true, ["/system_status"] = true, ["/reports/orders/totals"] = true,
  ["/webhooks"] = true }

local function cannot_view(rest)
  if rest:match("/batch$") then
    return wp_error(401, "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")
  end
  if rest:match("^/orders/%d+$") or rest:match("^/products/%d+$") then
    return wp_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
  end
  return wp_error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
end

-- What WordPress answers for /wp-json/… when the site has plain permalinks: its theme's 404.
local NOT_FOUND_PAGE = '<!DOCTYPE html><html lang="en-US"><head><meta charset="UTF-8"><title>Page not found'
  .. ' &#8211; Cartwright Demo Shop</title></head><body class="error404"><h1>Oops! That page can&rsquo;t'
  .. " be found.</h1></body></html>"

-- The REST route a request names: the path under /wp-json (pretty permalinks, unless the sim
-- runs with permalinks = "plain") or ?rest_route= on the site's root (always served, as
-- WordPress does). -> route | nil, response
local function rest_route(sim, req, pairs_)
  if req.path == "/" or req.path == "" then
    for _, kv in ipairs(pairs_) do if kv[1] == "rest_route" then return kv[2] end end
    return nil, common.response(200, "<!DOCTYPE html><html><body>Cartwright Demo Shop</body></html>",
      { ["Content-Type"] = "text/html; charset=UTF-8" })
  end
  local route_ = req.path:match("^/wp%-json(/.*)$") or (req.path == "/wp-json" and "/")
  if route_ and sim.permalinks == "plain" then
    return nil, common.response(404, NOT_FOUND_PAGE, { ["Content-Type"] = "text/html; charset=UTF-8" })
  end
  if not route_ then return nil, wp_error(404, "rest_no_route", "No route was found matching the URL and request method.") end
  return route_
end

function W.handle(sim, req)
  local _, pairs_ = common.parse_query(req.query_string)
  local path, resp = rest_route(sim, req, pairs_)
  if not path then return resp end
  if path == "/" then return index(sim) end
  if path == "/wc/v3" or path == "/wc/v3/" then
    return common.response(200, { namespace = "wc/v3", routes = EMPTY })
  end
  local tracking = sim.shipment_tracking and path:match("^/wc%-shipment%-tracking/v3(/.+)$")
  if tracking then
    local list, map = php_params(pairs_)
    local ok, err = authenticate(sim, req, list, map)
    if err then return err end
    if not ok then return cannot_view(tracking) end
    return route_trackings(sim, req, tracking)
  end
  local rest = path:match("^/wc/v3(/.+)$")
  if not rest then return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.") end
  if req.path == "/" then sim.stats.plain_requests = (sim.stats.plain_requests or 0) + 1 end
  local list, map = php_params(pairs_)
  -- WordPress order: authentication errors, then route matching, then the permission check
  local ok, err = authenticate(sim, req, list, map)
  if err then return err end
  if not (KNOWN[rest] or rest:match("^/orders/%d+$") or is_products_route(rest)
      or is_shipment_route(sim, rest, req.method)) then
    return route(sim, req, rest, pairs_, map)
  end
  if not ok then return cannot_view(rest) end
  if rest == "/orders" then sim.stats.order_list_requests = sim.stats.order_list_requests + 1 end
  if sim.bucket and not sim.bucket:take(sim.clock()) then return W.fault_response(sim, 429) end
  return route(sim, req, rest, pairs_, map)
end

---------------------------------------------------------------------------------------------

-- require("sim.woocommerce").start{ port = 0, orders = 100, seed = 1,
--   consumer_key = "ck_test", consumer_secret = "cs_test" }
function W.start(opts)
  local sim = common.start(W, opts)
  sim.selling = true -- orders placed from now on take stock
  return sim
end

return W
