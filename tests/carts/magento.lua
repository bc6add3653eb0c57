-- The Magento simulator's adapter for the cross-cart suites (tests/sim/magento.lua).
local http = require "cartwright.http"

local get = require("carts.common").get

return {
  connector = "magento",
  -- an integration's four credentials: the simulator, like 2.4.4+, refuses the token as a Bearer
  settings = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats",',
  statuses = { "pending", "pending_payment", "processing", "complete", "closed", "canceled", "holded",
               "payment_review", "fraud" },
  open = { "pending", "processing" },
  cancel = "canceled",
  -- what the default source lets customers buy: its quantity less the MSI reservations of the
  -- store's open orders (the salable quantity is every source's less them)
  figure = function(sim_url, sku)
    local all = get(sim_url .. "/_sim/stock?sku=" .. http.urlencode(sku))
    local salable = get(sim_url .. "/_sim/salable")
    local sources = all and all[sku]
    if type(sources) ~= "table" or not sources.default or not salable or not salable[sku] then return nil end
    local total = 0
    for _, q in pairs(sources) do total = total + q end
    return sources.default - (total - salable[sku])
  end,
  shipments = function(sim_url, external_id)
    local held = get(sim_url .. "/_sim/shipments/" .. external_id)
    local out = {}
    for _, s in ipairs(held and held.shipments or {}) do
      for _, t in ipairs(s.tracks or {}) do out[#out + 1] = { tracking = t.track_number, carrier = t.title } end
    end
    return out
  end,
  status = function(sim_url, external_id)
    local held = get(sim_url .. "/_sim/shipments/" .. external_id)
    return held and held.status
  end,
}
