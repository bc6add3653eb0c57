-- Environments for files the merchant writes (rules, config): a short allow-list, no I/O,
-- no loading of code or C modules, and reading or writing an undeclared global is an error
-- so a typo fails at once with file:line.
local M = {}

local function copy(t, except)
  local c = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then c[k] = v end
  end
  return c
end

-- getmetatable("") would hand out the real string library; strings get nil instead.
local function safe_getmetatable(v)
  if type(v) == "string" then return nil end
  return getmetatable(v)
end

--- A fresh environment. `extra` adds names (e.g. the config DSL's `cart` and `env`).
---@param extra table|nil
---@return table
function M.env(extra)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, xpcall = xpcall, select = select, tonumber = tonumber,
    tostring = tostring, type = type, rawequal = rawequal, rawlen = rawlen,
    setmetatable = setmetatable, getmetatable = safe_getmetatable,
    string = copy(string, { dump = true }),
    table = copy(table), math = copy(math, { randomseed = true }), utf8 = copy(utf8),
    os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime },
  }
  for k, v in pairs(extra or {}) do env[k] = v end
  return setmetatable(env, {
    __index = function(_, k) error("undeclared global '" .. tostring(k) .. "'", 2) end,
    __newindex = function(_, k) error("assignment to undeclared global '" .. tostring(k) .. "'", 2) end,
  })
end

--- Loads a text chunk from `path`, naming it `display` in errors, with environment `env`.
---@return function|nil, string|nil
function M.loadfile(path, display, env)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot open " .. display .. ": " .. tostring(err) end
  local src = f:read("a")
  f:close()
  return load(src, "@" .. display, "t", env)
end

return M
