-- PrestaShop connector, stock: a SKU is a combination's reference (a product's variant) or, for
-- a product without combinations, the product's reference; its figure is the quantity of its
-- stock_availables row (id_product, id_product_attribute; 0 for a product without combinations).
-- PrestaShop has one figure per row (no locations) and no compare-and-set, so the engine reads
-- just before it pushes; the webservice sets one row per request, with an XML body.
-- Uses: api.lua, cartwright.cartdata.

local json = require "cjson.safe"
local cd = require "cartwright.cartdata"
local api = require "connectors.prestashop.api"

local int = cd.int

local M = { batch_max = 50, multi_location = false, compare = false }

local LIST_CHARS = 2500 -- the filter's characters in one look-up call, besides LOOKUP_MAX values

-- A SKU a filter[reference]=[…] can carry: `|` separates values, `,` makes an interval and
-- brackets end the list, so a SKU with any of them cannot be asked for.
local function askable(sku)
  return type(sku) == "string" and sku ~= "" and not sku:find("[|,%[%]]") and sku == sku:match("^%s*(.-)%s*$")
end

-- Lists of values cut into calls of at most LOOKUP_MAX values and LIST_CHARS characters.
local function chunks(values)
  local out, cur, chars = {}, {}, 0
  for _, v in ipairs(values) do
    if #cur > 0 and (#cur >= api.LOOKUP_MAX or chars + #v + 1 > LIST_CHARS) then
      out[#out + 1], cur, chars = cur, {}, 0
    end
    cur[#cur + 1], chars = v, chars + #v + 1
  end
  if #cur > 0 then out[#out + 1] = cur end
  return out
end

-- Rows of `resource` whose reference is one of `skus` -> { [sku] = doc } (an exact match wins,
-- else one that differs only in case, as MySQL compares them) | nil, err
local function by_reference(ctx, resource, fields, skus)
  local found, lower = {}, {}
  for _, s in ipairs(skus) do
    local k = s:lower()
    lower[k] = lower[k] or {}
    table.insert(lower[k], s)
  end
  for _, list in ipairs(chunks(skus)) do
    local raws, docs = api.list(ctx, resource, { { "display", fields },
      { "filter[reference]", "[" .. table.concat(list, "|") .. "]" } }, "stock lookup (" .. resource .. ")")
    if not raws then return nil, docs end
    for _, d in ipairs(docs) do
      local ref = type(d) == "table" and type(d.reference) == "string" and d.reference
      for _, s in ipairs(ref and lower[ref:lower()] or {}) do
        if ref == s or not found[s] then found[s] = d end
      end
    end
  end
  return found
end

-- stock_availables rows of these products -> { ["product:attribute"] = row,
-- ["combinations:product"] = true for a product that has combinations } | nil, err
local function rows_of(ctx, products)
  local ids, seen = {}, {}
  for _, p in ipairs(products) do if not seen[p] then seen[p] = true ids[#ids + 1] = p end end
  table.sort(ids)
  local rows = {}
  for i = 1, #ids, api.LOOKUP_MAX do
    local chunk = table.move(ids, i, math.min(#ids, i + api.LOOKUP_MAX - 1), 1, {})
    local params = { { "display", "[id,id_product,id_product_attribute,id_shop,quantity]" },
      { "filter[id_product]", api.ids_filter(chunk) } }
    local raws, docs = api.list(ctx, "stock_availables", params, "stock lookup (stock_availables)")
    if not raws then return nil, docs end
    for _, d in ipairs(docs) do
      local key = string.format("%d:%d", int(d.id_product) or -1, int(d.id_product_attribute) or -1)
      -- multistore: the cart's shop, else the first row (a shop group sharing its stock has one)
      if not rows[key] or int(d.id_shop) == ctx.cart.id_shop then rows[key] = d end
      if (int(d.id_product_attribute) or 0) > 0 then rows["combinations:" .. (int(d.id_product) or -1)] = true end
    end
  end
  return rows
end

--- skus -> refs { [sku] = { stock_id, product_id, attribute_id } }, missing | nil, err
function M.lookup(ctx, skus)
  local ask, missing = {}, {}
  for _, s in ipairs(skus) do
    if askable(s) then ask[#ask + 1] = s else missing[#missing + 1] = s end
  end
  local combos, err = by_reference(ctx, "combinations", "[id,id_product,reference]", ask)
  if not combos then return nil, err end
  local rest = {}
  for _, s in ipairs(ask) do if not combos[s] then rest[#rest + 1] = s end end
  local products = {}
  if #rest > 0 then
    products, err = by_reference(ctx, "products", "[id,reference]", rest)
    if not products then return nil, err end
  end
  local want, pids = {}, {}
  for _, s in ipairs(ask) do
    local c, p = combos[s], products[s]
    if c then
      want[s] = { int(c.id_product), int(c.id) }
    elseif p then
      want[s] = { int(p.id), 0 }
    end
    if want[s] then pids[#pids + 1] = want[s][1] end
  end
  local rows = {}
  if #pids > 0 then
    rows, err = rows_of(ctx, pids)
    if not rows then return nil, err end
  end
  local refs = {}
  for _, s in ipairs(ask) do
    local w = want[s]
    local row = w and rows[string.format("%d:%d", w[1], w[2])]
    -- a product with combinations (its rows say so, on every version): its own row is their sum
    if w and w[2] == 0 and rows["combinations:" .. w[1]] then row = nil end
    if row then
      refs[s] = { stock_id = int(row.id), product_id = w[1], attribute_id = w[2] }
    else
      missing[#missing + 1] = s
    end
  end
  return refs, missing
end

--- items { { sku, ref } } -> { [sku] = quantity } | nil, err (a row gone: no figure)
function M.read(ctx, items)
  local by_id, ids = {}, {}
  for _, it in ipairs(items) do
    local id = type(it.ref) == "table" and int(it.ref.stock_id)
    if id then
      if not by_id[id] then ids[#ids + 1] = id end
      by_id[id] = by_id[id] or {}
      table.insert(by_id[id], it.sku)
    end
  end
  local out = {}
  for i = 1, #ids, api.LOOKUP_MAX do
    local chunk = table.move(ids, i, math.min(#ids, i + api.LOOKUP_MAX - 1), 1, {})
    local raws, docs = api.list(ctx, "stock_availables", { { "display", "[id,quantity]" },
      { "filter[id]", api.ids_filter(chunk) } }, "stock read")
    if not raws then return nil, docs end
    for _, d in ipairs(docs) do
      for _, sku in ipairs(by_id[int(d.id)] or {}) do out[sku] = int(d.quantity) end
    end
  end
  return out
end

-- PrestaShop 1.7 has no PATCH (405): the row is read and PUT whole with the new quantity, so
-- its other settings (out_of_stock, location) stay the merchant's.
local no_patch = setmetatable({}, { __mode = "k" }) -- ctx -> true
local PUT_FIELDS = { "id_product", "id_product_attribute", "id_shop", "id_shop_group", "depends_on_stock",
  "out_of_stock", "location" }

local function put_whole(ctx, id, quantity, what)
  local res, err = api.call(ctx, "GET", "stock_availables/" .. id, {}, what .. " (read for PUT)")
  if not res then return nil, err end
  local doc = json.decode(res.body)
  local row = type(doc) == "table" and doc.stock_available
  if type(row) ~= "table" then return nil, "bad JSON in " .. what end
  local fields = { { "id", id } }
  for _, f in ipairs(PUT_FIELDS) do fields[#fields + 1] = { f, cd.str(cd.nn(row[f])) or (f == "location" and "" or nil) } end
  fields[#fields + 1] = { "quantity", quantity }
  local body, xerr = api.xml("stock_available", fields)
  if not body then return nil, xerr end
  return api.raw(ctx, "PUT", "stock_availables/" .. id, {}, body)
end

-- One row: -> "ok" | { error = … } | nil, err (the call failed: the batch is retried whole)
local function set_one(ctx, it)
  local id = type(it.ref) == "table" and int(it.ref.stock_id)
  local q = int(it.quantity)
  if not id or not q then return { error = "no stock_availables id or quantity for " .. tostring(it.sku) } end
  local what = "stock push (stock_availables " .. id .. ")"
  local res, err
  local key = rawget(ctx, "root") or ctx
  if not no_patch[key] then
    local body = assert(api.xml("stock_available", { { "id", id }, { "quantity", q } }))
    res, err = api.raw(ctx, "PATCH", "stock_availables/" .. id, {}, body)
    if res and res.status == 405 then no_patch[key] = true end
  end
  if no_patch[key] then res, err = put_whole(ctx, id, q, what) end
  if not res then return nil, err .. " (" .. what .. ")" end
  if res.status >= 200 and res.status < 300 then
    local doc = json.decode(res.body)
    local got = type(doc) == "table" and type(doc.stock_available) == "table" and int(doc.stock_available.quantity)
    if got and got ~= q then return { error = "the cart kept quantity " .. got .. " (sent " .. q .. ")" } end
    return "ok"
  end
  local _, msg = ctx:fail(res)
  if res.status >= 400 and res.status < 500 and res.status ~= 429 then return { error = msg } end
  return nil, msg .. " (" .. what .. ")"
end

--- items { { sku, ref, quantity } } -> { [sku] = "ok" | { error } } | nil, err. opts.key is not
--- used: the webservice has no idempotency keys, and absolute figures may be sent twice.
function M.push(ctx, items, _opts)
  local out = {}
  for _, it in ipairs(items) do
    local r, err = set_one(ctx, it)
    if r == nil then return nil, err end
    out[it.sku] = r
  end
  return out
end

return M
