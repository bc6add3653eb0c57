-- Magento connector, the REST API's plumbing shared by orders.lua, stock.lua and shipments.lua:
-- where the API answers ({url}/rest/{store_code}/V1/…), how requests carry the credentials
-- (OAuth 1.0a in the Authorization header, signed anew for every attempt, or a Bearer token),
-- searchCriteria query parameters, and Magento's error bodies. Messages name the call, never
-- the URL or a header.
-- Uses: ctx:request (rate limit + retries), cartwright.oauth1, cjson.safe, cartwright.cartdata.

local json = require "cjson.safe"
local oauth1 = require "cartwright.oauth1"
local cd = require "cartwright.cartdata"

local M = {}

function M.base(ctx)
  local cart = ctx.cart
  return (cart.url:gsub("/+$", "")) .. "/rest/" .. (cart.store_code or "default") .. "/V1/"
end

local function mode(cart)
  local auth = cart.auth or "auto"
  if auth == "auto" then return cart.consumer_key and "oauth" or "bearer" end
  return auth
end

--- One request with the cart's credentials, whatever the cart answers.
--- params: { {k, v} } (nil values left out); body: a Lua table sent as JSON, or nil;
--- opts = { once = true } for a write that must not be repeated by ctx. -> res | nil, err
function M.raw(ctx, method, path, params, body, opts)
  local cart = ctx.cart
  local url = M.base(ctx) .. path
  local list = {}
  for _, p in ipairs(params or {}) do
    if p[2] ~= nil then list[#list + 1] = { p[1], tostring(p[2]) } end
  end
  local text
  if body ~= nil then
    local err
    text, err = json.encode(body)
    if not text then return nil, "cannot encode the request: " .. tostring(err) end
  end
  local headers = { ["Accept"] = "application/json" }
  if text then headers["Content-Type"] = "application/json" end
  local how = mode(cart)
  if how == "bearer" then headers["Authorization"] = "Bearer " .. tostring(cart.token)
  elseif how ~= "oauth" then return nil, "unknown auth '" .. tostring(how) .. "' (auto, oauth or bearer)" end
  local full = #list > 0 and (url .. "?" .. cd.query(list)) or url
  local req = { method = method, url = full, headers = headers, body = text, once = opts and opts.once }
  if how == "oauth" then
    -- a fresh nonce and timestamp for every attempt: Magento refuses a nonce it has seen
    req.before_send = function(r)
      -- the schema allows only the two methods oauth1 knows: a failure is a bug
      local signed = assert(oauth1.sign(method, url, list, { consumer_key = cart.consumer_key,
        consumer_secret = cart.consumer_secret, token = cart.access_token, token_secret = cart.access_token_secret },
        { algo = cart.signature_method or "HMAC-SHA256", version = true }))
      r.headers["Authorization"] = oauth1.header(signed)
    end
  end
  return ctx:request(req)
end

-- Magento's error body {"message":"… %1 …","parameters":[…] | {…}} with the parameters put in.
function M.message(body)
  local doc = json.decode(body or "")
  if type(doc) ~= "table" or type(doc.message) ~= "string" then return nil end
  local msg, params = doc.message, type(doc.parameters) == "table" and doc.parameters or {}
  msg = msg:gsub("%%(%w+)", function(k)
    local v = params[k] or params[tonumber(k) or false]
    if type(v) == "string" or type(v) == "number" then return tostring(v) end
  end)
  local errors = {}
  for _, e in ipairs(type(doc.errors) == "table" and doc.errors or {}) do
    local one = type(e) == "table" and M.message(json.encode(e))
    if one then errors[#errors + 1] = one end
  end
  if #errors > 0 then msg = msg .. ": " .. table.concat(errors, "; ") end
  return msg
end

--- M.raw, 2xx only: res | nil, "http 400: <the cart's message> (what)", permanent (a 4xx other
--- than 429: sending it again cannot help).
function M.call(ctx, method, path, params, what, body, opts)
  local res, err = M.raw(ctx, method, path, params, body, opts)
  if res and (res.status < 200 or res.status >= 300) and res.status ~= 429 then
    local msg = M.message(res.body)
    if msg then
      return nil, string.format("http %d: %s (%s)", res.status, msg, what), res.status >= 400 and res.status < 500
    end
  end
  local ok, oerr = cd.ok_response(ctx, what, res, err)
  if not ok then return nil, oerr, res ~= nil and res.status >= 400 and res.status < 500 and res.status ~= 429 end
  return ok
end

--- GET path -> decoded JSON, res | nil, err
function M.get_json(ctx, path, params, what)
  local res, err = M.call(ctx, "GET", path, params, what)
  if not res then return nil, err end
  local doc, jerr = json.decode(res.body or "")
  if doc == nil then return nil, "bad JSON in " .. what .. ": " .. tostring(jerr) end
  return doc, res
end

--- searchCriteria parameters: groups = { { {field, value, condition}, … (OR) }, … (AND) },
--- sort = { {field, "ASC"|"DESC"} }, size, page -> { {k, v} }
function M.criteria(groups, sort, size, page)
  local out = {}
  for g, filters in ipairs(groups) do
    for f, flt in ipairs(filters) do
      local pre = string.format("searchCriteria[filter_groups][%d][filters][%d]", g - 1, f - 1)
      out[#out + 1] = { pre .. "[field]", flt[1] }
      out[#out + 1] = { pre .. "[value]", flt[2] }
      out[#out + 1] = { pre .. "[condition_type]", flt[3] or "eq" }
    end
  end
  for i, s in ipairs(sort or {}) do
    out[#out + 1] = { string.format("searchCriteria[sortOrders][%d][field]", i - 1), s[1] }
    out[#out + 1] = { string.format("searchCriteria[sortOrders][%d][direction]", i - 1), s[2] or "ASC" }
  end
  if size then out[#out + 1] = { "searchCriteria[pageSize]", size } end
  if page then out[#out + 1] = { "searchCriteria[currentPage]", page } end
  return out
end

return M
