-- Cart.com connector, stock: finds the store's products and variants for our SKUs with the
-- query syntax (item_number=eq:A OR eq:B …, 50 SKUs a call on variant_inventory and on
-- products), reads their figures by id the same way, and sets each figure with POST
-- /inventory/set, the API's only write (one item a call). Cart.com keeps one figure per
-- product or variant (no locations in the inventory API) and has no compare-and-set: the engine
-- reads just before it pushes. Needs the token's `catalog` scope (`read_catalog` to look up).
-- Uses: api.lua, cartwright.jsonraw, cartwright.cartdata.

local jraw = require "cartwright.jsonraw"
local cd = require "cartwright.cartdata"
local api = require "connectors.cartcom.api"

local nn, tbl, int, str = cd.nn, cd.tbl, cd.int, cd.str

local PER_CALL = 50 -- values OR-ed in one query
local QUERY_MAX = 1500 -- encoded characters of one OR list: the URL stays well under 2,048 (a default IIS limit)
local PAGE = 250

local M = { batch_max = 25, multi_location = false, compare = false }

-- Every element of a list result, following next_page (the pager stops a cart that loops).
local function list_all(ctx, resource, query, what)
  local out, pager = {}, ctx:pager(what)
  local page = 1
  while true do
    local n, perr = pager:next(page)
    if not n then return nil, perr end
    local q = { table.unpack(query) }
    q[#q + 1] = { "count", PAGE }
    q[#q + 1] = { "page", page }
    local res, err = api.send(ctx, "GET", resource, q)
    -- an out-of-range page (or, on some stores, an empty first page) is a 404 with the cart's body
    local e = res and res.status == 404 and api.error_body(res)
    if e then return out end
    res, err = api.ok(ctx, what, res, err)
    if not res then return nil, err end
    local docs, derr = jraw.decode(res.body)
    if type(docs) ~= "table" or type(docs[resource]) ~= "table" then
      return nil, "bad JSON in " .. what .. ": " .. tostring(derr or ("no " .. resource .. " list"))
    end
    for _, d in ipairs(docs[resource]) do out[#out + 1] = tbl(d) end
    if nn(docs.next_page) == nil or #docs[resource] == 0 then return out end
    page = page + 1
  end
end

-- A SKU the OR list can carry: the syntax splits values at " OR " / " AND ", so a SKU with a
-- space is asked alone (GET /inventory?item_number=, exact).
local function listable(sku) return not sku:find("%s") end

-- The characters a value takes in the query once encoded, with its "eq:" and " OR ": every
-- byte outside A-Z a-z 0-9 - . _ ~ is three.
local function encoded_len(v)
  local _, special = v:gsub("[^%w%-%._~]", "")
  return #v + 2 * special + #"eq%3A" + #"%20OR%20"
end

-- Groups of values, PER_CALL and QUERY_MAX encoded characters at most each.
local function chunks(values)
  local out, cur, len = {}, {}, 0
  for _, v in ipairs(values) do
    local n = encoded_len(v)
    if #cur >= PER_CALL or (len + n > QUERY_MAX and #cur > 0) then out[#out + 1], cur, len = cur, {}, 0 end
    cur[#cur + 1], len = v, len + n
  end
  if #cur > 0 then out[#out + 1] = cur end
  return out
end

local function or_list(values)
  local t = {}
  for i, v in ipairs(values) do t[i] = "eq:" .. v end
  return table.concat(t, " OR ")
end

-- The store compares without case (SQL Server): an exact match wins, else one in other case.
local function best(found, sku)
  return found[sku] or found[sku:lower()]
end

function M.lookup(ctx, skus)
  local refs, missing, singles, listed = {}, {}, {}, {}
  for _, sku in ipairs(skus) do
    if listable(sku) then listed[#listed + 1] = sku else singles[#singles + 1] = sku end
  end
  local found = {}
  local function note(item_number, ref, kind)
    local k = str(item_number)
    if not k then return end
    for _, key in ipairs{ k, k:lower() } do
      -- a variant wins over a product of the same number; the first of each kind wins
      local have = found[key]
      if not have or (have.kind == "product" and kind == "variant") then found[key] = { ref = ref, kind = kind } end
    end
  end
  for i, group in ipairs(chunks(listed)) do
    local q = { { "item_number", or_list(group) } }
    local vs, err = list_all(ctx, "variant_inventory", { q[1], { "fields", "id,product_id,item_number" } },
      "variant_inventory lookup " .. i)
    if not vs then return nil, err end
    for _, v in ipairs(vs) do
      if int(v.id) and int(v.product_id) then
        note(v.item_number, { product_id = int(v.product_id), variant_inventory_id = int(v.id) }, "variant")
      end
    end
    local ps, perr = list_all(ctx, "products", { q[1], { "fields", "id,item_number" } }, "products lookup " .. i)
    if not ps then return nil, perr end
    for _, p in ipairs(ps) do
      if int(p.id) then note(p.item_number, { product_id = int(p.id) }, "product") end
    end
  end
  for _, sku in ipairs(singles) do
    local res, err = api.send(ctx, "GET", "inventory", { { "item_number", sku } })
    if not (res and res.status == 404 and api.error_body(res)) then
      res, err = api.ok(ctx, "inventory lookup of " .. sku, res, err)
      if not res then return nil, err end
      local d = tbl(jraw.decode(res.body))
      if int(d.product_id) then
        note(d.item_number or sku, { product_id = int(d.product_id), variant_inventory_id = int(d.variant_inventory_id) },
          int(d.variant_inventory_id) and "variant" or "product")
      end
    end
  end
  for _, sku in ipairs(skus) do
    local f = best(found, sku)
    if f then refs[sku] = f.ref else missing[#missing + 1] = sku end
  end
  return refs, missing
end

-- items = { { sku, ref } } -> { [sku] = quantity }: by id, OR-ed, on variant_inventory and products
function M.read(ctx, items)
  local by_variant, by_product, vids, pids = {}, {}, {}, {}
  for _, it in ipairs(items) do
    local ref = tbl(it.ref)
    local v, p = int(ref.variant_inventory_id), int(ref.product_id)
    if v then
      if not by_variant[v] then vids[#vids + 1] = string.format("%d", v) end
      by_variant[v] = by_variant[v] or {}
      table.insert(by_variant[v], it.sku)
    elseif p then
      if not by_product[p] then pids[#pids + 1] = string.format("%d", p) end
      by_product[p] = by_product[p] or {}
      table.insert(by_product[p], it.sku)
    end
  end
  local out = {}
  for i, group in ipairs(chunks(vids)) do
    local vs, err = list_all(ctx, "variant_inventory", { { "id", or_list(group) }, { "fields", "id,inventory" } },
      "variant_inventory read " .. i)
    if not vs then return nil, err end
    for _, v in ipairs(vs) do
      for _, sku in ipairs(by_variant[int(v.id) or -1] or {}) do out[sku] = int(v.inventory) end
    end
  end
  for i, group in ipairs(chunks(pids)) do
    local ps, err = list_all(ctx, "products", { { "id", or_list(group) }, { "fields", "id,quantity_on_hand" } },
      "products read " .. i)
    if not ps then return nil, err end
    for _, p in ipairs(ps) do
      for _, sku in ipairs(by_product[int(p.id) or -1] or {}) do out[sku] = int(p.quantity_on_hand) end
    end
  end
  return out
end

-- One POST /inventory/set per item (absolute, so a retry sets the same figure again). A 4xx
-- other than 429 is that item's error; anything else fails the whole call, which the engine
-- retries.
function M.push(ctx, items)
  local results = {}
  for _, it in ipairs(items) do
    local ref = tbl(it.ref)
    local body = { quantity = it.quantity }
    if int(ref.variant_inventory_id) then body.variant_inventory_id = int(ref.variant_inventory_id)
    elseif int(ref.product_id) then body.product_id = int(ref.product_id)
    else body.item_number = it.sku end
    local what = "inventory/set of " .. it.sku
    local res, err = api.send(ctx, "POST", "inventory/set", nil, body)
    local ok, msg, permanent = api.ok(ctx, what, res, err)
    if ok then
      local d = tbl(jraw.decode(res.body))
      if int(d.quantity) ~= it.quantity then
        results[it.sku] = { error = "the cart kept quantity " .. tostring(int(d.quantity)) .. ", not " .. it.quantity }
      else
        results[it.sku] = "ok"
      end
    elseif permanent then
      results[it.sku] = { error = msg }
    else
      return nil, msg
    end
  end
  return results
end

return M
