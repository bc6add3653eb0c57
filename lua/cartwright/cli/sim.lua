-- cartwright sim CART [--port N] [--orders N] [--seed S] [--host H] [--plan P]: serve a cart simulator
-- from tests/sim/<cart>.lua until SIGINT/SIGTERM. The simulators live in the test tree, which
-- is on the module path only for commands that ask for it (engine/modules.c).
local M = {}

local carts = { shopify = true, bigcommerce = true, woocommerce = true }

function M.run(args, opts, cli)
  local cart = args[1]
  if not carts[cart] then
    cli.err("usage: cartwright sim shopify|bigcommerce|woocommerce [--port N] [--orders N] [--seed S] [--host H] [--plan P]")
    return 2
  end
  package.cartwright_tests = true
  local module = require("sim." .. cart)
  if opts.plan and not (module.PLANS and module.PLANS[opts.plan]) then
    local names = {}
    for name in pairs(module.PLANS or {}) do names[#names + 1] = name end
    table.sort(names)
    cli.err(string.format("sim %s: unknown plan '%s' (%s)", cart, opts.plan,
      #names > 0 and table.concat(names, ", ") or "this simulator has no plans"))
    return 2
  end
  local sim = module.start{
    plan = opts.plan,
    host = opts.host or "127.0.0.1",
    port = tonumber(opts.port) or 0,
    orders = tonumber(opts.orders) or 100,
    seed = tonumber(opts.seed) or 1,
  }
  io.stdout:write(string.format("%s simulator listening on http://%s:%d (%d orders, seed %d)\n",
    cart, opts.host or "127.0.0.1", sim.port, tonumber(opts.orders) or 100, tonumber(opts.seed) or 1))
  io.stdout:flush()
  return 0 -- the open server keeps the process serving
end

return M
