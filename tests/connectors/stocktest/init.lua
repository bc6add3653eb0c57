-- A test connector with the stock capability, against the tiny cart of tests/stock/server.lua
-- (orders in a plain format, stock by product id): the engine's stock flow tested over real
-- HTTP before the real connectors' stock.lua exist. compare = false: the engine reads the
-- cart's figures before each push.
return {
  name = "stocktest",
  schema = { url = { type = "string", required = true, description = "the test cart's URL" } },
  capabilities = { orders = true, stock = true },
  rate = { capacity = 40, per_second = 200 },
}
