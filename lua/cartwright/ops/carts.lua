-- Carts: each configured cart with its state (watermark, last import, its result), and the
-- connection test. Never a secret: settings a connector marks secret are left out.
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"
local ops = require "cartwright.ops"

local M = {}

--- Every cart of the config in file order: { { name, connector, active, url, watermark,
--- last_import, last_summary, last_error }, ... } | nil, err, kind.
function M.status(s)
  local list, err = carts.load_all(s.cfg)
  if not list then return ops.fail("config", err) end
  local db, derr = s:open()
  if not db then return ops.fail("failed", derr) end
  local out = {}
  for i, c in ipairs(list) do
    local st = db:cart_get{ name = c.name } or {}
    out[i] = { name = c.name, connector = c.connector, active = c.active, url = c.url, folder = c.folder,
               watermark = st.watermark, last_import = st.last_import_at, last_summary = st.last_summary,
               last_error = st.last_error }
  end
  return out
end

-- Transport tokens as a person would say them.
local function explain(err, cart)
  err = tostring(err)
  if err:match("^refused") then return "connection refused by " .. tostring(cart.url) .. " (" .. err .. ")" end
  if err:match("^dns") then return "host name not found for " .. tostring(cart.url) .. " (" .. err .. ")" end
  if err:match("^tls") then return "TLS handshake or certificate problem (" .. err .. ")" end
  if err:match("^timeout") then return "no answer in time from " .. tostring(cart.url) .. " (" .. err .. ")" end
  if err:match("http 401") or err:match("http 403") then return "credentials rejected: " .. err end
  if err:match("http 404") then return "wrong URL or store (not found): " .. err end
  return err
end

--- Tests the connection to cart `name`: { ok = true, cart, connector, api_version, shop } or
--- { ok = false, cart, reason } | nil, err, kind (a config error).
function M.test(s, name)
  local cart, conn = carts.connect(s.cfg, name)
  if not cart then return ops.fail("config", conn) end
  if type(conn.test) ~= "function" then
    return { ok = false, cart = name, reason = "connector " .. cart.connector .. " has no test hook" }
  end
  local ctx = context.new(cart, conn)
  cart.max_attempts = math.min(cart.max_attempts or 2, 2) -- a test should answer quickly
  local ok, info, err = pcall(conn.test, ctx)
  if not ok then info, err = nil, (tostring(info):match("^(.-)\nstack traceback:") or tostring(info)) end
  if not info then return { ok = false, cart = name, reason = explain(err, cart) } end
  return { ok = true, cart = name, connector = cart.connector, api_version = info.api_version, shop = info.shop }
end

return M
