-- cartwright stock [--sku S] [--cart C], stock set, stock import, stock push, stock unmapped,
-- alias set, alias import: parse, call ops/stock.lua (set and import through a running service:
-- cli/remote.lua), render.
local ops = require "cartwright.ops.stock"
local remote = require "cartwright.cli.remote"
local json = require "cjson.safe"

local M = {}

local function null(v) if v == nil then return json.null end return v end

-- One line per push (stock_out results); returns how many failed.
local function render_pushes(cli, opts, pushed)
  local failed = 0
  for _, r in ipairs(pushed or {}) do
    if opts.json then
      cli.json{ push = r.cart, ok = r.ok, sent = r.sent, batches = r.batches, calls = r.calls or 0,
                missing_new = cli.list(r.missing_new), unaliased = cli.list(r.unaliased),
                item_errors = cli.list(r.item_errors), rule_errors = cli.list(r.rule_errors), stale = r.stale or 0,
                reimported = r.reimported or false, resumed = r.resumed or 0, error = null(r.error) }
    else
      cli.out("%s: sent %d figures in %d batches%s%s%s", r.cart, r.sent or 0, r.batches or 0,
        (r.resumed or 0) > 0 and string.format(" (%d resumed)", r.resumed) or "",
        r.reimported and " (the cart sold meanwhile: its orders imported first)" or "",
        #(r.unaliased or {}) > 0 and string.format("; %d SKUs without the alias skipped", #r.unaliased) or "")
      if #(r.missing_new or {}) > 0 then
        cli.out("%s: %d SKUs not found at the cart: %s (cartwright stock unmapped %s)", r.cart, #r.missing_new,
          table.concat(r.missing_new, ", ", 1, math.min(#r.missing_new, 10)), r.cart)
      end
      for _, e in ipairs(r.item_errors or {}) do cli.out("%s: %s refused: %s", r.cart, e.sku, e.error) end
      for _, e in ipairs(r.rule_errors or {}) do cli.out("%s: %s not sent: %s", r.cart, e.sku, e.error) end
    end
    if not r.ok then
      failed = failed + 1
      cli.err("stock push %s failed: %s", r.cart, tostring(r.error))
    end
  end
  return failed
end
M.render_pushes = render_pushes

local function changed(cli, opts, r)
  for _, row in ipairs(r.rows) do
    if opts.json then
      cli.json{ sku = row.sku, warehouse = row.warehouse, on_hand = row.on_hand }
    elseif #r.rows == 1 then
      cli.out("%s in %s: on hand %d", row.sku, row.warehouse, row.on_hand)
    end
  end
  if not opts.json and #r.rows ~= 1 then cli.out("%d figures set", #r.rows) end
  return render_pushes(cli, opts, r.pushed) == 0 and 0 or 1
end

function M.set(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local item = { sku = args[1], warehouse = opts.warehouse or ops.DEFAULT_WAREHOUSE,
    quantity = math.tointeger(tonumber(args[2])) or args[2] }
  local r, err, kind = remote.change(s, { path = "/api/v1/stock", body = { items = { item } } },
    function() return ops.set(s, args[1], args[2], opts.warehouse) end)
  local rc = r and changed(cli, opts, r)
  s:close()
  if not r then return cli.fail("stock set: " .. err, kind) end
  return rc
end

function M.import(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  -- the file is read and checked here (its errors name file:line); the figures go through a
  -- running service as one all-or-nothing batch
  local rows, rerr = ops.read_csv(args[1])
  local r, err, kind
  if not rows then r, err, kind = nil, rerr, "usage"
  else
    local items = {}
    for i, row in ipairs(rows) do items[i] = { sku = row.sku, warehouse = row.warehouse, quantity = row.on_hand } end
    r, err, kind = remote.change(s, { path = "/api/v1/stock", body = { items = items } },
      function() return ops.import(s, args[1]) end)
  end
  local rc = r and changed(cli, opts, r)
  s:close()
  if not r then return cli.fail("stock import: " .. err .. (kind == "usage" and " (nothing was imported)" or ""), kind) end
  return rc
end

function M.show(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.show(s, { sku = opts.sku, cart = opts.cart })
  s:close()
  if not list then return cli.fail(err, kind) end
  for _, row in ipairs(list) do
    if opts.json then
      local cs = {}
      for i, c in ipairs(row.carts) do
        cs[i] = { cart = c.cart, cart_sku = null(c.cart_sku), available = null(c.available), accepted = null(c.accepted),
                  skipped = null(c.skipped) }
      end
      cli.json{ sku = row.sku, on_hand = row.on_hand, on_hand_total = row.on_hand_total, reserved = row.reserved,
                carts = cli.list(cs) }
    else
      local wh = {}
      for _, w in ipairs(require("cartwright.schema").sorted_keys(row.on_hand)) do wh[#wh + 1] = w .. " " .. row.on_hand[w] end
      local cs = {}
      for _, c in ipairs(row.carts) do
        if c.available then
          cs[#cs + 1] = string.format("%s %d (accepted %s)", c.cart, c.available, c.accepted and tostring(c.accepted) or "-")
        else
          cs[#cs + 1] = string.format("%s skipped: %s", c.cart, c.skipped or "?")
        end
      end
      cli.out("%s  on hand %d (%s)  reserved %d%s", row.sku, row.on_hand_total, table.concat(wh, ", "), row.reserved,
        #cs > 0 and ("  " .. table.concat(cs, "; ")) or "")
    end
  end
  if not opts.json then cli.out("%d SKUs", #list) end
  return 0
end

function M.push(args, opts, cli)
  if (opts.all and #args > 0) or (not opts.all and #args ~= 1) then
    cli.err("usage: cartwright stock push CART|--all [--full] [--json]")
    return 2
  end
  local s, code = cli.session(opts)
  if not s then return code end
  local results, err, kind = ops.push(s, { args[1] }, { all = opts.all, full = opts.full })
  local failed = results and render_pushes(cli, opts, results)
  s:close()
  if not results then return cli.fail(err, kind) end
  return failed == 0 and 0 or 1
end

function M.unmapped(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.unmapped(s, args[1])
  s:close()
  if not list then return cli.fail(err, kind) end
  for _, m in ipairs(list) do
    if opts.json then cli.json{ cart = args[1], sku = m.sku, at = m.at } else cli.out("%s  (not found %s)", m.sku, m.at) end
  end
  if not opts.json then cli.out("%d SKUs not found at %s", #list, args[1]) end
  return 0
end

function M.alias_set(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.alias_set(s, args[1], args[2], args[3])
  s:close()
  if not r then return cli.fail("alias set: " .. err, kind) end
  if opts.json then cli.json(r) else cli.out("%s is %s for %s carts", r.sku, r.alias, r.type) end
  return 0
end

function M.alias_import(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.alias_import(s, args[1])
  s:close()
  if not r then return cli.fail("alias import: " .. err .. (kind == "usage" and " (nothing was imported)" or ""), kind) end
  if opts.json then
    for _, row in ipairs(r.rows) do cli.json(row) end
  else
    cli.out("%d aliases set", #r.rows)
  end
  return 0
end

return M
