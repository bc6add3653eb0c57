-- Rules: the merchant's Lua files in rules/, run on every normalized order in the order the
-- cart lists them. Each runs sandboxed with an instruction and memory budget; a rule that
-- errors, loops, returns an unknown verdict, changes the order's identity or leaves something
-- in it that is not plain data holds the order with the rule's name and why, and the import
-- goes on. Rules see a read-only ctx: one rule cannot change what the next one sees.
local sandbox = require "cartwright.sandbox"
local task = require "cartwright.task"
local plain = require "cartwright.plain"
local schema = require "cartwright.schema"

local M = {}

M.budget = 5000000 -- instructions per rule per order
M.memory = 64 * 1024 * 1024 -- bytes the whole chain may allocate per order

local cache = {}

-- Where rule `name` lives: the merchant's rules_dir first, then the rules shipped with the
-- engine. Returns the real path (errors name it) | nil, err.
local function find(name, dir)
  if name:match("%.lua$") then return name end
  if not name:match("^[%w_%-]+$") then return nil, "bad rule name '" .. name .. "'" end
  local own = dir and (dir .. "/" .. name .. ".lua")
  local f = own and io.open(own, "rb")
  if f then
    f:close()
    return own
  end
  return package.cartwright_home .. "/rules/" .. name .. ".lua"
end

--- Loads rule `name` (rules/<name>.lua from `dir`, the config's rules_dir, or the engine's
--- rules/, or a path ending in .lua). Returns rule | nil, err.
function M.load(name, dir)
  local path, ferr = find(name, dir)
  if not path then return nil, ferr end
  if cache[path] then return cache[path] end
  local chunk, err = sandbox.loadfile(path, path, sandbox.env())
  if not chunk then return nil, err end
  local ok, rule = task.limited_call({ instructions = M.budget, memory = M.memory }, chunk)
  if not ok then return nil, (tostring(rule):match("^(.-)\nstack traceback:") or tostring(rule)) end
  local apply, on_stock = type(rule) == "table" and rawget(rule, "apply"), type(rule) == "table" and rawget(rule, "on_stock")
  if type(rule) ~= "table" or debug.getmetatable(rule) ~= nil or (apply == nil and on_stock == nil)
    or (apply ~= nil and type(apply) ~= "function") or (on_stock ~= nil and type(on_stock) ~= "function") then
    return nil, path .. ": a rule file must return { apply = function(order, ctx) ... end } (orders),"
      .. " { on_stock = function(item, ctx) ... end } (stock figures), or both"
  end
  local rname = rawget(rule, "name")
  if rname ~= nil and type(rname) ~= "string" then return nil, path .. ": a rule's name must be a string" end
  rule = { name = rname or path:match("([^/]+)%.lua$"), file = path, apply = apply, on_stock = on_stock,
           description = type(rawget(rule, "description")) == "string" and rawget(rule, "description") or nil,
           module = rule }
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

--- Loads every rule of `lists` (lists of rule names) afresh from `dir`, as a SIGHUP asks: when
--- all load they replace the rules loaded before; when one fails nothing changes and the error
--- names its file:line. true | nil, err.
function M.reload(lists, dir)
  local old = cache
  cache = {}
  for _, names in ipairs(lists) do
    local ok, err = M.load_list(names, dir)
    if not ok then
      cache = old
      return nil, err
    end
  end
  return true
end

local function quote(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return "(a " .. type(v) .. ")"
end

-- The whole chain runs under one budget (rules × per-rule budget) in one limited call;
-- `current` says which rule was running when something went wrong. Returns nothing, or the
-- index of the rule that held the order, its reason, and "fault" / "dirty" when the hold is a
-- fault of the rule rather than its verdict ("dirty": it left something that is not plain
-- data). With `each`, the order is checked for plain data after every rule (to name the rule
-- that left it); without, the caller checks once at the end (the cheap common path).
local current
local function chain(list, order, ctx, each)
  -- (plain reads: a metatable a rule set is found by rules.run's check, and the order replaced)
  local id, cart = order.external_id, order.cart
  for i, rule in ipairs(list) do
    current = i
    if not rule.apply then goto next_rule end -- a stock rule only (on_stock)
    local verdict, reason = rule.apply(order, ctx)
    if each then
      local ok, why = plain.check(order)
      if not ok then
        return i, "[rule " .. rule.name .. "] left something that is not plain data in the order: "
          .. (why:sub(1, 1) == "." and "order" .. why or why), "dirty"
      end
    end
    if order.external_id ~= id or order.cart ~= cart then
      local was = rawget(order, "external_id")
      rawset(order, "external_id", id)
      rawset(order, "cart", cart)
      return i, "[rule " .. rule.name .. "] changed the order's identity (external_id '" .. tostring(id) .. "' -> "
        .. quote(was) .. "): a rule may not", "fault"
    end
    if verdict == "hold" then
      -- converted here, under the budget: a table's __tostring is the rule's code too
      if reason ~= nil and type(reason) ~= "string" then reason = tostring(reason) end
      -- a stored reason is one line, of a readable length
      if reason and (reason:find("\n", 1, true) or reason:find("\r", 1, true)) then
        reason = reason:gsub("%s*[\r\n]+%s*", " ")
      end
      if reason and #reason > 500 then reason = reason:sub(1, 500) end
      return i, reason or ("held by " .. rule.name)
    elseif verdict ~= nil then
      return i, "[rule " .. rule.name .. "] returned unknown verdict " .. quote(verdict)
        .. " (a rule returns nothing, or \"hold\", reason)", "fault"
    end
    ::next_rule::
  end
  return nil
end

local function first_line(s)
  return (s:match("^(.-)\nstack traceback:") or s)
end

local LIMITS = { instructions = 0, memory = M.memory }

local function run_chain(list, order, ctx, each)
  LIMITS.instructions = M.budget * #list
  current = nil
  local id, cart = rawget(order, "external_id"), rawget(order, "cart")
  local ok, i, reason, fault = task.limited_call(LIMITS, chain, list, order, ctx, each)
  if not ok then
    -- the identity is restored even when the rule died after changing it
    rawset(order, "external_id", id)
    rawset(order, "cart", cart)
    local rule = list[current or 1]
    return { rule = rule.name, broken = true, dirty = not plain.check(order) or nil, trace = tostring(i),
             reason = "[rule " .. rule.name .. "] error: " .. first_line(tostring(i)) }
  end
  if i then return { rule = list[i].name, reason = reason, broken = fault and true or nil, dirty = fault == "dirty" or nil } end
  return nil
end

--- Runs the rules again on `order` (a freshly normalized copy), checking it for plain data
--- after each one, to name the rule that leaves a value that is not plain data. Returns the
--- hold for that rule (dirty), or nil when none does this time.
function M.blame(list, order, ctx)
  local blamed = run_chain(list, order, ctx, true)
  return blamed and blamed.dirty and blamed or nil
end

--- Runs the rules on order (in place). ctx: a read-only view (sandbox.readonly) of { cart =
--- settings without secrets, connector, ship_method = function(code) }. Returns nil when no
--- rule held it, or { rule, reason, broken = true when the rule failed rather than decided,
--- dirty = true when a rule left something in the order that is not plain data (a function, a
--- metatable): the caller stores a freshly normalized copy instead }. The order's identity
--- (external_id, cart) is the same afterwards, whatever a rule did.
--- The common path costs no check: a metatable can only come from the sandbox's setmetatable,
--- which keeps the tables it touched, so the order is checked for plain data (2-3 us) only
--- while such a table lives (a rule that made one at load time could put it in any order); a
--- function left in the order is found by the encoder, whose caller then asks M.blame.
--- `fresh()` returns a newly normalized copy of the order, for the blame.
function M.run(list, order, ctx, fresh)
  local hold = run_chain(list, order, ctx, false)
  if (hold and hold.dirty) or next(sandbox.metatabled) == nil or plain.check(order) then return hold end
  local again = fresh and fresh()
  local blamed = again and M.blame(list, again, ctx)
  if blamed then return blamed end
  -- not found again (a rule that does not always do the same): the last rule that ran
  local rule = hold and hold.rule or list[#list].name
  local _, why = plain.check(order)
  return { rule = rule, broken = true, dirty = true,
           reason = "[rule " .. rule .. "] left something that is not plain data in the order: "
             .. (why:sub(1, 1) == "." and "order" .. why or why) }
end

---------------------------------------------------------------- stock rules

--- The rules of a list that have an on_stock hook, in the list's order.
function M.stock_rules(list)
  local out = {}
  for _, r in ipairs(list) do if r.on_stock then out[#out + 1] = r end end
  return out
end

local function stock_chain(list, item, ctx)
  for i, rule in ipairs(list) do
    current = i
    rule.on_stock(item, ctx)
    local a = rawget(item, "available")
    if math.type(a) ~= "integer" then
      if type(a) == "number" and a == a and a > -math.huge and a < math.huge then
        rawset(item, "available", math.floor(a))
      else
        return i, "[rule " .. rule.name .. "] set item.available to " .. quote(a) .. ", not a number"
      end
    end
  end
  return nil
end

--- Runs the stock rules' on_stock(item, ctx) on one item (in place), under the same budget per
--- rule as apply. item = { sku, cart_sku, available, on_hand, reserved, warehouse?, location? };
--- a rule may change item.available only (what else it changes is not read). Returns the
--- figure (an integer, never below 0) | nil, err naming the rule (it failed, looped or left
--- something that is not a number).
function M.run_stock(list, item, ctx)
  if #list == 0 then return math.max(0, item.available) end
  LIMITS.instructions = M.budget * #list
  current = nil
  local ok, i, reason = task.limited_call(LIMITS, stock_chain, list, item, ctx)
  if not ok then
    local rule = list[current or 1]
    return nil, "[rule " .. rule.name .. "] error: " .. first_line(tostring(i))
  end
  if i then return nil, reason end
  local a = rawget(item, "available")
  return a < 0 and 0 or a
end

--- The settings a rule may see: everything but the connector's secret fields and the settings
--- read with env (resolved or not: a rule sees the same settings in an import and a replay).
function M.public_settings(cart, conn)
  local out, env = {}, cart._env or {}
  for k, v in pairs(cart) do
    local spec = (conn.schema or {})[k]
    if not (spec and spec.secret) and k:sub(1, 1) ~= "_" and not env[k] and not schema.is_ref(v) then out[k] = v end
  end
  return out
end

return M
