-- Rules: the merchant's Lua files in rules/, run on every normalized order in the order the
-- cart lists them. Each runs sandboxed with an instruction budget; a rule that errors or loops
-- holds the order with the rule's name, file:line and the error, and the import goes on.
local sandbox = require "cartwright.sandbox"
local task = require "cartwright.task"

local M = {}

M.budget = 5000000 -- instructions per rule per order

local cache = {}

--- Loads rules/<name>.lua from `dir` (the config's rules_dir) or the engine's rules/, or a
--- path ending in .lua. Returns rule | nil, err.
function M.load(name, dir)
  local path, display
  if name:match("%.lua$") then
    path, display = name, name
  else
    if not name:match("^[%w_%-]+$") then return nil, "bad rule name '" .. name .. "'" end
    display = "rules/" .. name .. ".lua"
    -- the merchant's rules_dir first, then the rules shipped with the engine
    path = package.cartwright_home .. "/rules/" .. name .. ".lua"
    local own = dir and (dir .. "/" .. name .. ".lua")
    local f = own and io.open(own, "rb")
    if f then
      f:close()
      path = own
    end
  end
  if cache[path] then return cache[path] end
  local chunk, err = sandbox.loadfile(path, display, sandbox.env())
  if not chunk then return nil, err end
  local ok, rule = task.limited_call(M.budget, chunk)
  if not ok then return nil, rule end
  if type(rule) ~= "table" or type(rule.apply) ~= "function" then
    return nil, display .. ": a rule file must return { apply = function(order, ctx) ... end }"
  end
  rule.name = rule.name or display:match("([^/]+)%.lua$")
  rule.file = display
  cache[path] = rule
  return rule
end

--- Loads a cart's rule list. Returns { rule, ... } | nil, err.
function M.load_list(names, dir)
  local list = {}
  for i, n in ipairs(names) do
    local r, err = M.load(n, dir)
    if not r then return nil, err end
    list[i] = r
  end
  return list
end

function M.clear_cache() cache = {} end

-- The whole chain runs under one budget (rules × per-rule budget) in one limited call;
-- `current` says which rule was running when something went wrong.
local current
local function chain(list, order, ctx)
  for i, rule in ipairs(list) do
    current = i
    local verdict, reason = rule.apply(order, ctx)
    if verdict == "hold" then return i, reason end
  end
  return nil
end

--- Runs the rules on order (in place). ctx: { cart = settings without secrets, connector,
--- ship_method = function(code) }. Returns nil when no rule held it, or { rule, reason }.
function M.run(list, order, ctx)
  current = nil
  local ok, i, reason = task.limited_call(M.budget * #list, chain, list, order, ctx)
  if not ok then
    local rule = list[current or 1]
    return { rule = rule.name, reason = "[rule " .. rule.name .. "] error: " .. tostring(i) }
  end
  if i then
    local rule = list[i]
    return { rule = rule.name, reason = tostring(reason or "held by " .. rule.name) }
  end
  return nil
end

--- The settings a rule may see: everything but the connector's secret fields.
function M.public_settings(cart, conn)
  local out = {}
  for k, v in pairs(cart) do
    local spec = (conn.schema or {})[k]
    if not (spec and spec.secret) and k:sub(1, 1) ~= "_" then out[k] = v end
  end
  return out
end

return M
