-- Carts: validates each `cart "name" { ... }` of the config against the settings every cart has
-- (M.common, a schema) and its connector's schema, loads connector packages, and resolves the
-- settings read with `env "NAME"` for the commands that talk to a cart. Every error names the
-- config's file and line and the cart.
local store = require "cartwright.store"
local log = require "cartwright.log"
local time = require "cartwright.time"
local schema = require "cartwright.schema"
local connector = require "cartwright.connector"

local M = {}

-- The checks of cartwright.schema, also here for the code that knew them here.
M.number_between, M.check_finite = schema.number_between, schema.check_finite

local function date(v)
  if not v:match("^%d%d%d%d%-%d%d%-%d%d$") or not time.iso_utc(v) then
    return nil, "must be a real date written YYYY-MM-DD, nothing else (got '" .. v .. "')"
  end
  return true
end

local function more_than_zero(v)
  local ok, err = schema.check_finite(v, 0)
  if not ok then return nil, err end
  if v == 0 then return nil, "must be more than 0" end
  return true
end

M.default_rules = { "status_map", "order_prefix", "reject_unmapped_shipping", "minimum_inventory" }

local PER_CONNECTOR = "per connector, below"

-- Settings every cart has, whatever its connector (the connector's schema adds its own). The
-- settings table of docs/configuration.md is generated from it (tests/tools/settings_doc.lua).
M.common = {
  connector = { type = "string", required = true,
    description = "the connector: `\"shopify\"`, `\"bigcommerce\"` or `\"woocommerce\"`" },
  active = { type = "boolean", default = true,
    description = "`false`: kept in the config but skipped by `import --all` (`import NAME` still runs it)" },
  download_statuses = { type = "table", items = { type = "string" }, default_text = PER_CONNECTOR,
    description = "the cart statuses of the orders to download, e.g. `{ \"open\" }`. A new order in another"
      .. " status is skipped. An order already stored is always updated, whatever its new status, so a"
      .. " cancellation still arrives." },
  earliest_order_date = { type = "string", check = date,
    description = "`\"YYYY-MM-DD\"`, a real date: new orders created before it are skipped, and the first"
      .. " import starts there (otherwise it starts at 2000-01-01)" },
  order_prefix = { type = "string", default = "", check = schema.text,
    description = "put in front of every order number by the `order_prefix` rule (`\"SH-\"` makes `1042`"
      .. " into `SH-1042`), so numbers from several carts never collide" },
  folder = { type = "string", default = "new", check = schema.text,
    description = "the folder new orders go to; a rule may set `order.folder` (see [rules.md](rules.md))." },
  batch_size = { type = "number", default = 50, check = schema.number_between(1, nil, true),
    description = "orders per page, a whole number from 1; lowered to the API's maximum (Shopify 250,"
      .. " BigCommerce 250, WooCommerce 100)" },
  after_import_status = { type = "string", check = schema.text,
    description = "the cart's status to set after a new order is imported (e.g. WooCommerce `\"on-hold\"`),"
      .. " pushed through the outbox like every status (see [shipments.md](shipments.md)). Refused when it"
      .. " is one of `download_statuses` (see below)" },
  after_shipment_status = { type = "string", check = schema.text,
    description = "the cart's status to set with each shipment sent to it (e.g. WooCommerce"
      .. " `\"completed\"`, BigCommerce `\"Shipped\"`); unset: the cart's own rules decide" },
  sync_tracking = { type = "boolean", default = true,
    description = "`true`: each `cartwright ship` sends the shipment (carrier, tracking number, lines) to"
      .. " the cart; `false`: shipments are kept here only" },
  suppress_emails = { type = "boolean", default = false,
    description = "`true`: ask the cart not to notify the customer of shipments and status changes, where"
      .. " its API allows (see [shipments.md](shipments.md) for what each cart does)" },
  send_status = { type = "boolean", default = false,
    description = "`true`: `cartwright status ORDER STATUS` also sets the order's status at the cart"
      .. " (ours mapped to the cart's by the status map)" },
  rules = { type = "table", items = { type = "string" }, default = M.default_rules,
    description = "the rules run on each order, in this order. Setting it replaces the whole list. See"
      .. " [rules.md](rules.md)." },
  rate_limit = { type = "table", default_text = PER_CONNECTOR, example = "{ capacity = 40, per_second = 2 }",
    description = "`{ capacity = N, per_second = R }`: the cart's token bucket, shared by every job of the"
      .. " cart in the process: at most `N` requests at once, then `R` more each second. Unset, the bucket"
      .. " is sized from what the cart announces (BigCommerce's quota per window, Shopify's bucket size) and"
      .. " starts from the connector's rate; set, it wins over what the cart announces (the cart's count of"
      .. " requests left can still only lower it). Another key or value is a config error (below)",
    fields = {
      capacity = { type = "number", required = true, check = function(v) return schema.check_finite(v, 1) end,
        description = "requests at once, at least 1" },
      per_second = { type = "number", required = true, check = more_than_zero,
        description = "requests per second after that, more than 0" },
    } },
  overlap_minutes = { type = "number", default = 5, check = schema.number_between(0, 10080),
    description = "each import re-reads this many minutes before where the last one ended (0 to 10080)" },
  max_attempts = { type = "number", default = 6, check = schema.number_between(1, 100, true),
    description = "tries per request on HTTP 429, 5xx, timeouts and broken transfers (1 to 100)" },
  timeout = { type = "number", default = 30, check = schema.number_between(0.001, 3600),
    description = "seconds per request (up to 3600)" },
  retry_base_seconds = { type = "number", default = 0.5, check = schema.number_between(0.001, 3600),
    description = "the first retry waits up to this long; the limit doubles with each try" },
  retry_max_seconds = { type = "number", default = 30, check = function(v) return schema.check_finite(v, 0) end,
    description = "the longest Cartwright ever waits at once for this cart: between two tries, for a token"
      .. " of `rate_limit`, and when the cart asks for a wait (`Retry-After`, BigCommerce's reset time). A"
      .. " longer wait the cart asks for is cut to it and logged (below). A finite number, 0 or more" },
  max_pages = { type = "number", default = 10000, check = function(v) return schema.check_finite(v, 1) end,
    description = "the most pages one listing may have in one import run; a run that needs more fails,"
      .. " naming this setting. At least 1" },
  sync_inventory = { type = "boolean", default = false,
    description = "`true`: Cartwright sets this cart's stock figures from yours (what can be sold: on hand"
      .. " over `inventory.warehouses` less what open orders reserve), after every import that changes what"
      .. " open orders reserve and on `stock push`. See [stock.md](stock.md)" },
  marketplace_fulfilled = { type = "boolean", default = false,
    description = "`true`: the marketplace ships this cart's orders from its own stock (Amazon FBA and the"
      .. " like): its orders reserve nothing of yours, and Cartwright never sends it shipments or statuses" },
  intervals = { type = "table", example = "{ orders = 60 }",
    description = "seconds between the runs `cartwright serve` makes of each of this cart's services (each run"
      .. " jittered by up to a tenth, never two of one service at once; a failing run backs off, doubling up to"
      .. " an hour). A service not given here takes its connector's default (its page in docs/carts/), else"
      .. " 300 for orders and 60 for the others. See [running.md](running.md)",
    fields = {
      orders = { type = "number", check = schema.number_between(1, 86400),
        description = "the order import (1 to 86400)" },
      inventory = { type = "number", check = schema.number_between(1, 86400),
        description = "the stock push, for a cart with `sync_inventory` (1 to 86400)" },
      shipments = { type = "number", check = schema.number_between(1, 86400),
        description = "sending the shipments and statuses waiting in the outbox (1 to 86400)" },
    } },
  inventory = { type = "table", example = '{ warehouses = { "east" }, alias = "amazon", minimum = 2 }',
    description = "what this cart is shown when `sync_inventory` is on (see [stock.md](stock.md))",
    fields = {
      warehouses = { type = "table", items = { type = "string" }, alt = { type = "string", enum = { "all" } },
        default = "all",
        description = "`\"all\"` or a list of warehouse names, e.g. `{ \"east\", \"west\" }`: the on-hand"
          .. " figures added up for this cart" },
      alias = { type = "string", check = schema.text,
        description = "an alias type (`cartwright alias set SKU TYPE ALIAS`): the cart knows your SKUs by"
          .. " their alias of this type; SKUs without one are skipped and reported, never set to 0" },
      minimum = { type = "number", default = 0, check = schema.number_between(0, nil, true),
        description = "a figure below this is sent as 0 (the `minimum_inventory` rule), a whole number from 0" },
      locations = { type = "table", map = { type = "string" },
        description = "warehouse name = the cart's location (its name or id), e.g. `{ east = \"Fifth Avenue"
          .. " AppleStore\" }`: each warehouse's figure goes to its own location. Unset: the selected"
          .. " warehouses together go to the cart's primary location, other locations are left alone" },
    } },
}
assert(schema.check_schema(M.common, "carts.common"))

local loaded = {}

--- Loads the connector package connectors/<name>/ (or <dir>/<name>/, dir being the config's
--- connectors_dir) once (connector.load). Returns the connector table | nil, err.
function M.connector(name, dir)
  if loaded[name] then return loaded[name] end
  local conn, err = connector.load(name, M.common, dir)
  if not conn then return nil, err end
  loaded[name] = conn
  return conn
end

-- What the engine keeps in a cart's table beside its settings.
local INTERNAL = { name = true, _where = true, _valid = true, _env = true, _resolved = true }

-- Checks a cart's settings (in place: defaults filled, batch_size clamped, download statuses and
-- rules defaulted). `deferred`: settings read with env are left unread and their checks wait
-- for carts.resolve. Returns c | nil, err.
local function validate(c, conn, deferred)
  local where = (c._where or "?") .. ": cart \"" .. c.name .. "\": "
  for _, key in ipairs(schema.sorted_keys(c)) do
    if not INTERNAL[key] and not M.common[key] and not conn.schema[key] then
      return nil, where .. "unknown setting '" .. tostring(key) .. "'"
    end
  end
  local opts = { deferred = deferred }
  for _, settings in ipairs{ M.common, conn.schema } do
    for _, key in ipairs(schema.sorted_keys(settings)) do -- in name order: the same error first each time
      local spec = settings[key]
      if c[key] == nil then c[key] = schema.copy(spec.default) end
      if spec.required and c[key] == nil then return nil, where .. key .. " is required" end
      local ok, err = schema.check_value(spec, c[key], key, opts)
      if not ok then return nil, where .. err end
      if spec.secret and type(c[key]) == "string" then
        -- shorter values are not redacted from output (they would hide ordinary words)
        if #c[key] < 4 then return nil, where .. key .. " is too short to be a real credential" end
        log.secret(c[key])
      end
    end
  end
  if conn.check_settings then
    -- settings that only make sense together (one of two ways to sign in); a value read with env
    -- and not resolved yet counts as set
    local ok, err = conn.check_settings(c)
    if not ok then return nil, where .. tostring(err) end
  end
  c.download_statuses = c.download_statuses or schema.copy(conn.default_download_statuses) or {}
  for _, s in ipairs(c.download_statuses) do
    if c.after_import_status == s then
      return nil, where .. "after_import_status \"" .. s .. "\" is also a download status: orders set to it"
        .. " at the cart would be downloaded again on every run. Pick a status outside download_statuses."
    end
  end
  local page_max = conn.page_max or 250
  c.batch_size = math.tointeger(c.batch_size)
  if c.batch_size > page_max then c.batch_size = page_max end
  return c
end

--- Validates one cart from cfg, without reading the environment: a setting read with env stays
--- a reference { env = "NAME", where = "file:line" } (commands that do not talk to the cart
--- need no credentials). Returns cart, connector | nil, err.
function M.load(cfg, name)
  local c = cfg.carts[name]
  if not c then return nil, "no cart named \"" .. tostring(name) .. "\" in " .. (cfg.path or "the config") end
  local conn, err = M.connector(c.connector, cfg.connectors_dir)
  if not conn then return nil, (c._where or "?") .. ": cart \"" .. name .. "\": " .. err end
  if not c._valid then
    local ok, verr = validate(c, conn, true)
    if not ok then return nil, verr end
    c._valid = true
  end
  return c, conn
end

-- A copy of v with every env reference read: value, used_env | nil, err.
local function read_env(v, used)
  if schema.is_ref(v) then
    local val = os.getenv(v.env)
    if val == nil or val == "" then return nil, (v.where or "?") .. ": environment variable " .. v.env .. " is not set" end
    log.secret(val)
    return val, true
  end
  if type(v) ~= "table" then return v, used end
  local out = {}
  for k, x in next, v do
    local got, u = read_env(x, false)
    if got == nil and x ~= nil then return nil, u end
    out[k], used = got, used or u
  end
  return out, used
end

--- The cart's settings with those read with env resolved: each variable read (an error naming
--- the env call's file:line when it is unset or empty), registered as a secret, and the value
--- checked as if written in the config. Only commands that talk to the cart call this. Returns
--- a new, fully checked cart table (cart._env lists the settings read with env) | nil, err.
function M.resolve(cart, conn)
  if cart._resolved then return cart end
  local out, env = {}, {}
  for _, k in ipairs(schema.sorted_keys(cart)) do -- in name order: the same variable is named first each time
    local v = cart[k]
    if k ~= "_valid" then
      local got, used = read_env(v, false)
      if got == nil then return nil, used end
      out[k] = got
      if used then env[k] = true end
    end
  end
  out._env = env
  local ok, err = validate(out, conn, false)
  if not ok then return nil, err end
  out._valid, out._resolved = true, true
  return out
end

--- The cart `name` ready to talk to: loaded (M.load) and resolved (M.resolve). Returns cart,
--- connector | nil, err (a config error: the commands exit 2).
function M.connect(cfg, name)
  local c, conn = M.load(cfg, name)
  if not c then return nil, conn end
  local r, err = M.resolve(c, conn)
  if not r then return nil, err end
  return r, conn
end

--- Every cart of the config, validated (not resolved), in file order. Returns list | nil, err.
function M.load_all(cfg)
  local list = {}
  for _, name in ipairs(cfg.cart_order) do
    local c, err = M.load(cfg, name)
    if not c then return nil, err end
    list[#list + 1] = c
  end
  return list
end

--- A setting for display: its value, or "env NAME" for one read with env and not resolved.
function M.shown(v)
  if schema.is_ref(v) then return "env " .. v.env end
  return v
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
