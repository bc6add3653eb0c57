-- Cart.com connector, the REST API's plumbing shared by orders.lua, stock.lua, shipments.lua and
-- webhooks.lua: the store's base URL, the token header, Cache-Control: no-cache on every read
-- (the cart caches GETs on its servers, so a poll would otherwise see a minutes-old list), the
-- check of each answer and its error body ({status_code, message, details}). Messages name
-- the call, never the URL.
-- Uses: ctx:request (rate limit + retries), cjson.safe, cartwright.jsonraw, cartwright.cartdata.

local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"
local cd = require "cartwright.cartdata"

local M = {}

-- The store's address as configured, https:// added when missing: also its origin, the only
-- one ctx:request sends the token to.
function M.store_url(cart)
  local url = cart.url:gsub("/+$", "")
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return url
end

function M.url(ctx, path, query)
  local q = query and cd.query(query) or ""
  return M.store_url(ctx.cart) .. "/api/v1/" .. path .. (q ~= "" and ("?" .. q) or "")
end

-- The request as sent: res | nil, err (transport). opts: { once, body (a table: JSON) }.
function M.send(ctx, method, path, query, body, opts)
  local headers = { ["X-AC-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json" }
  if method == "GET" then headers["Cache-Control"] = "no-cache" end
  local payload
  if body ~= nil then
    headers["Content-Type"] = "application/json"
    payload = jraw.encode(body)
  end
  return ctx:request{ method = method, url = M.url(ctx, path, query), headers = headers, body = payload,
    once = opts and opts.once }
end

-- The cart's own error body, when it sent one: { status_code, message, details } | nil
function M.error_body(res)
  local doc = res and res.body and json.decode(res.body)
  if type(doc) == "table" and math.tointeger(tonumber(doc.status_code)) then return doc end
  return nil
end

-- A 2xx answer, or nil, "http 409: <body> (what)", permanent (a 4xx other than 429).
function M.ok(ctx, what, res, err)
  local ok, msg = cd.ok_response(ctx, what, res, err)
  if ok then return ok end
  local permanent = res and res.status >= 400 and res.status < 500 and res.status ~= 429
  return nil, msg, permanent or nil
end

function M.get(ctx, path, query, what)
  local res, err = M.send(ctx, "GET", path, query)
  return M.ok(ctx, what, res, err)
end

-- The decoded JSON of an answer, or nil, "bad JSON in what: …".
function M.decode(res, what)
  local doc, err = jraw.decode(res.body or "")
  if type(doc) ~= "table" then return nil, "bad JSON in " .. what .. ": " .. tostring(err) end
  return doc
end

return M
