-- Orders in from the Magento simulator (OAuth 1.0a integration tokens, keyset paging on
-- entity_id): the shared cases.
local cases = require "import_cases"
local wanted = { pending = true, processing = true }
return cases.run{
  cart = "magento",
  settings = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats",',
  downloadable = function(doc) return wanted[doc.status] == true end,
  id = function(doc) return string.format("%d", doc.entity_id) end,
  created = function(doc) return (doc.created_at:gsub(" ", "T")) .. "Z" end,
  cancel = { status = "canceled" },
}
