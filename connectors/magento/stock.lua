-- Magento connector, stock (REST V1): finds the products of our SKUs and sets their quantities,
-- either as Inventory Management (MSI) source items, each source a location of the cart, or, with
-- stock_api = "legacy" (MSI disabled), as each product's catalog stock item (one stock). Magento
-- has no compare-and-set: the engine reads just before it pushes (compare = false).
-- Calls: GET products?searchCriteria sku in (…) (100 SKUs a call; simple, virtual and
-- downloadable products hold stock, a configurable's children carry the SKUs); MSI: GET
-- inventory/sources, GET and POST inventory/source-items (a POST is validated whole: one bad
-- item saves nothing, so a refused batch is split in halves until the bad items stand alone;
-- a store with Web API input limits on takes 20 items a call); legacy: PUT
-- products/{sku}/stockItems/{item_id}, one product a call.
-- Uses: api.lua (URLs, auth, searchCriteria, error bodies), cjson.safe, cartwright.cartdata.

local cd = require "cartwright.cartdata"
local api = require "connectors.magento.api"
local http = require "cartwright.http"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

local BATCH_MAX = 100
local LIMITED = 20 -- source items a call when the store's Web API input limits are on
local SKUS_PER_CALL = 100
local LIST_CHARS = 3000 -- of one sku list: the request line stays far below servers' 8 KB
local STOCKED = { simple = true, virtual = true, downloadable = true }
local DEFAULT_SOURCE = "default"
local PRODUCT_FIELDS = "items[id,sku,type_id,extension_attributes[stock_item[item_id,qty]]],total_count"

local function legacy(ctx) return ctx.cart.stock_api == "legacy" end

-- skus in lists of SKUS_PER_CALL and at most LIST_CHARS characters; a SKU with a comma goes
-- alone (the `in` list splits at commas)
local function chunks(skus)
  local out, cur, chars = {}, {}, 0
  for _, sku in ipairs(skus) do
    if sku:find(",", 1, true) then out[#out + 1] = { sku }
    else
      if #cur == SKUS_PER_CALL or (#cur > 0 and chars + #sku + 1 > LIST_CHARS) then out[#out + 1], cur, chars = cur, {}, 0 end
      cur[#cur + 1] = sku
      chars = chars + #sku + 1
    end
  end
  if #cur > 0 then out[#out + 1] = cur end
  return out
end

-- The products named in one list: { product doc, … } | nil, err
local function products(ctx, list, what)
  local cond = #list == 1 and "eq" or "in"
  local params = api.criteria({ { { "sku", table.concat(list, ","), cond } } }, nil, 2 * SKUS_PER_CALL, 1)
  params[#params + 1] = { "fields", PRODUCT_FIELDS }
  local doc, err = api.get_json(ctx, "products", params, what)
  if not doc then return nil, err end
  if type(doc) ~= "table" or type(doc.items) ~= "table" then return nil, "bad JSON in " .. what end
  return doc.items
end

-- Each wanted SKU's product among docs: an exact match, else one that differs only in case
-- (MySQL's collation compares SKUs without case).
local function match(list, docs)
  local exact, lower = {}, {}
  for _, p in ipairs(docs) do
    local sku = str(tbl(p).sku)
    if sku then
      exact[sku] = p
      lower[sku:lower()] = lower[sku:lower()] or p
    end
  end
  local out = {}
  for _, sku in ipairs(list) do out[sku] = exact[sku] or lower[sku:lower()] end
  return out
end

--- refs { [sku] = { id, sku = the cart's spelling, item_id = the stock item's id } }, missing.
--- A SKU whose product holds no stock of its own (a configurable, a bundle) is missing.
local function lookup(ctx, skus)
  local refs, missing = {}, {}
  for i, list in ipairs(chunks(skus)) do
    local docs, err = products(ctx, list, "products by sku, call " .. i)
    if not docs then return nil, err end
    local found = match(list, docs)
    for _, sku in ipairs(list) do
      local p = found[sku]
      local si = p and tbl(tbl(p.extension_attributes).stock_item)
      if p and STOCKED[nn(p.type_id)] and int(p.id) then
        refs[sku] = { id = int(p.id), sku = str(p.sku), item_id = int(si.item_id) }
      else
        missing[#missing + 1] = sku
      end
    end
  end
  return refs, missing
end

--- The cart's sources: { { id = source_code, name, primary } }, the default source primary
--- (else the first). Legacy: the one default stock.
local function locations(ctx)
  if legacy(ctx) then return { { id = DEFAULT_SOURCE, name = "Default Stock", primary = true } } end
  local doc, err = api.get_json(ctx, "inventory/sources", api.criteria({}, nil, 200, 1), "GET inventory/sources")
  if not doc then return nil, err end
  local out, primary = {}, nil
  for _, s in ipairs(tbl(tbl(doc).items)) do
    local code = str(tbl(s).source_code)
    if code and s.enabled ~= false and s.enabled ~= 0 then
      out[#out + 1] = { id = code, name = str(s.name) or code }
      if code == DEFAULT_SOURCE then primary = out[#out] end
    end
  end
  if #out == 0 then return nil, "the store has no enabled source (Stores > Inventory > Sources)" end
  ;(primary or out[1]).primary = true
  return out
end

local function cart_sku(it) return str(tbl(it.ref).sku) or it.sku end

--- { [sku] = quantity } at each item's location (MSI) or of its stock item (legacy).
local function read(ctx, items)
  local out = {}
  if legacy(ctx) then
    local skus, of = {}, {}
    for _, it in ipairs(items) do
      skus[#skus + 1] = cart_sku(it)
      of[cart_sku(it)] = of[cart_sku(it)] or {}
      table.insert(of[cart_sku(it)], it.sku)
    end
    for i, list in ipairs(chunks(skus)) do
      local docs, err = products(ctx, list, "stock items by sku, call " .. i)
      if not docs then return nil, err end
      for sku, p in pairs(match(list, docs)) do
        local qty = tonumber(nn(tbl(tbl(tbl(p).extension_attributes).stock_item).qty))
        for _, ours in ipairs(of[sku] or {}) do out[ours] = qty and math.tointeger(qty // 1) end
      end
    end
    return out
  end
  local by_loc = {}
  for _, it in ipairs(items) do
    local loc = it.location or DEFAULT_SOURCE
    by_loc[loc] = by_loc[loc] or { skus = {}, of = {} }
    local g, sku = by_loc[loc], cart_sku(it)
    if not g.of[sku:lower()] then g.skus[#g.skus + 1] = sku end
    g.of[sku:lower()] = g.of[sku:lower()] or {}
    table.insert(g.of[sku:lower()], it.sku)
  end
  for loc, g in pairs(by_loc) do
    for i, list in ipairs(chunks(g.skus)) do
      local what = "source items of " .. loc .. ", call " .. i
      local params = api.criteria({ { { "sku", table.concat(list, ","), #list == 1 and "eq" or "in" } },
        { { "source_code", loc, "eq" } } }, nil, 2 * SKUS_PER_CALL, 1)
      local doc, err = api.get_json(ctx, "inventory/source-items", params, what)
      if not doc then return nil, err end
      if type(doc) ~= "table" or type(doc.items) ~= "table" then return nil, "bad JSON in " .. what end
      for _, si in ipairs(doc.items) do
        local sku, qty = str(tbl(si).sku), tonumber(nn(si.quantity))
        for _, ours in ipairs(sku and g.of[sku:lower()] or {}) do out[ours] = qty and math.tointeger(qty // 1) end
      end
    end
  end
  return out
end

-- The store's input limit answer ("Maximum items of type … is 20")
local function over_limit(err) return err:match("^http 400: Maximum items of type") ~= nil end

-- POSTs source items; a batch the store refuses (400) is split until each refused item stands
-- alone with its error. Fills results; -> true | nil, err (a call failed as a whole).
local function save(ctx, batch, results, what)
  local body = { sourceItems = {} }
  for i, b in ipairs(batch) do body.sourceItems[i] = b.item end
  local res, err, permanent = api.call(ctx, "POST", "inventory/source-items", {}, what, body)
  if res then
    for _, b in ipairs(batch) do results[b.sku] = "ok" end
    return true
  end
  -- a refusal of the items (400) is theirs; any other (401, 403, 404, a timeout) is the call's
  if not permanent or not err:match("^http 400") then return nil, err end
  if #batch > 1 then
    local size = over_limit(err) and LIMITED or math.ceil(#batch / 2)
    for first = 1, #batch, size do
      local ok, serr = save(ctx, table.move(batch, first, math.min(#batch, first + size - 1), 1, {}), results, what)
      if not ok then return nil, serr end
    end
    return true
  end
  local msg = err:gsub("^http %d+: ", ""):gsub(" %(" .. what:gsub("%p", "%%%0") .. "%)$", "")
  for _, b in ipairs(batch) do results[b.sku] = { error = msg } end
  return true
end

local function whole(q)
  q = tonumber(q)
  return q and q == q and q ~= math.huge and q ~= -math.huge and q == math.floor(q) and math.tointeger(q) or nil
end

local function push_msi(ctx, items, results)
  local batch = {}
  for _, it in ipairs(items) do
    local q = whole(it.quantity)
    if not q then results[it.sku] = { error = "quantity must be a whole number (got " .. tostring(it.quantity) .. ")" }
    else
      batch[#batch + 1] = { sku = it.sku, item = { sku = cart_sku(it), source_code = it.location or DEFAULT_SOURCE,
        quantity = q, status = q > 0 and 1 or 0 } }
    end
  end
  for first = 1, #batch, BATCH_MAX do
    local part = table.move(batch, first, math.min(#batch, first + BATCH_MAX - 1), 1, {})
    local ok, err = save(ctx, part, results, "POST inventory/source-items")
    if not ok then return nil, err end
  end
  return true
end

local function push_legacy(ctx, items, results)
  for _, it in ipairs(items) do
    local q, item_id = whole(it.quantity), int(tbl(it.ref).item_id)
    if not q then results[it.sku] = { error = "quantity must be a whole number (got " .. tostring(it.quantity) .. ")" }
    elseif not item_id then results[it.sku] = { error = "no stock item id in the ref (look the SKU up again)" }
    else
      local what = "PUT stockItems of " .. cart_sku(it)
      local res, err, permanent = api.call(ctx, "PUT", "products/" .. http.urlencode(cart_sku(it)) .. "/stockItems/"
        .. item_id, {}, what, { stockItem = { qty = q, is_in_stock = q > 0 } })
      if res then results[it.sku] = "ok"
      elseif permanent and not err:match("^http 40[13]") then results[it.sku] = { error = (err:gsub("^http %d+: ", "")) }
      else return nil, err end
    end
  end
  return true
end

--- Sets absolute quantities: { [sku] = "ok" | { error = message } } | nil, err.
local function push(ctx, items, _opts)
  local results = {}
  local ok, err
  if legacy(ctx) then ok, err = push_legacy(ctx, items, results) else ok, err = push_msi(ctx, items, results) end
  if not ok then return nil, err end
  for _, it in ipairs(items) do
    if results[it.sku] == nil then results[it.sku] = { error = "not sent" } end
  end
  return results
end

return {
  batch_max = BATCH_MAX,
  multi_location = true, -- MSI sources; legacy: the one default stock
  compare = false,
  -- MSI holds a sale back as a reservation and lowers the source only when it ships: the
  -- figure we set for a source must not take this cart's own open orders off again. The legacy
  -- stock item drops at the sale, like the other carts.
  reserves_own_orders = function(cart) return cart.stock_api ~= "legacy" end,
  locations = locations,
  lookup = lookup,
  read = read,
  push = push,
}
