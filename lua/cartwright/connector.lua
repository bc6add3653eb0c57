-- Connector packages. connectors/<name>/init.lua declares a cart platform: its settings schema,
-- its origin and rate, and its capabilities; each capability's hooks are a module beside it
-- (connectors/<name>/orders.lua). load(name) checks both and returns the table the pipeline
-- uses: the package's declarations and the orders hooks side by side (docs/connectors.md).
local schema = require "cartwright.schema"

local M = {}

-- What a package's init.lua declares: field -> Lua type (required ones marked).
local PACKAGE = {
  name = { "string", required = true }, schema = { "table", required = true },
  capabilities = { "table", required = true }, api_version = { "string" }, rate = { "table" },
  intervals = { "table" }, origin = { "function" }, check_settings = { "function" },
}

-- Each capability: its module in the package and the hooks it must or may have.
M.CAPABILITIES = {
  orders = {
    fields = {
      fetch_orders = { "function", required = true }, normalize = { "function", required = true },
      test = { "function" }, peek = { "function" }, updated_at = { "function" }, decode = { "function" },
      observe = { "function" }, sorted_by_updated = { "boolean" }, order_shape = { "table" },
      page_max = { "number" }, page_default = { "number" }, statuses = { "table" },
      default_download_statuses = { "table" },
    },
  },
  -- docs/connectors.md "The stock capability"
  stock = {
    fields = {
      batch_max = { "number", required = true }, multi_location = { "boolean" }, compare = { "boolean" },
      locations = { "function" }, lookup = { "function", required = true }, read = { "function" },
      push = { "function", required = true }, reserves_own_orders = { "boolean|function" },
    },
  },
  -- docs/connectors.md "The shipments capability": ship (required), find (after an uncertain
  -- failure: did the cart get it?), set_status and get_status (the same for statuses)
  shipments = {
    fields = {
      ship = { "function", required = true }, find = { "function" }, set_status = { "function" },
      get_status = { "function" },
    },
  },
  -- docs/connectors.md "The webhooks capability": verify(cart, headers, raw_body) -> true | nil,
  -- why (constant time; headers with lower-case names), register(ctx, url, secret) -> true | nil, err
  webhooks = {
    fields = {
      verify = { "function", required = true }, register = { "function", required = true },
      topics = { "table" }, scopes = { "table" }, header = { "string" },
    },
  },
}

local STATUS_LIST = { type = "table", items = { type = "string" } }
M.OUR_STATUSES = { received = true, payment_received = true, shipped = true, cancelled = true }

-- The config's connectors_dir: packages there are found after the shipped ones (a shipped
-- name always means the shipped connector). A searcher after the engine's own.
local extra_dir
table.insert(package.searchers, function(mod)
  local rest = extra_dir and mod:match("^connectors%.([%w_.]+)$")
  if not rest then return nil end
  local path, err = package.searchpath(rest, extra_dir .. "/?.lua;" .. extra_dir .. "/?/init.lua")
  if not path then return "\n\t" .. err:gsub("^\n\t", "") end
  local fn, lerr = loadfile(path, "t")
  if not fn then error(lerr, 0) end
  return fn, path
end)
local COUNT = { type = "number", check = schema.number_between(1, nil, true) }

-- The module `mod`, or nil, err naming what is missing. The path it came from, relative to the
-- engine's home, names it in later errors.
local function need(mod, missing)
  local ok, value, path = pcall(require, mod)
  if ok then
    local home = package.cartwright_home or "."
    -- require gives the file only when it loads the module now, not when it was loaded before
    path = path or package.searchpath(mod, table.concat({ home .. "/?.lua", home .. "/?/init.lua",
      home .. "/tests/?.lua", home .. "/tests/?/init.lua" }, ";")) or mod
    if path:sub(1, #home + 1) == home .. "/" then path = path:sub(#home + 2) end
    return value, path
  end
  if tostring(value):find("module '" .. mod .. "' not found", 1, true) then return nil, missing end
  return nil, tostring(value)
end

-- Checks the declared fields of a table against `fields` (name -> { type, required = }); keys
-- starting with "_" are the module's own (unit-test helpers). Returns true | nil, err.
local function check_fields(t, fields, file, open)
  if type(t) ~= "table" then return nil, file .. ": returns a " .. type(t) .. ", not a table" end
  for k, v in pairs(t) do
    local f = fields[k]
    if f and not ("|" .. f[1] .. "|"):find("|" .. type(v) .. "|", 1, true) then -- f[1]: "type" or "type|type"
      return nil, file .. ": " .. tostring(k) .. " must be a " .. f[1]:gsub("|", " or ") .. ", not " .. type(v)
    end
    if not f and not open and not (type(k) == "string" and k:sub(1, 1) == "_") then
      return nil, file .. ": unknown field '" .. tostring(k) .. "' (" .. schema.join(schema.sorted_keys(fields)) .. ")"
    end
  end
  for _, k in ipairs(schema.sorted_keys(fields)) do
    if fields[k].required and t[k] == nil then return nil, file .. ": " .. k .. " is missing (a " .. fields[k][1] .. ")" end
  end
  return true
end

local function check_orders(o, file)
  for _, k in ipairs{ "page_max", "page_default" } do
    local ok, err = schema.check_value(COUNT, o[k], k)
    if not ok then return nil, file .. ": " .. err end
  end
  local ok, err = schema.check_value(STATUS_LIST, o.default_download_statuses, "default_download_statuses")
  if not ok then return nil, file .. ": " .. err end
  local st = o.statuses
  if st ~= nil and (next(st) == nil or st[1] ~= nil) then
    ok, err = schema.check_value(STATUS_LIST, st, "statuses")
    if not ok then return nil, file .. ": " .. err end
  elseif st ~= nil then
    -- { [cart status] = ours }: also the status_map rule's table for this connector
    for k, v in pairs(st) do
      if type(k) ~= "string" or k == "" or type(v) ~= "string" or not M.OUR_STATUSES[v] then
        return nil, file .. ": statuses must be a list of the cart's statuses, or a table of them to ours"
          .. " ({ paid = \"payment_received\" }: received, payment_received, shipped or cancelled); got "
          .. string.format("%q", tostring(k)) .. " = " .. string.format("%q", tostring(v))
      end
    end
  end
  if o.sorted_by_updated and not o.updated_at then
    return nil, file .. ": sorted_by_updated needs updated_at(doc), the time the watermark moves to"
  end
  return true
end

--- Loads and checks the package connectors/<name>/ (on a developer's path also
--- tests/connectors/<name>/; then `dir`/<name>/, the config's connectors_dir). `common` is
--- the settings every cart has, which a connector's schema may not declare again. Returns the
--- connector table | nil, err: "unknown connector 'x' (looked in …)", or an error naming the
--- package's file (and line, for an error the file raised).
function M.load(name, common, dir)
  if type(name) ~= "string" then
    return nil, "connector must be the name of a connector, e.g. \"shopify\", not " .. type(name)
  end
  extra_dir = dir
  local unknown = "unknown connector '" .. name .. "' (looked in " .. (package.cartwright_home or ".") .. "/connectors"
    .. (dir and (" and " .. dir) or "") .. ")"
  if not name:match("^[%w_]+$") then return nil, unknown end
  local pkg, file = need("connectors." .. name, unknown)
  if not pkg then return nil, file end
  if not file:match("/init%.lua$") then
    return nil, file .. ": a connector is a package: connectors/" .. name .. "/init.lua (schema, capabilities)"
      .. " and connectors/" .. name .. "/orders.lua (the hooks); see docs/connectors.md"
  end
  local ok, err = check_fields(pkg, PACKAGE, file)
  if not ok then return nil, err end
  if pkg.name ~= name then return nil, file .. ": name is '" .. pkg.name .. "', not the directory's name '" .. name .. "'" end
  ok, err = schema.check_schema(pkg.schema, "schema")
  if not ok then return nil, file .. ": " .. err end
  for key in pairs(pkg.schema) do
    if common[key] then return nil, file .. ": schema." .. key .. " is a setting every cart has; pick another name" end
  end
  if pkg.rate then
    ok, err = schema.check_value(common.rate_limit, schema.copy(pkg.rate), "rate")
    if not ok then return nil, file .. ": " .. err end
  end
  if pkg.intervals then -- the connector's defaults for `serve`, checked as a cart's setting is
    ok, err = schema.check_value(common.intervals, schema.copy(pkg.intervals), "intervals")
    if not ok then return nil, file .. ": " .. err end
  end
  local conn = { name = pkg.name, api_version = pkg.api_version, schema = pkg.schema, rate = pkg.rate,
                 intervals = pkg.intervals,
                 origin = pkg.origin, check_settings = pkg.check_settings, capabilities = {}, package = pkg, file = file }
  if next(pkg.capabilities) == nil then return nil, file .. ": capabilities is empty (e.g. { orders = true })" end
  for cap, on in pairs(pkg.capabilities) do
    local spec = M.CAPABILITIES[cap]
    if not spec then
      return nil, file .. ": unknown capability '" .. tostring(cap) .. "' (" .. schema.join(schema.sorted_keys(M.CAPABILITIES), "or") .. ")"
    end
    if on ~= true then return nil, file .. ": capabilities." .. cap .. " must be true" end
    local mod, mfile = need("connectors." .. name .. "." .. cap,
      file .. ": capability " .. cap .. " is declared but " .. file:gsub("init%.lua$", cap .. ".lua") .. " is missing")
    if not mod then return nil, mfile end
    ok, err = check_fields(mod, spec.fields or {}, mfile, spec.open)
    if ok and cap == "orders" then ok, err = check_orders(mod, mfile) end
    if not ok then return nil, err end
    conn.capabilities[cap] = true
    conn[cap] = mod
  end
  -- the orders hooks and facts where the pipeline reads them: conn.fetch_orders, conn.page_max…
  for k, v in pairs(conn.orders or {}) do conn[k] = v end
  return conn
end

return M
