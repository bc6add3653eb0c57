-- The outbox: what was written to be sent to the carts (stock batches; shipments next), listed,
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

--- Makes failed entries due now (one by id, or all) and sends them (each cart's push, which
--- sends its open entries first). Returns { retried = N, pushed = { results } } | nil, err, kind.
function M.retry(s, id)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  if id ~= nil then
    id = math.tointeger(tonumber(id))
    if not id then return ops.fail("usage", "ID must be an outbox entry's number") end
    local row = db:outbox_get{ id = id }
    if not row then return ops.fail("not_found", "no outbox entry %d", id) end
    if row.state ~= "failed" then return ops.fail("usage", "outbox entry %d is %s, not failed", id, row.state) end
  end
  local cart_rows = assert(db:outbox_carts_retry{ id = id })
  local n = assert(db:outbox_retry{ id = id })
  local names = {}
  for i, r in ipairs(cart_rows) do names[i] = r.cart end
  if #names == 0 then return { retried = 0, pushed = {} } end
  local pushed, perr, kind = require("cartwright.ops.stock").push(s, names, { retry = true })
  if not pushed then return nil, perr, kind end
  return { retried = n, pushed = pushed }
end

return M
