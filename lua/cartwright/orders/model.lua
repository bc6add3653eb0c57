-- The order model (docs/order-model.md) as a check: what a connector's normalize returns must
-- have the documented fields with the documented types before rules or the store see it: ids
-- and text as non-empty strings (absent is nil), UTC dates "YYYY-MM-DDTHH:MM:SSZ", integer
-- quantities, money as decimal strings with 2 decimals, the tables that are always there, lists
-- that are lists. Fields the model does not name are left alone. It runs once per order on the
-- import's hot path: the fields of each table are checked in one C call (cartwright.shape), and
-- a message is built only for an order that fails.
local shape = require "cartwright.shape"
local null = require("cjson.safe").null

local type, math_type, format = type, math.type, string.format
local TEXT, MONEY, DATE, INTEGER = shape.TEXT, shape.MONEY, shape.DATE, shape.INTEGER
local TABLE, LIST, TEXT_MAP, REQUIRED = shape.TABLE, shape.LIST, shape.TEXT_MAP, shape.REQUIRED

local M = {}

---------------------------------------------------------------- the model

local ADDRESS = { "name", TEXT, "first_name", TEXT, "last_name", TEXT, "company", TEXT, "address1", TEXT,
  "address2", TEXT, "city", TEXT, "region", TEXT, "postal_code", TEXT, "country", TEXT, "phone", TEXT,
  "email", TEXT }
local SHIPPING = { "code", TEXT, "title", TEXT, "price", MONEY }
for i = 1, #ADDRESS do SHIPPING[#SHIPPING + 1] = ADDRESS[i] end

--- The model as a spec of cartwright.shape: { field, kind, … }; { TABLE, spec } and { LIST,
--- spec } check a table's fields and each item of a list.
M.SPEC = {
  "external_id", TEXT + REQUIRED, "updated_at", DATE + REQUIRED, "created_at", DATE,
  "number", TEXT, "cart_status", TEXT, "payment_status", TEXT, "fulfillment_status", TEXT,
  "currency", TEXT, "notes", TEXT,
  "totals", { TABLE + REQUIRED, { "total", MONEY, "subtotal", MONEY, "tax", MONEY, "shipping", MONEY,
                                  "discount", MONEY } },
  "customer", { TABLE + REQUIRED, { "email", TEXT, "first_name", TEXT, "last_name", TEXT, "phone", TEXT,
                                    "external_id", TEXT } },
  "billing", { TABLE + REQUIRED, ADDRESS },
  "shipping", { TABLE + REQUIRED, SHIPPING },
  "lines", { LIST + REQUIRED, { "external_id", TEXT, "sku", TEXT, "name", TEXT, "quantity", INTEGER + REQUIRED,
                                "price", MONEY, "tax", MONEY,
                                "properties", { LIST + REQUIRED, { "name", TEXT, "value", TEXT } } } },
  "custom_fields", TEXT_MAP + REQUIRED,
  "discounts", { LIST + REQUIRED, { "code", TEXT, "amount", MONEY } },
}
local check = shape.compile(M.SPEC)

---------------------------------------------------------------- the message of a failure

local WHAT = {
  [TEXT] = "a non-empty string", [MONEY] = "money like \"19.95\" (a string with 2 decimals)",
  [DATE] = "a UTC date \"YYYY-MM-DDTHH:MM:SSZ\"", [INTEGER] = "integer", [TABLE] = "a table",
  [LIST] = "a list", [TEXT_MAP] = "a table of non-empty strings by non-empty names",
}

local function got(v)
  local t = type(v)
  if v == nil then return "nil" end
  if v == null then return "JSON null" end
  if t == "string" then
    if v == "" then return "an empty string" end
    local s = #v > 40 and (v:sub(1, 40) .. "…") or v
    return "string " .. (format("%q", s):gsub("\\\n", "\\n"))
  end
  if t == "number" then return (math_type(v) == "float" and "float " or "integer ") .. tostring(v) end
  if t == "boolean" then return "boolean " .. tostring(v) end
  return t
end

-- The message for the value at `path` (from the compiled check), which is not `kind`.
local function message(o, path, kind)
  local v, where = o, ""
  for i, k in ipairs(path) do
    v = v[k]
    where = where .. (math_type(k) == "integer" and ("[" .. k .. "]") or ((i > 1 and "." or "") .. k))
  end
  local base = kind & ~REQUIRED
  if base == LIST and type(v) == "table" then
    local n = #v
    for k in next, v do
      if math_type(k) ~= "integer" or k < 1 or k > n then
        return where .. ": expected a list, got a table with the key " .. got(k)
      end
    end
  end
  if base == TEXT_MAP and type(v) == "table" then
    for k, x in next, v do
      if type(k) ~= "string" or k == "" then return where .. ": expected names that are non-empty strings, got " .. got(k) end
      if type(x) ~= "string" or x == "" then
        return where .. "[" .. format("%q", k) .. "]: expected a non-empty string, got " .. got(x)
      end
    end
  end
  return where .. ": expected " .. WHAT[base] .. ((kind & REQUIRED) == 0 and " or nil" or "") .. ", got " .. got(v)
end

---------------------------------------------------------------- the check

--- Checks a normalized order against the model. Returns true | nil, "path: expected …, got …"
--- (e.g. `lines[2].quantity: expected integer, got string "2"`) for the first field found
--- wrong. Required: external_id, updated_at, and the tables totals, customer, billing,
--- shipping, lines (each line with its quantity and properties), custom_fields, discounts.
function M.check(o)
  if type(o) ~= "table" then return nil, "order: expected a table, got " .. got(o) end
  local ok, path, kind = check(o)
  if ok then return true end
  return nil, message(o, path, kind)
end

return M
