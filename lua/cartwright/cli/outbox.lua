-- cartwright outbox [--cart C] [--failed] [--json], outbox retry ID|--all [--json].
local ops = require "cartwright.ops.outbox"
local remote = require "cartwright.cli.remote"
local render = require "cartwright.cli.stock"
local json = require "cjson.safe"

local M = {}

local function null(v) if v == nil then return json.null end return v end

function M.list(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local rows, err, kind = ops.list(s, { cart = opts.cart, failed = opts.failed })
  s:close()
  if not rows then return cli.fail(err, kind) end
  for _, e in ipairs(rows) do
    if opts.json then
      -- items: the figures of a stock batch (a shipment or status entry has none)
      cli.json{ id = e.id, cart = e.cart, kind = e.kind, state = e.state, attempts = e.attempts,
                items = e.kind == "stock" and (e.items or 0) or null(nil),
                last_error = null(e.last_error), next_at = null(e.next_at), created_at = e.created_at,
                done_at = null(e.done_at), key = e.key }
    else
      cli.out("%-6d %-16s %-8s %-8s %9s  %d attempts  %s%s%s", e.id, e.cart, e.kind, e.state,
        e.kind == "stock" and string.format("%d items", e.items or 0) or "",
        e.attempts, e.created_at, e.next_at and ("  next " .. e.next_at) or "",
        e.last_error and ("  " .. e.last_error) or "")
    end
  end
  if not opts.json then cli.out("%d entries", #rows) end
  return 0
end

function M.retry(args, opts, cli)
  if (opts.all and #args > 0) or (not opts.all and #args ~= 1) then
    cli.err("usage: cartwright outbox retry ID|--all [--json]")
    return 2
  end
  local s, code = cli.session(opts)
  if not s then return code end
  local function here() return ops.retry(s, args[1]) end
  local r, err, kind -- one entry through a running service; --all here
  if args[1] then
    r, err, kind = remote.change(s, { path = "/api/v1/outbox/" .. remote.seg(args[1]) .. "/retry" }, here)
  else
    r, err, kind = here()
  end
  local failed = r and render.render_pushes(cli, opts, r.pushed)
  s:close()
  if not r then return cli.fail("outbox retry: " .. err, kind) end
  for _, x in ipairs(r.sent) do
    if not x.ok then failed = failed + 1 end
    if x.ok and not opts.json then cli.out("%s: sent %d to the cart", x.cart, x.sent) end
    if not x.ok then cli.err("%s: %s", x.cart, tostring(x.error)) end
  end
  if opts.json then cli.json{ retried = r.retried } else cli.out("%d entries sent again", r.retried) end
  return failed == 0 and 0 or 1
end

return M
