-- PrestaShop connector, the webservice's plumbing shared by orders.lua, stock.lua and
-- shipments.lua: the key as the Basic user with an empty password, JSON answers for reads
-- (output_format=JSON), lists with `[]` for an empty one, batched look-ups by id
-- (filter[id]=[1|5|9]) and XML bodies for writes (PrestaShop 8.1 reads no JSON body), every
-- value escaped. Messages name the call, never the URL.
-- Uses: ctx:request (rate limit + retries), cartwright.crypto, cartwright.jsonraw, cartwright.cartdata.

local crypto = require "cartwright.crypto"
local jraw = require "cartwright.jsonraw"
local log = require "cartwright.log"
local cd = require "cartwright.cartdata"
local pkg = require "connectors.prestashop"

local M = {}

M.LOOKUP_MAX = 100 -- ids in one filter[id]=[…|…]: keeps the URL well under common limits

function M.base(ctx)
  return pkg.origin(ctx.cart) .. "/api/"
end

local function headers(ctx, body)
  local basic = crypto.base64(ctx.cart.key .. ":")
  log.secret(basic) -- a shop page that echoes the request must not show it: it decodes to the key
  local h = { ["Authorization"] = "Basic " .. basic, ["Accept"] = "application/json" }
  if body then h["Content-Type"] = "application/xml" end
  return h
end

-- params: { {k, v} } in order; output_format=JSON and id_shop (multishop) are added.
local function url(ctx, path, params)
  local list = {}
  for _, p in ipairs(params or {}) do list[#list + 1] = p end
  list[#list + 1] = { "output_format", "JSON" }
  if ctx.cart.id_shop then list[#list + 1] = { "id_shop", string.format("%d", ctx.cart.id_shop) } end
  return M.base(ctx) .. path .. "?" .. cd.query(list)
end

--- Any call, any answer: -> res | nil, err. body: XML text (PUT, PATCH, POST) or nil.
function M.raw(ctx, method, path, params, body, opts)
  local req = { method = method, url = url(ctx, path, params), headers = headers(ctx, body), body = body }
  for k, v in pairs(opts or {}) do req[k] = v end
  return ctx:request(req)
end

--- 2xx only -> res | nil, "http 401: <the cart's answer> (what)".
function M.call(ctx, method, path, params, what, body, opts)
  local res, err = M.raw(ctx, method, path, params, body, opts)
  return cd.ok_response(ctx, what, res, err)
end

--- A list: GET resource -> raws, docs (each element's bytes and its table; empty lists as [])
--- | nil, err. The webservice answers an empty list with `[]` and a full one with
--- {"<resource>":[…]}; anything else is bad JSON.
function M.list(ctx, resource, params, what)
  local res, err = M.call(ctx, "GET", resource, params, what)
  if not res then return nil, err end
  local body = res.body or ""
  if body:match("^%s*%[%s*%]%s*$") then return {}, {} end
  local raws, docs = jraw.split_decode(body, resource)
  if not raws then return nil, "bad JSON in " .. what .. ": " .. tostring(docs) end
  if #raws ~= #docs then return nil, "bad JSON in " .. what .. ": " .. #raws .. " raws for " .. #docs .. " documents" end
  return raws, docs
end

--- filter[...] value for a list of ids: "[1|5|9]".
function M.ids_filter(ids)
  local out = {}
  for i, id in ipairs(ids) do out[i] = string.format("%d", id) end
  return "[" .. table.concat(out, "|") .. "]"
end

--- Looks up `resource` rows by id into cache[id] = { raw = bytes, doc = table }, only the ids
--- not there yet, LOOKUP_MAX a call. ids: list of integers (0 and duplicates skipped);
--- display: the fields ("[id,email]"), default "full". -> true | nil, err
function M.fill(ctx, cache, resource, ids, what, display)
  local want, seen = {}, {}
  for _, id in ipairs(ids) do
    if id and id > 0 and not cache[id] and not seen[id] then
      seen[id] = true
      want[#want + 1] = id
    end
  end
  table.sort(want)
  for i = 1, #want, M.LOOKUP_MAX do
    local chunk = table.move(want, i, math.min(#want, i + M.LOOKUP_MAX - 1), 1, {})
    local raws, docs = M.list(ctx, resource, { { "display", display or "full" }, { "filter[id]", M.ids_filter(chunk) } },
      what or resource)
    if not raws then return nil, docs end
    for j, doc in ipairs(docs) do
      local id = cd.int(type(doc) == "table" and doc.id)
      if id then cache[id] = { raw = raws[j], doc = doc } end
    end
    for _, id in ipairs(chunk) do cache[id] = cache[id] or false end -- gone (deleted): asked once
  end
  return true
end

---------------------------------------------------------------- XML bodies for writes

-- Characters XML 1.0 cannot carry at all (C0 controls but tab, newline, return).
local BAD = "[%z\1-\8\11\12\14-\31]"
local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }

--- A value as XML text: every markup character escaped; nil, why for a control character or
--- text that is not UTF-8 (PrestaShop's SimpleXML would refuse the whole body).
function M.xml_text(v)
  local s = type(v) == "number" and string.format("%d", v) or tostring(v)
  if s:find(BAD) then return nil, "a control character" end
  if not utf8.len(s) then return nil, "text that is not UTF-8" end
  return (s:gsub("[&<>\"']", ESC))
end

--- <prestashop><resource><k>v</k>…</resource></prestashop>; fields: { {name, value}, … } with
--- names of [a-z_] only. -> xml | nil, err
function M.xml(resource, fields)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n<',
    resource, ">\n" }
  for _, f in ipairs(fields) do
    local name, value = f[1], f[2]
    if not name:match("^[%a_][%w_]*$") then return nil, "bad field name " .. name end
    if value ~= nil then
      local text, why = M.xml_text(value)
      if not text then return nil, resource .. "." .. name .. " holds " .. why end
      out[#out + 1] = "<" .. name .. ">" .. text .. "</" .. name .. ">\n"
    end
  end
  out[#out + 1] = "</" .. resource .. ">\n</prestashop>\n"
  return table.concat(out)
end

return M
