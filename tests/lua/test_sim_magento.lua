-- The Magento simulator's wire format, with a signer written here (not cartwright.oauth1):
-- OAuth 1.0a accepted and its failures (signature, nonce reused, stale timestamp, missing
-- token) in Magento's words; searchCriteria paging, total_count and the past-the-end answer with
-- and without the 2.0-2.3 quirk; Web API input limits; entity_id vs increment_id, state vs
-- status; a configurable's parent and child lines; the legacy stock item. Then the connector
-- against a store with the quirk on and pages of 7: every order once.
local T = require "t"
local json = require "cjson"
local http = require "cartwright.http"
local crypto = require "cartwright.crypto"
local config = require "cartwright.config"
local carts = require "cartwright.carts"
local context = require "cartwright.ctx"

local sim = require("sim.magento").start{ port = 0, orders = 45, seed = 8 }
local base = sim.url .. "/rest/default/V1/"

local function enc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- GET path?query with an OAuth header: RFC 5849 by hand
local function signed_get(path, query, o)
  o = o or {}
  local params = {}
  for _, kv in ipairs(query) do params[#params + 1] = kv end
  local oauth = { { "oauth_consumer_key", "mg_ck" }, { "oauth_token", o.token or "mg_at" },
    { "oauth_nonce", o.nonce or crypto.hex(crypto.random_bytes(8)) }, { "oauth_signature_method", "HMAC-SHA256" },
    { "oauth_timestamp", tostring(o.ts or os.time()) }, { "oauth_version", "1.0" } }
  if o.drop then table.remove(oauth, o.drop) end
  for _, kv in ipairs(oauth) do params[#params + 1] = kv end
  local parts = {}
  for k, kv in ipairs(params) do parts[k] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  table.sort(parts)
  local bs = "GET&" .. enc(base .. path) .. "&" .. enc(table.concat(parts, "&"))
  local sig = crypto.base64(crypto.hmac_sha256(enc(o.secret or "mg_cs") .. "&" .. enc("mg_ats"), bs))
  local hdr = {}
  for k, kv in ipairs(oauth) do hdr[k] = kv[1] .. '="' .. enc(kv[2]) .. '"' end
  hdr[#hdr + 1] = 'oauth_signature="' .. enc(sig) .. '"'
  local qs = {}
  for k, kv in ipairs(query) do qs[k] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  local res = assert(http.request{ url = base .. path .. (#qs > 0 and ("?" .. table.concat(qs, "&")) or ""),
    headers = { Authorization = "OAuth " .. table.concat(hdr, ", ") } })
  return res, json.decode(res.body)
end

-- JSON numbers decode as floats: 45.0 -> "45"
local function i(v) return tostring(math.tointeger(v) or v) end

local function sc(list)
  local out = {}
  for _, kv in ipairs(list) do out[#out + 1] = { "searchCriteria" .. kv[1], kv[2] } end
  return out
end

-- OAuth
local res, body = signed_get("orders", sc{ { "[pageSize]", "10" }, { "[currentPage]", "1" } }, { nonce = "n-1" })
T.eq(res.status, 200, "a signed request is served")
T.eq(#body.items, 10, "pageSize 10")
T.eq(body.total_count, 45, "total_count")
T.eq(body.search_criteria.page_size, 10, "search_criteria echoed")
res, body = signed_get("orders", sc{ { "[pageSize]", "10" } }, { nonce = "n-1" })
T.eq(res.status, 401, "a nonce used again: 401")
T.eq(body.message, "The nonce is already being used by the consumer with ID %1.", "Magento's message")
res, body = signed_get("orders", {}, { secret = "wrong" })
T.eq(body.message, "The signature is invalid. Verify and try again.", "a wrong secret")
res, body = signed_get("orders", {}, { ts = os.time() - 3600 })
T.eq(body.message, "The timestamp is invalid. Verify and try again.", "an hour-old timestamp")
res, body = signed_get("orders", {}, { drop = 2 })
T.eq(body.message .. " " .. body.parameters.fieldName, "%fieldName is a required field. oauth_token", "no token")
res = assert(http.request{ url = base .. "orders", headers = { Authorization = "Bearer mg_at" } })
body = json.decode(res.body)
T.eq(res.status .. " " .. body.parameters.resources, "401 Magento_Sales::actions_view", "a bare Bearer: refused (2.4.4+)")

-- paging: past the end, the quirk, input limits
res, body = signed_get("orders", sc{ { "[pageSize]", "20" }, { "[currentPage]", "9" } })
T.eq(#body.items .. " " .. i(body.total_count), "0 45", "past the end: no items (2.4)")
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"page_quirk":true}' })
res, body = signed_get("orders", sc{ { "[pageSize]", "20" }, { "[currentPage]", "9" } })
T.eq(#body.items .. " " .. i(body.items[1].entity_id), "5 41", "the quirk: page 9 is the last page (41-45) again")
res, body = signed_get("orders", {})
T.eq(#body.items, 45, "no pageSize: everything")
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"input_limit":true}' })
res, body = signed_get("orders", {})
T.eq(#body.items, 20, "input limits: 20 by default")
res, body = signed_get("orders", sc{ { "[pageSize]", "301" } })
T.eq(res.status .. " " .. body.message, "400 Maximum SearchCriteria pageSize is %max", "input limits: 301 refused")
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"input_limit":false,"page_quirk":false}' })

-- filters: increment_id is text, entity_id a number; state vs status
local o = sim:order(12)
res, body = signed_get("orders", sc{ { "[filter_groups][0][filters][0][field]", "increment_id" },
  { "[filter_groups][0][filters][0][value]", "000000012" } })
T.eq(#body.items == 1 and body.items[1].entity_id, 12, "increment_id 000000012 is entity 12")
T.eq(body.items[1].increment_id, "000000012", "increment_id is a string")
res, body = signed_get("orders", sc{ { "[filter_groups][0][filters][0][field]", "entity_id" },
  { "[filter_groups][0][filters][0][value]", "40" }, { "[filter_groups][0][filters][0][condition_type]", "gt" },
  { "[sortOrders][0][field]", "entity_id" }, { "[sortOrders][0][direction]", "DESC" } })
local ids = {}
for k, it in ipairs(body.items) do ids[k] = i(it.entity_id) end
T.eq(table.concat(ids, ","), "45,44,43,42,41", "entity_id gt 40, DESC")
T.eq(o.created_at:match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil, true, "dates: UTC without a zone")
local states = { pending = "new", processing = "processing", complete = "complete", canceled = "canceled",
  holded = "holded", closed = "closed", pending_payment = "pending_payment", payment_review = "payment_review",
  fraud = "payment_review" }
local consistent = 0
for _, rec in ipairs(sim.records) do
  if states[rec.status] == rec.state then consistent = consistent + 1 end
end
T.eq(consistent, 45, "every status sits under its state")

-- a configurable: parent line (price) + child line (price 0, parent_item_id, same SKU)
local pair
for _, rec in ipairs(sim.records) do
  for _, it in ipairs(rec.doc.items) do
    if it.parent_item_id and not pair then pair = { rec.doc, it } end
  end
end
local parent
for _, it in ipairs(pair[1].items) do if it.item_id == pair[2].parent_item_id then parent = it end end
T.eq(parent.product_type .. " " .. pair[2].product_type, "configurable simple", "parent configurable, child simple")
T.eq(parent.sku, pair[2].sku, "the parent carries the child's SKU")
T.eq(pair[2].price, 0, "the child's price is 0")
T.ok(parent.price > 0, "the parent has the price")
T.eq(pair[2].parent_item.item_id, parent.item_id, "the child carries its parent")

-- legacy stock item
res, body = signed_get("stockItems/MUG-RED", {})
T.eq(res.status .. " " .. i(body.qty) .. " " .. tostring(body.is_in_stock), "200 50 true", "GET stockItems/{sku}")
res, body = signed_get("stockItems/NOPE", {})
T.eq(res.status, 404, "an unknown SKU: 404")

-- the connector against the quirk, pages of 7, with orders changing while it pages
assert(http.request{ method = "POST", url = sim.url .. "/_sim/config", body = '{"page_quirk":true}' })
local dir = T.tmpdir()
T.write(dir .. "/cw.lua", string.format([[
cart "m" { connector = "magento", url = %q, consumer_key = "mg_ck", consumer_secret = "mg_cs",
  access_token = "mg_at", access_token_secret = "mg_ats", rate_limit = { capacity = 1000, per_second = 1000 } }
]], sim.url))
local cart, conn = assert(carts.connect(assert(config.load(dir .. "/cw.lua")), "m"))
os.execute("rm -rf " .. dir)
local ctx = context.new(cart, conn)
local seen, dup, pages = {}, 0, 0
sim:reset_stats()
sim.on_page = function(s, n) if n == sim.pages_served and pages == 2 then s:change_order(3, { status = "canceled" }) end end
local ok, err = conn.fetch_orders(ctx, { since = "2000-01-01T00:00:00Z", ["until"] = "2100-01-01T00:00:00Z", page_size = 7 },
  function(_, docs)
    pages = pages + 1
    for _, d in ipairs(docs) do
      local id = math.tointeger(d.entity_id)
      if seen[id] then dup = dup + 1 end
      seen[id] = true
    end
    return true
  end)
sim.on_page = nil
local n = 0
for _ in pairs(seen) do n = n + 1 end
T.ok(ok, "fetch_orders completes with the quirk on", err)
T.eq(n, 45, "every order once")
T.eq(dup, 0, "none twice")
T.eq(pages, 7, "45 orders in pages of 7: 7 pages")
T.eq(sim.stats.order_list_requests, 7, "7 calls: the short 7th page ends it, no call past the end")
local norm = assert(conn.normalize(ctx, sim:order(12)))
T.eq(norm.number .. " " .. norm.external_id, "000000012 12", "normalize: increment_id is the number, entity_id the id")
sim:close()

return T.done()
