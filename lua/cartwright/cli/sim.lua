-- cartwright sim CART|FILE.lua [--port N] [--orders N] [--seed S] [--host H] [--plan P]: serve a
-- cart simulator from tests/sim/<cart>.lua (or a simulator file, e.g. the one `connector new
-- --dir` writes) until SIGINT/SIGTERM. The simulators live in the test tree, which is on the
-- module path only for commands that ask for it (engine/modules.c).
local M = {}

local USAGE = "usage: cartwright sim shopify|bigcommerce|woocommerce|NAME|FILE.lua [--port N] [--orders N] [--seed S] [--host H] [--plan P]"

-- The simulator module: its table | nil, err.
local function find(cart)
  if cart:match("%.lua$") then
    local chunk, err = loadfile(cart, "t")
    if not chunk then return nil, err end
    local ok, sim = pcall(chunk)
    if not ok or type(sim) ~= "table" or type(sim.start) ~= "function" then
      return nil, cart .. ": not a simulator (a module with start(opts)): " .. tostring(ok and sim or sim)
    end
    return sim
  end
  if not cart:match("^[%a][%w_]*$") or cart == "common" or cart == "selftest" then return nil, USAGE end
  local ok, sim = pcall(require, "sim." .. cart)
  if not ok then
    if tostring(sim):find("module 'sim." .. cart .. "' not found", 1, true) then return nil, USAGE end
    return nil, tostring(sim)
  end
  return sim
end

function M.run(args, opts, cli)
  local cart = args[1]
  package.cartwright_tests = true
  local mod, err = find(cart)
  if not mod then
    cli.err("%s", err)
    return 2
  end
  if opts.plan and not (mod.PLANS and mod.PLANS[opts.plan]) then
    local names = {}
    for name in pairs(mod.PLANS or {}) do names[#names + 1] = name end
    table.sort(names)
    cli.err(string.format("sim %s: unknown plan '%s' (%s)", cart, opts.plan,
      #names > 0 and table.concat(names, ", ") or "this simulator has no plans"))
    return 2
  end
  local sim = mod.start{
    plan = opts.plan,
    host = opts.host or "127.0.0.1",
    port = tonumber(opts.port) or 0,
    orders = tonumber(opts.orders) or 100,
    seed = tonumber(opts.seed) or 1,
  }
  io.stdout:write(string.format("%s simulator listening on http://%s:%d (%d orders, seed %d)\n",
    mod.name or cart, opts.host or "127.0.0.1", sim.port, #sim.records, tonumber(opts.seed) or 1))
  io.stdout:flush()
  return 0 -- the open server keeps the process serving
end

return M
