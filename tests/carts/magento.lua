-- The Magento simulator's adapter for the cross-cart suites (tests/sim/magento.lua).
local http = require "cartwright.http"
local json = require "cjson.safe"

local function get(url)
  local res = http.request{ url = url, timeout = 10 }
  if not res or res.status ~= 200 then return nil end
  return json.decode(res.body)
end

return {
  connector = "magento",
  -- an integration's four credentials: the simulator, like 2.4.4+, refuses the token as a Bearer
  settings = 'consumer_key = "mg_ck", consumer_secret = "mg_cs", access_token = "mg_at", access_token_secret = "mg_ats",',
  statuses = { "pending", "pending_payment", "processing", "complete", "closed", "canceled", "holded",
               "payment_review", "fraud" },
  open = { "pending", "processing" },
  cancel = "canceled",
  -- the quantity at the default source
  figure = function(sim_url, sku)
    local all = get(sim_url .. "/_sim/stock?sku=" .. http.urlencode(sku))
    for _, sources in pairs(all or {}) do return sources.default end
    return nil
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
