-- A simulator for benchmarks: no rate limit, pages cached once built.
-- Usage: cartwright run tests/bench/sim_server.lua CART ORDERS
local cart, n = arg[1] or "shopify", tonumber(arg[2]) or 20000
local sim = require("sim." .. cart).start{ port = 0, orders = n, seed = 11, prerender = true, rate = false }
io.stdout:write(string.format("%s simulator listening on http://127.0.0.1:%d\n", cart, sim.port))
io.stdout:flush()
