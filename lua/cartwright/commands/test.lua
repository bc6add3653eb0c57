-- cartwright test CART: "Test passed: <connector> <api version> (<shop>)" and exit 0, or
-- "Test failed: <reason>" and exit 1. A bad config is exit 2.
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"

local M = {}

-- Makes transport tokens read as a person would say them.
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

function M.run(opts, args, cli)
  if #args ~= 1 then
    cli.err("usage: cartwright test CART")
    return 2
  end
  local cfg, code = cli.load_config(opts)
  if not cfg then return code end
  local cart, conn = carts.connect(cfg, args[1])
  if not cart then
    cli.err("config error: %s", conn)
    return 2
  end
  if type(conn.test) ~= "function" then
    cli.out("Test failed: connector " .. cart.connector .. " has no test hook")
    return 1
  end
  local ctx = context.new(cart, conn)
  cart.max_attempts = math.min(cart.max_attempts or 2, 2) -- a test should answer quickly
  local ok, info, err = pcall(conn.test, ctx)
  if not ok then info, err = nil, info end
  if not info then
    if opts.json then
      cli.json{ cart = cart.name, ok = false, reason = explain(err, cart) }
    else
      cli.out("Test failed: " .. explain(err, cart))
    end
    return 1
  end
  if opts.json then
    cli.json{ cart = cart.name, ok = true, connector = cart.connector, api_version = info.api_version, shop = info.shop }
  else
    cli.out("Test passed: %s %s (%s)", cart.connector, tostring(info.api_version), tostring(info.shop))
  end
  return 0
end

return M
