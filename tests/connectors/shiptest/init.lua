-- A test connector with the shipments capability, against the tiny cart of
-- tests/ship/serve.lua: the engine's shipments flow tested over real HTTP before the real
-- connectors' shipments.lua exist.
return {
  name = "shiptest",
  schema = { url = { type = "string", required = true, description = "the test cart's URL" } },
  capabilities = { orders = true, shipments = true },
  rate = { capacity = 40, per_second = 200 },
}
