-- Reading a cart's decoded JSON into the normalized order: nulls, ids, counts, money, and the
-- small pieces of HTTP plumbing every connector repeats. Dates live in cartwright.time.
--
-- cjson turns JSON null into cjson.null (a lightuserdata, truthy) and every number into a
-- float, so a connector passes each read of a document through one of these.
local json = require "cjson.safe"
local http = require "cartwright.http"

local null = json.null
local type, tostring, tonumber = type, tostring, tonumber
local tointeger, floor, math_type = math.tointeger, math.floor, math.type
local format, match = string.format, string.match

local M = {}

---------------------------------------------------------------- null handling and ids

--- null and "" -> nil; anything else unchanged.
local function nn(v)
  if v == null or v == "" then return nil end
  return v
end
M.nn = nn

--- A JSON array or object, or an empty table in its place.
function M.tbl(v)
  return type(v) == "table" and v or {}
end

--- Ids, zips, phones as text: 450789469.0 -> "450789469", never "4.5e+08". nil for null.
function M.str(v)
  if v == null or v == "" then return nil end
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    local i = tointeger(v)
    if i then return i .. "" end -- the same digits as tostring, without its metamethod lookup
    if v == floor(v) then return format("%.0f", v) end
  end
  return v ~= nil and tostring(v) or nil
end

--- Quantities and numeric ids: 2.0 or "2" -> 2 (fractions dropped). nil for null or text.
function M.int(v)
  if math_type(v) == "integer" then return v end
  v = nn(v)
  v = v ~= nil and tonumber(v) or nil
  return v and tointeger(v // 1) or nil
end

--- A customer id where 0 (or less) means a guest: "207" | nil.
function M.customer_id(v)
  local id = M.int(v)
  return id and id > 0 and tostring(id) or nil
end

--- An order's customer from its billing contact (email, first_name, last_name, phone) and the
--- cart's customer id, for carts whose customer is the billing contact.
function M.billing_customer(b, id)
  return { email = M.nn(b.email), first_name = M.nn(b.first_name), last_name = M.nn(b.last_name),
           phone = M.str(b.phone), external_id = M.customer_id(id) }
end

--- "Ann", "Lee" -> "Ann Lee"; either alone -> itself; neither -> nil.
function M.full_name(first, last)
  if first and last then return first .. " " .. last end
  return first or last
end

---------------------------------------------------------------- money
-- Carts send "19.95", "361.9500" (BigCommerce) or a float (a WooCommerce line's price). The
-- model wants 2 decimals, rounded half up on the third, computed on the digits so no binary
-- float ever rounds a price (string.format("%.2f", 0.125) gives "0.12").

-- Prices repeat from order to order ("24.00", "0.00"), so the canonical strings ("-?D+.DD")
-- already seen are remembered with their cents, and cents already formatted with their string.
-- Each table is emptied when it reaches MEMO_MAX entries.
local MEMO_MAX = 4096
local canon, canon_n = {}, 0 -- "19.95" -> 1995
local shown, shown_n = {}, 0 -- 1995 -> "19.95"

-- The cents of a canonical string (remembered) | nil for any other string.
local function canonical(v)
  local sign, whole, frac = match(v, "^(%-?)(%d+)%.(%d%d)$")
  if not sign then return nil end
  local c = tonumber(whole) * 100 + tonumber(frac) -- the sums of the general case below
  if sign == "-" then c = -c end
  if canon_n >= MEMO_MAX then canon, canon_n = {}, 0 end
  canon[v], canon_n = c, canon_n + 1
  return c
end

--- Money as integer cents: "19.995" -> 2000, "-1.5" -> -150, 19.95 -> 1995. nil for null or text.
local function cents(v)
  local c = canon[v]
  if c then return c end
  if type(v) == "string" then
    c = canonical(v)
    if c then return c end
  end
  v = nn(v)
  if type(v) == "number" then v = format("%.6f", v) end
  if type(v) ~= "string" then return nil end
  local sign, whole, frac = v:match("^%s*([+-]?)(%d*)%.?(%d*)%s*$")
  if not sign or (whole == "" and frac == "") then return nil end
  frac = frac .. "000"
  c = (tonumber(whole) or 0) * 100 + tonumber(frac:sub(1, 2))
  if frac:byte(3) >= 53 then c = c + 1 end -- third decimal >= '5'
  return sign == "-" and -c or c
end
M.cents = cents

local TWO = {} -- 0..99 -> "00".."99"
for i = 0, 99 do TWO[i] = format("%02d", i) end

--- Integer cents -> "19.95" | nil.
local function fmt_cents(c)
  if not c then return nil end
  if math_type(c) == "integer" then
    local s = shown[c]
    if s then return s end
    local a = c < 0 and -c or c -- math.abs
    s = (c < 0 and "-" or "") .. a // 100 .. "." .. TWO[a % 100] -- as "%s%d.%02d"
    if shown_n >= MEMO_MAX then shown, shown_n = {}, 0 end
    shown[c], shown_n = s, shown_n + 1
    return s
  end
  local sign = c < 0 and "-" or ""
  c = math.abs(c)
  return format("%s%d.%02d", sign, c // 100, c % 100)
end
M.fmt_cents = fmt_cents

--- Any money value -> "19.95" | nil.
function M.money(v)
  if canon[v] or type(v) == "string" and canonical(v) then return v end -- already canonical: the hot path
  return fmt_cents(cents(v))
end

---------------------------------------------------------------- HTTP plumbing

--- { {k, v}, ... } -> "k=v&…" in that order, RFC 3986-encoded; pairs whose value is nil are left out.
function M.query(list)
  local out = {}
  for _, kv in ipairs(list) do
    if kv[2] ~= nil then out[#out + 1] = http.urlencode(kv[1]) .. "=" .. http.urlencode(tostring(kv[2])) end
  end
  return table.concat(out, "&")
end

--- ctx:request's answer -> res when 2xx, else nil, "<err> (what)" / "http 401: <body> (what)".
--- `what` names the call ("orders page 3"), never its URL, which may carry a key.
function M.ok_response(ctx, what, res, err)
  if not res then return nil, tostring(err) .. " (" .. what .. ")" end
  if res.status < 200 or res.status > 299 then
    local _, msg = ctx:fail(res)
    return nil, tostring(msg) .. " (" .. what .. ")"
  end
  return res
end

--- on_page's answer means stop: `nil, err` or false.
function M.stopped(ok, err)
  return ok == false or (ok == nil and err ~= nil)
end

return M
