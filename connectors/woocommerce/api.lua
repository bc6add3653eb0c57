-- WooCommerce connector, the REST API's plumbing shared by orders.lua and stock.lua: where the
-- API answers (pretty or plain permalinks, found once per ctx), how requests carry the keys
-- (Basic over https, OAuth 1.0a one-legged over http, or the query string) and the check of
-- the answer. Messages name the call, never the URL, which may carry keys or a signature.
-- Uses: ctx:request (rate limit + retries), cartwright.oauth1, cartwright.crypto, cartwright.cartdata.

local crypto = require "cartwright.crypto"
local oauth1 = require "cartwright.oauth1"
local cd = require "cartwright.cartdata"

local M = {}

function M.site(ctx)
  return (ctx.cart.url:gsub("/+$", ""))
end

local function auth_mode(cart)
  local mode = cart.auth or "auto"
  if mode == "auto" then return cart.url:match("^[Hh][Tt][Tt][Pp][Ss]://") and "basic" or "oauth" end
  return mode
end

-- One-legged OAuth as WooCommerce checks it: no token, no oauth_version, parameters in the query
-- string (a POST's JSON body is not signed), key = secret .. "&" (cartwright.oauth1).
local function oauth_sign(cart, method, url, params)
  -- HMAC-SHA256 is always known to oauth1.sign: a failure here is a bug, not the cart's doing
  local oauth = assert(oauth1.sign(method, url, params,
    { consumer_key = cart.consumer_key, consumer_secret = cart.consumer_secret }))
  local signed = {}
  for i, p in ipairs(params) do signed[i] = p end
  for _, p in ipairs(oauth) do signed[#signed + 1] = p end
  return signed
end

-- Where the API answers: {url}/wp-json/wc/v3/{path} (pretty permalinks), or, on a site with
-- plain permalinks, {url}/?rest_route=/wc/v3/{path} with the other parameters after it (and
-- signed with them: WooCommerce's OAuth check takes every query parameter). A path that starts
-- with "/" names its own namespace (an extension's: "/wc-shipment-tracking/v3/…"). -> url, params
local function endpoint(ctx, path, plain)
  local route = path:sub(1, 1) == "/" and path or ("/wc/v3/" .. path)
  if plain then return M.site(ctx) .. "/", { { "rest_route", route } } end
  return M.site(ctx) .. "/wp-json" .. route, {}
end

-- permalinks = "auto": the first /wp-json/ request that gets a 404 page that is not the REST
-- API's own JSON error tries ?rest_route= once; when that answers, this ctx keeps to it.
local plain_found = setmetatable({}, { __mode = "k" }) -- ctx -> true

-- One request with the cart's auth: the response, or nil, err. body: JSON text or nil.
local function send(ctx, method, path, params, plain, body)
  local cart = ctx.cart
  local url, list = endpoint(ctx, path, plain)
  local headers = { ["Accept"] = "application/json" }
  if body then headers["Content-Type"] = "application/json" end
  for _, p in ipairs(params) do if p[2] ~= nil then list[#list + 1] = { p[1], tostring(p[2]) } end end
  local mode = auth_mode(cart)
  if mode == "basic" then
    headers["Authorization"] = "Basic " .. crypto.base64(cart.consumer_key .. ":" .. cart.consumer_secret)
  elseif mode == "query" then
    list[#list + 1] = { "consumer_key", cart.consumer_key }
    list[#list + 1] = { "consumer_secret", cart.consumer_secret }
  elseif mode ~= "oauth" then
    return nil, "unknown auth '" .. tostring(mode) .. "' (auto, basic, oauth or query)"
  end
  local req = { method = method, url = url, headers = headers, body = body }
  -- OAuth signs every attempt anew: WooCommerce refuses a nonce it has seen, so a retry
  -- of the same signed URL would fail with 401
  req.before_send = function(r)
    local q = mode == "oauth" and oauth_sign(cart, method, url, list) or list
    r.url = #q > 0 and (url .. "?" .. cd.query(q)) or url
  end
  return ctx:request(req)
end

--- An API call with the cart's auth, in the permalink form the cart uses, whatever the cart
--- answers. params: { {k, v} }; body: JSON text (POST, PUT). -> res (any status) | nil, err.
function M.raw(ctx, method, path, params, body)
  local form = ctx.cart.permalinks or "auto"
  local key = rawget(ctx, "root") or ctx -- a once() view shares what its ctx found
  local plain = form == "plain" or (form == "auto" and plain_found[key] == true)
  local res, err = send(ctx, method, path, params, plain, body)
  if res and res.status == 404 and form == "auto" and not plain
      and not (res.body or ""):match("^%s*{") then
    local pres, perr = send(ctx, method, path, params, true, body)
    if pres and pres.status ~= 404 then plain_found[key] = true end
    if pres then res, err = pres, perr end
  end
  return res, err
end

--- M.raw, 2xx only. -> res | nil, "http 401: <body> (what)".
function M.call(ctx, method, path, params, what, body)
  local res, err = M.raw(ctx, method, path, params, body)
  return cd.ok_response(ctx, what, res, err)
end

--- A view of ctx that sends each request once, with no retry of a 5xx or a timeout: for a
--- POST that creates something, where a retry after the cart applied it would create it twice
--- (the engine asks find before it tries again). Limiter, stats and origin are ctx's own.
function M.once(ctx)
  local cart = setmetatable({ max_attempts = 1 }, { __index = ctx.cart })
  return setmetatable({ cart = cart, root = rawget(ctx, "root") or ctx }, { __index = ctx })
end

--- GET path -> res | nil, err (M.call).
function M.get(ctx, path, params, what)
  return M.call(ctx, "GET", path, params, what)
end

return M
