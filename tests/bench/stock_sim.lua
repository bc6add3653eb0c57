-- A cart simulator for tests/bench/stock.lua: no order history, N more stock items
-- (Shopify STK-00001…, BigCommerce BULK-00001…, WooCommerce SIMPLE-0001…), rate limit off.
-- Usage: cartwright run tests/bench/stock_sim.lua CART N
local cart, n = arg[1], tonumber(arg[2]) or 10000
local sim = require("sim." .. cart).start{ port = 0, orders = 0, seed = 11, rate = false,
  stock_skus = n, simple_products = n }
io.stdout:write(string.format("%s simulator listening on http://127.0.0.1:%d\n", cart, sim.port))
io.stdout:flush()
