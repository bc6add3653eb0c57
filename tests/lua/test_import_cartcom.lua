-- Orders in from the Cart.com simulator: the shared cases (the simulator's call limit is off:
-- the cases import many times; test_cartcom.lua runs the store's plan limits).
local cases = require "import_cases"
local wanted = { [1] = true, [7] = true } -- Pending Processing, Back Ordered: the default download statuses
local common = require "sim.common"
return cases.run{
  cart = "cartcom",
  settings = 'token = "ac_test",',
  sim_opts = { rate = false },
  downloadable = function(doc) return wanted[doc.order_status_id] == true end,
  id = function(doc) return string.format("%d", doc.id) end,
  created = function(doc)
    local t = common.parse_iso(doc.ordered_at)
    return common.iso_utc(t)
  end,
  cancel = { status = "cancelled" },
}
