-- cartwright ship ORDER --carrier C --tracking T [--url U] [--service S] [--line SKU:QTY …],
-- shipments ORDER, status ORDER STATUS [--note TEXT]; each with --json. Exit 0 when done (and
-- sent, when it is sent), 1 when it was recorded but the cart did not take it (it stays in the
-- outbox), 2 for a refusal (bad usage, more than the unshipped quantity, a marketplace cart).
local ops = require "cartwright.ops.ship"
local remote = require "cartwright.cli.remote"
local json = require "cjson.safe"

local M = {}

local function null(v) if v == nil then return json.null end return v end

-- The send's outcome, for a human or as JSON: sent { ok, sent, found, failed, error } | nil.
local function sent_json(cli, r)
  if not r then return json.null end
  local failed = cli.list()
  for i, f in ipairs(r.failed or {}) do
    failed[i] = { entry = f.entry, kind = f.kind, error = f.error, permanent = f.permanent, next_at = null(f.next_at) }
  end
  return { ok = r.ok, sent = r.sent or 0, found = r.found or 0, failed = failed, error = null(r.error) }
end

local function say_sent(cli, r)
  if not r then return end
  if r.ok then
    cli.out("%s: sent %d to the cart%s", r.cart, r.sent, (r.found or 0) > 0 and string.format(" (%d the cart had already)", r.found) or "")
  else
    cli.err("%s: %s", r.cart, tostring(r.error))
  end
end

local function lines_json(cli, lines)
  local out = cli.list()
  for i, l in ipairs(lines) do out[i] = { line_no = l.line_no, sku = null(l.sku), quantity = l.quantity } end
  return out
end

function M.ship(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local sopts = { carrier = opts.carrier, tracking = opts.tracking, url = opts.url, service = opts.service,
                  lines = opts.line }
  local body, lines = { order = args[1], carrier = opts.carrier, tracking = opts.tracking, url = opts.url,
                        service = opts.service }, {}
  for i, l in ipairs(opts.line or {}) do
    local sku, qty = tostring(l):match("^(.+):(%d+)$")
    lines[i] = sku and { sku = sku, quantity = math.tointeger(tonumber(qty)) } or nil
    if not lines[i] then lines = nil break end -- a malformed --line: said here, as without a service
  end
  if opts.line and #opts.line > 0 then body.lines = lines end
  local route = lines and { path = "/api/v1/shipments", body = body }
  local function here() return ops.ship(s, args[1], sopts) end
  local r, err, kind
  if route then r, err, kind = remote.change(s, route, here) else r, err, kind = here() end
  s:close()
  if not r then return cli.fail("ship: " .. err, kind) end
  local sh = r.shipment
  if opts.json then
    cli.json{ shipment = sh.id, cart = sh.cart, external_id = sh.external_id, number = null(sh.number), carrier = sh.carrier,
              tracking = sh.tracking, url = null(sh.url), service = null(sh.service), state = sh.state,
              cart_id = null(sh.cart_id), error = null(sh.error), lines = lines_json(cli, sh.lines),
              status_entry = null(r.status_entry), sent = sent_json(cli, r.sent) }
  else
    local parts = {}
    for i, l in ipairs(sh.lines) do parts[i] = tostring(l.sku) .. " x" .. l.quantity end
    cli.out("shipment %d of %s (%s:%s): %s %s, %s — %s%s", sh.id, sh.number or "-", sh.cart, sh.external_id, sh.carrier,
      sh.tracking, table.concat(parts, ", "), sh.state, sh.cart_id and (" at the cart as " .. sh.cart_id) or "")
    say_sent(cli, r.sent)
  end
  return (r.sent and not r.sent.ok) and 1 or 0
end

function M.list(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.shipments(s, args[1])
  s:close()
  if not r then return cli.fail(err, kind) end
  for _, sh in ipairs(r.shipments) do
    if opts.json then
      cli.json{ id = sh.id, cart = r.order.cart, external_id = r.order.external_id, carrier = sh.carrier,
                tracking = sh.tracking, url = null(sh.url), service = null(sh.service), created_at = sh.created_at,
                state = sh.state, cart_id = null(sh.cart_id), sent_at = null(sh.sent_at), error = null(sh.error),
                attempts = sh.attempts, last_error = null(sh.last_error), next_at = null(sh.next_at),
                lines = lines_json(cli, sh.lines) }
    else
      local parts = {}
      for i, l in ipairs(sh.lines) do parts[i] = tostring(l.sku) .. " x" .. l.quantity end
      cli.out("%-4d %-10s %-24s %-8s %-12s %s%s", sh.id, sh.carrier, sh.tracking, sh.state, sh.cart_id or "-",
        table.concat(parts, ", "), (sh.error or sh.last_error) and ("  " .. (sh.error or sh.last_error)) or "")
    end
  end
  if not opts.json then cli.out("%d shipments", #r.shipments) end
  return 0
end

function M.status(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.status(s, args[1], args[2], opts.note)
  s:close()
  if not r then return cli.fail("status: " .. err, kind) end
  if opts.json then
    cli.json{ cart = r.cart, external_id = r.external_id, number = null(r.number), status = r.status,
              before = null(r.before), cart_status = null(r.cart_status), pushed = r.pushed,
              not_pushed = null(r.not_pushed), sent = sent_json(cli, r.sent) }
  else
    cli.out("%s (%s:%s): %s -> %s%s", r.number or "-", r.cart, r.external_id, tostring(r.before or "-"), r.status,
      r.pushed and (", cart status " .. r.cart_status) or ("; " .. r.not_pushed))
    say_sent(cli, r.sent)
  end
  return (r.sent and not r.sent.ok) and 1 or 0
end

return M
