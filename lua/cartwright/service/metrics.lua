-- Metrics of the process for `serve`: GET /healthz and GET /metrics (Prometheus text exposition
-- format 0.0.4). Counters and histograms live in this module (one process, one set) and are fed
-- by small hooks in ctx.lua (requests, limiter waits), ops/import.lua and flows/stock_out.lua,
-- once per request or run; the outbox depth is read from the store at scrape time.
local task = require "cartwright.task"
local json = require "cjson"

local M = {}

M.BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 }

-- name -> { help, type, labels = { names }, samples = { key -> sample } }; a sample is
-- { values = { label values }, value = n } or, for a histogram, { values, counts = { per
-- bucket, not cumulative }, sum, count }.
local families, order = {}, {}
local started = task.monotonic()

local function family(name, kind, help, labels)
  families[name] = { name = name, type = kind, help = help, labels = labels, samples = {} }
  order[#order + 1] = name
end

family("cartwright_orders_imported_total", "counter", "Orders imported (new in the store), by cart.", { "cart" })
family("cartwright_cart_requests_total", "counter",
  "HTTP requests sent to carts, by cart and status class (2xx, 3xx, 4xx, 429, 5xx, error).", { "cart", "class" })
family("cartwright_rate_limit_waits_total", "counter", "Requests that waited for the cart's rate limiter.", { "cart" })
family("cartwright_rate_limit_wait_seconds_total", "counter", "Seconds spent waiting for the cart's rate limiter.", { "cart" })
family("cartwright_last_success_timestamp_seconds", "gauge",
  "Unix time of the last successful run, by cart and service (orders, inventory).", { "cart", "service" })
family("cartwright_import_duration_seconds", "histogram", "Duration of one cart's order import run.", { "cart" })
family("cartwright_stock_push_duration_seconds", "histogram", "Duration of one cart's stock push run.", { "cart" })

-- The sample of family f for labels (a table by label name), made on first use.
local function sample(name, labels)
  local f = families[name]
  if not f then error("metrics: unknown metric " .. tostring(name), 3) end
  local names, key = f.labels, nil -- luacheck: ignore key
  if #names == 1 then
    key = tostring(labels[names[1]])
  else
    local parts = {}
    for i, l in ipairs(names) do parts[i] = tostring(labels[l]) end
    key = table.concat(parts, "\0")
  end
  local s = f.samples[key]
  if not s then
    local values = {}
    for i, l in ipairs(names) do values[i] = tostring(labels[l]) end
    s = { values = values, value = 0 }
    if f.type == "histogram" then
      s.counts, s.sum, s.count = {}, 0, 0
      for i = 1, #M.BUCKETS do s.counts[i] = 0 end
    end
    f.samples[key] = s
  end
  return s, f
end

--- Adds n (default 1) to the counter `name` for `labels` ({ cart = "shop" }).
function M.count(name, labels, n)
  local s = sample(name, labels)
  s.value = s.value + (n or 1)
end

--- Sets the gauge `name` for `labels` to v.
function M.set(name, labels, v)
  local s = sample(name, labels)
  s.value = v
end

--- Records one observation (seconds) in the histogram `name` for `labels`.
function M.observe(name, labels, seconds)
  local s = sample(name, labels)
  local b = M.BUCKETS
  for i = 1, #b do
    if seconds <= b[i] then
      s.counts[i] = s.counts[i] + 1
      break
    end
  end
  s.sum, s.count = s.sum + seconds, s.count + 1
end

--- The status class of a cart's answer (res | nil on a transport error).
function M.class(res)
  if not res then return "error" end
  local st = res.status
  if st == 429 then return "429" end
  return (st // 100) .. "xx"
end

--- Forgets every sample (tests).
function M.reset()
  for _, f in pairs(families) do f.samples = {} end
end

---------------------------------------------------------------- the text format

local function esc_label(v)
  return (v:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end
local function esc_help(v)
  return (v:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end
M.escape_label = esc_label

local function num(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 2 ^ 53) then
    return string.format("%d", math.tointeger(v) or v)
  end
  return string.format("%.17g", v)
end

local function labelset(names, values, extra_name, extra_value)
  local parts = {}
  for i, l in ipairs(names) do parts[i] = l .. '="' .. esc_label(values[i]) .. '"' end
  if extra_name then parts[#parts + 1] = extra_name .. '="' .. extra_value .. '"' end
  if #parts == 0 then return "" end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function render_family(out, f)
  out[#out + 1] = "# HELP " .. f.name .. " " .. esc_help(f.help)
  out[#out + 1] = "# TYPE " .. f.name .. " " .. f.type
  local keys = {}
  for k in pairs(f.samples) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local s = f.samples[k]
    if f.type == "histogram" then
      local cum = 0
      for i, le in ipairs(M.BUCKETS) do
        cum = cum + s.counts[i]
        out[#out + 1] = f.name .. "_bucket" .. labelset(f.labels, s.values, "le", num(le)) .. " " .. cum
      end
      out[#out + 1] = f.name .. "_bucket" .. labelset(f.labels, s.values, "le", "+Inf") .. " " .. s.count
      out[#out + 1] = f.name .. "_sum" .. labelset(f.labels, s.values) .. " " .. num(s.sum)
      out[#out + 1] = f.name .. "_count" .. labelset(f.labels, s.values) .. " " .. s.count
    else
      out[#out + 1] = f.name .. labelset(f.labels, s.values) .. " " .. num(s.value)
    end
  end
end

--- The exposition text: the process's families, uptime, and the outbox depth from `db` (when
--- given and readable). Returns text, db_err (nil when the store answered).
function M.render(db)
  local out = {}
  for _, name in ipairs(order) do render_family(out, families[name]) end
  local uptime = { name = "cartwright_uptime_seconds", type = "gauge", help = "Seconds since the process started.",
                   labels = {}, samples = { [""] = { values = {}, value = task.monotonic() - started } } }
  render_family(out, uptime)
  local depth = { name = "cartwright_outbox_depth", type = "gauge",
                  help = "Outbox entries not done yet, by kind and state.", labels = { "kind", "state" }, samples = {} }
  local rows, err
  if db then rows, err = db:outbox_depth{} end
  for _, r in ipairs(rows or {}) do
    depth.samples[r.kind .. "\0" .. r.state] = { values = { r.kind, r.state }, value = r.n }
  end
  render_family(out, depth)
  return table.concat(out, "\n") .. "\n", err
end

---------------------------------------------------------------- the routes

M.routes = { { method = "GET", path = "/healthz" }, { method = "GET", path = "/metrics" } }

-- The session's database, checked with a read. db | nil, err.
local function database(s)
  local db, err = s:open()
  if not db then return nil, err end
  local ok, rows, rerr = pcall(db.outbox_depth, db, {})
  if not ok then return nil, tostring(rows) end
  if not rows then return nil, rerr end
  return db
end

--- GET /healthz, GET /metrics; nil for any other route. s: the ops session.
function M.handler(s, req)
  if req.path == "/healthz" then
    if req.method ~= "GET" and req.method ~= "HEAD" then return { status = 405, headers = { Allow = "GET" }, body = "" } end
    local db, err = database(s)
    local body = { status = db and "ok" or "error", uptime = task.monotonic() - started,
                   database = db and "ok" or tostring(err) }
    return { status = db and 200 or 503, headers = { ["Content-Type"] = "application/json" }, body = json.encode(body) }
  elseif req.path == "/metrics" then
    if req.method ~= "GET" and req.method ~= "HEAD" then return { status = 405, headers = { Allow = "GET" }, body = "" } end
    local db = database(s)
    local text = M.render(db)
    return { status = 200, headers = { ["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8" }, body = text }
  end
  return nil
end

return M
