-- Operations on stored orders: find one by our number or CART:EXTERNAL_ID, list, show with its
-- whole history, release (waive the holds it has now) and hold (an operator's hold, kept until
-- an operator releases it). Release and hold go through orders/decide.lua like every change.
local jraw = require "cartwright.jsonraw"
local json = require "cjson.safe"
local decide = require "cartwright.orders.decide"
local lists = require "cartwright.orders.lists"
local ops = require "cartwright.ops"

local M = {}

local null = json.null

--- The order `ref` names: "SH-1042" (our number) or "CART:EXTERNAL_ID". row | nil, err, kind.
function M.find(s, ref)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  if type(ref) ~= "string" or ref == "" then return ops.fail("usage", "ORDER is our number (SH-1042) or CART:EXTERNAL_ID") end
  local cart, ext = ref:match("^([^:]+):(.+)$")
  if cart and s.cfg.carts[cart] then
    local row = db:order_get{ cart = cart, external_id = ext }
    if row then return assert(db:order_by_id{ id = row.id }) end
    return ops.fail("not_found", "no order %s in cart %s", ext, cart)
  end
  local rows = assert(db:orders_by_number{ number = ref })
  if #rows == 1 then return assert(db:order_by_id{ id = rows[1].id }) end
  if #rows == 0 then return ops.fail("not_found", "no order numbered %s (give our number, or CART:EXTERNAL_ID)", ref) end
  local names = {}
  for i, r in ipairs(rows) do names[i] = r.cart .. ":" .. r.external_id end
  return ops.fail("usage", "%s is the number of %d orders (%s): name one as CART:EXTERNAL_ID", ref, #rows,
    table.concat(names, ", "))
end

local function arrays(list)
  return setmetatable(list or {}, jraw.array_mt)
end

--- The JSON form of a stored order row: the normalized order plus identity, hold, folder and
--- tags. Lists stay lists when empty ([]), integers keep their digits.
function M.view(row, tags)
  local o = lists.mark(jraw.decode(row.doc or "{}", nil, { arrays = true }) or {})
  o.raw_only = nil
  o.cart, o.external_id, o.number = row.cart, row.external_id, row.number
  o.status, o.cart_status = row.status or null, row.cart_status or null
  o.created_at, o.updated_at = row.created_at or null, row.updated_at or null
  local hold = decide.hold_of(row)
  o.hold = hold and { kind = hold.kind, rule = hold.rule, reason = hold.reason } or null
  o.folder = row.folder or "new"
  o.tags = arrays(tags)
  o.customer = o.customer or { email = null }
  o.shipping = o.shipping or { code = null }
  o.lines = o.lines or arrays()
  return o
end

-- The tags of the rows of a listing, by order id, in one query.
local function tags_by_order(db, rows)
  local ids = {}
  for i, r in ipairs(rows) do ids[i] = r.id end
  local by = {}
  if #ids == 0 then return by end
  for _, t in ipairs(assert(db:orders_tags{ ids = json.encode(ids) })) do
    local list = by[t.order_id]
    if not list then list = {} by[t.order_id] = list end
    list[#list + 1] = t.tag
  end
  return by
end

--- Stored orders. filters: { cart, status, held = bool, folder, tag, since, limit, offset }. Returns
--- { { row = row, tags = {…} }, … } | nil, err, kind.
function M.list(s, filters)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  filters = filters or {}
  local rows, lerr = db:orders_list{ cart = filters.cart, status = filters.status, held = filters.held,
                                     folder = filters.folder, tag = filters.tag, since = filters.since,
                                     limit = filters.limit, offset = filters.offset }
  if not rows then return ops.fail("failed", lerr) end
  local tags = tags_by_order(db, rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = { row = r, tags = tags[r.id] or {} } end
  return out
end

local function tags_of(db, id)
  local tags = {}
  for i, r in ipairs(assert(db:order_tags{ order_id = id })) do tags[i] = r.tag end
  return tags
end

--- One order with its lines, tags and whole event history: { row, view, lines, tags, events }.
function M.show(s, ref)
  local row, err, kind = M.find(s, ref)
  if not row then return nil, err, kind end
  local db = s.db
  local tags = tags_of(db, row.id)
  return { row = row, view = M.view(row, tags), tags = tags, lines = assert(db:order_lines{ order_id = row.id }),
           events = assert(db:order_events{ order_id = row.id }) }
end

-- Runs a release or hold through decide/apply in one transaction. Returns the result.
local function change_hold(s, ref, how)
  local row, err, kind = M.find(s, ref)
  if not row then return nil, err, kind end
  local db = s.db
  local action = decide.decide(row, nil, how)
  if action.skip == "not held" then return ops.fail("conflict", "%s:%s is not held", row.cart, row.external_id) end
  local outcome
  if not action.skip then
    local ok, terr = db:transaction(function()
      outcome = decide.apply(db, action)
      return true
    end)
    if not ok then return ops.fail("failed", terr) end
  end
  return { cart = row.cart, external_id = row.external_id, number = row.number, outcome = outcome or "unchanged",
           waived = action.released, hold = action.hold }
end

--- Waives the holds the order has now (a rule's, the connector's or an operator's). A later
--- change at the cart runs the rules again, and they may hold it again.
function M.release(s, ref, note)
  return change_hold(s, ref, { kind = "release", note = note })
end

--- Holds the order with an operator's reason; it stays held, through re-imports and changes at
--- the cart, until an operator releases it.
function M.hold(s, ref, reason, note)
  if type(reason) ~= "string" or not reason:find("%S") then return ops.fail("usage", "a hold needs a reason (--reason TEXT)") end
  return change_hold(s, ref, { kind = "hold", reason = reason, note = note })
end

return M
