-- A cart simulator in its own process with its rate limit off (`cartwright sim` keeps each
-- cart's default limit: BigCommerce's 150 calls per 30 s would make one import take minutes).
-- Usage: cartwright run tests/reliability/sim_server.lua CART ORDERS SEED
local cart, n, seed = arg[1], tonumber(arg[2]) or 100, tonumber(arg[3]) or 1
local sim = require("sim." .. cart).start{ port = 0, orders = n, seed = seed, rate = false }
io.stdout:write(string.format("%s simulator listening on %s (%d orders, seed %d)\n", cart, sim.url, n, seed))
io.stdout:flush()
