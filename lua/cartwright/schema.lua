-- Settings schemas: the declarations a connector (and the engine, for the settings every cart
-- has) makes of the settings it reads, checked once when they load, and the checks of a cart's
-- values against them. A value read with `env "NAME"` in the config is a deferred reference,
-- { env = "NAME", where = "cw.lua:3" }, accepted wherever text is expected and read only by
-- carts.resolve. The settings tables of docs/configuration.md are rendered from schemas too.
local M = {}

M.TYPES = { string = true, number = true, boolean = true, table = true }

-- What a spec may say; anything else is a typo in the declaration.
local SPEC_KEYS = {
  type = true, required = true, default = true, default_text = true, enum = true, fields = true,
  items = true, secret = true, description = true, check = true, example = true, map = true, alt = true,
}

---------------------------------------------------------------- small helpers

--- "a", "a and b", "a, b and c"
function M.join(list, word)
  word = word or "and"
  if #list <= 1 then return list[1] or "" end
  return table.concat(list, ", ", 1, #list - 1) .. " " .. word .. " " .. list[#list]
end

--- The names of a map, sorted.
function M.sorted_keys(map)
  local names = {}
  for k in pairs(map) do names[#names + 1] = k end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  return names
end

--- True when v is a deferred environment reference made by the config's `env "NAME"`.
function M.is_ref(v)
  if type(v) ~= "table" or type(v.env) ~= "string" then return false end
  for k, x in next, v do
    if k ~= "env" and not (k == "where" and type(x) == "string") then return false end
  end
  return true
end

--- A copy of a plain value (defaults are copied into each cart, never shared).
local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in next, v do c[k] = copy(x) end
  return c
end
M.copy = copy

---------------------------------------------------------------- checks
-- A spec's `check` says what a value must be beyond its type: ok | nil, "why", read after the
-- setting's name ("batch_size must be an integer from 1"). These are the engine's; a connector
-- may use them or write its own.

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

--- A number from lo (to hi), an integer when `integer`.
function M.number_between(lo, hi, integer)
  return function(v)
    if not finite(v) or v < lo or (hi and v > hi) or (integer and math.type(v) ~= "integer" and v ~= math.floor(v)) then
      return nil, "must be " .. (integer and "an integer" or "a number") .. " from " .. lo .. (hi and (" to " .. hi) or "")
    end
    return true
  end
end

--- A finite number >= min.
function M.check_finite(v, min)
  if v ~= v or v == math.huge or v == -math.huge then return nil, "must be a finite number, not " .. tostring(v) end
  if v < min then return nil, "must be at least " .. min .. ", not " .. tostring(v) end
  return true
end

--- Text without control characters.
function M.text(v)
  if v:find("[%z\1-\31\127]") then return nil, "must not hold control characters" end
  return true
end

---------------------------------------------------------------- values

local check_value

local function is_list(v)
  local n = #v
  for k in next, v do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local LIST_EXAMPLE = { string = '{ "a", "b" }', number = "{ 1, 2 }", boolean = "{ true, false }", table = "{ {…}, {…} }" }
local PLURAL = { string = "non-empty strings", number = "numbers", boolean = "booleans", table = "tables" }

-- A list: a sequence, not empty, of items of one spec.
local function check_list(spec, v, path, opts)
  local item = spec.items
  if not is_list(v) then return nil, path .. " must be a list " .. LIST_EXAMPLE[item.type] end
  for i = 1, #v do
    local x = v[i]
    if type(x) ~= item.type or (item.type == "string" and x == "") then
      return nil, path .. " must list " .. PLURAL[item.type]
    end
    local ok, err = check_value(item, x, path .. "[" .. i .. "]", opts)
    if not ok then return nil, err end
  end
  if #v == 0 then return nil, path .. " must not be empty" end
  return true
end

-- A map: names (non-empty strings) to values of one spec ({ east = "Fifth Avenue" }).
local function check_map(spec, v, path, opts)
  for _, k in ipairs(M.sorted_keys(v)) do
    if type(k) ~= "string" or k == "" then return nil, path .. " must map names to values, e.g. { east = … }" end
    local ok, err = check_value(spec.map, v[k], path .. " " .. k, opts)
    if not ok then return nil, err end
  end
  return true
end

-- A record: only the declared fields; the required ones present and of their type (one message
-- naming them all, with the spec's example); then each field's own checks, in name order.
local function check_record(spec, v, path, opts)
  local names = M.sorted_keys(spec.fields)
  for k in next, v do
    if not spec.fields[k] then
      return nil, path .. " has an unknown key '" .. tostring(k) .. "' (only " .. M.join(names) .. ")"
    end
  end
  local needed, types, same = {}, {}, true
  for _, name in ipairs(names) do
    local f = spec.fields[name]
    if f.required then
      needed[#needed + 1] = name
      types[#types + 1] = name .. " (a " .. f.type .. ")"
      if f.type ~= spec.fields[needed[1]].type then same = false end
    end
  end
  for _, name in ipairs(needed) do
    local f, x = spec.fields[name], v[name]
    if type(x) ~= f.type and not (f.type == "string" and M.is_ref(x) and opts.deferred) then
      local what
      if same then
        local t = spec.fields[needed[1]].type
        what = M.join(needed) .. ", " .. (#needed == 1 and ("a " .. t) or ((#needed == 2 and "both " or "all ") .. t .. "s"))
      else
        what = M.join(types)
      end
      return nil, path .. " needs " .. what .. (spec.example and (": " .. spec.example) or "")
    end
  end
  for _, name in ipairs(names) do
    local f = spec.fields[name]
    if v[name] == nil and f.default ~= nil then v[name] = copy(f.default) end
    if v[name] ~= nil then
      local ok, err = check_value(f, v[name], path .. " " .. name, opts)
      if not ok then return nil, err end
    end
  end
  return true
end

local function shown(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

--- Checks one value against its spec. `path` names it in the message ("batch_size",
--- "rate_limit capacity"). opts.deferred: a deferred env reference is accepted where text is
--- expected (its checks run when it is resolved). Returns true | nil, "path why".
function check_value(spec, v, path, opts)
  opts = opts or {}
  if v == nil then return true end
  if M.is_ref(v) then
    if spec.type ~= "string" then
      return nil, path .. " must be a " .. spec.type .. ", not env \"" .. v.env .. "\" (env reads text)"
    end
    if opts.deferred then return true end
    return nil, path .. " is env \"" .. v.env .. "\", not resolved"
  end
  if spec.alt and type(v) == spec.alt.type and type(v) ~= spec.type then
    -- the other form the setting may take (warehouses = "all" or a list of names)
    return check_value(spec.alt, v, path, opts)
  end
  if spec.type == "table" then
    if type(v) ~= "table" then
      return nil, path .. " must be a table" .. (spec.alt and (" or a " .. spec.alt.type) or "")
    end
    local ok, err
    if spec.items then
      ok, err = check_list(spec, v, path, opts)
    elseif spec.map then
      ok, err = check_map(spec, v, path, opts)
    else
      ok, err = check_record(spec, v, path, opts)
    end
    if not ok then return nil, err end
  elseif type(v) ~= spec.type then
    return nil, path .. " must be a " .. spec.type .. ", not " .. type(v)
  end
  if spec.type == "string" and spec.required and v == "" then return nil, path .. " must not be empty" end
  if spec.enum then
    local found = false
    for _, e in ipairs(spec.enum) do if e == v then found = true break end end
    if not found then
      local names = {}
      for i, e in ipairs(spec.enum) do names[i] = tostring(e) end
      return nil, path .. " must be one of " .. M.join(names, "or") .. " (got " .. shown(v) .. ")"
    end
  end
  if spec.check then
    local ok, why = spec.check(v)
    if not ok then return nil, path .. " " .. tostring(why) end
  end
  return true
end
M.check_value = check_value

---------------------------------------------------------------- declarations

local check_spec

--- Checks a schema (setting name -> spec) as declared. `path` names it ("schema").
--- Returns true | nil, "path.name: why".
function M.check_schema(schema, path, nested)
  if type(schema) ~= "table" then return nil, path .. " must be a table of settings" end
  for _, name in ipairs(M.sorted_keys(schema)) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      return nil, path .. ": '" .. tostring(name) .. "' is not a setting name (letters, digits, _)"
    end
    local ok, err = check_spec(schema[name], path .. "." .. name, nested)
    if not ok then return nil, err end
  end
  return true
end

function check_spec(spec, path, nested)
  if type(spec) ~= "table" then return nil, path .. ": a spec is a table { type = …, description = … }" end
  for k in pairs(spec) do
    if not SPEC_KEYS[k] then return nil, path .. ": unknown key '" .. tostring(k) .. "'" end
  end
  if not M.TYPES[spec.type] then
    return nil, path .. ": type must be \"string\", \"number\", \"boolean\" or \"table\", not " .. shown(spec.type)
  end
  local forms = (spec.fields and 1 or 0) + (spec.items and 1 or 0) + (spec.map and 1 or 0)
  if spec.type == "table" and forms ~= 1 then
    return nil, path .. ": a table setting declares its fields = { … } (a record), its items = { … } (a list)"
      .. " or its map = { … } (names to values)"
  end
  if spec.type ~= "table" and forms > 0 then
    return nil, path .. ": fields, items and map are for table settings"
  end
  if spec.map then
    if type(spec.map) ~= "table" or spec.map.type == "table" then
      return nil, path .. ".map: a map holds strings, numbers or booleans"
    end
    local ok, err = check_spec(spec.map, path .. ".map", "item")
    if not ok then return nil, err end
  end
  if spec.alt ~= nil then
    if type(spec.alt) ~= "table" or spec.alt.type == spec.type or spec.alt.type == "table" then
      return nil, path .. ".alt: another form of the setting, of another type than table"
    end
    local ok, err = check_spec(spec.alt, path .. ".alt", "item")
    if not ok then return nil, err end
  end
  if nested ~= "item" and (type(spec.description) ~= "string" or spec.description == "") then
    return nil, path .. ": description must say what the setting is (the docs are generated from it)"
  end
  for _, k in ipairs{ "required", "secret" } do
    if spec[k] ~= nil and type(spec[k]) ~= "boolean" then return nil, path .. ": " .. k .. " must be true or false" end
  end
  if spec.secret and (spec.type ~= "string" or nested) then
    return nil, path .. ": secret is for text settings of a cart (not nested ones)"
  end
  if spec.check ~= nil and type(spec.check) ~= "function" then return nil, path .. ": check must be a function" end
  for _, k in ipairs{ "default_text", "example" } do
    if spec[k] ~= nil and type(spec[k]) ~= "string" then return nil, path .. ": " .. k .. " must be text" end
  end
  if spec.enum ~= nil then
    if (spec.type ~= "string" and spec.type ~= "number") or type(spec.enum) ~= "table" or #spec.enum == 0 then
      return nil, path .. ": enum lists the allowed values of a string or number setting"
    end
    for i, e in ipairs(spec.enum) do
      if type(e) ~= spec.type then return nil, path .. ".enum[" .. i .. "] must be a " .. spec.type end
    end
  end
  if spec.fields then
    local ok, err = M.check_schema(spec.fields, path .. ".fields", "field")
    if not ok then return nil, err end
  end
  if spec.items then
    if type(spec.items) ~= "table" or spec.items.type == "table" then
      return nil, path .. ".items: a list holds strings, numbers or booleans"
    end
    local ok, err = check_spec(spec.items, path .. ".items", "item")
    if not ok then return nil, err end
  end
  if spec.default ~= nil then
    if spec.required then return nil, path .. ": a required setting has no default" end
    local ok, err = check_value(spec, copy(spec.default), "default")
    if not ok then return nil, path .. ": " .. err end
  end
  return true
end
M.check_spec = check_spec

---------------------------------------------------------------- docs

--- A value as Lua text: "x", 30, 0.5, true, { "a", "b" }, { capacity = 40, per_second = 2 }.
function M.literal(v)
  if type(v) == "string" then return string.format("%q", v) end
  if math.type(v) == "float" and v == math.floor(v) and v > -1e15 and v < 1e15 then return string.format("%d", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  if #v > 0 then
    for i, x in ipairs(v) do parts[i] = M.literal(x) end
  else
    for _, k in ipairs(M.sorted_keys(v)) do parts[#parts + 1] = k .. " = " .. M.literal(v[k]) end
  end
  if #parts == 0 then return "{}" end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- The names of a schema in the order the docs list them: required first, then the others,
--- each group by name.
function M.doc_order(schema)
  local req, opt = {}, {}
  for _, name in ipairs(M.sorted_keys(schema)) do
    local list = schema[name].required and req or opt
    list[#list + 1] = name
  end
  for _, name in ipairs(opt) do req[#req + 1] = name end
  return req
end

return M
