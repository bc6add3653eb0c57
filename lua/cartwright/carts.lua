-- Carts: validates each `cart "name" { ... }` of the config against the engine's settings and
-- its connector's schema, and loads connectors. Every error names the cart and the config line.
local store = require "cartwright.store"
local log = require "cartwright.log"
local time = require "cartwright.time"

local M = {}

-- Checks a setting's value beyond its type: ok | nil, "why". Each is small and says what it
-- wants, so a config error reads "cart "acme" (cw.lua:3): batch_size must be an integer from 1".
local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

function M.number_between(lo, hi, integer)
  return function(v)
    if not finite(v) or v < lo or (hi and v > hi) or (integer and math.type(v) ~= "integer" and v ~= math.floor(v)) then
      return nil, "must be " .. (integer and "an integer" or "a number") .. " from " .. lo .. (hi and (" to " .. hi) or "")
    end
    return true
  end
end

function M.list_of_strings(v)
  local n = #v
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return nil, "must be a list { \"a\", \"b\" }" end
    if type(x) ~= "string" or x == "" then return nil, "must list non-empty strings" end
  end
  if n == 0 then return nil, "must not be empty" end
  return true
end

local function text(v)
  if v:find("[%z\1-\31\127]") then return nil, "must not hold control characters" end
  return true
end

local function date(v)
  if not v:match("^%d%d%d%d%-%d%d%-%d%d$") or not time.iso_utc(v) then
    return nil, "must be a real date written YYYY-MM-DD, nothing else (got '" .. v .. "')"
  end
  return true
end

-- Settings every cart has, whatever its connector (the connector's schema adds its own).
M.common = {
  connector = { type = "string", required = true, description = "shopify | bigcommerce | woocommerce" },
  active = { type = "boolean", default = true, description = "false: configured but never synced" },
  download_statuses = { type = "table", check = M.list_of_strings,
    description = "cart statuses to download; connector default when unset" },
  earliest_order_date = { type = "string", check = date,
    description = "YYYY-MM-DD: never import older orders; the first backfill starts here" },
  order_prefix = { type = "string", default = "", check = text,
    description = "prefix for order numbers, so carts never collide" },
  folder = { type = "string", default = "new", check = text,
    description = "the folder new orders go to (a rule may set order.folder)" },
  batch_size = { type = "number", default = 50, check = M.number_between(1, nil, true),
    description = "orders per page, capped at the API maximum" },
  after_import_status = { type = "string", check = text,
    description = "status to set at the cart after import (never a download status)" },
  rules = { type = "table", check = M.list_of_strings, description = "rule files from rules/, in order" },
  rate_limit = { type = "table", check = function(v) return M.check_rate_limit(v) end,
    description = "{ capacity = N, per_second = R }: override the connector's bucket" },
  overlap_minutes = { type = "number", default = 5, check = M.number_between(0, 10080),
    description = "re-read this much before the watermark" },
  max_attempts = { type = "number", default = 6, check = M.number_between(1, 100, true),
    description = "tries per request on 429, 5xx and timeouts" },
  timeout = { type = "number", default = 30, check = M.number_between(0.001, 3600),
    description = "seconds per request" },
  retry_base_seconds = { type = "number", default = 0.5, check = M.number_between(0.001, 3600),
    description = "first retry waits up to this; doubles each try" },
  retry_max_seconds = { type = "number", default = 30, check = function(v) return M.check_finite(v, 0) end,
    description = "longest wait between two tries, and for the rate limit; a longer wait the cart asks for is cut to it" },
  max_pages = { type = "number", default = 10000, check = function(v) return M.check_finite(v, 1) end,
    description = "pages of one listing per import run; more fails the run" },
}

--- A finite number >= min | nil, err.
function M.check_finite(v, min)
  if v ~= v or v == math.huge or v == -math.huge then return nil, "must be a finite number, not " .. tostring(v) end
  if v < min then return nil, "must be at least " .. min .. ", not " .. tostring(v) end
  return true
end

--- rate_limit = { capacity = N >= 1, per_second = R > 0 }, both finite, nothing else.
function M.check_rate_limit(v)
  for k in pairs(v) do
    if k ~= "capacity" and k ~= "per_second" then
      return nil, "has an unknown key '" .. tostring(k) .. "' (only capacity and per_second)"
    end
  end
  local c, r = v.capacity, v.per_second
  if type(c) ~= "number" or type(r) ~= "number" then
    return nil, "needs capacity and per_second, both numbers: { capacity = 40, per_second = 2 }"
  end
  local ok, err = M.check_finite(c, 1)
  if not ok then return nil, "capacity " .. err end
  ok, err = M.check_finite(r, 0)
  if not ok or r == 0 then return nil, "per_second " .. (err or "must be more than 0") end
  return true
end

M.default_rules = { "status_map", "order_prefix", "reject_unmapped_shipping" }

local loaded = {}

--- Loads connectors/<name>.lua once. Returns the connector table | nil, err.
function M.connector(name)
  if loaded[name] then return loaded[name] end
  if type(name) ~= "string" or not name:match("^[%w_]+$") then return nil, "unknown connector " .. tostring(name) end
  local ok, conn = pcall(require, "connectors." .. name)
  if not ok then
    if tostring(conn):find("module 'connectors%.") then return nil, "unknown connector '" .. name .. "'" end
    return nil, conn
  end
  if type(conn) ~= "table" or type(conn.fetch_orders) ~= "function" or type(conn.normalize) ~= "function" then
    return nil, "connectors/" .. name .. ".lua does not return a connector (fetch_orders, normalize)"
  end
  loaded[name] = conn
  return conn
end

local function check_type(key, spec, v)
  if v == nil then return true end
  if spec.type == "table" and type(v) ~= "table" then return nil, key .. " must be a table" end
  if spec.type ~= "table" and type(v) ~= spec.type then
    return nil, key .. " must be a " .. spec.type .. ", not " .. type(v)
  end
  if spec.type == "string" and spec.required and v == "" then return nil, key .. " must not be empty" end
  if spec.check then
    local ok, why = spec.check(v)
    if not ok then return nil, key .. " " .. why end
  end
  return true
end

local function validate(c, conn)
  local where = (c._where or "?") .. ": cart \"" .. c.name .. "\": "
  for key in pairs(c) do
    if key ~= "name" and key ~= "_where" and not M.common[key] and not (conn.schema or {})[key] then
      return nil, where .. "unknown setting '" .. tostring(key) .. "'"
    end
  end
  for _, schema in ipairs{ M.common, conn.schema or {} } do
    for key, spec in pairs(schema) do
      if c[key] == nil then c[key] = spec.default end
      if spec.required and c[key] == nil then return nil, where .. key .. " is required" end
      local ok, err = check_type(key, spec, c[key])
      if not ok then return nil, where .. err end
      if spec.secret and type(c[key]) == "string" then
        -- shorter values are not redacted from output (they would hide ordinary words)
        if #c[key] < 4 then return nil, where .. key .. " is too short to be a real credential" end
        log.secret(c[key])
      end
    end
  end
  c.download_statuses = c.download_statuses or conn.default_download_statuses or {}
  for _, s in ipairs(c.download_statuses) do
    if c.after_import_status == s then
      return nil, where .. "after_import_status \"" .. s .. "\" is also a download status: orders set to it"
        .. " at the cart would be downloaded again on every run. Pick a status outside download_statuses."
    end
  end
  local page_max = conn.page_max or 250
  c.batch_size = math.tointeger(c.batch_size)
  if c.batch_size > page_max then c.batch_size = page_max end
  c.rules = c.rules or M.default_rules
  return c
end

--- Validates one cart from cfg. Returns cart, connector | nil, err.
function M.load(cfg, name)
  local c = cfg.carts[name]
  if not c then return nil, "no cart named \"" .. tostring(name) .. "\" in " .. (cfg.path or "the config") end
  local conn, err = M.connector(c.connector)
  if not conn then return nil, (c._where or "?") .. ": cart \"" .. name .. "\": " .. err end
  if not c._valid then
    local ok, verr = validate(c, conn)
    if not ok then return nil, verr end
    c._valid = true
  end
  return c, conn
end

--- Makes a validated cart ready to talk to the cart: its credentials resolved. cart | nil, err.
--- (Credentials are resolved when the config is read for now; this is where a command that
--- talks to a cart asks for them.)
function M.resolve(cart)
  return cart
end

--- Every cart of the config, validated, in file order. Returns list | nil, err.
function M.load_all(cfg)
  local list = {}
  for _, name in ipairs(cfg.cart_order) do
    local c, err = M.load(cfg, name)
    if not c then return nil, err end
    list[#list + 1] = c
  end
  return list
end

-- The back office's SKUs (catalog = "products.csv": sku,name per line) so that order lines
-- with a SKU we do not stock are flagged. Loaded on every open; unchanged rows stay as they are.
local function load_catalog(db, path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "catalog: " .. tostring(err) end
  local n = 0
  local ok, terr = db:transaction(function()
    for line in f:lines() do
      local sku, name = line:match("^%s*([^,]-)%s*,%s*(.-)%s*$")
      sku = sku or line:match("^%s*(%S+)%s*$")
      if sku and sku ~= "" and sku:lower() ~= "sku" then
        assert(db:product_put{ sku = sku, name = name })
        n = n + 1
      end
    end
    return true
  end)
  f:close()
  if not ok then return nil, "catalog " .. path .. ": " .. tostring(terr) end
  return n
end

function M.open_db(cfg)
  local db, err = store.open(cfg.db)
  if not db then return nil, err end
  if cfg.catalog then
    local ok, cerr = load_catalog(db, cfg.catalog)
    if not ok then
      db:close()
      return nil, cerr
    end
  end
  for _, name in ipairs(cfg.cart_order) do
    local c = cfg.carts[name]
    db:cart_ensure{ name = name, connector = tostring(c.connector) }
  end
  return db
end

return M
