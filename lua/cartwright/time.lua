-- Times as the engine stores them: UTC ISO 8601 "YYYY-MM-DDTHH:MM:SSZ". Calendar arithmetic
-- is done here (days from the civil date) so no local time zone ever takes part.
local M = {}

function M.days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

function M.civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

--- Epoch seconds -> "YYYY-MM-DDTHH:MM:SSZ"
function M.format(t)
  t = math.floor(t)
  local y, m, d = M.civil_from_days(t // 86400)
  local s = t % 86400
  return string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, s // 3600, s % 3600 // 60, s % 60)
end

-- Seconds east of UTC for "+05:30" or "-0800", 0 for a zone word in `utc_words`, nil otherwise.
local function offset(zone, utc_words)
  if utc_words[zone] then return 0 end
  local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = (tonumber(oh) * 60 + tonumber(om)) * 60
  return sign == "-" and -off or off
end

local DAYS_IN = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

--- Whether y-mo-d is a day of the calendar (2025-02-29 and 2025-13-45 are not).
function M.valid_date(y, mo, d)
  if mo < 1 or mo > 12 or d < 1 then return false end
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return d <= (mo == 2 and leap and 29 or DAYS_IN[mo])
end

local function epoch(y, mo, d, h, mi, se, off)
  return M.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off
end

local ISO_UTC = { [""] = true, Z = true, z = true }

--- ISO 8601 ("2025-03-04T10:15:22-05:00", "…Z", "… 10:15:22" as UTC, or a bare date) -> epoch | nil
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, se, zone = 0, 0, 0, ""
  if rest ~= "" then
    h, mi, se, zone = rest:match("^[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not h then return nil end
    zone = zone:gsub("^%.%d+", "")
  end
  local off = offset(zone, ISO_UTC)
  if not off then return nil end
  y, mo, d, h, mi, se = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se)
  if not M.valid_date(y, mo, d) or h > 23 or mi > 59 or se > 59 then return nil end
  return epoch(y, mo, d, h, mi, se, off)
end

local function stored(t) return t and M.format(t) or nil end

-- Converting timestamps is the hot part of reading an order (created, updated, …), so the plain
-- form "YYYY-MM-DD[Tt ]HH:MM:SS<zone>" with a zone of whole hours ("", "Z", "z", "+HH:00",
-- "+HHMM" with MM 00) takes a shorter way: minutes and seconds (00-59) pass through unchanged,
-- and the UTC start of each local hour, "2025-03-04T15" for "2025-03-04T10…-05:00", is
-- remembered in hours[zone][first 13 bytes] (emptied when it reaches HOURS_MAX). Any other
-- form goes through parse and format. Both ways give the same string.
local HOURS_MAX = 4096
local hours, hours_n = {}, 0
local sub, find, match, format = string.sub, string.find, string.match, string.format
local tonumber = tonumber

-- Seconds east of UTC of a whole-hour zone | nil.
local function whole_hours(zone)
  if ISO_UTC[zone] then return 0 end
  local sign, oh = match(zone, "^([+-])(%d%d):?00$")
  if not sign then return nil end
  return sign == "-" and -tonumber(oh) * 3600 or tonumber(oh) * 3600
end

-- The stored form of a plain timestamp | nil for any other string.
local function plain(s)
  local zh = hours[sub(s, 20)]
  local head = zh and zh[sub(s, 1, 13)]
  if not head then
    local y, mo, d, h, zone = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):[0-5]%d:[0-5]%d(.*)$")
    local off = y and whole_hours(zone)
    if not off then return nil end
    y, mo, d, h = tonumber(y), tonumber(mo), tonumber(d), tonumber(h)
    if h > 23 or not M.valid_date(y, mo, d) then return nil end
    local t = M.days_from_civil(y, mo, d) * 86400 + h * 3600 - off
    local cy, cm, cd = M.civil_from_days(t // 86400)
    head = format("%04d-%02d-%02dT%02d", cy, cm, cd, t % 86400 // 3600) -- as M.format
    if hours_n >= HOURS_MAX then hours, hours_n = {}, 0 end
    zh = hours[zone]
    if not zh then zh = {} hours[zone] = zh end
    zh[sub(s, 1, 13)], hours_n = head, hours_n + 1
  end
  local mmss = match(s, "^:[0-5]%d:[0-5]%d", 14)
  return mmss and head .. mmss .. "Z"
end

--- Any accepted form (a bare date "YYYY-MM-DD" is midnight UTC) -> the stored form, or nil.
--- Strict: a real calendar day, nothing before or after (a date a person typed with a trailing
--- space is refused, never read as something else).
function M.iso_utc(s)
  return type(s) == "string" and plain(s) or stored(M.parse(s))
end

--- A cart's timestamp: ISO 8601 date and time with "Z", an offset, or none (read as UTC) ->
--- the stored form, or nil. Unlike iso_utc it refuses a bare date: a timestamp without its
--- time is a broken document, not midnight.
function M.datetime_utc(s)
  if type(s) ~= "string" then return nil end
  local out = plain(s)
  if out then return out end
  if not find(s, "^%d%d%d%d%-%d%d%-%d%d[Tt ]") then return nil end
  return stored(M.parse(s))
end

local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
local month_names = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local day_names = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" } -- 1970-01-01 was a Thursday

local RFC_UTC = { [""] = true, GMT = true, UTC = true, UT = true, Z = true }

--- RFC 2822 ("Wed, 05 Dec 2018 20:16:55 +0000") -> epoch | nil. Also takes what carts send
--- beside the standard: no weekday, a full month name, no seconds, "+00:00", and the zone
--- words GMT, UTC, UT and Z (or none, read as UTC).
function M.parse_rfc2822(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, h, mi, se, zone =
    s:match("(%d%d?)%s+(%a%a%a)%a*%s+(%d%d%d%d)%s+(%d%d):(%d%d):?(%d*)%s*(%S*)")
  if not d or not months[mon] then return nil end
  local off = offset(zone, RFC_UTC)
  if not off then return nil end
  y, d, h, mi, se = tonumber(y), tonumber(d), tonumber(h), tonumber(mi), tonumber(se) or 0
  if not M.valid_date(y, months[mon], d) or h > 23 or mi > 59 or se > 59 then return nil end
  return epoch(y, months[mon], d, h, mi, se, off)
end

--- RFC 2822 -> the stored form, or nil.
function M.rfc2822_utc(s) return stored(M.parse_rfc2822(s)) end

--- Epoch -> RFC 2822 in UTC ("Wed, 05 Dec 2018 20:16:55 +0000")
function M.format_rfc2822(t)
  t = math.floor(t)
  local days = t // 86400
  local y, m, d = M.civil_from_days(days)
  local s = t % 86400
  return string.format("%s, %02d %s %04d %02d:%02d:%02d +0000", day_names[days % 7 + 1], d, month_names[m], y,
    s // 3600, s % 3600 // 60, s % 60)
end

return M
