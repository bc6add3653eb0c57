-- WooCommerce connector, stock (REST API wc/v3): finds the products and variations of our SKUs,
-- reads their stock_quantity and sets it, 100 items a call. WooCommerce has no locations and no
-- compare-and-set, so the engine reads just before it pushes (compare = false).
-- Calls: GET products?sku=A,B,… (WooCommerce splits the list at commas and, given a sku, lists
-- variations too: one call finds 100 SKUs wherever they are); POST products/batch for products
-- and products/{id}/variations/batch for the variations of one product (products/batch refuses
-- variations).
-- Uses: api.lua (URLs and auth), cjson.safe, cartwright.cartdata.

local json = require "cjson.safe"
local cd = require "cartwright.cartdata"
local api = require "connectors.woocommerce.api"

local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int

local BATCH_MAX = 100 -- woocommerce_rest_batch_items_limit: over it the cart answers 413
local PER_PAGE = 100
local LIST_CHARS = 3000 -- of one sku= list: the request line stays far below servers' 8 KB
local MAX_PAGES = 20 -- of one listing: 100 unique SKUs fill one page, two with a few extras
-- only what is read: a product's full document is ~3 KB
local FIELDS = "id,sku,type,parent_id,manage_stock,stock_quantity"

-- SKUs in lists for sku=: at most 100 and LIST_CHARS characters each. A SKU with a comma goes
-- alone: WooCommerce matches the whole value as one SKU too, but only a value it was given whole.
local function sku_lists(skus)
  local lists, cur, chars = {}, {}, 0
  local function flush()
    if #cur > 0 then lists[#lists + 1] = cur end
    cur, chars = {}, 0
  end
  for _, sku in ipairs(skus) do
    if sku:find(",", 1, true) then
      lists[#lists + 1] = { sku }
    else
      if #cur >= PER_PAGE or chars + #sku + 1 > LIST_CHARS then flush() end
      cur[#cur + 1] = sku
      chars = chars + #sku + 1
    end
  end
  flush()
  return lists
end

-- Every page of one listing: on_doc(doc) for each object. -> true | nil, err
local function each_page(ctx, path, params, what, on_doc)
  for page = 1, MAX_PAGES do
    local q = { { "per_page", PER_PAGE }, { "page", page }, { "orderby", "id" }, { "order", "asc" },
                { "_fields", FIELDS } }
    for _, p in ipairs(params) do q[#q + 1] = p end
    local label = what .. (page > 1 and (", page " .. page) or "")
    local res, err = api.get(ctx, path, q, label)
    if not res then return nil, err end
    local docs = json.decode(res.body)
    if type(docs) ~= "table" then return nil, "bad JSON in " .. label end
    for _, doc in ipairs(docs) do
      if type(doc) == "table" then on_doc(doc) end
    end
    local pages = tonumber(res.headers["x-wp-totalpages"])
    if #docs == 0 or (pages and page >= pages) or (not pages and #docs < PER_PAGE) then return true end
  end
  return nil, what .. ": more than " .. MAX_PAGES .. " pages"
end

-- The ref of a listed object: a variation's product and its own id, else the product's id.
-- External and grouped products keep no stock.
local function ref_of(doc)
  local id, kind = int(doc.id), nn(doc.type)
  if not id or kind == "external" or kind == "grouped" then return nil end
  if kind == "variation" then
    local parent = int(doc.parent_id)
    return parent and parent > 0 and { product_id = parent, variation_id = id } or nil
  end
  return { product_id = id }
end

--- Finds the products and variations of `skus`: refs { [sku] = { product_id, variation_id? } },
--- missing { sku, … } | nil, err. The cart compares SKUs without case (MySQL's collation):
--- an exact match wins, else one that differs only in case.
local function lookup(ctx, skus)
  local wanted, lower, unique = {}, {}, {}
  for _, sku in ipairs(skus) do
    if type(sku) == "string" and sku ~= "" and not wanted[sku] then
      wanted[sku] = true
      unique[#unique + 1] = sku
      lower[sku:lower()] = lower[sku:lower()] or {}
      table.insert(lower[sku:lower()], sku)
    end
  end
  local refs, exact = {}, {}
  for _, list in ipairs(sku_lists(unique)) do
    local ok, err = each_page(ctx, "products", { { "sku", table.concat(list, ",") } },
      "GET products by sku", function(doc)
        local sku, ref = str(doc.sku), ref_of(doc)
        if not sku or not ref then return end
        if wanted[sku] and not exact[sku] then
          refs[sku], exact[sku] = ref, true
        end
        for _, ours in ipairs(lower[sku:lower()] or {}) do
          if not refs[ours] then refs[ours] = ref end
        end
      end)
    if not ok then return nil, err end
  end
  local missing = {}
  for _, sku in ipairs(skus) do
    if not refs[sku] then missing[#missing + 1] = sku end
  end
  return refs, missing
end

-- The object id a ref names, and its product when it is a variation.
local function target(ref)
  ref = tbl(ref)
  local variation = int(ref.variation_id)
  if variation and variation > 0 then return variation, int(ref.product_id) end
  return int(ref.product_id), nil
end

--- items = { { sku, ref }, … } -> { [sku] = quantity } | nil, err. Read by SKU (one call for
--- 100 items, variations of any product included); an item whose object no longer has its SKU
--- is read by id (products?include=…, products/{id}/variations?include=…). An item whose
--- object is gone or does not manage its stock has no figure.
local function read(ctx, items)
  local by_id, skus = {}, {}
  for _, it in ipairs(items) do
    local id = target(it.ref)
    if id then
      by_id[id] = by_id[id] or {}
      table.insert(by_id[id], it.sku)
      skus[#skus + 1] = it.sku
    end
  end
  local out, found = {}, {}
  local function take(doc)
    local id = int(doc.id)
    if not id or not by_id[id] or found[id] then return end
    found[id] = true
    local q = doc.manage_stock == true and int(doc.stock_quantity) or nil
    for _, sku in ipairs(by_id[id]) do out[sku] = q end
  end
  for _, list in ipairs(sku_lists(skus)) do
    local ok, err = each_page(ctx, "products", { { "sku", table.concat(list, ",") } }, "GET products by sku", take)
    if not ok then return nil, err end
  end
  -- the rest by id: products in lists of 100, variations per product
  local products, variations, parents, asked = {}, {}, {}, {}
  for _, it in ipairs(items) do
    local id, parent = target(it.ref)
    if id and not found[id] and not asked[id] then
      asked[id] = true
      if parent then
        if not variations[parent] then variations[parent], parents[#parents + 1] = {}, parent end
        table.insert(variations[parent], id)
      else
        products[#products + 1] = id
      end
    end
  end
  for i = 1, #products, PER_PAGE do
    local ids = table.concat(products, ",", i, math.min(#products, i + PER_PAGE - 1))
    local ok, err = each_page(ctx, "products", { { "include", ids } }, "GET products by id", take)
    if not ok then return nil, err end
  end
  for _, parent in ipairs(parents) do
    local list = variations[parent]
    for i = 1, #list, PER_PAGE do
      local ids = table.concat(list, ",", i, math.min(#list, i + PER_PAGE - 1))
      local ok, err = each_page(ctx, "products/" .. parent .. "/variations", { { "include", ids } },
        "GET variations of product " .. parent, take)
      if not ok then return nil, err end
    end
  end
  return out
end

-- One batch call: updates = { { id, manage_stock, stock_quantity } }, skus_of = { [id] = { sku } }.
-- Fills results; -> true | nil, err (the call failed as a whole).
local function send_batch(ctx, path, updates, skus_of, results)
  local body = json.encode({ update = updates })
  local res, err = api.call(ctx, "POST", path, {}, "POST " .. path, body)
  if not res then return nil, err end
  local doc = json.decode(res.body)
  if type(doc) ~= "table" then return nil, "bad JSON in POST " .. path end
  local sent = {}
  for _, u in ipairs(updates) do sent[u.id] = u.stock_quantity end
  for _, answer in ipairs(tbl(doc.update)) do
    local id = type(answer) == "table" and int(answer.id)
    local skus = id and skus_of[id]
    if skus then
      local result
      local e = nn(answer.error)
      if type(e) == "table" then
        result = { error = str(e.message) or str(e.code) or "refused" }
      elseif int(answer.stock_quantity) ~= sent[id] then
        -- the cart took the update but not the figure (a product that keeps no stock)
        result = { error = "the cart kept stock_quantity " .. tostring(str(answer.stock_quantity) or "null") }
      else
        result = "ok"
      end
      for _, sku in ipairs(skus) do results[sku] = result end
    end
  end
  return true
end

--- Sets absolute quantities: items = { { sku, ref, quantity }, … } (at most 100). Products
--- go in one products/batch call, the variations of each product in one call of their own.
--- -> { [sku] = "ok" | { error = message } } | nil, err (a call failed; every call sets
--- absolute figures, so a retry of the whole batch is safe).
local function push(ctx, items, _opts)
  local groups, order = {}, {} -- path -> { updates, skus_of }
  local results = {}
  for _, it in ipairs(items) do
    local id, parent = target(it.ref)
    local q = int(it.quantity)
    if not id or not q then
      results[it.sku] = { error = not id and "no product id in the ref" or "no quantity" }
    else
      local path = parent and ("products/" .. parent .. "/variations/batch") or "products/batch"
      local g = groups[path]
      if not g then
        g = { updates = {}, skus_of = {} }
        groups[path], order[#order + 1] = g, path
      end
      if not g.skus_of[id] then
        g.updates[#g.updates + 1] = { id = id, manage_stock = true, stock_quantity = q }
        g.skus_of[id] = {}
      end
      table.insert(g.skus_of[id], it.sku)
    end
  end
  for _, path in ipairs(order) do
    local g = groups[path]
    for i = 1, #g.updates, BATCH_MAX do
      local ok, err = send_batch(ctx, path, table.move(g.updates, i, math.min(#g.updates, i + BATCH_MAX - 1), 1, {}),
        g.skus_of, results)
      if not ok then return nil, err end
    end
  end
  for _, it in ipairs(items) do
    if results[it.sku] == nil then results[it.sku] = { error = "the cart's answer does not name this item" } end
  end
  return results
end

return {
  batch_max = BATCH_MAX,
  multi_location = false,
  compare = false,
  lookup = lookup,
  read = read,
  push = push,
}
