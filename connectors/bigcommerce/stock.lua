-- BigCommerce connector, stock (Catalog and Inventory V3): the store's locations, the ids of
-- our SKUs (GET /v3/catalog/variants?sku:in=…), the figures at a location (GET
-- /v3/inventory/items) and absolute adjustments of up to 2,000 items a call (PUT
-- /v3/inventory/adjustments/absolute). The API has no compare-and-set: the engine reads before
-- it pushes (compare = false). Adjustments are applied asynchronously, so a push is never
-- checked by reading right after it. Contract: docs/connectors.md ("Stock").
-- Uses: ctx:request (rate limit + retries), cjson.safe, cartwright.http (urlencode),
-- cartwright.cartdata (null and id helpers).

local json = require "cjson.safe"
local http = require "cartwright.http"
local cd = require "cartwright.cartdata"

local tbl, str, int = cd.tbl, cd.str, cd.int

local BATCH_MAX = 2000      -- items per absolute adjustment (inventory.v3.yml)
local VARIANTS_PAGE = 250   -- the catalog's largest page: a lookup call asks for at most this many SKUs
local ITEMS_PAGE = 1000     -- inventory items' largest page
local LOCATIONS_PAGE = 250  -- a store has at most 100 active locations: one page
-- Characters of one filter list in a URL: well under the 8 KB request line many front ends
-- take, so a call carries as many SKUs or ids as fit (250 SKUs of 20 characters do).
local QUERY_MAX = 6000
local DEFAULT_LOCATION = "1" -- every store's default location (locations.v3.yml); orders take from it
local QUANTITY_MAX = 2147483647
local REASON = "Cartwright"

---------------------------------------------------------------- HTTP
local function v3_url(ctx, path)
  local host = (ctx.cart.url or "https://api.bigcommerce.com"):gsub("/+$", "")
  return host .. "/stores/" .. ctx.cart.store_hash .. "/v3" .. path
end

-- The token only travels in a header, never in a URL or a message.
local function call(ctx, method, url, body)
  local headers = { ["X-Auth-Token"] = ctx.cart.token, ["Accept"] = "application/json" }
  if body then headers["Content-Type"] = "application/json" end
  return ctx:request{ method = method, url = url, headers = headers, body = body }
end

-- Every page of a V3 list (`query` without page): each(element) for the elements of `data`,
-- pages followed by meta.pagination. Returns true | nil, err.
local function each_page(ctx, path, query, what, each)
  local pager = ctx:pager(what)
  while true do
    local page, perr = pager:next()
    if not page then return nil, perr end
    local res, err = cd.ok_response(ctx, what, call(ctx, "GET", v3_url(ctx, path) .. "?" .. query .. "&page=" .. page))
    if not res then return nil, err end
    local doc = json.decode(res.body or "")
    if type(doc) ~= "table" or type(doc.data) ~= "table" then
      return nil, "bad JSON in " .. what .. " page " .. page .. ": no data list"
    end
    for _, v in ipairs(doc.data) do each(tbl(v)) end
    local p = tbl(tbl(doc.meta).pagination)
    local more = (int(p.current_page) or page) < (int(p.total_pages) or page)
    local ok, gerr = pager:got(#doc.data, more)
    if not ok then return nil, gerr end
    if not more or #doc.data == 0 then return true end
  end
end

-- values (strings) -> lists of URL-encoded values, each at most `max` long and QUERY_MAX
-- characters joined with commas.
local function chunks(values, max)
  local out, cur, len = {}, {}, 0
  for _, v in ipairs(values) do
    local enc = http.urlencode(v)
    if #cur > 0 and (#cur >= max or len + #enc + 1 > QUERY_MAX) then
      out[#out + 1], cur, len = cur, {}, 0
    end
    cur[#cur + 1], len = enc, len + #enc + 1
  end
  if #cur > 0 then out[#out + 1] = cur end
  return out
end

---------------------------------------------------------------- locations
-- The enabled locations; the default one (id 1, which a store cannot delete) is primary.
local function locations(ctx)
  local out, primary = {}, false
  local ok, err = each_page(ctx, "/inventory/locations", "limit=" .. LOCATIONS_PAGE, "locations", function(l)
    local id = str(l.id)
    if id and l.enabled ~= false then
      out[#out + 1] = { id = id, name = str(l.label) or str(l.code) or id, primary = id == DEFAULT_LOCATION or nil }
      primary = primary or id == DEFAULT_LOCATION
    end
  end)
  if not ok then return nil, err end
  if not primary then return nil, "the store lists no enabled default location (id " .. DEFAULT_LOCATION .. ")" end
  return out
end

---------------------------------------------------------------- lookup
-- refs = { [sku] = { variant_id, product_id, by_product = true|nil } }, missing = { sku, … }.
-- A product without options is its base variant (sku_id null) and its stock is tracked by
-- product: adjusted by product_id, as BigCommerce refuses its variant_id.
local function lookup(ctx, skus)
  local refs, wanted, lower, plain, comma = {}, {}, {}, {}, {}
  for _, sku in ipairs(skus) do
    if type(sku) == "string" and sku ~= "" and not wanted[sku] then
      wanted[sku], lower[sku:lower()] = true, lower[sku:lower()] or sku
      -- a comma cannot travel in sku:in (it separates the list): such SKUs are asked alone
      if sku:find(",", 1, true) then comma[#comma + 1] = sku else plain[#plain + 1] = sku end
    end
  end
  local function found(v)
    local sku = str(v.sku)
    sku = sku and (wanted[sku] and sku or lower[sku:lower()])
    local id, pid = int(v.id), int(v.product_id)
    if sku and id and pid and not refs[sku] then
      refs[sku] = { variant_id = id, product_id = pid, by_product = v.sku_id == json.null or nil }
    end
  end
  local fields = "&include_fields=sku,product_id,sku_id&limit=" .. VARIANTS_PAGE
  for _, c in ipairs(chunks(plain, VARIANTS_PAGE)) do
    local ok, err = each_page(ctx, "/catalog/variants", "sku:in=" .. table.concat(c, ",") .. fields, "variants", found)
    if not ok then return nil, err end
  end
  for _, sku in ipairs(comma) do
    local ok, err = each_page(ctx, "/catalog/variants", "sku=" .. http.urlencode(sku) .. fields, "variants", found)
    if not ok then return nil, err end
  end
  local missing = {}
  for _, sku in ipairs(skus) do
    if wanted[sku] and not refs[sku] then missing[#missing + 1], wanted[sku] = sku, false end
  end
  return refs, missing
end

---------------------------------------------------------------- read
-- items = { { sku, ref, location }, … } -> { [sku] = on hand } and { [sku] = { [location] = n } }
-- (SKUs the store does not answer for are left out). Items tracked by product are asked for by
-- product_id, the others by variant_id; each call carries as many ids as fit.
local function read(ctx, items)
  local figures, by_location = {}, {}
  local want = { variant_id = {}, product_id = {} } -- kind -> id -> { { sku, location }, … }
  local ids = { variant_id = {}, product_id = {} }
  local locs, loc_list = {}, {}
  for _, it in ipairs(items) do
    local ref = tbl(it.ref)
    local kind = ref.by_product and "product_id" or "variant_id"
    local id = int(ref[kind])
    local loc = it.location and tostring(it.location) or DEFAULT_LOCATION
    if id then
      if not want[kind][id] then want[kind][id], ids[kind][#ids[kind] + 1] = {}, tostring(id) end
      table.insert(want[kind][id], { sku = it.sku, location = loc })
      if not locs[loc] then locs[loc], loc_list[#loc_list + 1] = true, loc end
    end
  end
  for i, loc in ipairs(loc_list) do loc_list[i] = http.urlencode(loc) end
  local at = "&location_id:in=" .. table.concat(loc_list, ",") .. "&limit=" .. ITEMS_PAGE
  for _, kind in ipairs{ "variant_id", "product_id" } do
    for _, c in ipairs(chunks(ids[kind], ITEMS_PAGE)) do
      local ok, err = each_page(ctx, "/inventory/items", kind .. ":in=" .. table.concat(c, ",") .. at, "inventory items",
        function(item)
          for _, w in ipairs(want[kind][int(tbl(item.identity)[kind])] or {}) do
            for _, l in ipairs(tbl(item.locations)) do
              local q = int(tbl(l).total_inventory_onhand)
              if str(l.location_id) == w.location and q then
                figures[w.sku] = q
                by_location[w.sku] = by_location[w.sku] or {}
                by_location[w.sku][w.location] = q
              end
            end
          end
        end)
      if not ok then return nil, err end
    end
  end
  return figures, by_location
end

---------------------------------------------------------------- push
-- The adjustment of one item, or nil, why it cannot be sent.
local function entry(it)
  local ref, q = tbl(it.ref), math.tointeger(tonumber(it.quantity))
  local loc = int(it.location or DEFAULT_LOCATION)
  if not q or q < 0 or q > QUANTITY_MAX then return nil, "quantity must be a whole number from 0 to " .. QUANTITY_MAX end
  if not loc then return nil, "location " .. tostring(it.location) .. " is not a BigCommerce location id" end
  local e = { location_id = loc, quantity = q }
  if ref.by_product then e.product_id = int(ref.product_id) else e.variant_id = int(ref.variant_id) end
  if not (e.product_id or e.variant_id) then return nil, "the ref has no variant_id or product_id" end
  return e
end

-- What a 422 says about the entries of a batch: { [i] = message }, and { [i] = true } for the
-- entries it says are tracked the other way (by product, by variant), sent again that way.
-- The items are named by errors["items.N…"] or in the title ("[Item with variant_id 106 is
-- tracked by product, please update stock by product id]").
local function refused(doc, batch)
  local title = (type(doc.title) == "string" and doc.title or "refused"):gsub("^%[(.*)%]$", "%1")
  local bad, flip = {}, {}
  for k, v in pairs(tbl(doc.errors)) do
    local i = tonumber(tostring(k):match("^items%.(%d+)"))
    if i and batch[i + 1] then bad[i + 1] = type(v) == "string" and v or title end
  end
  local other = { variant_id = "product", product_id = "variant" }
  for kind, id in title:gmatch("(%a+_id) (%d+)") do
    for i, e in ipairs(batch) do
      if e[kind] and tostring(e[kind]) == id then
        local rest = title:sub((title:find(kind .. " " .. id, 1, true)))
        if other[kind] and rest:match("^%a+_id %d+ is tracked by " .. other[kind]) then flip[i] = true
        else bad[i] = bad[i] or title:sub(1, 300) end
      end
    end
  end
  return bad, flip
end

-- Sends `batch` (entries, with their items in `of`), filling results. A 422 refuses the whole
-- call: the entries it names get their error; the others go again, with those tracked the
-- other way switched to it (up to 3 rounds). Returns true | nil, err (the call failed).
local function send(ctx, batch, of, results, round)
  local res, err = call(ctx, "PUT", v3_url(ctx, "/inventory/adjustments/absolute"),
    json.encode{ reason = REASON, items = batch })
  if not res then return nil, err .. " (inventory adjustment)" end
  if res.status >= 200 and res.status <= 299 then
    for _, it in ipairs(of) do results[it.sku] = results[it.sku] or "ok" end
    return true
  end
  if res.status ~= 422 then
    local _, msg = ctx:fail(res)
    return nil, msg .. " (inventory adjustment)"
  end
  local bad, flip = refused(tbl(json.decode(res.body or "")), batch)
  local again, again_of = {}, {}
  for i, e in ipairs(batch) do
    local it = of[i]
    if flip[i] and round < 3 then -- the other identity of the same item
      local ref = tbl(it.ref)
      if e.variant_id then e.variant_id, e.product_id = nil, int(ref.product_id)
      else e.variant_id, e.product_id = int(ref.variant_id), nil end
    end
    if bad[i] or round >= 3 or not (e.variant_id or e.product_id) then
      results[it.sku] = { error = bad[i] or "refused by the store (http 422)" }
    elseif next(bad) or next(flip) then
      again[#again + 1], again_of[#again_of + 1] = e, it
    else -- the store named none of the items: every one is refused
      results[it.sku] = { error = "refused by the store (http 422): " .. (res.body or ""):sub(1, 200) }
    end
  end
  if #again == 0 then return true end
  return send(ctx, again, again_of, results, round + 1)
end

-- items = { { sku, ref, location, quantity, previous }, … } -> { [sku] = "ok" | { error } } | nil, err.
-- Sent grouped by location (BigCommerce's advice for bulk adjustments), BATCH_MAX a call.
local function push(ctx, items)
  local results, ready = {}, {}
  for _, it in ipairs(items) do
    local e, why = entry(it)
    if e then ready[#ready + 1] = { e = e, it = it } else results[it.sku] = { error = why } end
  end
  table.sort(ready, function(a, b)
    if a.e.location_id ~= b.e.location_id then return a.e.location_id < b.e.location_id end
    return tostring(a.it.sku) < tostring(b.it.sku)
  end)
  for first = 1, #ready, BATCH_MAX do
    local batch, of = {}, {}
    for i = first, math.min(#ready, first + BATCH_MAX - 1) do
      batch[#batch + 1], of[#of + 1] = ready[i].e, ready[i].it
    end
    local ok, err = send(ctx, batch, of, results, 1)
    if not ok then return nil, err end
  end
  return results
end

return {
  batch_max = BATCH_MAX,
  multi_location = true,
  compare = false,
  locations = locations,
  lookup = lookup,
  read = read,
  push = push,
  _refused = refused, -- for tests
}
