-- Orders in from the Shopify simulator: the shared import cases.
local cases = require "import_cases"
local json = require "cjson.safe"
return cases.run{
  cart = "shopify",
  settings = 'token = "shpat_test",',
  sim_opts = { rate = { capacity = 1000, per_second = 1000 } },
  downloadable = function(doc) return doc.cancelled_at == json.null and doc.closed_at == json.null end,
  id = function(doc) return string.format("%d", doc.id) end,
  created = function(doc) return doc.created_at end,
  cancel = { status = "cancelled" },
}
