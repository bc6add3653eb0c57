-- Orders in from the BigCommerce simulator: the shared import cases.
local cases = require "import_cases"
local wanted = { ["Awaiting Fulfillment"] = true, ["Awaiting Shipment"] = true, ["Awaiting Pickup"] = true }
return cases.run{
  cart = "bigcommerce",
  settings = 'token = "bc_test", store_hash = "abc123", concurrency = 8,',
  -- a 1-second quota window keeps the 429 waits (X-Rate-Limit-Time-Reset-Ms) short
  sim_opts = { orders = 600, rate = { quota = 100000, window = 1 } },
  downloadable = function(doc) return wanted[doc.status] == true end,
  id = function(doc) return string.format("%d", doc.id) end,
  created = function(doc) return (require("cartwright.time").format(require("cartwright.time").parse_rfc2822(doc.date_created))) end,
  cancel = { status_id = 5 },
}
