-- The outbox: what was written to be sent to the carts (stock batches, shipments, statuses), listed,
-- and failed entries sent again on request (`outbox retry`), through the flow that owns them.
local ops = require "cartwright.ops"

local M = {}

--- Entries, oldest first. opts: { cart, failed (only failed ones), open (not done) }. Returns
--- { { id, cart, kind, state, attempts, last_error, next_at, created_at, done_at, items } } | nil, err, kind.
function M.list(s, opts)
  opts = opts or {}
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local rows, lerr = db:outbox_list{ cart = opts.cart, failed = opts.failed and 1 or nil, open = opts.open and 1 or nil }
  if not rows then return ops.fail("failed", lerr) end
  return rows
end

--- Makes failed entries due now (one by id, or all) and sends them: stock entries by each
--- cart's push (which sends its open entries first), shipment and status entries by each
--- cart's send (a refused shipment is pending again). Returns { retried = N, pushed = { stock
--- results }, sent = { shipments_out results } } | nil, err, kind.
function M.retry(s, id)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  if id ~= nil then
    id = math.tointeger(tonumber(id))
    if not id then return ops.fail("usage", "ID must be an outbox entry's number") end
    local row = db:outbox_get{ id = id }
    if not row then return ops.fail("not_found", "no outbox entry %d", id) end
    if row.state ~= "failed" then return ops.fail("conflict", "outbox entry %d is %s, not failed", id, row.state) end
  end
  local cart_rows = assert(db:outbox_carts_retry{ id = id })
  local n = assert(db:transaction(function()
    assert(db:shipments_retry{ id = id })
    return assert(db:outbox_retry{ id = id })
  end))
  -- stock entries go with their cart's push; shipments and statuses with their cart's send
  local stock_carts, ship_carts, seen = {}, {}, {}
  for _, r in ipairs(cart_rows) do
    local list = r.kind == "stock" and stock_carts or ship_carts
    local k = r.kind == "stock" and "s" .. r.cart or "o" .. r.cart
    if not seen[k] then seen[k], list[#list + 1] = true, r.cart end
  end
  local result = { retried = n, pushed = {}, sent = {} }
  if #stock_carts > 0 then
    local pushed, perr, kind = require("cartwright.ops.stock").push(s, stock_carts, { retry = true })
    if not pushed then return nil, perr, kind end
    result.pushed = pushed
  end
  if #ship_carts > 0 then
    local sent, serr, kind = require("cartwright.ops.ship").send(s, ship_carts, true)
    if not sent then return nil, serr, kind end
    result.sent = sent
  end
  return result
end

return M
