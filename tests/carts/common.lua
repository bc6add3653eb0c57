-- Helpers for the cart test adapters: GET a simulator's control endpoint as JSON.
local http = require "cartwright.http"
local json = require "cjson.safe"

local M = {}

--- The decoded JSON of GET url | nil, err.
function M.get(url)
  local res, err = http.request{ url = url, timeout = 30 }
  if not res then return nil, err end
  if res.status ~= 200 then return nil, url .. ": " .. res.status end
  return json.decode(res.body)
end

--- A list of strings as Lua text: { "a", "b" } (for config files).
function M.lua_list(list)
  local parts = {}
  for i, s in ipairs(list) do parts[i] = string.format("%q", s) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- A JSON value as a Lua string (numbers without a fraction), nil for null or absent.
function M.text(v)
  if v == nil or v == json.null then return nil end
  if type(v) == "number" then return math.tointeger(v) and string.format("%d", math.tointeger(v)) or tostring(v) end
  return tostring(v)
end

return M
