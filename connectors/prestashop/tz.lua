-- PrestaShop connector, the shop's time zone: PrestaShop writes every date (date_add, date_upd)
-- as the shop's wall clock without an offset, and compares filter[date_upd] with that wall
-- clock, so the connector turns our UTC window into shop-local text and the cart's text back
-- into UTC. A zone is "UTC", a fixed offset ("+01:00", "-0500", "Etc/GMT-1"), or one of the IANA
-- names below with today's daylight-saving rule (EU, North America, southern Australia, New
-- Zealand). No tz database is read: the engine runs the same on every host.
-- Uses: cartwright.time (calendar arithmetic).

local time = require "cartwright.time"

local M = {}

-- name -> { standard offset in minutes east of UTC, DST rule or nil }
local ZONES = {}
local function zones(offset, rule, names)
  for name in names:gmatch("%S+") do ZONES[name] = { offset, rule } end
end
zones(0, nil, "UTC Etc/UTC Etc/GMT GMT Atlantic/Reykjavik Africa/Abidjan Africa/Accra")
zones(0, "eu", "Europe/London Europe/Dublin Europe/Lisbon Atlantic/Canary Atlantic/Madeira")
zones(60, "eu", "Europe/Paris Europe/Berlin Europe/Madrid Europe/Rome Europe/Amsterdam Europe/Brussels"
  .. " Europe/Luxembourg Europe/Vienna Europe/Zurich Europe/Stockholm Europe/Oslo Europe/Copenhagen"
  .. " Europe/Warsaw Europe/Prague Europe/Budapest Europe/Bratislava Europe/Ljubljana Europe/Zagreb"
  .. " Europe/Belgrade Europe/Monaco Europe/Andorra Europe/Malta Europe/Tirane Europe/Sarajevo"
  .. " Europe/Skopje Europe/Podgorica Africa/Ceuta")
zones(120, "eu", "Europe/Athens Europe/Helsinki Europe/Bucharest Europe/Sofia Europe/Riga"
  .. " Europe/Vilnius Europe/Tallinn Europe/Kiev Europe/Kyiv Asia/Nicosia")
zones(60, nil, "Africa/Lagos Africa/Algiers Africa/Tunis")
zones(120, nil, "Africa/Cairo Africa/Johannesburg Europe/Kaliningrad")
zones(180, nil, "Europe/Moscow Europe/Istanbul Europe/Minsk Asia/Riyadh Africa/Nairobi")
zones(-300, "us", "America/New_York America/Toronto America/Detroit America/Montreal")
zones(-360, "us", "America/Chicago America/Winnipeg")
zones(-420, "us", "America/Denver America/Edmonton America/Boise")
zones(-480, "us", "America/Los_Angeles America/Vancouver America/Tijuana")
zones(-540, "us", "America/Anchorage")
zones(-240, "us", "America/Halifax")
zones(-420, nil, "America/Phoenix")
zones(-600, nil, "Pacific/Honolulu")
zones(-360, nil, "America/Mexico_City America/Guatemala America/Costa_Rica")
zones(-300, nil, "America/Bogota America/Lima America/Panama")
zones(-180, nil, "America/Sao_Paulo America/Argentina/Buenos_Aires America/Montevideo")
zones(-240, nil, "America/Caracas America/La_Paz America/Puerto_Rico")
zones(240, nil, "Asia/Dubai")
zones(300, nil, "Asia/Karachi Asia/Tashkent")
zones(330, nil, "Asia/Kolkata Asia/Calcutta")
zones(420, nil, "Asia/Bangkok Asia/Jakarta Asia/Ho_Chi_Minh")
zones(480, nil, "Asia/Shanghai Asia/Hong_Kong Asia/Singapore Asia/Taipei Asia/Manila Australia/Perth")
zones(540, nil, "Asia/Tokyo Asia/Seoul")
zones(600, nil, "Australia/Brisbane")
zones(600, "au", "Australia/Sydney Australia/Melbourne Australia/Hobart Australia/Canberra")
zones(570, "au", "Australia/Adelaide")
zones(720, "nz", "Pacific/Auckland")
M.ZONES = ZONES

local function weekday(days) return (days + 4) % 7 end -- 0 = Sunday; 1970-01-01 was a Thursday

-- Epoch day of the n-th (n > 0) or last (n = -1) Sunday of month m of year y.
local function sunday(y, m, n)
  if n == -1 then
    local last = time.days_from_civil(m == 12 and y + 1 or y, m == 12 and 1 or m + 1, 1) - 1
    return last - weekday(last)
  end
  local first = time.days_from_civil(y, m, 1)
  return first + (7 - weekday(first)) % 7 + (n - 1) * 7
end

-- [start, stop) of daylight saving time in UTC epoch seconds for year y, for a zone of standard
-- offset `std` (seconds); for the southern rules the period starts in one year and ends in the next.
local RULES = {
  eu = function(y) -- last Sunday of March 01:00 UTC .. last Sunday of October 01:00 UTC
    return sunday(y, 3, -1) * 86400 + 3600, sunday(y, 10, -1) * 86400 + 3600
  end,
  us = function(y, std) -- 2nd Sunday of March 02:00 local .. 1st Sunday of November 02:00 local (DST)
    return sunday(y, 3, 2) * 86400 + 7200 - std, sunday(y, 11, 1) * 86400 + 7200 - std - 3600
  end,
  au = function(y, std) -- 1st Sunday of October 02:00 local .. 1st Sunday of April (next year) 03:00 DST
    return sunday(y, 10, 1) * 86400 + 7200 - std, sunday(y + 1, 4, 1) * 86400 + 10800 - std - 3600
  end,
  nz = function(y, std) -- last Sunday of September 02:00 .. 1st Sunday of April (next year) 03:00 DST
    return sunday(y, 9, -1) * 86400 + 7200 - std, sunday(y + 1, 4, 1) * 86400 + 10800 - std - 3600
  end,
}

local Zone = {}
Zone.__index = Zone

--- The zone's offset from UTC in seconds at UTC epoch t.
function Zone:offset_at(t)
  if not self.rule then return self.std end
  local y = time.civil_from_days(t // 86400)
  for _, year in ipairs{ y - 1, y } do -- a southern period that began last year may still run
    local a, b = RULES[self.rule](year, self.std)
    if t >= a and t < b then return self.std + 3600 end
  end
  return self.std
end

--- UTC epoch -> the shop's wall clock "YYYY-MM-DD HH:MM:SS".
function Zone:wall(t)
  return (time.format(t + self:offset_at(t)):gsub("T", " "):gsub("Z$", ""))
end

--- The shop's wall clock ("YYYY-MM-DD HH:MM:SS", or with a T) -> UTC epoch | nil. A time in the
--- hour that repeats when clocks go back reads as its first (daylight) occurrence; a time in
--- the hour skipped in spring reads with the standard offset.
function Zone:utc(s)
  if type(s) ~= "string" or #s ~= 19 then return nil end
  local t = time.parse(s) -- the wall clock read as if it were UTC
  if not t then return nil end
  if not self.rule then return t - self.std end
  local dst = t - self.std - 3600
  if self:offset_at(dst) == self.std + 3600 then return dst end
  return t - self.std
end

--- The smallest and largest offsets the zone has around UTC epoch t (a day either side): a
--- window converted with them covers every wall-clock time it holds, DST changes included.
function Zone:offsets_near(t)
  local a, b = self:offset_at(t - 86400), self:offset_at(t + 86400)
  local c = self:offset_at(t)
  return math.min(a, b, c), math.max(a, b, c)
end

local function fixed(sign, h, m)
  local off = (tonumber(h) * 60 + tonumber(m or 0)) * 60
  if off > 14 * 3600 then return nil end
  return sign == "-" and -off or off
end

--- "UTC" | "+01:00" | "-0500" | "Etc/GMT-1" | an IANA name above -> zone | nil, why
function M.zone(spec)
  if type(spec) ~= "string" then return nil, "a time zone is a text" end
  local off
  local sign, h, m = spec:match("^([+-])(%d%d):?(%d%d)$")
  if sign then off = fixed(sign, h, m) end
  local esign, eh = spec:match("^Etc/GMT([+-])(%d%d?)$")
  if esign then off = fixed(esign == "+" and "-" or "+", eh, 0) end -- POSIX: Etc/GMT-1 is UTC+1
  if off then return setmetatable({ name = spec, std = off }, Zone) end
  local z = ZONES[spec]
  if not z then
    return nil, "unknown time zone '" .. spec .. "': give the shop's zone as PrestaShop names it"
      .. " (Europe/Paris, America/New_York, …) or a fixed offset such as +01:00"
  end
  return setmetatable({ name = spec, std = z[1] * 60, rule = z[2] }, Zone)
end

return M
