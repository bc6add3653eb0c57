-- Shopify connector, stock (GraphQL Admin API, docs/connectors.md "The stock capability"):
-- the shop's locations; our SKUs' inventory items (productVariants searched by `sku:`, 250 a
-- call); the available figure per item and location (nodes → inventoryLevel); and absolute
-- figures set with inventorySetQuantities, 250 a call, each with changeFromQuantity = what the
-- shop last accepted from us (compare-and-swap: a sale at the shop since then makes the call
-- CHANGE_FROM_QUANTITY_STALE and nothing of it is applied) under an @idempotent key.
-- Uses: graphql.lua (POST, token, THROTTLED), cjson.safe, cartwright.crypto.
local json = require "cjson.safe"
local crypto = require "cartwright.crypto"
local gql = require "connectors.shopify.graphql"

local BATCH_MAX = 250 -- quantities per inventorySetQuantities, variants per productVariants page
local LOCATION_GID = "gid://shopify/Location/"
local NOT_APPLIED = "not applied: another quantity in the batch was stale"

---------------------------------------------------------------- locations

-- `location` without an id is the shop's primary location (Location.isPrimary is not relied on).
local LOCATIONS = [[
query CartwrightLocations {
  location { id }
  locations(first: 250) { nodes { id name } }
}]]

-- ctx.shopify_locations: read once per ctx (a run of the cart).
local function locations(ctx)
  if ctx.shopify_locations then return ctx.shopify_locations end
  local data, err = gql.request(ctx, LOCATIONS, nil, "locations")
  if not data then return nil, err end
  local primary = type(data.location) == "table" and data.location.id
  local nodes = type(data.locations) == "table" and data.locations.nodes
  if type(nodes) ~= "table" then return nil, "shopify locations: the answer has no locations.nodes" end
  local out, found = {}, false
  for _, n in ipairs(nodes) do
    if type(n) == "table" and type(n.id) == "string" then
      local is_primary = n.id == primary or nil
      found = found or is_primary ~= nil
      out[#out + 1] = { id = n.id, name = type(n.name) == "string" and n.name or n.id, primary = is_primary }
    end
  end
  if not found then return nil, "shopify locations: the primary location (" .. tostring(primary) .. ") is not among them" end
  ctx.shopify_locations = out
  return out
end

-- A location as the engine names it (a GID, a numeric id as a string, or nil: the primary)
-- -> the GID | nil, err.
local function location_gid(ctx, loc)
  if loc == nil then
    local list, err = locations(ctx)
    if not list then return nil, err end
    for _, l in ipairs(list) do if l.primary then return l.id end end
  end
  loc = tostring(loc)
  if loc:match("^%d+$") then return LOCATION_GID .. loc end
  if loc:sub(1, #LOCATION_GID) == LOCATION_GID then return loc end
  return nil, "not a Shopify location id: " .. loc
end

---------------------------------------------------------------- lookup

local VARIANTS = [[
query CartwrightVariantsBySku($query: String!, $after: String) {
  productVariants(first: 250, query: $query, after: $after) {
    nodes { sku inventoryItem { id } }
    pageInfo { hasNextPage endCursor }
  }
}]]

-- sku:"A" OR sku:"B" …: quoted, so SKUs with spaces, colons or a leading "-" are one term.
local function sku_query(skus)
  local terms = {}
  for i, s in ipairs(skus) do terms[i] = 'sku:"' .. s:gsub('[\\"]', "\\%0") .. '"' end
  return table.concat(terms, " OR ")
end

-- One chunk of ≤ 250 SKUs: fills refs with exact matches (the search is not exact: it may
-- return more variants, on more pages, which are followed). Returns true | nil, err.
local function lookup_chunk(ctx, chunk, refs)
  local want = {}
  for _, s in ipairs(chunk) do want[s] = true end
  local pager = ctx:pager("productVariants")
  local vars = { query = sku_query(chunk) }
  while true do
    local page, perr = pager:next(vars.after, "a cursor")
    if not page then return nil, perr end
    local data, err = gql.request(ctx, VARIANTS, vars, "productVariants page " .. page)
    if not data then return nil, err end
    local pv = type(data.productVariants) == "table" and data.productVariants or {}
    local nodes = type(pv.nodes) == "table" and pv.nodes or {}
    for _, n in ipairs(nodes) do
      local item = type(n) == "table" and n.inventoryItem
      local id = type(item) == "table" and item.id
      if type(n.sku) == "string" and want[n.sku] and not refs[n.sku] and type(id) == "string" then
        refs[n.sku] = { inventory_item_id = id } -- the first variant with the SKU, as the shop lists them
      end
    end
    local info = type(pv.pageInfo) == "table" and pv.pageInfo or {}
    local more = info.hasNextPage == true and type(info.endCursor) == "string"
    local ok, stop = pager:got(#nodes, more)
    if not ok then return nil, stop end
    if not more then return true end
    vars.after = info.endCursor
  end
end

local function lookup(ctx, skus)
  local refs, missing, seen, list = {}, {}, {}, {}
  for _, s in ipairs(skus) do
    if type(s) == "string" and s ~= "" and not seen[s] then
      seen[s] = true
      list[#list + 1] = s
    end
  end
  for first = 1, #list, BATCH_MAX do
    local ok, err = lookup_chunk(ctx, table.move(list, first, math.min(#list, first + BATCH_MAX - 1), 1, {}), refs)
    if not ok then return nil, err end
  end
  for _, s in ipairs(list) do if not refs[s] then missing[#missing + 1] = s end end
  return refs, missing
end

---------------------------------------------------------------- read

local LEVELS = [[
query CartwrightLevels($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem { id inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } }
  }
}]]

-- The item's inventory_item_id (a GID string) | nil.
local function item_id(it)
  local ref = type(it.ref) == "table" and it.ref or {}
  local id = ref.inventory_item_id
  if type(id) == "number" then id = "gid://shopify/InventoryItem/" .. string.format("%d", id) end
  return type(id) == "string" and id or nil
end

-- { [inventory item GID] = available } at one location, for ≤ 250 item GIDs; an item not
-- stocked there is left out. Returns the table | nil, err.
local function levels_at(ctx, ids, loc)
  local data, err = gql.request(ctx, LEVELS, { ids = ids, locationId = loc }, "inventory levels")
  if not data then return nil, err end
  local out = {}
  for _, n in ipairs(type(data.nodes) == "table" and data.nodes or {}) do
    local level = type(n) == "table" and n.inventoryLevel
    if type(level) == "table" and type(n.id) == "string" then
      for _, q in ipairs(type(level.quantities) == "table" and level.quantities or {}) do
        if type(q) == "table" and q.name == "available" and math.tointeger(q.quantity) then
          out[n.id] = math.tointeger(q.quantity)
        end
      end
    end
  end
  return out
end

-- The figures of items { { sku, ref, location } } by index: { [i] = available } | nil, err.
-- One call per location and 250 items.
local function read_figures(ctx, items)
  local by_loc, order = {}, {}
  for i, it in ipairs(items) do
    local loc, lerr = location_gid(ctx, it.location)
    if not loc then return nil, lerr end
    local id = item_id(it)
    if id then
      if not by_loc[loc] then by_loc[loc], order[#order + 1] = {}, loc end
      table.insert(by_loc[loc], { i = i, id = id })
    end
  end
  local figures = {}
  for _, loc in ipairs(order) do
    local list = by_loc[loc]
    for first = 1, #list, BATCH_MAX do
      local ids = {}
      for k = first, math.min(#list, first + BATCH_MAX - 1) do ids[#ids + 1] = list[k].id end
      local got, err = levels_at(ctx, ids, loc)
      if not got then return nil, err end
      for k = first, math.min(#list, first + BATCH_MAX - 1) do figures[list[k].i] = got[list[k].id] end
    end
  end
  return figures
end

local function read(ctx, items)
  local figures, err = read_figures(ctx, items)
  if not figures then return nil, err end
  local out = {}
  for i, it in ipairs(items) do out[it.sku] = figures[i] end
  return out
end

---------------------------------------------------------------- push

-- The key is written into the document, as Shopify's examples do (it is hex and dashes only).
local SET = [[
mutation CartwrightSetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { createdAt }
    userErrors { code field message }
  }
}]]

-- The key Shopify sees: the engine's key for the batch and what the batch says, so a retry of
-- the same batch is recognised and a batch sent again with other figures (after a stale
-- answer) is a new operation, not IDEMPOTENCY_KEY_PARAMETER_MISMATCH.
local function idempotency_key(key, quantities)
  local parts = { key or crypto.hex(crypto.random_bytes(16)) }
  for i, q in ipairs(quantities) do
    parts[i + 1] = table.concat({ q.inventoryItemId, q.locationId, q.quantity,
      q.changeFromQuantity == json.null and "-" or q.changeFromQuantity }, "|")
  end
  local h = crypto.hex(crypto.sha256(table.concat(parts, "\n")))
  return string.format("%s-%s-%s-%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(13, 16), h:sub(17, 20), h:sub(21, 32))
end

-- A worse answer wins when one SKU is in the batch twice (two locations): error, stale, ok.
local RANK = { ok = 1, stale = 2, error = 3 }
local function put(results, sku, r)
  local old = results[sku]
  local function rank(x) return x == "ok" and RANK.ok or (x.stale and RANK.stale) or RANK.error end
  if old == nil or rank(r) > rank(old) then results[sku] = r end
end

-- The quantity a user error is about: field = { "input", "quantities", "3", … } -> 4.
local function error_index(e, n)
  local f = type(e.field) == "table" and e.field or {}
  if f[2] ~= "quantities" then return nil end
  local i = math.tointeger(tonumber(f[3]))
  return i and i >= 0 and i < n and i + 1 or nil
end

-- The call was refused with user errors: nothing of it was applied. Stale quantities get
-- the shop's figure now (read again: the error does not carry it); the others are reported
-- not applied, so the engine sends them again. Returns results | nil, err.
local function refused(ctx, sent, errors, results)
  local stale, other, general = {}, {}, nil
  for _, e in ipairs(errors) do
    local i = error_index(e, #sent)
    local msg = tostring(e.code or "error") .. ": " .. tostring(e.message)
    if e.code == "CHANGE_FROM_QUANTITY_STALE" then
      if i then stale[i] = true else general = general or "stale" end
    elseif e.code == "IDEMPOTENCY_CONCURRENT_REQUEST" then
      return nil, "shopify: " .. msg .. " (the same batch is still being applied; retry)"
    elseif i then
      other[i] = msg
    else
      general = msg
    end
  end
  -- a stale error that names no quantity: every one with a compare figure is suspect
  local check = {}
  for i, s in ipairs(sent) do
    if stale[i] or (general == "stale" and s.item.previous ~= nil) then check[#check + 1] = i end
  end
  local now = {}
  if #check > 0 then
    local items = {}
    for k, i in ipairs(check) do items[k] = sent[i].item end
    local figures, err = read_figures(ctx, items)
    if not figures then return nil, "the shop reported stale figures and reading them failed: " .. err end
    for k, i in ipairs(check) do now[i] = figures[k] or 0 end
  end
  for i, s in ipairs(sent) do
    local sku = s.item.sku
    if other[i] then
      put(results, sku, { error = other[i] })
    elseif now[i] and (stale[i] or now[i] ~= s.item.previous) then
      put(results, sku, { stale = true, current = now[i] })
    elseif general and general ~= "stale" then
      put(results, sku, { error = general })
    else
      put(results, sku, { again = true, why = NOT_APPLIED })
    end
  end
  return results
end

local function push(ctx, items, opts)
  if #items > BATCH_MAX then return nil, "shopify push: " .. #items .. " quantities, more than " .. BATCH_MAX .. " in one call" end
  local results, sent, quantities, pairs_seen = {}, {}, {}, {}
  for _, it in ipairs(items) do
    local id, loc, lerr = item_id(it), location_gid(ctx, it.location)
    local qty = math.tointeger(it.quantity)
    local prev = it.previous ~= nil and math.tointeger(it.previous) or nil
    if not loc and lerr and lerr:find("^not a Shopify location") then
      put(results, it.sku, { error = lerr })
    elseif not loc then
      return nil, lerr
    elseif not id then
      put(results, it.sku, { error = "no inventory_item_id in the ref (look the SKU up again)" })
    elseif not qty or qty < 0 or (it.previous ~= nil and not prev) then
      put(results, it.sku, { error = "quantity and previous must be whole numbers, quantity not below 0" })
    elseif pairs_seen[id .. " " .. loc] then
      put(results, it.sku, { error = "the same inventory item and location twice in one batch" })
    else
      pairs_seen[id .. " " .. loc] = true
      local q = { inventoryItemId = id, locationId = loc, quantity = qty,
                  changeFromQuantity = prev == nil and json.null or prev } -- null: no compare, but present
      quantities[#quantities + 1] = q
      sent[#sent + 1] = { item = it, q = q }
    end
  end
  if #quantities == 0 then return results end
  local vars = { input = { name = "available", reason = "correction", quantities = quantities } }
  local mutation = SET:format(idempotency_key(opts and opts.key, quantities))
  local data, err = gql.request(ctx, mutation, vars, "inventorySetQuantities of " .. #quantities)
  if not data then return nil, err end
  local payload = type(data.inventorySetQuantities) == "table" and data.inventorySetQuantities or nil
  if not payload then return nil, "inventorySetQuantities answered without its payload" end
  local errors = type(payload.userErrors) == "table" and payload.userErrors or {}
  if #errors > 0 then return refused(ctx, sent, errors, results) end
  for _, s in ipairs(sent) do put(results, s.item.sku, "ok") end
  return results
end

return {
  batch_max = BATCH_MAX,
  multi_location = true,
  compare = true,
  locations = locations,
  lookup = lookup,
  read = read,
  push = push,
  _sku_query = sku_query, -- for tests
  _idempotency_key = idempotency_key,
}
