-- One way to (re)decide a stored order. decide(stored, rec, how) is pure: from the stored row
-- (or none) and a freshly processed order it returns the action to take; apply(db, action)
-- writes it. Import, ship-map, release, hold and `rules replay --apply` all go through these
-- two, so an order is never stored two ways.
--
-- rec (a processed order, flows/orders_in.lua Run:process): { external_id, doc = the normalized
-- order (or { raw_only = true }), json = its stored text, raw = the cart's bytes,
-- hold = nil | { kind = "rule" | "normalize", rule, reason, broken }, folder = nil | name,
-- tags = { "a", "b" } }.
-- how: { kind = "import" | "rerun" | "release" | "hold", cart = name, folder = the cart's
-- default folder, statuses = set of cart statuses to download (import), earliest = ISO date
-- (import), raw_same = the stored raw has these very bytes (import), event = the event kind a
-- rerun records ("remapped", "replayed"), note = an operator's note, reason = a hold's reason }.
local jraw = require "cartwright.jsonraw"

local M = {}

local function hold_of(row)
  if not row or not row.hold_rule then return nil end
  return { kind = row.hold_kind or (row.hold_rule == "normalize" and "normalize" or "rule"),
           rule = row.hold_rule, reason = row.hold_reason }
end
M.hold_of = hold_of

local function hold_text(h)
  if not h then return "none" end
  return h.kind == "operator" and "operator" or h.rule
end

-- The fields a person checks, for change details and replays.
local function decided(doc, hold, folder, tags)
  doc = doc or {}
  return { status = doc.status, number = doc.number, method = doc.shipping and doc.shipping.method,
           hold = hold_text(hold), reason = hold and hold.reason, folder = folder,
           tags = table.concat(tags or {}, ",") }
end
M.decided = decided
M.FIELDS = { "status", "number", "method", "hold", "reason", "folder", "tags" }

--- What differs between two decided tables: { { field, before, after }, ... } in FIELDS order.
function M.diff(before, after)
  local out = {}
  for _, k in ipairs(M.FIELDS) do
    if before[k] ~= after[k] then out[#out + 1] = { k, before[k], after[k] } end
  end
  return out
end

-- "a.b[2].c" -> scalar text, for every leaf of a document (what a person compares).
local function flatten(v, prefix, out)
  if type(v) ~= "table" then
    out[prefix] = tostring(v)
    return out
  end
  for k, x in pairs(v) do
    local key = type(k) == "number" and (prefix .. "[" .. k .. "]") or (prefix == "" and k or (prefix .. "." .. k))
    flatten(x, key, out)
  end
  return out
end

local NOT_COMPARED = { raw_only = true, tags = true, folder = true }

--- Every field of two normalized orders that differs: { { path, before, after }, ... }, sorted
--- by path (tags and folder are compared by M.diff).
function M.doc_diff(before, after)
  local a, b = flatten(before or {}, "", {}), flatten(after or {}, "", {})
  local out = {}
  for k, v in pairs(a) do
    if b[k] ~= v and not NOT_COMPARED[k:match("^[^.%[]+")] then out[#out + 1] = { k, v, b[k] } end
  end
  for k, v in pairs(b) do
    if a[k] == nil and not NOT_COMPARED[k:match("^[^.%[]+")] then out[#out + 1] = { k, nil, v } end
  end
  table.sort(out, function(x, y) return x[1] < y[1] end)
  return out
end

-- The row an order is stored as.
local function row_of(cart, rec, hold, folder)
  local o = rec.doc
  return {
    cart = cart, external_id = rec.external_id, number = o.number, status = o.status,
    cart_status = o.cart_status, created_at = o.created_at, updated_at = o.updated_at,
    email = o.customer and o.customer.email, ship_code = o.shipping and o.shipping.code,
    hold_kind = hold and hold.kind, hold_rule = hold and hold.rule, hold_reason = hold and hold.reason,
    folder = folder, doc = rec.json or jraw.encode(o), raw = rec.raw,
  }
end

local function line_rows(doc)
  local lines, rows = doc.lines, {}
  if type(lines) ~= "table" then return rows end
  for i = 1, #lines do
    local line = lines[i]
    rows[i] = { line_no = i, sku = line.sku, quantity = line.quantity or 0, price = line.price,
                unknown_sku = line.unknown_sku and 1 or 0 }
  end
  return rows
end

-- What changed between the stored order and the new one, for the event log.
local function change_detail(stored, rec, hold, folder, tags, stored_tags)
  local parts = {}
  local d = rec.doc
  if stored.status ~= d.status then parts[#parts + 1] = "status " .. tostring(stored.status) .. " -> " .. tostring(d.status) end
  if stored.cart_status ~= d.cart_status then
    parts[#parts + 1] = "cart status " .. tostring(stored.cart_status) .. " -> " .. tostring(d.cart_status)
  end
  local before = hold_of(stored)
  if hold_text(before) ~= hold_text(hold) or (before and hold and before.reason ~= hold.reason) then
    parts[#parts + 1] = hold and ("held by " .. hold_text(hold)) or "no longer held"
  end
  if stored.folder ~= folder then parts[#parts + 1] = "folder " .. tostring(stored.folder) .. " -> " .. tostring(folder) end
  local t0, t1 = table.concat(stored_tags or {}, ","), table.concat(tags or {}, ",")
  if stored_tags and t0 ~= t1 then parts[#parts + 1] = "tags " .. (t0 ~= "" and t0 or "none") .. " -> " .. (t1 ~= "" and t1 or "none") end
  return #parts > 0 and table.concat(parts, "; ") or "edited at the cart"
end

-- The hold an update leaves: an operator's hold stays until an operator releases it.
local function kept_hold(stored, rec)
  local before = hold_of(stored)
  if before and before.kind == "operator" then return before end
  return rec.hold
end

local function decide_import(stored, rec, how)
  local o = rec.doc
  if stored and how.raw_same then return { skip = "unchanged" } end
  if not stored and not o.raw_only then
    if how.earliest and o.created_at and o.created_at < how.earliest then return { skip = "early" } end
    if how.statuses and not how.statuses[o.cart_status] then return { skip = "status" } end
  end
  -- an older copy than the one stored (a re-read window, a late retry) never overwrites it
  if stored and o.updated_at and stored.updated_at and o.updated_at < stored.updated_at then
    return { skip = "older" }
  end
  if not stored then
    local folder = rec.folder or how.folder or "new"
    local c = o.customer
    -- a new order's event says it arrived ("imported", its cart status) or arrived held
    return {
      insert = row_of(how.cart, rec, rec.hold, folder), lines = line_rows(o), tags = rec.tags or {},
      events = { rec.hold and { kind = "held", detail = rec.hold.reason } or { kind = "imported", detail = o.cart_status } },
      customer = c and type(c.email) == "string" and { email = c.email:lower(), first_name = c.first_name,
        last_name = c.last_name, phone = c.phone, created_at = o.created_at } or nil,
      hold = rec.hold,
    }
  end
  return nil -- an update: as a rerun does it
end

local function decide_update(stored, rec, how, stored_tags)
  local hold = kept_hold(stored, rec)
  local folder = rec.folder or stored.folder or how.folder or "new"
  local tags = rec.tags or {}
  if how.kind == "rerun" then
    local before = decided(how.stored_doc, hold_of(stored), stored.folder, stored_tags)
    local after = decided(rec.doc, hold, folder, tags)
    if #M.diff(before, after) == 0 and #M.doc_diff(how.stored_doc, rec.doc) == 0 then return { skip = "unchanged" } end
  end
  local events = { { kind = how.event or "updated", detail = change_detail(stored, rec, hold, folder, tags, stored_tags) } }
  local before = hold_of(stored)
  if hold and hold.kind ~= "operator" and (not before or before.rule ~= hold.rule or before.reason ~= hold.reason) then
    events[2] = { kind = "held", detail = hold.reason }
  end
  local row = row_of(how.cart, rec, hold, folder)
  row.id = stored.id
  return { update = row, lines = line_rows(rec.doc), tags = tags, events = events, hold = hold }
end

--- The action for one order. stored_tags: the stored order's tags (a rerun compares them).
function M.decide(stored, rec, how, stored_tags)
  local kind = how.kind
  if kind == "release" then
    local before = hold_of(stored)
    if not before then return { skip = "not held" } end
    local waived = (before.kind == "operator" and "operator's hold" or ("[" .. before.kind .. " " .. before.rule .. "]"))
      .. ": " .. tostring(before.reason)
    return { set_hold = { id = stored.id }, released = before,
             events = { { kind = "released", detail = "waived " .. waived, note = how.note } } }
  elseif kind == "hold" then
    local before = hold_of(stored)
    if before and before.kind == "operator" and before.reason == how.reason then return { skip = "already held" } end
    return { set_hold = { id = stored.id, hold_kind = "operator", hold_rule = "operator", hold_reason = how.reason },
             hold = { kind = "operator", rule = "operator", reason = how.reason },
             events = { { kind = "held", detail = "by an operator: " .. how.reason, note = how.note } } }
  end
  if kind == "import" then
    local action = decide_import(stored, rec, how)
    if action then return action end
  end
  return decide_update(stored, rec, how, stored_tags)
end

--- Writes an action (inside the caller's transaction). Returns "imported" | "updated" |
--- "held" | "released" | nil (a skip).
function M.apply(db, action)
  if action.skip then return nil end
  local id, outcome
  if action.insert then
    local row = action.insert
    id, outcome = assert(db:order_insert(row)), "imported"
    if action.customer then assert(db:customer_seen(action.customer)) end
  elseif action.update then
    id, outcome = action.update.id, "updated"
    assert(db:order_update(action.update))
    assert(db:order_lines_clear{ order_id = id })
    assert(db:order_tags_clear{ order_id = id })
  else
    local h = action.set_hold
    id = h.id
    outcome = h.hold_kind and "held" or "released"
    assert(db:order_set_hold(h))
  end
  if action.lines and action.lines[1] then
    for _, r in ipairs(action.lines) do r.order_id = id end
    assert(db:order_line_add(action.lines))
  end
  if action.tags and action.tags[1] then
    local rows = {}
    for i, t in ipairs(action.tags) do rows[i] = { order_id = id, tag = t } end
    assert(db:order_tag_add(rows))
  end
  local events = action.events
  if events and events[2] then
    for _, e in ipairs(events) do e.order_id = id end
    assert(db:order_event(events))
  elseif events and events[1] then
    events[1].order_id = id
    assert(db:order_event(events[1]))
  end
  return outcome, id
end

return M
