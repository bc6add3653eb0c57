-- The admin API of `cartwright serve`: /api/v1 routes over the operations layer (ops/*.lua),
-- JSON in and out. Every /api request needs `Authorization: Bearer TOKEN` (config `api_token`,
-- compared in constant time); without a token configured every /api route answers 503. Errors
-- are { "error": { "code", "message" } }. No domain logic here: each route calls one operation.
-- docs/api.md and docs/openapi.json describe the routes (tests/lua/test_api.lua checks them).
local crypto = require "cartwright.crypto"
local jraw = require "cartwright.jsonraw"
local json = require "cjson.safe"
local log = require "cartwright.log"
local text = require "cartwright.text"
local ops_carts = require "cartwright.ops.carts"
local ops_import = require "cartwright.ops.import"
local ops_orders = require "cartwright.ops.orders"
local ops_outbox = require "cartwright.ops.outbox"
local ops_sync = require "cartwright.ops.sync"
local ops_ship = require "cartwright.ops.ship"
local ops_ship_map = require "cartwright.ops.ship_map"
local ops_stock = require "cartwright.ops.stock"

local M = {}

M.MAX_BODY = 1024 * 1024 -- bytes of a request body; more is 413
M.DEFAULT_LIMIT, M.MAX_LIMIT = 100, 1000 -- orders per page

local null = json.null

-- An operation's error kind -> HTTP status and error code.
local KINDS = { usage = { 400, "bad_request" }, config = { 422, "config" }, not_found = { 404, "not_found" },
                conflict = { 409, "conflict" }, failed = { 500, "failed" } }

local function list(t) return setmetatable(t or {}, jraw.array_mt) end

local function reply(status, value, headers)
  headers = headers or {}
  headers["Content-Type"] = "application/json"
  headers["Cache-Control"] = "no-store"
  -- json_safe redacts every registered secret (the token, cart credentials a cart may echo)
  return { status = status, headers = headers, body = text.json_safe(jraw.encode(value)) .. "\n" }
end

local function fail(status, code, message, headers)
  return reply(status, { error = { code = code, message = message } }, headers)
end

-- An operation's nil, err, kind as a reply.
local function op_error(err, kind)
  local k = KINDS[kind] or KINDS.failed
  return fail(k[1], k[2], tostring(err))
end

-- Calls op(...) and replies 200 with shape(result), or the operation's error.
local function answer(shape, r, err, kind)
  if r == nil then return op_error(err, kind) end
  return reply(200, shape and shape(r) or r)
end

---------------------------------------------------------------- authentication

-- A key for comparing HMACs of the tokens: equal() then sees two 32-byte strings, so neither
-- the comparison nor its length check says anything about the configured token.
local cmp_key = crypto.random_bytes(32)

--- The configured token: text, or nil, why (never the value). The CLI sends it too.
function M.configured_token(cfg)
  local t = cfg.api_token
  if type(t) == "table" and t.env then
    local v = os.getenv(t.env)
    if v == nil or v == "" then return nil, "api_token: environment variable " .. t.env .. " is not set" end
    log.secret(v)
    return v
  end
  if type(t) ~= "string" or t == "" then return nil, "no api_token in the config" end
  return t
end

-- nil when the request may go on, else the reply refusing it.
local function authenticate(s, req)
  local token, why = M.configured_token(s.cfg)
  if not token then
    return fail(503, "no_token", "the admin API is off: " .. why .. " (api_token = env \"NAME\" in the config)")
  end
  local given = (req.headers or {})["authorization"] or ""
  local bearer = given:match("^[Bb]earer +(.-)%s*$") or ""
  if not crypto.equal(crypto.hmac_sha256(cmp_key, bearer), crypto.hmac_sha256(cmp_key, token)) then
    return fail(401, "unauthorized", "a valid bearer token is required (Authorization: Bearer TOKEN)",
                { ["WWW-Authenticate"] = 'Bearer realm="cartwright"' })
  end
  return nil
end

---------------------------------------------------------------- request helpers

-- The JSON object of the body ({} when empty). obj | nil, reply.
local function body_object(req)
  local b = req.body or ""
  if not b:find("%S") then return {} end
  local v, err = json.decode(b)
  if v == nil then return nil, fail(400, "bad_json", "the body is not JSON: " .. tostring(err)) end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] ~= nil) then
    return nil, fail(400, "bad_request", "the body must be a JSON object")
  end
  return v
end

-- A body field: nil when absent or null; else it must be of type `want`. value | nil, reply.
local function field(obj, name, want)
  local v = obj[name]
  if v == nil or v == null then return nil end
  if type(v) ~= want then return nil, fail(400, "bad_request", name .. " must be a " .. want) end
  return v
end

local function bool_param(v) return v == "1" or v == "true" end

---------------------------------------------------------------- routes

local function carts(s)
  return answer(function(r)
    for _, c in ipairs(r) do
      local sum = c.last_summary and json.decode(c.last_summary)
      if sum ~= nil then c.last_summary = sum end
    end
    return { carts = list(r) }
  end, ops_carts.status(s))
end

-- The cursor is the offset of the next page, as text.
local function orders(s, req)
  local q = req.query or {}
  local limit = M.DEFAULT_LIMIT
  if q.limit and q.limit ~= "" then
    limit = q.limit:match("^%d+$") and math.tointeger(tonumber(q.limit))
    if not limit or limit < 1 or limit > M.MAX_LIMIT then
      return fail(400, "bad_request", "limit must be a whole number from 1 to " .. M.MAX_LIMIT)
    end
  end
  local offset = 0
  if q.cursor and q.cursor ~= "" then
    offset = q.cursor:match("^%d+$") and math.tointeger(tonumber(q.cursor))
    if not offset then return fail(400, "bad_request", "cursor must be a next_cursor this API gave") end
  end
  local function opt(v) return v ~= "" and v or nil end
  local r, err, kind = ops_orders.list(s, { cart = opt(q.cart), status = opt(q.status), folder = opt(q.folder),
                                            since = opt(q.updated_since), limit = limit + 1, offset = offset })
  if not r then return op_error(err, kind) end
  local out = list()
  for i = 1, math.min(#r, limit) do out[i] = ops_orders.view(r[i].row, r[i].tags) end
  return reply(200, { orders = out, next_cursor = #r > limit and tostring(offset + limit) or null })
end

local function order(s, _, p)
  return answer(function(r)
    local events, lines = list(), list()
    for i, e in ipairs(r.events) do
      events[i] = { at = e.at, kind = e.kind, detail = e.detail or null, note = e.note or null }
    end
    for i, l in ipairs(r.lines) do
      lines[i] = { line_no = l.line_no, sku = l.sku or null, quantity = l.quantity, price = l.price or null,
                   unknown_sku = l.unknown_sku == 1 }
    end
    r.view.events, r.view.stored_lines = events, lines
    return r.view
  end, ops_orders.show(s, p.number))
end

local function hold_result(r)
  return { cart = r.cart, external_id = r.external_id, number = r.number or null, outcome = r.outcome,
           waived = r.waived or null, hold = r.hold or null }
end

local function release(s, req, p)
  local b, bad = body_object(req)
  if not b then return bad end
  local note, nbad = field(b, "note", "string")
  if nbad then return nbad end
  return answer(hold_result, ops_orders.release(s, p.number, note))
end

local function hold(s, req, p)
  local b, bad = body_object(req)
  if not b then return bad end
  local reason, rbad = field(b, "reason", "string")
  if rbad then return rbad end
  local note, nbad = field(b, "note", "string")
  if nbad then return nbad end
  if not reason then return fail(400, "bad_request", "a hold needs a reason") end
  return answer(hold_result, ops_orders.hold(s, p.number, reason, note))
end

local function import(s, req, p)
  local b, bad = body_object(req)
  if not b then return bad end
  if not s.cfg.carts[p.name] then return fail(404, "not_found", "no cart named " .. p.name) end
  local since, sbad = field(b, "since", "string")
  if sbad then return sbad end
  local dry, dbad = field(b, "dry_run", "boolean")
  if dbad then return dbad end
  local wait, wbad = field(b, "wait", "number")
  if wbad then return wbad end
  if wait and not (wait >= 0 and wait <= 300) then return fail(400, "bad_request", "wait must be 0 to 300 seconds") end
  return answer(function(r)
    local out = { results = list() }
    for i, x in ipairs(r) do out.results[i] = x end
    out.pushed, out.push_error = r.pushed and list(r.pushed), r.push_error
    out.sent, out.send_error = r.sent and list(r.sent), r.send_error
    return out
  end, ops_import.run(s, { p.name }, { since = since, dry_run = dry, wait = wait }))
end

local function stock(s, req)
  local b, bad = body_object(req)
  if not b then return bad end
  if type(b.items) ~= "table" then return fail(400, "bad_request", "items must be a list of { sku, warehouse, quantity }") end
  return answer(function(r) return { rows = list(r.rows), pushed = list(r.pushed) } end, ops_stock.set_many(s, b.items))
end

local function shipments(s, req)
  local b, bad = body_object(req)
  if not b then return bad end
  local opts = {}
  for _, k in ipairs{ "order", "carrier", "tracking", "url", "service" } do
    local v, vbad = field(b, k, "string")
    if vbad then return vbad end
    opts[k] = v
  end
  if not opts.order then return fail(400, "bad_request", "order is required (our number or CART:EXTERNAL_ID)") end
  local lines, lbad = field(b, "lines", "table")
  if lbad then return lbad end
  if lines then
    opts.lines = {}
    for i, l in ipairs(lines) do
      if type(l) ~= "table" or type(l.sku) ~= "string" or math.type(l.quantity) ~= "integer" then
        return fail(400, "bad_request", "lines[" .. i .. "] must be { sku = text, quantity = whole number }")
      end
      opts.lines[i] = l.sku .. ":" .. l.quantity
    end
  end
  return answer(function(r)
    r.shipment.lines = list(r.shipment.lines)
    return { shipment = r.shipment, status_entry = r.status_entry, sent = r.sent }
  end, ops_ship.ship(s, opts.order, opts))
end

local function ship_map(s, req)
  local b, bad = body_object(req)
  if not b then return bad end
  local code, method, cart
  for _, k in ipairs{ "code", "method", "cart" } do
    local v, vbad = field(b, k, "string")
    if vbad then return vbad end
    if k == "code" then code = v elseif k == "method" then method = v else cart = v end
  end
  if not code or not method then return fail(400, "bad_request", "code and method are required") end
  return answer(nil, ops_ship_map.set(s, code, method, cart))
end

local function outbox(s, req)
  local q = req.query or {}
  return answer(function(r) return { entries = list(r) } end,
    ops_outbox.list(s, { cart = q.cart ~= "" and q.cart or nil, failed = bool_param(q.failed), open = bool_param(q.open) }))
end

local function outbox_retry(s, _, p)
  if not p.id:match("^%d+$") then return fail(400, "bad_request", "the id is an outbox entry's number") end
  return answer(function(r) return { retried = r.retried, pushed = list(r.pushed), sent = list(r.sent) } end,
    ops_outbox.retry(s, p.id))
end

local function runs(s, req)
  local q = req.query or {}
  return answer(function(r) return { runs = list(r) } end,
    ops_sync.runs(s, q.cart ~= "" and q.cart or nil, q.limit))
end

-- POST /api/v1/sync/{cart}/{service}/start|stop: a running serve sees it at its next tick
local function sync_set(running)
  return function(s, _, p)
    return answer(function(r) return { services = list(r) } end, ops_sync.set_running(s, p.cart, p.service, running))
  end
end

--- The routes: { method, path template ({name} matches one segment), function(s, req, params) }.
M.routes = {
  { "GET", "/api/v1/carts", carts },
  { "GET", "/api/v1/orders", orders },
  { "GET", "/api/v1/orders/{number}", order },
  { "POST", "/api/v1/orders/{number}/release", release },
  { "POST", "/api/v1/orders/{number}/hold", hold },
  { "POST", "/api/v1/carts/{name}/import", import },
  { "POST", "/api/v1/stock", stock },
  { "POST", "/api/v1/shipments", shipments },
  { "POST", "/api/v1/ship-map", ship_map },
  { "GET", "/api/v1/outbox", outbox },
  { "POST", "/api/v1/outbox/{id}/retry", outbox_retry },
  { "GET", "/api/v1/runs", runs },
  { "POST", "/api/v1/sync/{cart}/{service}/start", sync_set(true) },
  { "POST", "/api/v1/sync/{cart}/{service}/stop", sync_set(false) },
}

local function segments(path)
  local out = {}
  for seg in path:gmatch("[^/]+") do out[#out + 1] = seg end
  return out
end

local function unescape(seg)
  return (seg:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

for _, r in ipairs(M.routes) do r.segs = segments(r[2]) end

-- The params of `segs` under route r, or nil when it does not match.
local function match(r, segs)
  if #segs ~= #r.segs then return nil end
  local params = {}
  for i, want in ipairs(r.segs) do
    local name = want:match("^{(.+)}$")
    if name then params[name] = unescape(segs[i])
    elseif want ~= segs[i] then return nil end
  end
  return params
end

---------------------------------------------------------------- the handler

--- Answers a request under /api: res { status, headers, body }, or nil when the path is not
--- under /api (another handler's). s: an ops session (ops.session(cfg)).
function M.handler(s, req)
  local path = req.path or ""
  if path ~= "/api" and path:sub(1, 5) ~= "/api/" then return nil end
  local refused = authenticate(s, req)
  if refused then return refused end
  if #(req.body or "") > M.MAX_BODY then
    return fail(413, "too_large", "the body is larger than " .. M.MAX_BODY .. " bytes")
  end
  local segs, allowed = segments(path), {}
  for _, r in ipairs(M.routes) do
    local params = match(r, segs)
    if params and r[1] == req.method then
      local ok, res = pcall(r[3], s, req, params)
      if ok then return res end
      log.error("api request failed", { method = req.method, path = path, error = tostring(res) })
      return fail(500, "internal", "internal error (logged)")
    elseif params then
      allowed[#allowed + 1] = r[1]
    end
  end
  if #allowed > 0 then
    return fail(405, "method_not_allowed", req.method .. " is not allowed here (" .. table.concat(allowed, ", ") .. ")",
                { Allow = table.concat(allowed, ", ") })
  end
  return fail(404, "not_found", "no route " .. path)
end

return M
