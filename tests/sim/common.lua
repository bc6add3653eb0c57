-- tests/sim/common.lua: what the three cart simulators share.
-- Owns the seeded generator, fake people/addresses/catalog, time formats, query parsing,
-- rate limiters, fault injection, request counting and the /_sim control endpoints.
-- Uses cartwright.httpd (listen) and cartwright.task (clock, sleep) from the engine, and cjson.

local json = require "cjson"
local task = require "cartwright.task"
local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local httpd = require "cartwright.httpd"
local ctime = require "cartwright.time"

local M = {}

---------------------------------------------------------------------------------------------
-- JSON
---------------------------------------------------------------------------------------------

-- lua-cjson 2.1.0 encodes every empty table as {}; the carts send [] for empty lists.
-- Put M.EMPTY where an empty list belongs; M.encode turns it into [] after encoding.
M.EMPTY = "\1sim:empty-array\1"
M.null = json.null
local EMPTY_JSON = '"\\u0001sim:empty-array\\u0001"'

-- Replaces every occurrence of a plain (non-pattern) needle; much faster than gsub here
-- because the needle starts with '"', which a JSON body is full of.
local function replace_plain(s, needle, repl)
  local a, b = s:find(needle, 1, true)
  if not a then return s end
  local out, pos = {}, 1
  while a do
    out[#out + 1] = s:sub(pos, a - 1)
    out[#out + 1] = repl
    pos = b + 1
    a, b = s:find(needle, pos, true)
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

-- plain_slashes: write "/" rather than cjson's "\/" (Shopify does; PHP carts escape them).
-- Every "/" cjson writes is escaped, so turning each "\/" back into "/" is exact.
function M.encode(value, plain_slashes)
  local s = replace_plain(json.encode(value), EMPTY_JSON, "[]")
  if plain_slashes then s = replace_plain(s, "\\/", "/") end
  return s
end

-- A list that may be empty: returns M.EMPTY for an empty table so it encodes as [].
function M.list(t)
  if t == nil or next(t) == nil then return M.EMPTY end
  return t
end

function M.decode(s)
  local ok, v = pcall(json.decode, s)
  if ok then return v end
  return nil, v
end

-- Decodes one of our own documents back into the table it was encoded from: whole numbers
-- become integers again and empty tables become M.EMPTY, except under the keys named in
-- object_keys (the few empty objects a cart sends, e.g. Shopify's origin_address).
function M.decode_doc(s, object_keys)
  local function fix(v, key)
    if type(v) == "number" then return math.tointeger(v) or v end
    if type(v) ~= "table" then return v end
    if next(v) == nil then return (object_keys and object_keys[key]) and v or M.EMPTY end
    for k, x in pairs(v) do v[k] = fix(x, k) end
    return v
  end
  return fix(json.decode(s))
end

-- A deterministic text for a small table (keys sorted), for use as a cache key.
function M.canonical(v)
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end -- 5.0 (from JSON) == 5
  if type(v) ~= "table" then return type(v) == "string" and string.format("%q", v) or tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for i, k in ipairs(keys) do out[i] = tostring(k) .. "=" .. M.canonical(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

-- The first index i in 1..n+1 for which pred(i) holds, pred being false then true along i.
function M.bsearch(n, pred)
  local lo, hi = 1, n + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if pred(mid) then hi = mid else lo = mid + 1 end
  end
  return lo
end

---------------------------------------------------------------------------------------------
-- Seeded generator
---------------------------------------------------------------------------------------------

-- A private splitmix64 per simulator rather than math.random: the engine runs every script in
-- one Lua state, so the global generator is shared with other simulators and with the
-- engine's own retry jitter; reseeding it would also make that jitter predictable.
local Rng = {}
Rng.__index = Rng

function M.rng(seed)
  seed = math.tointeger(tonumber(seed)) or 1
  return setmetatable({ state = seed ~ 0x5DEECE66D }, Rng)
end

function Rng:next()
  self.state = self.state + 0x9E3779B97F4A7C15
  local z = self.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- integer in [lo, hi]
function Rng:int(lo, hi)
  return lo + ((self:next() >> 1) % (hi - lo + 1))
end

-- float in [0, 1)
function Rng:float()
  return (self:next() >> 11) / 9007199254740992.0
end

function Rng:chance(p) return self:float() < p end

function Rng:pick(list) return list[self:int(1, #list)] end

-- Pick from { {weight, value}, ... }.
function Rng:weighted(choices)
  local total = 0
  for _, c in ipairs(choices) do total = total + c[1] end
  local r = self:float() * total
  for _, c in ipairs(choices) do
    r = r - c[1]
    if r < 0 then return c[2] end
  end
  return choices[#choices][2]
end

-- n hex digits, 16 per draw (tokens are many per order; one draw per digit was the hot spot)
function Rng:hex(n)
  local out = {}
  for i = 1, (n + 15) // 16 do out[i] = string.format("%016x", self:next()) end
  return table.concat(out):sub(1, n)
end

function Rng:digits(n)
  local out = {}
  for i = 1, n do out[i] = tostring(self:int(0, 9)) end
  return table.concat(out)
end

-- n alphanumerics, ten 6-bit slices per draw (62 symbols: the slices 62 and 63 wrap)
local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
function Rng:token(n)
  local out, bits, left = {}, 0, 0
  for i = 1, n do
    if left == 0 then bits, left = self:next(), 10 end
    local k = (bits & 63) % 62 + 1
    bits, left = bits >> 6, left - 1
    out[i] = ALNUM:sub(k, k)
  end
  return table.concat(out)
end

-- 8-4-4-4-12 hex, the shape of a cart id or checkout token
function Rng:uuid()
  return self:hex(8) .. "-" .. self:hex(4) .. "-4" .. self:hex(3) .. "-a" .. self:hex(3)
      .. "-" .. self:hex(12)
end

---------------------------------------------------------------------------------------------
-- Catalog: ~200 SKUs built from product families and their options
---------------------------------------------------------------------------------------------

local COLORS = { RED = "Red", BLU = "Blue", GRN = "Green", BLK = "Black", WHT = "White",
  YEL = "Yellow", NVY = "Navy", GRY = "Grey", KHK = "Khaki", NAT = "Natural", STL = "Steel",
  PNK = "Pink", OLV = "Olive", TEA = "Teal" }
local SIZES = { XS = "XS", S = "S", M = "M", L = "L", XL = "XL", XXL = "XXL" }

-- code, title, vendor, price in cents, grams, option lists (each list multiplies the variants)
local FAMILIES = {
  { "MUG", "Ceramic Mug", "Kiln & Co", 1495, 380, { { "RED", "BLU", "GRN", "BLK", "WHT", "YEL" } } },
  { "TEE", "Organic Tee", "Threadline", 2400, 180,
    { { "BLK", "WHT", "NVY", "GRY", "RED" }, { "S", "M", "L", "XL", "XXL" } } },
  { "HOOD", "Pullover Hoodie", "Threadline", 5400, 620, { { "BLK", "GRY", "NVY" }, { "S", "M", "L", "XL" } } },
  { "CAP", "Six-Panel Cap", "Threadline", 2200, 110, { { "BLK", "NVY", "KHK", "RED" } } },
  { "BEANIE", "Rib Beanie", "Threadline", 1800, 90, { { "BLK", "GRY", "OLV", "PNK" } } },
  { "SOCK", "Merino Socks", "Footloose", 1600, 80, { { "BLK", "WHT", "GRY" }, { "S", "M", "L" } } },
  { "TOTE", "Canvas Tote", "Carryall", 1900, 240, { { "NAT", "BLK" } } },
  { "BOTTLE", "Insulated Bottle", "Hydra", 2900, 410, { { "500", "750" }, { "STL", "BLK", "BLU" } } },
  { "NOTE", "Stitched Notebook", "Paperhaus", 1200, 210, { { "A5", "A6" }, { "RUL", "DOT", "PLN" } } },
  { "PEN", "Gel Pen 3-Pack", "Paperhaus", 650, 40, { { "BLK", "BLU", "RED" } } },
  { "STICKER", "Vinyl Sticker Pack", "Paperhaus", 500, 20,
    { { "FOX", "OWL", "CAT", "DOG", "BEE", "ELK", "YAK", "EMU", "ANT", "BAT" } } },
  { "POSTER", "Art Print", "Paperhaus", 3200, 300,
    { { "DUNE", "COAST", "PEAK", "FOREST", "CITY", "ORBIT", "BLOOM", "TIDE" }, { "A3", "A2" } } },
  { "CANDLE", "Soy Candle", "Wick & Wax", 2600, 450, { { "CEDAR", "FIG", "LINEN", "AMBER", "SAGE", "CITRUS" } } },
  { "SOAP", "Cold-Process Soap", "Wick & Wax", 900, 120, { { "OAT", "LAV", "MINT", "ROSE", "TAR", "HONEY" } } },
  { "TEA", "Loose Leaf Tea", "Steep", 1400, 100,
    { { "EARL", "SENCHA", "ROOIBOS", "CHAI", "OOLONG", "MINT", "JASMINE", "BREAKFAST" } } },
  { "COFFEE", "Coffee Beans 340g", "Steep", 1800, 360,
    { { "LIGHT", "MEDIUM", "DARK", "DECAF", "ESPRESSO" }, { "WB", "GRD" } } },
  { "APRON", "Denim Apron", "Kiln & Co", 3800, 520, { { "BLU", "BLK", "KHK" } } },
  { "TOWEL", "Linen Tea Towel", "Kiln & Co", 1500, 130, { { "NAT", "OLV", "TEA", "PNK" } } },
  { "POT", "Planter Pot", "Kiln & Co", 2100, 900, { { "S", "M", "L" }, { "WHT", "BLK", "TEA" } } },
  { "BLANKET", "Wool Throw", "Loomwell", 8900, 1400, { { "GRY", "OLV", "NAT", "NVY" } } },
  { "PIN", "Enamel Pin", "Paperhaus", 1000, 15,
    { { "FOX", "OWL", "CAT", "DOG", "BEE", "ELK", "YAK", "EMU", "ANT", "BAT" } } },
  { "KEYRING", "Leather Keyring", "Carryall", 1200, 30, { { "BLK", "KHK", "NAT", "RED", "NVY", "OLV" } } },
  { "PUZZLE", "Jigsaw Puzzle", "Playwell", 2400, 700, { { "500", "1000" }, { "DUNE", "COAST", "PEAK", "CITY" } } },
  { "JOURNAL", "Leather Journal", "Paperhaus", 3400, 400, { { "BLK", "KHK", "NAT" } } },
  { "CASE", "Phone Case", "Carryall", 2800, 60, { { "IP14", "IP15", "PX8", "GS24" }, { "BLK", "TEA", "PNK" } } },
  { "MAT", "Yoga Mat", "Loomwell", 4800, 1800, { { "GRY", "TEA", "PNK", "BLK" } } },
  { "LAMP", "Desk Lamp", "Kiln & Co", 6400, 1600, { { "BLK", "WHT", "STL" } } },
  { "GIFTCARD", "Gift Card", "Cartwright Demo", 2500, 0, { { "25" } } },
}

local function option_label(code)
  return COLORS[code] or SIZES[code] or (code:match("^%d+$") and code) or
      (code:sub(1, 1) .. code:sub(2):lower())
end

-- Expand one family into its variants (cartesian product of its option lists).
local function expand(family, product_no, out)
  local code, title, vendor, price, grams, options = table.unpack(family)
  local combos = { {} }
  for _, list in ipairs(options) do
    local next_combos = {}
    for _, combo in ipairs(combos) do
      for _, opt in ipairs(list) do
        local c = { table.unpack(combo) }
        c[#c + 1] = opt
        next_combos[#next_combos + 1] = c
      end
    end
    combos = next_combos
  end
  for variant_no, combo in ipairs(combos) do
    local labels = {}
    for i, opt in ipairs(combo) do labels[i] = option_label(opt) end
    out[#out + 1] = {
      sku = code .. "-" .. table.concat(combo, "-"),
      title = title,
      variant_title = table.concat(labels, " / "),
      vendor = vendor,
      price = price + (variant_no % 3) * 100, -- some spread inside a family
      grams = grams,
      product_no = product_no,
      variant_no = #out + 1, -- unique across the catalog
    }
  end
end

M.catalog = {}
for i, family in ipairs(FAMILIES) do expand(family, i, M.catalog) end
M.catalog_by_sku = {}
for _, item in ipairs(M.catalog) do M.catalog_by_sku[item.sku] = item end
M.product_count = #FAMILIES

---------------------------------------------------------------------------------------------
-- People and addresses (555-01xx phone numbers and example.* domains are reserved for fiction)
---------------------------------------------------------------------------------------------

local FIRST = { "Ann", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jonas",
  "Kara", "Luis", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma",
  "Vera", "Wes", "Xin", "Yara", "Zoe", "Omar", "Lena", "Marco", "Ruth", "Theo", "Nadia",
  "Pablo", "Ida", "Kenji", "Sofia", "Aaron", "Bea", "Colm", "Dana" }
local LAST = { "Lee", "Okafor", "Novak", "Garcia", "Smith", "Nguyen", "Kowalski", "Haddad",
  "Larsen", "Moreau", "Rossi", "Tanaka", "Fischer", "Silva", "O'Brien", "Patel", "Cohen",
  "Schmidt", "Dubois", "Kim", "Walker", "Ivanova", "Mendes", "Brooks", "Adeyemi", "Berg",
  "Castillo", "Dunn", "Eriksen", "Flores", "Grant", "Hughes", "Jensen", "Khan", "Lund",
  "Meyer", "Nash", "Ortiz", "Price", "Quist" }
local STREETS = { "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Pine Rd", "Lake View Dr",
  "Hillcrest Ave", "Sunset Blvd", "River Rd", "Park Pl", "Mill St", "Church St", "Harbor Way",
  "Meadow Ln", "Willow Ct", "2nd St", "5th Ave", "Orchard Rd", "Station Rd" }
local COMPANIES = { "Acme Outfitters", "Bluebird Studio", "Northwind Supply", "Copper Kettle Cafe",
  "Greenleaf Design", "Harbor Books" }

-- city, region code, region name, postal code prefix/format, country code, country name
local PLACES = {
  { "Austin", "TX", "Texas", "787##", "US", "United States" },
  { "Portland", "OR", "Oregon", "972##", "US", "United States" },
  { "Denver", "CO", "Colorado", "802##", "US", "United States" },
  { "Chicago", "IL", "Illinois", "606##", "US", "United States" },
  { "Brooklyn", "NY", "New York", "112##", "US", "United States" },
  { "Seattle", "WA", "Washington", "981##", "US", "United States" },
  { "Atlanta", "GA", "Georgia", "303##", "US", "United States" },
  { "Boston", "MA", "Massachusetts", "021##", "US", "United States" },
  { "Phoenix", "AZ", "Arizona", "850##", "US", "United States" },
  { "Madison", "WI", "Wisconsin", "537##", "US", "United States" },
  { "Raleigh", "NC", "North Carolina", "276##", "US", "United States" },
  { "Louisville", "KY", "Kentucky", "402##", "US", "United States" },
  { "Sacramento", "CA", "California", "958##", "US", "United States" },
  { "San Diego", "CA", "California", "921##", "US", "United States" },
  { "Miami", "FL", "Florida", "331##", "US", "United States" },
  { "Minneapolis", "MN", "Minnesota", "554##", "US", "United States" },
  { "Burlington", "VT", "Vermont", "054##", "US", "United States" },
  { "Toronto", "ON", "Ontario", "M5V 2T#", "CA", "Canada" },
  { "Vancouver", "BC", "British Columbia", "V6B 1A#", "CA", "Canada" },
  { "London", "", "", "EC1A 1B#", "GB", "United Kingdom" },
  { "Melbourne", "VIC", "Victoria", "30##", "AU", "Australia" },
  { "Berlin", "", "", "101##", "DE", "Germany" },
}
-- mostly domestic, like a typical small US merchant
local PLACE_WEIGHTS = {}
for i, p in ipairs(PLACES) do PLACE_WEIGHTS[i] = { p[5] == "US" and 10 or 2, p } end

local function fill_digits(rng, pattern)
  return (pattern:gsub("#", function() return tostring(rng:int(0, 9)) end))
end

-- { first_name, last_name, email, phone (E.164), company|nil }
function M.person(rng)
  local first, last = rng:pick(FIRST), rng:pick(LAST)
  local local_part = (first .. "." .. last):lower():gsub("[^%w%.]", "")
  if rng:chance(0.4) then local_part = local_part .. rng:int(1, 99) end
  return {
    first_name = first,
    last_name = last,
    email = local_part .. "@" .. rng:pick({ "example.com", "example.net", "example.org" }),
    phone = "+1" .. rng:int(201, 989) .. "55501" .. rng:digits(2),
    company = rng:chance(0.15) and rng:pick(COMPANIES) or nil,
  }
end

-- { address1, address2, city, region_code, region, zip, country_code, country }
function M.address(rng)
  local p = rng:weighted(PLACE_WEIGHTS)
  return {
    address1 = rng:int(1, 9899) .. " " .. rng:pick(STREETS),
    address2 = rng:chance(0.2) and ("Apt " .. rng:int(1, 40)) or "",
    city = p[1], region_code = p[2], region = p[3],
    zip = fill_digits(rng, p[4]),
    country_code = p[5], country = p[6],
  }
end

-- "+15125550123" -> "(512) 555-0123" / "5125550123"
function M.phone_national(e164)
  local d = e164:gsub("^%+1", "")
  return string.format("(%s) %s-%s", d:sub(1, 3), d:sub(4, 6), d:sub(7))
end
function M.phone_digits(e164) return (e164:gsub("^%+1", "")) end

---------------------------------------------------------------------------------------------
-- Order contents shared by the carts: lines, totals and the deliberate oddities tests rely on
---------------------------------------------------------------------------------------------

-- Deterministic by sequence number (not by chance) so a small sim still has one of each:
-- every 25th order (n % 25 == 7) uses an unusual shipping code, and every 100th
-- (n % 100 == 42) carries a line whose SKU is not in the catalog.
function M.unusual_shipping(n) return n % 25 == 7 end
function M.unknown_sku(n) return n % 100 == 42 end

-- Lines: { item (catalog entry), quantity, price (cents) }
function M.pick_lines(rng, n)
  local count = rng:weighted({ { 45, 1 }, { 30, 2 }, { 15, 3 }, { 7, 4 }, { 3, 5 } })
  local lines, seen = {}, {}
  while #lines < count do
    local item = rng:pick(M.catalog)
    if not seen[item.sku] then
      seen[item.sku] = true
      lines[#lines + 1] = { item = item, quantity = rng:weighted({ { 75, 1 }, { 18, 2 }, { 7, 3 } }),
        price = item.price }
    end
  end
  if M.unknown_sku(n) then
    lines[#lines + 1] = { quantity = 1, price = 1299, item = {
      sku = "UNKNOWN-" .. (100 + n % 900), title = "Discontinued Item", variant_title = "",
      vendor = "Legacy Stock", price = 1299, grams = 250, product_no = 0, variant_no = 0,
      unknown = true } }
  end
  return lines
end

local US_TAX = { TX = 0.0825, OR = 0, CO = 0.029, IL = 0.0625, NY = 0.08875, WA = 0.065,
  GA = 0.04, MA = 0.0625, AZ = 0.056, WI = 0.05, NC = 0.0475, KY = 0.06, CA = 0.0725,
  FL = 0.06, MN = 0.06875, VT = 0.06 }
local CA_TAX = { ON = { 0.13, "HST" }, BC = { 0.12, "GST + PST" } }

-- -> rate, title for a ship-to address (exports are untaxed)
function M.tax_rate(addr)
  if addr.country_code == "US" then return US_TAX[addr.region_code] or 0.06, "State Tax" end
  if addr.country_code == "CA" then
    local t = CA_TAX[addr.region_code] or { 0.05, "GST" }
    return t[1], t[2]
  end
  return 0, "Tax"
end

-- Shipping kind and price in cents; each cart names the kinds its own way.
-- kinds: standard, express, overnight, free, pickup, freight (the unusual one)
function M.pick_shipping(rng, n, subtotal)
  if M.unusual_shipping(n) then return "freight", 14900 end
  local kind = rng:weighted({ { 58, "standard" }, { 18, "express" }, { 5, "overnight" },
    { 14, "free" }, { 5, "pickup" } })
  if kind == "free" and subtotal < 5000 then kind = "standard" end
  local price = { standard = 695, express = 1500, overnight = 2900, free = 0, pickup = 0 }
  return kind, price[kind]
end

-- nil or { code, kind = "fixed"|"percentage", value (number as the cart shows it), cents }
function M.pick_discount(rng, subtotal)
  if not rng:chance(0.15) then return nil end
  local d = rng:pick({ { "TENOFF", "fixed", 10 }, { "SPRING15", "percentage", 15 },
    { "WELCOME5", "fixed", 5 } })
  local cents = d[2] == "fixed" and d[3] * 100 or (subtotal * d[3] + 50) // 100
  return { code = d[1], kind = d[2], value = d[3], cents = math.min(cents, subtotal) }
end

local NOTES = { "Please leave at the side door.", "Gift - no prices on the packing slip please.",
  "Call before delivery.", "Ring the bell twice.", "Deliver after 5pm if possible." }
function M.pick_note(rng)
  return rng:chance(0.2) and rng:pick(NOTES) or nil
end

-- Custom checkout fields (Shopify note_attributes, Woo meta_data, BigCommerce form_fields)
function M.pick_attributes(rng, created)
  if not rng:chance(0.2) then return {} end
  local attrs = { { name = "gift", value = rng:pick({ "yes", "no" }) } }
  if rng:chance(0.5) then
    attrs[#attrs + 1] = { name = "delivery_date", value = M.local_time(created + 5 * 86400):sub(1, 10) }
  end
  return attrs
end

-- An engraving property on some personalisable lines
function M.pick_properties(rng, item)
  if (item.sku:match("^MUG") or item.sku:match("^JOURNAL") or item.sku:match("^KEYRING"))
      and rng:chance(0.3) then
    return { { name = "Engraving", value = rng:pick({ "Hi Mom", "A+J", "Best Dad", "2025" }) } }
  end
  return {}
end

-- Totals in cents: subtotal, discount, shipping, tax, total; with a per-line tax and
-- discount share so the lines add up to the order.
function M.totals(lines, shipping_cents, discount_cents, tax_rate)
  local subtotal = 0
  for _, l in ipairs(lines) do subtotal = subtotal + l.price * l.quantity end
  discount_cents = math.min(discount_cents, subtotal)
  local tax, left = 0, discount_cents
  for i, l in ipairs(lines) do
    local gross = l.price * l.quantity
    local share = (i == #lines) and left or (discount_cents * gross // math.max(subtotal, 1))
    left = left - share
    l.discount = share
    l.tax = math.floor((gross - share) * tax_rate + 0.5)
    tax = tax + l.tax
  end
  return { subtotal = subtotal, discount = discount_cents, shipping = shipping_cents, tax = tax,
    total = subtotal - discount_cents + shipping_cents + tax }
end

---------------------------------------------------------------------------------------------
-- Money
---------------------------------------------------------------------------------------------

-- cents -> "19.95" (decimals = 2) or "19.9500" (decimals = 4)
function M.money(cents, decimals)
  decimals = decimals or 2
  local neg = cents < 0
  if neg then cents = -cents end
  local s = string.format("%d.%02d", cents // 100, cents % 100)
  if decimals > 2 then s = s .. string.rep("0", decimals - 2) end
  return neg and ("-" .. s) or s
end

---------------------------------------------------------------------------------------------
-- Time: everything is integer epoch seconds inside; formats only at the edges
---------------------------------------------------------------------------------------------

-- days since 1970-01-01 <-> civil date: the engine's own calendar arithmetic
local days_from_civil, civil_from_days = ctime.days_from_civil, ctime.civil_from_days

function M.epoch(y, mo, d, h, mi, s)
  return days_from_civil(y, mo, d) * 86400 + (h or 0) * 3600 + (mi or 0) * 60 + (s or 0)
end

-- epoch -> y, mo, d, h, mi, s, weekday (0 = Sunday)
function M.civil(epoch)
  epoch = math.floor(epoch)
  local days, secs = epoch // 86400, epoch % 86400
  local y, mo, d = civil_from_days(days)
  return y, mo, d, secs // 3600, secs % 3600 // 60, secs % 60, (days + 4) % 7
end

local function offset_text(minutes, colon)
  local sign = minutes < 0 and "-" or "+"
  minutes = math.abs(minutes)
  return string.format(colon and "%s%02d:%02d" or "%s%02d%02d", sign, minutes // 60, minutes % 60)
end

-- "2025-03-04T10:15:22" as seen on a wall clock at UTC+offset_minutes (WooCommerce style)
function M.local_time(epoch, offset_minutes)
  local y, mo, d, h, mi, s = M.civil(epoch + (offset_minutes or 0) * 60)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, s)
end

-- "2025-03-04T10:15:22-05:00" (Shopify style)
function M.iso(epoch, offset_minutes)
  offset_minutes = offset_minutes or 0
  return M.local_time(epoch, offset_minutes) .. offset_text(offset_minutes, true)
end

-- "2025-03-04T15:15:22Z"
function M.iso_utc(epoch) return M.local_time(epoch, 0) .. "Z" end

local WDAY = { [0] = "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MON = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local MON_NO = {}
for i, m in ipairs(MON) do MON_NO[m:lower()] = i end

-- "Tue, 04 Mar 2025 15:15:22 +0000" (BigCommerce style)
function M.rfc2822(epoch, offset_minutes)
  offset_minutes = offset_minutes or 0
  local y, mo, d, h, mi, s, wd = M.civil(epoch + offset_minutes * 60)
  return string.format("%s, %02d %s %04d %02d:%02d:%02d %s", WDAY[wd], d, MON[mo], y, h, mi, s,
    offset_text(offset_minutes, false))
end

local function valid_clock(y, mo, d, h, mi, s)
  return mo >= 1 and mo <= 12 and d >= 1 and d <= 31 and h <= 23 and mi <= 59 and s <= 60
      and y >= 1970
end

-- ISO 8601 "YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM|±HH]".
-- Returns epoch, has_offset. Without an offset the clock reading is returned as if it were UTC
-- and the caller applies the cart's own default zone. nil, "invalid date" when it does not parse.
function M.parse_iso(s)
  if type(s) ~= "string" then return nil, "invalid date" end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil, "invalid date" end
  local h, mi, sec = 0, 0, 0
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
    if not hh then return nil, "invalid date" end
    h, mi, rest = tonumber(hh), tonumber(mm), tail
    local ss, tail2 = rest:match("^:(%d%d)(.*)$")
    if ss then sec, rest = tonumber(ss), tail2 end
    rest = rest:gsub("^[%.,]%d+", "") -- fractions are dropped: the carts keep whole seconds
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if not valid_clock(y, mo, d, h, mi, sec) then return nil, "invalid date" end
  local epoch = M.epoch(y, mo, d, h, mi, sec)
  if rest == "" then return epoch, false end
  if rest == "Z" or rest == "z" then return epoch, true end
  local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then
    sign, oh = rest:match("^([+-])(%d%d)$")
    om = "00"
  end
  if not sign then return nil, "invalid date" end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and epoch - off or epoch + off, true
end

-- RFC 2822 "Thu, 20 Apr 2017 11:32:00 -0400" (weekday optional; GMT/UT/Z accepted).
function M.parse_rfc2822(s)
  if type(s) ~= "string" then return nil, "invalid date" end
  local body = s:gsub("^%a%a%a,%s*", "")
  local d, mon, y, h, mi, rest = body:match("^(%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d)(.*)$")
  if not d then return nil, "invalid date" end
  local sec = 0
  local ss, tail = rest:match("^:(%d%d)(.*)$")
  if ss then sec, rest = tonumber(ss), tail end
  local mo = MON_NO[mon:lower()]
  y, d, h, mi = tonumber(y), tonumber(d), tonumber(h), tonumber(mi)
  if not mo or not valid_clock(y, mo, d, h, mi, sec) then return nil, "invalid date" end
  local epoch = M.epoch(y, mo, d, h, mi, sec)
  local zone = rest:match("^ (.+)$")
  if zone == "GMT" or zone == "UT" or zone == "UTC" or zone == "Z" then return epoch end
  local sign, oh, om = (zone or ""):match("^([+-])(%d%d)(%d%d)$")
  if not sign then return nil, "invalid date" end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and epoch - off or epoch + off
end

---------------------------------------------------------------------------------------------
-- Query strings and URL encoding
---------------------------------------------------------------------------------------------

-- Form decoding as Rails and PHP do it: '+' is a space, then %XX. A client that leaves a '+'
-- unencoded in "-05:00"/"+0000" therefore sees its offset turn into a space, as at the carts.
function M.form_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- %XX only ('+' stays '+'), PHP's rawurldecode
function M.percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- RFC 3986: everything but A-Z a-z 0-9 - . _ ~ is %XX. Written here rather than taken from
-- cartwright.http so the simulator checks the client's encoder instead of sharing its bugs.
function M.urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- "a=1&b=x%20y&a=2" -> params {a="2", b="x y"} (last wins), pairs {{"a","1"},{"b","x y"},{"a","2"}}
function M.parse_query(qs)
  local params, pairs_ = {}, {}
  for part in (qs or ""):gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=(.*)$")
    if not k then k, v = part, "" end
    k, v = M.form_decode(k), M.form_decode(v)
    params[k] = v
    pairs_[#pairs_ + 1] = { k, v }
  end
  return params, pairs_
end

-- pairs list -> "a=1&b=x%20y"
function M.build_query(list)
  local out = {}
  for i, kv in ipairs(list) do out[i] = M.urlencode(kv[1]) .. "=" .. M.urlencode(kv[2]) end
  return table.concat(out, "&")
end

function M.split_uri(uri)
  local path, qs = uri:match("^([^?]*)%??(.*)$")
  return path, qs
end

-- base64 without padding and with -_ in place of +/ so a token needs no escaping in a URL
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
function M.b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chunk = {}
    for j = 1, 4 do
      local k = (n >> (18 - 6 * (j - 1))) & 63
      chunk[j] = B64:sub(k + 1, k + 1)
    end
    local keep = (c and 4) or (b and 3) or 2
    out[#out + 1] = table.concat(chunk, "", 1, keep)
  end
  return table.concat(out)
end

function M.unb64url(s)
  if type(s) ~= "string" or s:find("[^%w%-_]") then return nil end
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    n = (n << 6) | (B64:find(s:sub(i, i), 1, true) - 1)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((n >> bits) & 255)
    end
  end
  return table.concat(out)
end

---------------------------------------------------------------------------------------------
-- Rate limiters
---------------------------------------------------------------------------------------------

-- Shopify's leaky bucket: each call adds one; the bucket drains per_second; a call that would
-- overflow is refused and adds nothing.
local Bucket = {}
Bucket.__index = Bucket

function M.leaky_bucket(capacity, per_second)
  return setmetatable({ capacity = capacity, per_second = per_second, level = 0, at = nil }, Bucket)
end

function Bucket:drain(now)
  if self.at then self.level = math.max(0, self.level - (now - self.at) * self.per_second) end
  self.at = now
end

-- -> ok, used (whole calls in the bucket after this one)
function Bucket:take(now)
  self:drain(now)
  if self.level + 1 > self.capacity then return false, self.capacity end
  self.level = self.level + 1
  return true, math.ceil(self.level - 1e-9)
end

-- BigCommerce's quota: quota calls per fixed window that starts with the first call.
local Window = {}
Window.__index = Window

function M.fixed_window(quota, window_seconds)
  return setmetatable({ quota = quota, window = window_seconds, used = 0, start = nil }, Window)
end

-- -> ok, left, reset_ms
function Window:take(now)
  if not self.start or now >= self.start + self.window then self.start, self.used = now, 0 end
  local reset_ms = math.max(0, math.floor((self.start + self.window - now) * 1000))
  if self.used >= self.quota then return false, 0, reset_ms end
  self.used = self.used + 1
  return true, self.quota - self.used, reset_ms
end

---------------------------------------------------------------------------------------------
-- Responses
---------------------------------------------------------------------------------------------

function M.response(status, body, headers)
  headers = headers or {}
  if body == M.EMPTY then body = "[]" end -- an empty list as the whole answer
  if body ~= nil and type(body) ~= "string" then body = M.encode(body) end
  if body and body ~= "" and not headers["Content-Type"] then
    headers["Content-Type"] = "application/json; charset=utf-8"
  end
  return { status = status, headers = headers, body = body or "" }
end

-- A copy a caller may add headers to without touching a cached original.
function M.copy_response(r)
  local h = {}
  for k, v in pairs(r.headers or {}) do h[k] = v end
  return { status = r.status, headers = h, body = r.body }
end

---------------------------------------------------------------------------------------------
-- The simulator object every cart module builds on
---------------------------------------------------------------------------------------------

local Sim = {}
Sim.__index = Sim
M.Sim = Sim

-- cart: { name, setup(sim, opts), generate(sim, n, created, updated) -> rec (with rec.doc),
--         render(sim, rec) (sets rec.json and the summary fields its filters read),
--         change(sim, rec, changes, now), handle(sim, req) -> response,
--         fault_response(sim, status, fault) -> response, malformed_body(sim, body) (optional),
--         object_keys (optional: keys whose empty value is {} rather than []),
--         control(sim, req, body) -> response | nil (optional: the cart's own /_sim/ endpoints) }
--
-- A record keeps its rendered JSON and a few summary fields, not the document: 20,000
-- Shopify documents as Lua tables are ~350 MB of heap and slow every GC cycle. sim.orders[i],
-- sim.records[i].doc and sim:order(id) decode the JSON on demand (a fresh copy each time);
-- sim:change_order decodes, changes and re-renders.
function M.start(cart, opts)
  opts = opts or {}
  local sim = setmetatable({
    cart = cart, opts = opts, seed = tonumber(opts.seed) or 1,
    clock = opts.clock or task.now, -- tests may pass a fake clock
    records = {}, by_id = {},
    faults = {}, pages_served = 0, on_page = opts.on_page,
    cache = opts.prerender and {} or nil,
    hooks = {}, webhook_stats = { sent = 0, failed = 0 }, webhook_secret = opts.webhook_secret,
  }, Sim)
  sim.rng = M.rng(sim.seed)
  -- sim.orders[i]: the i-th order's document, decoded on each access (a copy: change orders
  -- with sim:change_order)
  sim.orders = setmetatable({}, {
    __index = function(_, i)
      local rec = sim.records[i]
      return rec and sim:doc(rec)
    end,
    __len = function() return #sim.records end,
  })
  sim:reset_stats()
  sim:invalidate()
  cart.setup(sim, opts)
  local err
  sim.server, err = httpd.listen{ host = opts.host or "127.0.0.1", port = tonumber(opts.port) or 0,
    handler = function(req) return sim:handle(req) end }
  if not sim.server then error("sim " .. cart.name .. ": cannot listen: " .. tostring(err), 2) end
  sim.port = sim.server.port
  local host = opts.host or "127.0.0.1"
  if host == "0.0.0.0" or host == "::" then host = "127.0.0.1" end
  sim.url = opts.url or ("http://" .. host .. ":" .. sim.port)
  -- generated after listen: some carts put their own URL inside each order
  sim:seed_orders(tonumber(opts.orders) or 100, tonumber(opts.days) or 30)
  return sim
end

function Sim:now() return math.floor(self.clock()) end

function Sim:close()
  if self.server then self.server:close() end
  self.server = nil
end

-- n orders spread over the `days` before now, ids and creation times both ascending.
function Sim:seed_orders(n, days)
  local now = self:now()
  local span = days * 86400
  for i = 1, n do
    local created = now - span + (span - 600) * (i - 1) // math.max(n, 1) + self.rng:int(0, 59)
    -- 40% were touched later (paid, shipped, edited); the history stops a minute before now
    local updated = created + self.rng:weighted({ { 60, self.rng:int(0, 90) },
      { 40, self.rng:int(60, 3 * 86400) } })
    self:insert(self.cart.generate(self, #self.records + 1, created, math.min(updated, now - 60)))
  end
end

function Sim:insert(rec)
  self.cart.render(self, rec)
  rec.doc = nil
  -- rec.doc still reads as the document, decoded on demand (tests look at records directly)
  self.record_mt = self.record_mt or { __index = function(r, k)
    if k == "doc" then return self:doc(r) end
  end }
  setmetatable(rec, self.record_mt)
  self.records[#self.records + 1] = rec
  self.by_id[rec.id] = rec
  self:invalidate()
  return rec
end

function Sim:invalidate()
  if self.cache then self.cache = {} end
  self.queries, self.query_count = {}, 0
end

-- The filtered, ordered records of one frozen query, kept until the next change so paging
-- through 20,000 orders does not filter and sort them again for every page.
-- key: M.canonical(query); build() -> list of records.
function Sim:query(key, build)
  local hit = self.queries[key]
  if hit then return hit end
  if self.query_count >= 16 then self.queries, self.query_count = {}, 0 end
  hit = build()
  self.queries[key], self.query_count = hit, self.query_count + 1
  return hit
end

-- Adds n orders created now (all in the same second, like a busy store) -> list of ids.
function Sim:add_orders(n, at)
  local now = at or self:now()
  local ids = {}
  for i = 1, n or 1 do
    local rec = self:insert(self.cart.generate(self, #self.records + 1, now, now))
    ids[i] = rec.id
  end
  return ids
end

-- changes: { status = <cart word or "cancelled"|"paid"|"shipped"|...>, touch = true|false,
--            at = epoch (the new modified time), fields = { raw document fields to set } }
function Sim:change_order(id, changes)
  local rec = self.by_id[tonumber(id) or id]
  if not rec then return nil, "no such order" end
  changes = changes or {}
  local now = math.floor(tonumber(changes.at) or self:now())
  rec.doc = self:doc(rec)
  local ok, err = self.cart.change(self, rec, changes, now)
  if not ok then
    rec.doc = nil
    return nil, err
  end
  if type(changes.fields) == "table" then
    for k, v in pairs(changes.fields) do rec.doc[k] = v end
  end
  if changes.touch ~= false then rec.updated = now end
  self.cart.render(self, rec)
  local doc = rec.doc
  rec.doc = nil
  self:invalidate()
  return doc
end

-- The document of a record (decoded from its JSON; a fresh table each call).
function Sim:doc(rec)
  return M.decode_doc(rec.json, self.cart.object_keys)
end

function Sim:order(id)
  local rec = self.by_id[tonumber(id) or id]
  return rec and self:doc(rec)
end

-- spec: { status = 429|500|503 | delay = seconds | truncate = true | malformed = true,
--         count = N (default 1), on = "orders" (default: order-list requests) | "any" }
function Sim:fault(spec)
  local f = {}
  for k, v in pairs(spec) do f[k] = v end
  f.count = tonumber(f.count) or 1
  f.on = f.on or "orders"
  self.faults[#self.faults + 1] = f
  return #self.faults
end

-- The first queued fault that applies to this kind of request; counts it down.
function Sim:take_fault(is_order_list)
  for i, f in ipairs(self.faults) do
    if f.on == "any" or is_order_list then
      f.count = f.count - 1
      if f.count <= 0 then table.remove(self.faults, i) end
      return f
    end
  end
end

function Sim:reset_stats()
  self.stats = { requests = 0, order_list_requests = 0, order_pages = 0, throttled = 0,
    faults = 0, by_status = {} }
end

function Sim:count_status(status)
  local key = tostring(status)
  self.stats.by_status[key] = (self.stats.by_status[key] or 0) + 1
  if status == 429 then self.stats.throttled = self.stats.throttled + 1 end
end

-- Entry point for every HTTP request.
function Sim:handle(req)
  if req.path:sub(1, 6) == "/_sim/" or req.path == "/_sim" then return self:control(req) end
  self.stats.requests = self.stats.requests + 1
  local ok, resp = xpcall(self.cart.handle, function(e)
    return debug and debug.traceback(tostring(e), 2) or tostring(e)
  end, self, req)
  if not ok then
    io.stderr:write("[sim ", self.cart.name, "] handler error: ", tostring(resp), "\n")
    resp = M.response(500, { error = "simulator error", detail = tostring(resp) })
  end
  self:count_status(resp.status)
  return resp
end

-- The next queued fault for this request, counted in the stats.
function Sim:forced_fault(is_order_list)
  local f = self:take_fault(is_order_list)
  if not f then return nil end
  self.stats.faults = self.stats.faults + 1
  return f
end

-- Wraps the building of one order-list page (the cart has counted the request already,
-- before its rate limit): applies a queued fault, caches the
-- built page when prerender is on, and calls on_page after a page is built.
-- build() -> response; key = cache key (nil: do not cache).
function Sim:serve_list(key, build)
  local f = self:forced_fault(true)
  if f and f.status then return self.cart.fault_response(self, tonumber(f.status), f) end
  if f and f.delay then task.sleep(tonumber(f.delay)) end
  local resp
  if self.cache and key and self.cache[key] then
    resp = M.copy_response(self.cache[key])
  else
    resp = build()
    if self.cache and key and resp.status < 300 then self.cache[key] = M.copy_response(resp) end
  end
  if resp.status >= 300 then return resp end
  resp = M.copy_response(resp)
  if f and resp.status == 200 then resp.body = M.spoil(self, f, resp.body) end
  self.pages_served = self.pages_served + 1
  self.stats.order_pages = self.pages_served
  if self.on_page then self.on_page(self, self.pages_served) end
  return resp
end

--- Runs a write under the queued faults (sim:forced_fault): a fault with after_apply = true lets
--- the write change the cart first, then delays and/or fails its answer ("accepted, then timed
--- out"); any other fault answers before it. spoil = true also spoils a 2xx answer under a
--- plain fault (truncated, malformed) as reads are. The cart's errors: its fault_response.
function M.apply_write(sim, write, spoil)
  local f = sim:forced_fault(false)
  if f and not f.after_apply then
    if f.status then return sim.cart.fault_response(sim, tonumber(f.status), f) end
    if f.delay then task.sleep(tonumber(f.delay)) end
  end
  local resp = write()
  if f and f.after_apply then
    if f.delay then task.sleep(tonumber(f.delay)) end
    if f.status then return sim.cart.fault_response(sim, tonumber(f.status), f) end
  elseif spoil and f and resp.status < 300 then
    resp = M.copy_response(resp)
    resp.body = M.spoil(sim, f, resp.body)
  end
  return resp
end

-- A 200 body as a truncate or malformed fault leaves it.
local ERROR_PAGE = "<!DOCTYPE html><html><head><title>Error</title></head><body>"
    .. "<h1>There was a problem loading this page</h1></body></html>"
function M.spoil(sim, f, body)
  if f.truncate then return body:sub(1, math.max(1, #body // 2)) end
  if f.malformed then
    -- a proxy's HTML page with a 200, unless the cart has a failure of its own
    return sim.cart.malformed_body and sim.cart.malformed_body(sim, body) or ERROR_PAGE
  end
  return body
end

-- Same as serve_list for requests that are not order lists: only faults queued with
-- on = "any" apply.
function Sim:apply_any_fault(resp_fn)
  local f = self:forced_fault(false)
  if f and f.status then return self.cart.fault_response(self, tonumber(f.status), f) end
  if f and f.delay then task.sleep(tonumber(f.delay)) end
  local resp = resp_fn()
  if f and resp.status == 200 then
    resp = M.copy_response(resp)
    resp.body = M.spoil(self, f, resp.body)
  end
  return resp
end

---------------------------------------------------------------------------------------------
-- Webhooks: the cart's registration endpoint calls sim:add_hook{ url, topic, secret?, headers? };
-- an order placed through POST /_sim/orders is POSTed to every hook whose topic is the cart's
-- "created" one, as cart.webhook_delivery(sim, hook, rec) -> { headers, body } renders it
-- (signed). Deliveries run in one task per placement, each with a short timeout: fire and
-- forget, at most WEBHOOK_MAX deliveries per placement. GET /_sim/webhooks lists the hooks and
-- the counts; POST /_sim/webhooks { secret } sets the secret a cart signs with by itself.
---------------------------------------------------------------------------------------------

M.WEBHOOK_MAX = 200 -- deliveries per placement
M.WEBHOOK_TIMEOUT = 5 -- seconds per delivery (Shopify gives 5)

function Sim:add_hook(h)
  self.hooks = self.hooks or {}
  local hook = { id = #self.hooks + 1, url = h.url, topic = h.topic, secret = h.secret, headers = h.headers }
  self.hooks[#self.hooks + 1] = hook
  return hook
end

-- POSTs each new order to the hooks that want new orders; returns the number queued.
function Sim:send_webhooks(ids)
  local render = self.cart.webhook_delivery
  if not render or not self.hooks or #self.hooks == 0 then return 0 end
  local jobs = {}
  for _, id in ipairs(ids) do
    local rec = self.by_id[id]
    for _, hook in ipairs(self.hooks) do
      local d = rec and #jobs < M.WEBHOOK_MAX and render(self, hook, rec)
      if d then jobs[#jobs + 1] = { url = hook.url, headers = d.headers, body = d.body } end
    end
  end
  if #jobs == 0 then return 0 end
  local stats = self.webhook_stats
  task.spawn(function()
    for _, j in ipairs(jobs) do
      j.headers["Content-Type"] = j.headers["Content-Type"] or "application/json"
      local res = http.request{ method = "POST", url = j.url, headers = j.headers, body = j.body,
        timeout = M.WEBHOOK_TIMEOUT }
      if res and res.status >= 200 and res.status < 300 then stats.sent = stats.sent + 1
      else stats.failed = stats.failed + 1 end
    end
  end)
  return #jobs
end

-- base64(HMAC-SHA256(secret, body)): how Shopify and WooCommerce sign a delivery
function M.sign(secret, body) return crypto.base64(crypto.hmac_sha256(secret, body)) end

local function hooks_view(sim)
  local out = {}
  for i, h in ipairs(sim.hooks or {}) do out[i] = { id = h.id, url = h.url, topic = h.topic } end
  return { hooks = M.list(out), sent = sim.webhook_stats.sent, failed = sim.webhook_stats.failed }
end

---------------------------------------------------------------------------------------------
-- /_sim control endpoints (no auth, JSON)
---------------------------------------------------------------------------------------------

local function body_table(req)
  if not req.body or req.body == "" then return {} end
  local t = M.decode(req.body)
  return type(t) == "table" and t or nil
end

function Sim:control(req)
  local path, method = req.path, req.method
  local body = body_table(req)
  if body == nil then return M.response(400, { error = "body is not a JSON object" }) end
  if method == "GET" and path == "/_sim/stats" then
    return M.response(200, self.stats)
  elseif method == "POST" and path == "/_sim/reset-stats" then
    self:reset_stats()
    return M.response(200, self.stats)
  elseif method == "GET" and path == "/_sim/orders" then
    local ids = {}
    for i, rec in ipairs(self.records) do ids[i] = rec.id end
    return M.response(200, { ids = M.list(ids) })
  elseif method == "POST" and path == "/_sim/orders" then
    local ids = self:add_orders(tonumber(body.count) or 1)
    local queued = self:send_webhooks(ids)
    return M.response(200, { ids = M.list(ids), webhooks = queued })
  elseif method == "GET" and path == "/_sim/webhooks" then
    return M.response(200, hooks_view(self))
  elseif method == "POST" and path == "/_sim/webhooks" then
    if type(body.secret) == "string" then self.webhook_secret = body.secret end
    return M.response(200, hooks_view(self))
  elseif method == "POST" and path == "/_sim/faults" then
    return M.response(200, { queued = self:fault(body) })
  elseif method == "DELETE" and path == "/_sim/faults" then
    self.faults = {}
    return M.response(200, { queued = 0 })
  end
  local id = path:match("^/_sim/orders/([%w%-]+)$")
  if id and method == "POST" then
    local doc, err = self:change_order(id, body)
    if not doc then return M.response(self.by_id[tonumber(id) or id] and 400 or 404, { error = err }) end
    return M.response(200, { id = self.by_id[tonumber(id) or id].id, order = doc })
  elseif id and method == "GET" then
    local rec = self.by_id[tonumber(id) or id]
    if not rec then return M.response(404, { error = "no such order" }) end
    return M.response(200, rec.json)
  end
  local own = self.cart.control and self.cart.control(self, req, body) -- a cart's own endpoints
  if own then return own end
  return M.response(404, { error = "unknown control endpoint " .. method .. " " .. path })
end

return M
