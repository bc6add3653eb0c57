-- connector new: writes a connector package to fill in (init.lua, orders.lua) and a simulator
-- skeleton for it, from the templates in lua/cartwright/kit/*.lua.in (@NAME@ is the name).
-- The generated connector passes `connector check` against its generated simulator.
local ops = require "cartwright.ops"

local M = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return os.rename(path, path) ~= nil -- a directory
end

local function template(name, what)
  local path = package.cartwright_home .. "/lua/cartwright/kit/" .. what .. ".lua.in"
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return (s:gsub("@NAME@", name))
end

local function write(path, content)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(content)
  f:close()
  return true
end

--- Writes connector `name`: opts.dir (default the engine's connectors/) gets <name>/init.lua
--- and <name>/orders.lua; the simulator goes to the engine's tests/sim/<name>.lua, or, with
--- opts.dir, to <dir>/<name>/sim.lua (`cartwright sim FILE.lua` serves it). Returns { name,
--- files = { path, ... } } | nil, err, kind ("usage": a bad or taken name).
function M.new(name, opts)
  opts = opts or {}
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") or #name > 40 then
    return ops.fail("usage", "bad connector name '%s': lower-case letters, digits and '_', starting with a letter (at most 40)",
      tostring(name))
  end
  local home = package.cartwright_home or "."
  local dir = opts.dir or (home .. "/connectors")
  if not exists(dir) then return ops.fail("usage", "--dir %s: no such directory", dir) end
  local pkg = dir .. "/" .. name
  local sim = opts.dir and (pkg .. "/sim.lua") or (home .. "/tests/sim/" .. name .. ".lua")
  for _, taken in ipairs{ pkg, home .. "/connectors/" .. name, home .. "/tests/connectors/" .. name, sim } do
    if exists(taken) then return ops.fail("usage", "connector '%s' exists already: %s", name, taken) end
  end
  local texts = {}
  for _, what in ipairs{ "init", "orders", "sim" } do
    local t, err = template(name, what)
    if not t then return ops.fail("failed", "template %s: %s", what, err) end
    texts[what] = t
  end
  local ok, err = os.execute("mkdir " .. "'" .. pkg:gsub("'", "'\\''") .. "'")
  if not ok then return ops.fail("failed", "cannot create %s: %s", pkg, tostring(err)) end
  local files = { pkg .. "/init.lua", pkg .. "/orders.lua", sim }
  for i, what in ipairs{ "init", "orders", "sim" } do
    local wok, werr = write(files[i], texts[what])
    if not wok then return ops.fail("failed", "cannot write %s: %s", files[i], werr) end
  end
  return { name = name, files = files }
end

return M
