-- cartwright orders [--cart C] [--status S] [--held] [--json]: stored orders.
local json = require "cjson.safe"
local jraw = require "cartwright.jsonraw"

local M = {}

--- The JSON form of a stored order row: the normalized order plus identity and hold.
function M.view(row)
  local o = jraw.decode(row.doc) or {}
  o.raw_only = nil
  o.cart, o.external_id, o.number = row.cart, row.external_id, row.number
  o.status, o.cart_status = row.status or json.null, row.cart_status or json.null
  o.created_at, o.updated_at = row.created_at or json.null, row.updated_at or json.null
  o.hold = row.hold_rule and { rule = row.hold_rule, reason = row.hold_reason } or json.null
  o.customer = o.customer or { email = json.null }
  o.shipping = o.shipping or { code = json.null }
  o.lines = o.lines or {}
  return o
end

function M.run(opts, args, cli)
  if #args > 0 then
    cli.err("usage: cartwright orders [--cart C] [--status S] [--held] [--json]")
    return 2
  end
  local cfg, db = cli.open(opts)
  if not cfg then return db end
  local rows, err = db:orders_list{ cart = opts.cart, status = opts.status, held = opts.held and true or nil }
  if not rows then
    cli.err("%s", err)
    return 1
  end
  for _, row in ipairs(rows) do
    if opts.json then
      cli.json(M.view(row))
    else
      local o = jraw.decode(row.doc) or {}
      cli.out(string.format("%-16s %-14s %-12s %-17s %-20s %s", row.cart, row.number or "-", row.status or "-",
        row.cart_status or "-", row.created_at or "-",
        row.hold_rule and ("HELD [" .. row.hold_rule .. "] " .. (row.hold_reason or "")) or
          ((o.customer and o.customer.email) or "")))
    end
  end
  if not opts.json then cli.out("%d orders", #rows) end
  db:close()
  return 0
end

return M
