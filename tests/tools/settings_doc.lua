-- The settings tables of docs/configuration.md, generated from the schemas: the settings every
-- cart has (carts.common) and each connector package's in connectors/. Each table sits between
-- the markers <!-- settings:NAME --> and <!-- /settings:NAME --> (NAME = common or the
-- connector's name); the text around them is written by hand. With --check nothing is
-- written, and the exit code is 1 when the file differs from what the schemas say (the ctest
-- test settings_doc), so the docs cannot drift from the code.
-- Usage: cartwright run tests/tools/settings_doc.lua [--check] [FILE]
local carts = require "cartwright.carts"
local schema = require "cartwright.schema"

local check = false
local path = "docs/configuration.md"
for _, a in ipairs{ ... } do
  if a == "--check" then check = true else path = a end
end

local function cell(s) return (s:gsub("|", "\\|"):gsub("\n", " ")) end
local function code(v) return "`" .. schema.literal(v) .. "`" end

local function sentence(s)
  if s:sub(-1) == "." then return s .. " " end
  return s .. ". "
end

-- What one setting's row says in the default and meaning columns.
local function row(name, spec)
  local default
  if spec.required then
    default = "required"
  elseif spec.default ~= nil then
    default = code(spec.default)
  else
    default = spec.default_text or "none"
  end
  if spec.secret then default = default .. ", secret" end
  local meaning = spec.description
  if spec.enum then
    local values = {}
    for i, v in ipairs(spec.enum) do values[i] = code(v) end
    meaning = sentence(meaning) .. "One of " .. schema.join(values, "or") .. "."
  end
  if spec.fields then
    local parts = {}
    for _, f in ipairs(schema.doc_order(spec.fields)) do
      local fs = spec.fields[f]
      parts[#parts + 1] = "`" .. f .. "`" .. (fs.required and " (required)" or "") .. ": " .. fs.description
    end
    meaning = sentence(meaning) .. "Keys: " .. table.concat(parts, "; ") .. "."
  end
  return string.format("| `%s` | %s | %s |", name, cell(default), cell(meaning))
end

local function table_of(settings)
  local out = { "| setting | default | meaning |", "|---|---|---|" }
  for _, name in ipairs(schema.doc_order(settings)) do out[#out + 1] = row(name, settings[name]) end
  return table.concat(out, "\n")
end

local function connector_block(conn)
  local statuses = {}
  for i, s in ipairs(conn.statuses or {}) do statuses[i] = "`" .. s .. "`" end
  local lines = { table_of(conn.schema), "" }
  if #statuses > 0 then lines[#lines + 1] = "Statuses (`cart_status`): " .. table.concat(statuses, ", ") .. "." end
  lines[#lines + 1] = "Default `download_statuses`: " .. code(conn.default_download_statuses or {}) .. "."
    .. " Default `rate_limit`: " .. code(conn.rate or require("cartwright.limiter").DEFAULT_RATE)
    .. (conn.observe and ", until the cart announces its own size." or ".")
  return table.concat(lines, "\n")
end

-- The connector packages of the engine's home, in name order.
local function connectors()
  local names = {}
  local home = package.cartwright_home or "."
  local p = assert(io.popen("ls " .. home .. "/connectors"))
  for name in p:lines() do
    local f = io.open(home .. "/connectors/" .. name .. "/init.lua")
    if f then
      f:close()
      names[#names + 1] = name
    end
  end
  p:close()
  table.sort(names)
  return names
end

local blocks = { common = table_of(carts.common) }
for _, name in ipairs(connectors()) do
  blocks[name] = connector_block(assert(carts.connector(name)))
end

local f = assert(io.open(path, "rb"))
local old = f:read("a")
f:close()
local new = old
for name, text in pairs(blocks) do
  local open, close = "<!-- settings:" .. name .. " -->", "<!-- /settings:" .. name .. " -->"
  local a, b = new:find(open, 1, true)
  local c = new:find(close, 1, true)
  if not a or not c or c < b then
    io.stderr:write(path .. ": no " .. open .. " … " .. close .. " markers for the " .. name .. " settings\n")
    return 1
  end
  new = new:sub(1, b) .. "\n" .. text .. "\n" .. new:sub(c)
end

if check then
  if new == old then
    print(path .. ": settings tables up to date")
    return 0
  end
  io.stderr:write(path .. ": the settings tables differ from the schemas; run"
    .. " `build/cartwright run tests/tools/settings_doc.lua` and commit the result\n")
  return 1
end
if new ~= old then
  f = assert(io.open(path, "wb"))
  f:write(new)
  f:close()
  print(path .. ": settings tables written")
else
  print(path .. ": settings tables up to date")
end
return 0
