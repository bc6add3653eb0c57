-- The config file: a Lua file evaluated in a sandbox. It sets `db = "path"`, declares carts
-- with `cart "name" { ... }` and reads secrets with `env "NAME"`. Errors name file:line.
local sandbox = require "cartwright.sandbox"
local log = require "cartwright.log"

local M = {}

--- Finds the config path: -c FILE, else $CARTWRIGHT_CONFIG, else ./cartwright.lua.
function M.path(opt)
  return opt or os.getenv("CARTWRIGHT_CONFIG") or "cartwright.lua"
end

local function dsl(cfg)
  local function cart(name)
    if type(name) ~= "string" or name == "" then error("cart needs a name: cart \"acme\" { ... }", 2) end
    return function(fields)
      if type(fields) ~= "table" then error("cart \"" .. name .. "\" needs a table of settings", 2) end
      if cfg.carts[name] then error("cart \"" .. name .. "\" is defined twice", 2) end
      local info = debug.getinfo(2, "Sl")
      fields.name = name
      fields._where = info.short_src .. ":" .. info.currentline
      cfg.carts[name] = fields
      cfg.cart_order[#cfg.cart_order + 1] = name
    end
  end
  local function env(name)
    local v = os.getenv(name)
    if v == nil or v == "" then error("environment variable " .. tostring(name) .. " is not set", 2) end
    log.secret(v)
    return v
  end
  return { cart = cart, env = env }
end

--- Loads and evaluates the config file. Returns cfg | nil, err (err carries file:line).
---@param path string
---@return table|nil, string|nil
function M.load(path)
  local cfg = { carts = {}, cart_order = {} }
  local env = sandbox.env(dsl(cfg))
  -- plain settings the file may assign at top level
  local settings = { db = true, rules_dir = true, catalog = true }
  local mt = getmetatable(env)
  mt.__newindex = function(_, k, v)
    if not settings[k] then error("unknown setting '" .. tostring(k) .. "'", 2) end
    cfg[k] = v
  end
  local chunk, err = sandbox.loadfile(path, path, env)
  if not chunk then return nil, err end
  local ok, perr = pcall(chunk)
  if not ok then return nil, perr end
  cfg.path = path
  cfg.db = cfg.db or "cartwright.db"
  if type(cfg.db) ~= "string" then return nil, path .. ": db must be a path string" end
  return cfg
end

return M
