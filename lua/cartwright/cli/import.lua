-- cartwright import CART|--all [--since DATE] [--dry-run] [--json]: one line per cart.
local ops = require "cartwright.ops.import"
local log = require "cartwright.log"
local carts = require "cartwright.carts"
local remote = require "cartwright.cli.remote"

local M = {}

-- The import of each cart named (or every active one) through a running service, else here;
-- the results merged as ops.run gives them.
local function through_service(s, args, iopts)
  if not remote.service(s) then return ops.run(s, { args[1] }, iopts) end
  local names = { args[1] }
  if iopts.all then
    names = {}
    for _, name in ipairs(s.cfg.cart_order or {}) do
      local cart = carts.load(s.cfg, name)
      if cart and cart.active then names[#names + 1] = name end
    end
  end
  local merged = { pushed = {}, sent = {} }
  for _, name in ipairs(names) do
    local route = { path = "/api/v1/carts/" .. remote.seg(name) .. "/import",
      body = { since = iopts.since, dry_run = iopts.dry_run or nil, wait = math.min(iopts.wait, 300) },
      unwrap = function(v)
        local r = v.results or {}
        r.pushed, r.push_error, r.sent, r.send_error = v.pushed, v.push_error, v.sent, v.send_error
        return r
      end }
    local here = function() return ops.run(s, { name }, { since = iopts.since, dry_run = iopts.dry_run,
      wait = iopts.wait, progress = iopts.progress }) end
    local r, err, kind = remote.change(s, route, here)
    if not r then return nil, err, kind end
    for _, x in ipairs(r) do merged[#merged + 1] = x end
    for _, x in ipairs(r.pushed or {}) do merged.pushed[#merged.pushed + 1] = x end
    for _, x in ipairs(r.sent or {}) do merged.sent[#merged.sent + 1] = x end
    merged.push_error = merged.push_error or r.push_error
    merged.send_error = merged.send_error or r.send_error
  end
  return merged
end

function M.run(args, opts, cli)
  if (opts.all and #args > 0) or (not opts.all and #args ~= 1) then
    cli.err("usage: cartwright import CART|--all [--since DATE] [--dry-run] [--wait SECONDS] [--json]")
    return 2
  end
  local s, code = cli.session(opts)
  if not s then return code end
  local tty = log.isatty(2)
  local iopts = { all = opts.all, since = opts.since, dry_run = opts["dry-run"], wait = tonumber(opts.wait) or 30,
    progress = tty and function(name, st) cli.progress("%s: %d orders seen, page %d", name, st.seen, st.pages) end or nil }
  local results, err, kind = through_service(s, args, iopts)
  if tty then cli.progress_done() end
  s:close()
  if not results then return cli.fail(err, kind) end
  local failed = 0
  for _, r in ipairs(results) do
    if opts.json then
      cli.json(r)
    else
      cli.out(r.summary .. (r.dry_run and " (dry run: nothing written)" or ""))
    end
    if not r.ok then
      failed = failed + 1
      if r.busy then cli.err("import %s: %s", r.cart, r.error)
      else cli.err("import %s failed: %s (orders stored before the failure are kept; run again to continue)", r.cart, r.error) end
    end
  end
  -- the pushes to the other syncing carts when the import changed what open orders reserve
  if results.push_error then
    failed = failed + 1
    cli.err("pushing stock after the import: %s", results.push_error)
  end
  failed = failed + require("cartwright.cli.stock").render_pushes(cli, opts, results.pushed)
  -- shipments and statuses due at the imported carts (after_import_status)
  if results.send_error then
    failed = failed + 1
    cli.err("sending shipments and statuses after the import: %s", results.send_error)
  end
  for _, r in ipairs(results.sent or {}) do
    if opts.json then
      cli.json{ send = r.cart, ok = r.ok, sent = r.sent, found = r.found, error = r.error }
    elseif r.ok then
      cli.out("%s: sent %d shipments and statuses to the cart", r.cart, r.sent)
    end
    if not r.ok then
      failed = failed + 1
      cli.err("%s: %s", r.cart, tostring(r.error))
    end
  end
  return failed == 0 and 0 or 1
end

return M
