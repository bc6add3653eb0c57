-- The stock model: on hand per SKU and warehouse, reserved per SKU by open orders, and what
-- each cart is shown (available): on hand over the cart's warehouses less what is reserved,
-- then the cart's stock rules (on_stock), never below 0, per location of the cart. Pure
-- computation over what the store returns; used by `stock` (ops/stock.lua) and the push
-- (flows/stock_out.lua), so both show and send the same figures.
local rules = require "cartwright.rules"
local jraw = require "cartwright.jsonraw"

local M = {}

--- The cart's inventory settings with their defaults: { warehouses = "all" | { names },
--- alias, minimum, locations = { [warehouse] = location } | nil }.
function M.settings(cart)
  local inv = cart.inventory or {}
  return { warehouses = inv.warehouses or "all", alias = inv.alias, minimum = inv.minimum or 0,
           locations = inv.locations }
end

--- How the carts' orders reserve, from the validated carts of the config (carts.load_all): the
--- list of the names of the carts whose orders reserve nothing (marketplace_fulfilled), with
--- .aliased = { [cart] = alias type } for the carts that know items by an alias (their order
--- lines carry the alias: it reserves the SKU it is the alias of).
function M.excluded(cart_list)
  local out, aliased = {}, {}
  for _, c in ipairs(cart_list) do
    if c.marketplace_fulfilled then out[#out + 1] = c.name end
    local inv = c.inventory
    if type(inv) == "table" and type(inv.alias) == "string" then aliased[c.name] = inv.alias end
  end
  out.aliased = aliased
  return out
end

-- The store's :excluded (a JSON array of names) and :aliased (a JSON object cart -> type).
local function json_names(list)
  local names = {}
  for i, n in ipairs(list) do names[i] = n end
  return jraw.encode(setmetatable(names, jraw.array_mt))
end
local function json_aliased(list)
  return next((list or {}).aliased or {}) and jraw.encode(list.aliased) or nil
end

--- What the store knows, in one read: { skus = { sorted }, on_hand = { [sku] = { [wh] = n } },
--- reserved = { [sku] = n }, reserved_by = { [cart] = { [sku] = n } },
--- aliases = { [type] = { [sku] = alias } } } | nil, err.
--- excluded: carts whose orders reserve nothing; sku: only this SKU (nil: all).
function M.load(db, excluded, sku)
  local rows, err = db:stock_list{ sku = sku }
  if not rows then return nil, err end
  local snap = { skus = {}, on_hand = {}, reserved = {}, reserved_by = {}, aliases = {} }
  for _, r in ipairs(rows) do
    local per = snap.on_hand[r.sku]
    if not per then
      per = {}
      snap.on_hand[r.sku] = per
      snap.skus[#snap.skus + 1] = r.sku
    end
    per[r.warehouse] = r.on_hand
  end
  local res
  res, err = db:stock_reserved{ sku = sku, excluded = json_names(excluded or {}), aliased = json_aliased(excluded) }
  if not res then return nil, err end
  for _, r in ipairs(res) do
    snap.reserved[r.sku] = (snap.reserved[r.sku] or 0) + r.reserved
    local by = snap.reserved_by[r.cart] or {}
    snap.reserved_by[r.cart] = by
    by[r.sku] = r.reserved
  end
  local al
  al, err = db:alias_list{ sku = sku }
  if not al then return nil, err end
  for _, a in ipairs(al) do
    local t = snap.aliases[a.type] or {}
    snap.aliases[a.type] = t
    t[a.sku] = a.alias
  end
  return snap
end

--- Where each warehouse's figure goes at a cart: a list of groups { location, has = fn(warehouse)
--- -> bool, primary = bool }, the primary location's group first, then by location id. Without
--- inventory.locations the selected warehouses go together to the primary location; with it,
--- each selected warehouse it names goes to its location and the others to none. resolve
--- (label) turns a location of the settings into the cart's id (nil, err when it has none);
--- primary is the cart's primary location id (nil for a cart without locations: every selected
--- warehouse goes to its one figure). Returns groups | nil, err.
function M.groups(inv, primary, resolve)
  local selected = inv.warehouses
  local function chosen(w)
    if selected == "all" then return true end
    for _, x in ipairs(selected) do if x == w then return true end end
    return false
  end
  if primary == nil or not inv.locations then
    return { { location = primary, has = chosen, primary = true } }
  end
  local target = {} -- warehouse -> location id, for the mapped ones
  for _, w in ipairs(require("cartwright.schema").sorted_keys(inv.locations)) do
    local id, err = resolve(inv.locations[w])
    if not id then return nil, "inventory.locations." .. w .. ": " .. tostring(err) end
    target[w] = id
  end
  local ids, seen = {}, {}
  for w, id in pairs(target) do
    if chosen(w) and not seen[id] then seen[id], ids[#ids + 1] = true, id end
  end
  table.sort(ids, function(a, b)
    if (a == primary) ~= (b == primary) then return a == primary end
    return a < b
  end)
  local groups = {}
  for i, id in ipairs(ids) do
    -- only the mapped warehouses are sent, each to its location; other locations are left alone
    groups[i] = { location = id, primary = id == primary,
                  has = function(w) return chosen(w) and target[w] == id end }
  end
  return groups
end

-- On hand of one SKU in one group, and the warehouse when only one adds to it.
local function group_on_hand(g, per)
  local n, only, count = 0, nil, 0
  for w, q in pairs(per or {}) do
    if g.has(w) then n, only, count = n + q, w, count + 1 end
  end
  return n, count == 1 and only or nil
end

--- Whether a cart holds back its own open orders itself (Magento MSI: a sale reserves, the
--- source quantity we set drops only when it ships): the connector's stock fact
--- reserves_own_orders, true or function(cart) -> bool.
function M.reserves_own(st, cart)
  local r = st and st.reserves_own_orders
  if type(r) == "function" then return r(cart) == true end
  return r == true
end

--- The figures a cart is shown: items = { { sku, cart_sku, location, available, on_hand,
--- reserved, warehouse } } (one per SKU and group, in SKU order), and what was left out:
--- skipped = { unaliased = { sku… }, rule_errors = { { sku, error } } }.
--- stock_rules: the cart's rules with on_stock; rule_ctx: their read-only ctx. own: the cart's
--- name when the cart holds its own open orders back itself (M.reserves_own): they are not
--- taken from its figure a second time.
function M.figures(snap, inv, groups, stock_rules, rule_ctx, own)
  local own_reserved = own and snap.reserved_by[own] or {}
  local items, skipped = {}, { unaliased = {}, rule_errors = {} }
  local alias_of = inv.alias and (snap.aliases[inv.alias] or {})
  for _, sku in ipairs(snap.skus) do
    local cart_sku = sku
    if alias_of then cart_sku = alias_of[sku] end
    if not cart_sku then
      skipped.unaliased[#skipped.unaliased + 1] = sku
    else
      local per, left = snap.on_hand[sku], (snap.reserved[sku] or 0) - (own_reserved[sku] or 0)
      local parts = {}
      for i, g in ipairs(groups) do
        local on_hand, only = group_on_hand(g, per)
        -- what open orders reserve is taken from the primary location first, then the others
        local take = math.min(left, math.max(on_hand, 0))
        left = left - take
        parts[i] = { sku = sku, cart_sku = cart_sku, location = g.location, on_hand = on_hand, reserved = take,
                     available = on_hand - take, warehouse = only }
      end
      if left > 0 and parts[1] then
        parts[1].reserved, parts[1].available = parts[1].reserved + left, parts[1].available - left
      end
      for _, item in ipairs(parts) do
        local view = { sku = item.sku, cart_sku = item.cart_sku, available = item.available, on_hand = item.on_hand,
                       reserved = item.reserved, warehouse = item.warehouse, location = item.location }
        local q, err = rules.run_stock(stock_rules, view, rule_ctx)
        if not q then
          skipped.rule_errors[#skipped.rule_errors + 1] = { sku = sku, error = err }
        else
          item.available = q
          items[#items + 1] = item
        end
      end
    end
  end
  return items, skipped
end

return M
