-- cartwright orders [filters] [--json], orders show ORDER [--json], release ORDER [--note],
-- hold ORDER --reason TEXT [--note]. The changes go through a running service (cli/remote.lua).
local ops = require "cartwright.ops.orders"
local remote = require "cartwright.cli.remote"
local json = require "cjson.safe"

local M = {}

local function line_of(row, tags, email)
  local hold = row.hold_rule and ("HELD [" .. (row.hold_kind == "operator" and "operator" or row.hold_rule) .. "] "
    .. (row.hold_reason or "")) or (email or "")
  local tagtext = #tags > 0 and ("#" .. table.concat(tags, " #") .. " ") or ""
  return string.format("%-16s %-14s %-16s %-17s %-20s %-10s %s%s", row.cart, row.number or "-", row.status or "-",
    row.cart_status or "-", row.created_at or "-", row.folder or "new", tagtext, hold)
end

function M.list(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.list(s, { cart = opts.cart, status = opts.status, held = opts.held and true or nil,
                                        folder = opts.folder, tag = opts.tag })
  if not list then
    s:close()
    return cli.fail(err, kind)
  end
  for _, item in ipairs(list) do
    local view = ops.view(item.row, item.tags)
    if opts.json then
      cli.json(view)
    else
      cli.out(line_of(item.row, item.tags, type(view.customer) == "table" and type(view.customer.email) == "string"
        and view.customer.email or nil))
    end
  end
  if not opts.json then cli.out("%d orders", #list) end
  s:close()
  return 0
end

local function show_human(r, cli)
  local row, v = r.row, r.view
  cli.out("%s:%s  %s", row.cart, row.external_id, row.number or "-")
  cli.out("  status        %s (cart: %s)", row.status or "-", row.cart_status or "-")
  cli.out("  created       %s   updated %s", row.created_at or "-", row.updated_at or "-")
  cli.out("  folder        %s", row.folder or "new")
  cli.out("  tags          %s", #r.tags > 0 and table.concat(r.tags, ", ") or "-")
  if row.hold_rule then
    cli.out("  HELD          [%s %s] %s", row.hold_kind or "rule", row.hold_rule, row.hold_reason or "")
  else
    cli.out("  hold          none")
  end
  local c = type(v.customer) == "table" and v.customer or {}
  cli.out("  customer      %s", type(c.email) == "string" and c.email or "-")
  local sh = type(v.shipping) == "table" and v.shipping or {}
  cli.out("  shipping      %s -> %s", type(sh.code) == "string" and sh.code or "-", type(sh.method) == "string" and sh.method or "(no method)")
  cli.out("  lines")
  for _, l in ipairs(r.lines) do
    cli.out("    %2d  %-20s x%-4d %8s%s", l.line_no, l.sku or "(no sku)", l.quantity, l.price or "-",
      l.unknown_sku == 1 and "  unknown SKU" or "")
  end
  cli.out("  history")
  for _, e in ipairs(r.events) do
    cli.out("    %s  %-10s %s%s", e.at, e.kind, e.detail or "", e.note and ("  (note: " .. e.note .. ")") or "")
  end
end

function M.show(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.show(s, args[1])
  s:close()
  if not r then return cli.fail(err, kind) end
  if opts.json then
    local events = cli.list()
    for i, e in ipairs(r.events) do
      events[i] = { at = e.at, kind = e.kind, detail = e.detail or json.null, note = e.note or json.null }
    end
    local lines = cli.list()
    for i, l in ipairs(r.lines) do
      lines[i] = { line_no = l.line_no, sku = l.sku or json.null, quantity = l.quantity, price = l.price or json.null,
                   unknown_sku = l.unknown_sku == 1 }
    end
    r.view.events, r.view.stored_lines = events, lines
    cli.json(r.view)
  else
    show_human(r, cli)
  end
  return 0
end

local function change(fn, route, args, opts, cli, ...)
  local s, code = cli.session(opts)
  if not s then return code end
  local extra = table.pack(...)
  local r, err, kind = remote.change(s, route, function() return fn(s, args[1], table.unpack(extra, 1, extra.n)) end)
  s:close()
  if not r then return cli.fail(err, kind) end
  if opts.json then
    cli.json{ cart = r.cart, external_id = r.external_id, number = r.number or json.null, outcome = r.outcome,
              waived = r.waived or json.null, hold = r.hold or json.null }
  elseif r.outcome == "released" then
    cli.out("released %s (%s:%s): waived [%s %s] %s", r.number or "-", r.cart, r.external_id, r.waived.kind,
      r.waived.rule, r.waived.reason or "")
  elseif r.outcome == "held" then
    cli.out("held %s (%s:%s): %s", r.number or "-", r.cart, r.external_id, r.hold.reason)
  else
    cli.out("%s (%s:%s): already so, nothing changed", r.number or "-", r.cart, r.external_id)
  end
  return 0
end

function M.release(args, opts, cli)
  local route = { path = "/api/v1/orders/" .. remote.seg(args[1]) .. "/release", body = { note = opts.note } }
  return change(ops.release, route, args, opts, cli, opts.note)
end

function M.hold(args, opts, cli)
  local route = { path = "/api/v1/orders/" .. remote.seg(args[1]) .. "/hold",
    body = { reason = opts.reason, note = opts.note } }
  return change(ops.hold, route, args, opts, cli, opts.reason, opts.note)
end

return M
