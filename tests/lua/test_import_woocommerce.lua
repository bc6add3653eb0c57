-- Orders in from the WooCommerce simulator (OAuth 1.0a over plain http): the shared cases.
local cases = require "import_cases"
local wanted = { processing = true, ["on-hold"] = true }
return cases.run{
  cart = "woocommerce",
  settings = 'consumer_key = "ck_test", consumer_secret = "cs_test",',
  downloadable = function(doc) return wanted[doc.status] == true end,
  id = function(doc) return string.format("%d", doc.id) end,
  created = function(doc) return doc.date_created_gmt .. "Z" end,
  cancel = { status = "cancelled" },
}
