-- The order model (docs/order-model.md) as a check: what a connector's normalize returns must
-- have the documented fields with the documented types before rules or the store see it: ids
-- and text as non-empty strings (absent is nil), UTC dates "YYYY-MM-DDTHH:MM:SSZ", integer
-- quantities, money as decimal strings with 2 decimals, the tables that are always there, lists
-- that are lists. Fields the model does not name are left alone. It runs once per order on the
-- import's hot path, so it is written out by hand, fails fast and builds a message only for an
-- order that fails.
local null = require("cjson.safe").null

local type, math_type, next, find, byte, format = type, math.type, next, string.find, string.byte, string.format

local M = {}

---------------------------------------------------------------- the message of a failure

local function got(v)
  local t = type(v)
  if v == nil then return "nil" end
  if v == null then return "JSON null" end
  if t == "string" then
    if v == "" then return "an empty string" end
    local s = #v > 40 and (v:sub(1, 40) .. "…") or v
    return "string " .. format("%q", s):gsub("\\\n", "\\n")
  end
  if t == "number" then return (math_type(v) == "float" and "float " or "integer ") .. tostring(v) end
  if t == "boolean" then return "boolean " .. tostring(v) end
  return t
end

local function fail(path, what, v)
  return nil, path .. ": expected " .. what .. ", got " .. got(v)
end

---------------------------------------------------------------- values

-- Money strings already seen valid ("19.95", "0.00" repeat from order to order), emptied when
-- MEMO_MAX are kept.
local MEMO_MAX = 4096
local money_seen, money_n = {}, 0

local function is_money(v)
  if money_seen[v] then return true end
  if type(v) ~= "string" or not find(v, "^%-?%d+%.%d%d$") then return false end
  if money_n >= MEMO_MAX then money_seen, money_n = {}, 0 end
  money_seen[v], money_n = true, money_n + 1
  return true
end

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- "2025-03-04T15:00:00Z": the format, then the calendar (digits read as bytes: no captures).
local function is_date(v)
  if type(v) ~= "string" or #v ~= 20 or not find(v, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") then return false end
  local y1, y2, y3, y4, _, m1, m2, _, d1, d2 = byte(v, 1, 10)
  local h1, h2, _, mi1, _, _, s1 = byte(v, 12, 18)
  local m, d = (m1 - 48) * 10 + m2 - 48, (d1 - 48) * 10 + d2 - 48
  if m < 1 or m > 12 or d < 1 or (h1 - 48) * 10 + h2 - 48 > 23 or mi1 > 53 or s1 > 53 then return false end
  if d <= DAYS[m] then return true end
  local y = (y1 - 48) * 1000 + (y2 - 48) * 100 + (y3 - 48) * 10 + y4 - 48
  return m == 2 and d == 29 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
end
M.is_date, M.is_money = is_date, is_money

local TEXT = "a non-empty string or nil"
local MONEY = "money like \"19.95\" (a string with 2 decimals) or nil"
local DATE = "a UTC date \"YYYY-MM-DDTHH:MM:SSZ\""

-- The first of `keys` whose value in t is neither nil nor a non-empty string, or nil.
local function bad_text(t, keys)
  for i = 1, #keys do
    local v = t[keys[i]]
    if v ~= nil and (type(v) ~= "string" or v == "") then return keys[i] end
  end
  return nil
end

-- The first of `keys` whose value in t is neither nil nor money, or nil.
local function bad_money(t, keys)
  for i = 1, #keys do
    local v = t[keys[i]]
    if v ~= nil and not is_money(v) then return keys[i] end
  end
  return nil
end

-- A key of the table v that a list does not have (anything but 1..#v), or nil.
local function not_list(v)
  local n = #v
  for key in next, v do
    if math_type(key) ~= "integer" or key < 1 or key > n then return key end
  end
  return nil
end

-- The messages of the failures below, built only then.
local function list_fail(path, v, key)
  if type(v) ~= "table" then return fail(path, "a list", v) end
  return nil, path .. ": expected a list, got a table with the key " .. got(key)
end

---------------------------------------------------------------- the order

local ORDER_TEXT = { "number", "cart_status", "payment_status", "fulfillment_status", "currency", "notes" }
local TOTALS = { "total", "subtotal", "tax", "shipping", "discount" }
local CUSTOMER = { "email", "first_name", "last_name", "phone", "external_id" }
local ADDRESS = { "name", "first_name", "last_name", "company", "address1", "address2", "city", "region",
                  "postal_code", "country", "phone", "email" }
local SHIPPING = { "code", "title" }
local LINE_TEXT = { "external_id", "sku", "name" }
local LINE_MONEY = { "price", "tax" }
local PAIR = { "name", "value" }
local CODE = { "code" }
local AMOUNT = { "amount" }

local function lines_ok(lines)
  for i = 1, #lines do
    local l = lines[i]
    if type(l) ~= "table" then return fail("lines[" .. i .. "]", "a table", l) end
    local k = bad_text(l, LINE_TEXT)
    if k then return fail("lines[" .. i .. "]." .. k, TEXT, l[k]) end
    local q = l.quantity
    if math_type(q) ~= "integer" then return fail("lines[" .. i .. "].quantity", "integer", q) end
    k = bad_money(l, LINE_MONEY)
    if k then return fail("lines[" .. i .. "]." .. k, MONEY, l[k]) end
    local props = l.properties
    local key = type(props) == "table" and not_list(props)
    if key ~= nil then return list_fail("lines[" .. i .. "].properties", props, key) end
    for j = 1, #props do
      local p = props[j]
      if type(p) ~= "table" then return fail("lines[" .. i .. "].properties[" .. j .. "]", "a table", p) end
      k = bad_text(p, PAIR)
      if k then return fail("lines[" .. i .. "].properties[" .. j .. "]." .. k, TEXT, p[k]) end
    end
  end
  return true
end

local function tables_ok(o)
  local customer, billing, shipping = o.customer, o.billing, o.shipping
  if type(o.totals) ~= "table" then return fail("totals", "a table", o.totals) end
  if type(customer) ~= "table" then return fail("customer", "a table", customer) end
  if type(billing) ~= "table" then return fail("billing", "a table", billing) end
  if type(shipping) ~= "table" then return fail("shipping", "a table", shipping) end
  local k = bad_money(o.totals, TOTALS)
  if k then return fail("totals." .. k, MONEY, o.totals[k]) end
  k = bad_text(customer, CUSTOMER)
  if k then return fail("customer." .. k, TEXT, customer[k]) end
  k = bad_text(billing, ADDRESS)
  if k then return fail("billing." .. k, TEXT, billing[k]) end
  k = bad_text(shipping, ADDRESS) or bad_text(shipping, SHIPPING)
  if k then return fail("shipping." .. k, TEXT, shipping[k]) end
  if shipping.price ~= nil and not is_money(shipping.price) then return fail("shipping.price", MONEY, shipping.price) end
  return true
end

local function extras_ok(o)
  local custom, discounts = o.custom_fields, o.discounts
  if type(custom) ~= "table" then return fail("custom_fields", "a table", custom) end
  for k, v in next, custom do
    if type(k) ~= "string" or k == "" then
      return nil, "custom_fields: expected names that are non-empty strings, got " .. got(k)
    end
    if type(v) ~= "string" then return fail("custom_fields[" .. format("%q", k) .. "]", "a string", v) end
  end
  local key = type(discounts) == "table" and not_list(discounts)
  if key ~= nil then return list_fail("discounts", discounts, key) end
  for i = 1, #discounts do
    local d = discounts[i]
    if type(d) ~= "table" then return fail("discounts[" .. i .. "]", "a table", d) end
    local k = bad_text(d, CODE)
    if k then return fail("discounts[" .. i .. "].code", TEXT, d.code) end
    k = bad_money(d, AMOUNT)
    if k then return fail("discounts[" .. i .. "].amount", MONEY, d.amount) end
  end
  return true
end

--- Checks a normalized order against the model. Returns true | nil, "path: expected …, got …"
--- (e.g. `lines[2].quantity: expected integer, got string "2"`) for the first field found
--- wrong. Required: external_id, updated_at, and the tables totals, customer, billing,
--- shipping, lines (with each line's quantity and properties), custom_fields, discounts.
function M.check(o)
  if type(o) ~= "table" then return fail("order", "a table", o) end
  local id = o.external_id
  if type(id) ~= "string" or id == "" then return fail("external_id", "a non-empty string", id) end
  if not is_date(o.updated_at) then return fail("updated_at", DATE, o.updated_at) end
  local created = o.created_at
  if created ~= nil and not is_date(created) then return fail("created_at", DATE .. " or nil", created) end
  local k = bad_text(o, ORDER_TEXT)
  if k then return fail(k, TEXT, o[k]) end
  local ok, err = tables_ok(o)
  if not ok then return nil, err end
  local lines = o.lines
  local key = type(lines) == "table" and not_list(lines)
  if key ~= nil then return list_fail("lines", lines, key) end
  ok, err = lines_ok(lines)
  if not ok then return nil, err end
  return extras_ok(o)
end

return M
