-- Orders in from the PrestaShop simulator (webservice key, keyset paging in a shop-local
-- window, batched customer/address look-ups): the shared cases.
local cases = require "import_cases"
local time = require "cartwright.time"
local wanted = { ["2"] = true, ["3"] = true, ["9"] = true, ["11"] = true, ["13"] = true }
return cases.run{
  cart = "prestashop",
  settings = 'key = "PS8SIMKEY0000000000000000000TEST", timezone = "+01:00",',
  downloadable = function(doc) return wanted[doc.current_state] == true end,
  id = function(doc) return string.format("%d", doc.id) end,
  -- the shop's wall clock (the simulator's UTC+1) to UTC
  created = function(doc) return time.format(time.parse(doc.date_add) - 3600) end,
  cancel = { status = "cancelled" },
}
