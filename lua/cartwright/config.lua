-- The config file: a Lua file evaluated in a sandbox. It sets `db = "path"`, declares carts
-- with `cart "name" { ... }` and names secrets with `env "NAME"`: a reference read only by the
-- commands that talk to the cart (carts.resolve), so the others need no credentials. Errors
-- name file:line.
local sandbox = require "cartwright.sandbox"
local log = require "cartwright.log"
local task = require "cartwright.task"
local plain = require "cartwright.plain"
local schema = require "cartwright.schema"

local M = {}

-- What evaluating the config file may cost: a config is declarations, so a loop or a memory
-- bomb in it is stopped, and the error names the file's own line.
M.limits = { instructions = 20000000, memory = 64 * 1024 * 1024 }

--- Finds the config path: -c FILE, else $CARTWRIGHT_CONFIG, else ./cartwright.lua.
function M.path(opt)
  return opt or os.getenv("CARTWRIGHT_CONFIG") or "cartwright.lua"
end

local function dsl(cfg)
  local function cart(name)
    if type(name) ~= "string" or not name:match("^[%w][%w_.%-]*$") or #name > 64 then
      error("cart needs a name of letters, digits, '_', '-' or '.' (at most 64): cart \"acme\" { ... }", 2)
    end
    return function(fields)
      if type(fields) ~= "table" then error("cart \"" .. name .. "\" needs a table of settings", 2) end
      if cfg.carts[name] then error("cart \"" .. name .. "\" is defined twice", 2) end
      local info = debug.getinfo(2, "Sl")
      cfg.carts[name] = fields
      cfg.where[name] = info.short_src .. ":" .. info.currentline
      cfg.cart_order[#cfg.cart_order + 1] = name
    end
  end
  -- { env = "NAME", where = "cw.lua:3" }: plain data, like every setting; carts.resolve reads it
  local function env(name)
    if type(name) ~= "string" or name == "" or name:find("[=%z]") then
      error("env needs the name of an environment variable: env \"ACME_TOKEN\"", 2)
    end
    local info = debug.getinfo(2, "Sl")
    return { env = name, where = info.short_src .. ":" .. info.currentline }
  end
  return { cart = cart, env = env }
end

-- The file's values are the merchant's code's output: a metatable left on a cart's settings
-- (__index, __pairs…) would run that code whenever the engine reads them, outside any budget.
-- Every cart's settings must be plain data; the engine works on a copy it made itself (raw
-- reads, no metatable kept).
local copy_plain = schema.copy

local TOP = { db = "path of the SQLite database (default cartwright.db)",
              rules_dir = "directory of your own rules, looked up before the shipped ones",
              connectors_dir = "directory of your own connector packages, looked up after the shipped ones",
              catalog = "CSV of the back office's SKUs (sku,name per line)",
              api_token = "bearer token of the admin API (serve), normally env \"NAME\"",
              listen = "HOST:PORT of the HTTP listener of `cartwright serve` (default 127.0.0.1:8484)" }
-- Settings only `serve` needs: an env reference is kept and read when serving (a command that
-- does not serve works without the variable).
local LAZY = { api_token = true }

--- Loads and evaluates the config file. Returns cfg | nil, err (err carries file:line).
---@param path string
---@return table|nil, string|nil
function M.load(path)
  local cfg = { carts = {}, cart_order = {}, where = {} }
  local env = sandbox.env(dsl(cfg))
  local top = {}
  local mt = getmetatable(env)
  mt.__newindex = function(_, k, v)
    if not TOP[k] then error("unknown setting '" .. tostring(k) .. "'", 2) end
    local info = debug.getinfo(2, "Sl")
    top[k] = { value = v, where = info.short_src .. ":" .. info.currentline }
  end
  local chunk, err = sandbox.loadfile(path, path, env)
  if not chunk then return nil, err end
  local ok, perr = task.limited_call(M.limits, chunk)
  if not ok then return nil, (tostring(perr):match("^(.-)\nstack traceback:") or tostring(perr)) end
  for k, v in pairs(top) do
    local lazy = LAZY[k] and schema.is_ref(v.value)
    if lazy then
      cfg[k] = copy_plain(v.value)
    elseif schema.is_ref(v.value) then -- every command needs these: read now
      local value = os.getenv(v.value.env)
      if value == nil or value == "" then return nil, v.value.where .. ": environment variable " .. v.value.env .. " is not set" end
      log.secret(value)
      v.value = value
    end
    if not lazy and (type(v.value) ~= "string" or v.value == "" or v.value:find("%z")) then
      return nil, v.where .. ": " .. k .. " must be a non-empty string (" .. TOP[k] .. ")"
    end
    if not lazy then
      if LAZY[k] then log.secret(v.value) end -- a token written in the file is a secret too
      cfg[k] = v.value
    end
  end
  local carts = {}
  for _, name in ipairs(cfg.cart_order) do
    local pok, why = plain.check(cfg.carts[name], { depth = 8, nodes = 100000, finite = false })
    if not pok then
      why = why:gsub("^the value holds a table with a metatable", "the settings table has a metatable")
      return nil, cfg.where[name] .. ": cart \"" .. name .. "\": " .. (why:sub(1, 1) == "." and why:sub(2) or why)
        .. " (settings are plain values: strings, numbers, booleans, tables of them)"
    end
    local c = copy_plain(cfg.carts[name])
    c.name, c._where = name, cfg.where[name]
    carts[name] = c
  end
  cfg.carts = carts
  cfg.path = path
  cfg.db = cfg.db or "cartwright.db"
  return cfg
end

return M
