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

-- A finalizer (__gc) runs whenever the collector gets to it, with hooks off: outside any
-- instruction budget, so `while true do end` in one would hang the process. A to-be-closed
-- variable's __close runs while an error unwinds, where a budget kill is being raised. Both
-- are refused; every other metamethod runs under the caller's budget.
local rawget, real_setmetatable = rawget, setmetatable
-- Every live table sandboxed code gave a metatable (weak keys: gone with the table). While it
-- is empty, nothing a rule hands back can carry a metatable, and rules.run skips its check.
M.metatabled = real_setmetatable({}, { __mode = "k" })
local function safe_setmetatable(t, mt)
  if type(t) == "table" then M.metatabled[t] = mt ~= nil or nil end
  if type(mt) == "table" then
    if rawget(mt, "__gc") ~= nil then error("setmetatable: __gc is not allowed here (a finalizer runs outside the instruction budget)", 2) end
    if rawget(mt, "__close") ~= nil then error("setmetatable: __close is not allowed here", 2) end
  end
  return real_setmetatable(t, mt)
end

--- A fresh environment. `extra` adds names (e.g. the config DSL's `cart` and `env`).
---@param extra table|nil
---@return table
function M.env(extra)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, xpcall = xpcall, select = select, tonumber = tonumber,
    tostring = tostring, type = type, rawequal = rawequal, rawlen = rawlen,
    setmetatable = safe_setmetatable, getmetatable = safe_getmetatable,
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

local function refuse_write(_, k)
  error("this table is read-only (cannot set '" .. tostring(k) .. "'): rules share it", 2)
end

--- A read-only view of `t` (and of every table in it), for values many rules and orders share
--- (a rule's ctx): writes raise, rawset is not in the sandbox and the metatable is protected.
--- The view copies t's contents once; functions in it stay callable.
---@param t table
---@return table
function M.readonly(t, seen)
  seen = seen or {}
  if seen[t] then return seen[t] end
  local shadow, proxy = {}, {}
  seen[t] = proxy
  for k, v in next, t do
    shadow[k] = type(v) == "table" and M.readonly(v, seen) or v
  end
  real_setmetatable(proxy, {
    __index = shadow, __newindex = refuse_write, __metatable = false,
    __len = function() return #shadow end,
    -- an iterator that never hands out `shadow` itself (a generic for's state would)
    __pairs = function()
      local k
      return function()
        local v
        k, v = next(shadow, k)
        return k, v
      end
    end,
  })
  return proxy
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
