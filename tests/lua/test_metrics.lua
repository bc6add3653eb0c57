-- /healthz and /metrics (service/metrics.lua) through cartwright.httpd on a real port: an import
-- and a stock push against the Shopify simulator in this process, then the exposition text
-- parsed line by line (HELP/TYPE before samples, label syntax, cumulative buckets) and its
-- counters checked against what the runs themselves report.
local T = require "t"
local json = require "cjson.safe"
local http = require "cartwright.http"
local httpd = require "cartwright.httpd"
local config = require "cartwright.config"
local ops = require "cartwright.ops"
local import = require "cartwright.ops.import"
local stock_ops = require "cartwright.ops.stock"
local metrics = require "cartwright.service.metrics"
local common = require "sim.common"

local dir = T.tmpdir()
local shop = T.sim("shopify", { "--orders", "3" })
local cfg_path = dir .. "/cw.lua"
T.write(cfg_path, string.format([[
db = %q
cart "shop" { connector = "shopify", url = %q, token = "shpat_test", sync_inventory = true }
]], dir .. "/cw.db", shop.url))
local cfg = assert(config.load(cfg_path))
local s = ops.session(cfg)

local srv = assert(httpd.listen{ host = "127.0.0.1", port = 0, handler = function(req)
  return metrics.handler(s, req) or { status = 404, body = "not found" }
end })
local base = "http://127.0.0.1:" .. srv.port
local function get(path)
  return assert(http.request{ url = base .. path })
end

-- /healthz before any work
local res = get("/healthz")
T.eq(res.status, 200, "healthz: 200")
local h = json.decode(res.body) or {}
T.eq(h.status, "ok", "healthz: status ok")
T.eq(h.database, "ok", "healthz: the database answered")
T.ok(type(h.uptime) == "number" and h.uptime >= 0, "healthz: uptime in seconds", res.body)
T.eq(get("/nope").status, 404, "another route is not metrics'")

-- an import of the cart's 3 orders, then a stock push
local results = assert(import.run(s, { "shop" }, {}))
T.eq(results[1].ok, true, "import ok", results[1].error)
T.eq(results[1].seen, 3, "import: the 3 orders seen")
T.eq(results[1].imported, 2, "import: 2 imported (the seeded third is skipped by status)", results[1].summary)
local sku = common.catalog[1].sku
local set = assert(stock_ops.set(s, sku, 40))
T.eq(#set.pushed, 1, "one push to shop")
T.eq(set.pushed[1].ok, true, "push ok", set.pushed[1].error)
local requests = results[1].requests + set.pushed[1].requests
T.ok(requests > 0, "the runs sent requests")
metrics.count("cartwright_orders_imported_total", { cart = 'we"ird\\name\nx' }, 2)

res = get("/metrics")
T.eq(res.status, 200, "metrics: 200")
T.match(res.headers["content-type"] or "", "^text/plain; version=0%.0%.4", "metrics: the text format's content type")
local text = res.body

-- the parse: every line a comment (HELP/TYPE first for its family) or `name{labels} value`
local typed, helped, samples, bad = {}, {}, {}, nil
local hist = {} -- family .. labels without le -> { buckets = { {le, v} }, count }
local function family_of(name, kind)
  if kind == "histogram" then return (name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")) end
  return name
end
local n = 0
for line in text:gmatch("[^\n]+") do
  n = n + 1
  if n > 10000 then break end
  local what, fam, rest = line:match("^# (%u+) ([%w_:]+) (.*)$")
  if what == "HELP" then helped[fam] = true
  elseif what == "TYPE" then
    if not helped[fam] then bad = bad or ("TYPE before HELP: " .. line) end
    typed[fam] = rest
  else
    local name, labels, value = line:match("^([%a_:][%w_:]*)(%b{}) (%S+)$")
    if not name then
      name, value = line:match("^([%a_:][%w_:]*) (%S+)$")
      labels = ""
    end
    local v = value and (tonumber(value) or (value == "+Inf" and math.huge) or (value == "NaN" and 0 / 0))
    if not name or not v then bad = bad or ("not a sample: " .. line) end
    local lab = {}
    if labels ~= "" then
      -- label pairs: name="value with \\, \" and \n escaped", comma separated
      local body, pos = labels:sub(2, -2), 1
      for _ = 1, 20 do
        local k, val, nxt = body:match('^([%a_][%w_]*)="(.-[^\\])"()', pos)
        if not k then k, nxt = body:match('^([%a_][%w_]*)=""()', pos); val = "" end
        if not k then bad = bad or ("bad labels: " .. line); break end
        lab[k] = val
        pos = nxt
        if pos > #body then break end
        if body:sub(pos, pos) ~= "," then bad = bad or ("bad labels: " .. line); break end
        pos = pos + 1
      end
    end
    if name then
      local famname = family_of(name, typed[family_of(name, "histogram")] == "histogram" and "histogram" or nil)
      if not typed[famname] then bad = bad or ("sample before its TYPE: " .. line) end
      samples[#samples + 1] = { name = name, labels = lab, raw = labels, value = v }
      if typed[famname] == "histogram" then
        local key = famname .. (labels:gsub(',?le="[^"]*"', ""))
        local hh = hist[key] or { buckets = {} }
        hist[key] = hh
        if name:match("_bucket$") then hh.buckets[#hh.buckets + 1] = { lab.le, v }
        elseif name:match("_count$") then hh.count = v end
      end
    end
  end
end
T.eq(bad, nil, "metrics: every line parses")

local function value(name, want_labels)
  for _, smp in ipairs(samples) do
    if smp.name == name then
      local match = true
      for k, v in pairs(want_labels) do if smp.labels[k] ~= v then match = false end end
      if match then return smp.value end
    end
  end
  return nil
end
T.eq(value("cartwright_orders_imported_total", { cart = "shop" }), 2, "orders imported by cart: 2, as the run says")
T.eq(value("cartwright_cart_requests_total", { cart = "shop", class = "2xx" }), requests,
  "requests by status class: every one of the runs' requests a 2xx")
T.eq(value("cartwright_cart_requests_total", { cart = "shop", class = "4xx" }), nil, "no 4xx")
T.eq(value("cartwright_import_duration_seconds_count", { cart = "shop" }), 1, "one import observed")
T.eq(value("cartwright_stock_push_duration_seconds_count", { cart = "shop" }), 1, "one push observed")
T.ok((value("cartwright_last_success_timestamp_seconds", { cart = "shop", service = "orders" }) or 0) > 1.7e9,
  "last success of orders: a unix time")
T.ok((value("cartwright_last_success_timestamp_seconds", { cart = "shop", service = "inventory" }) or 0) > 1.7e9,
  "last success of inventory: a unix time")
T.eq(value("cartwright_outbox_depth", {}), nil, "outbox depth: nothing open after the push")
T.ok((value("cartwright_uptime_seconds", {}) or -1) >= 0, "uptime")
T.ok(text:find('cartwright_orders_imported_total{cart="we\\"ird\\\\name\\nx"} 2', 1, true) ~= nil,
  "a label value with a quote, a backslash and a newline is escaped")

-- histograms: buckets rise, the last is +Inf and equals _count
local hists = 0
for key, hh in pairs(hist) do
  hists = hists + 1
  local rising, last = true, -1
  for _, b in ipairs(hh.buckets) do
    if b[2] < last then rising = false end
    last = b[2]
  end
  T.ok(rising, key .. ": buckets cumulative")
  T.eq(hh.buckets[#hh.buckets][1], "+Inf", key .. ": the last bucket is +Inf")
  T.eq(hh.buckets[#hh.buckets][2], hh.count, key .. ": +Inf = count")
  T.eq(#hh.buckets, #metrics.BUCKETS + 1, key .. ": every bucket")
end
T.eq(hists, 2, "two histograms (import, push)")

-- an open outbox entry shows as depth by kind and state
local db = assert(s:open())
assert(db:outbox_add{ cart = "shop", kind = "stock", payload = '{"items":[]}', now = "2026-01-01T00:00:00Z", key = "k-test" })
local text2 = get("/metrics").body
T.ok(text2:find('cartwright_outbox_depth{kind="stock",state="pending"} 1', 1, true) ~= nil, "outbox depth: 1 pending stock entry")

srv:close()
s:close()
shop.stop()
T.done()
