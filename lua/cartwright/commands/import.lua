-- cartwright import CART|--all [--since DATE] [--dry-run]: download new and changed orders.
local carts = require "cartwright.carts"
local importer = require "cartwright.import"
local log = require "cartwright.log"
local rules = require "cartwright.rules"

local M = {}

local function import_one(db, cfg, cart, conn, opts, cli)
  local run, err = importer.new(db, cart, conn, {
    since = opts.since, dry_run = opts["dry-run"], rules_dir = cfg.rules_dir,
    progress = log.isatty(2) and function(st)
      cli.progress("%s: %d orders seen, page %d", cart.name, st.seen, st.pages)
    end or nil,
  })
  if not run then return nil, err, cart.name .. ": not started" end
  local stats, rerr, partial = run:run()
  if log.isatty(2) then io.stderr:write("\r\27[K") end
  local st = stats or partial
  local summary = importer.summary(cart.name, st)
  if not opts["dry-run"] then
    db:cart_finish_import{ name = cart.name, summary = summary, error = rerr }
  end
  return stats, rerr, summary
end

function M.run(opts, args, cli)
  if (opts.all and #args > 0) or (not opts.all and #args ~= 1) then
    cli.err("usage: cartwright import CART|--all [--since DATE] [--dry-run]")
    return 2
  end
  local cfg, code = cli.load_config(opts)
  if not cfg then return code end
  local names = opts.all and cfg.cart_order or { args[1] }
  local list = {}
  for _, name in ipairs(names) do
    local cart, conn = carts.load(cfg, name)
    if not cart then
      cli.err("config error: %s", conn)
      return 2
    end
    if cart.active or not opts.all then
      local resolved, rerr = carts.resolve(cart, conn) -- only the carts this run talks to
      if not resolved then
        cli.err("config error: %s", rerr)
        return 2
      end
      list[#list + 1] = { resolved, conn }
    end
    -- a rule file that does not load is a config error, found before anything is downloaded
    local ok, rerr = rules.load_list(cart.rules, cfg.rules_dir)
    if not ok then
      cli.err("config error: cart \"%s\": %s", name, rerr)
      return 2
    end
  end
  local db, derr = carts.open_db(cfg)
  if not db then
    cli.err("%s", derr)
    return 1
  end
  local failed = 0
  for _, cc in ipairs(list) do
    local stats, err, summary = import_one(db, cfg, cc[1], cc[2], opts, cli)
    if opts.json then
      cli.json{ cart = cc[1].name, ok = stats ~= nil, error = err, summary = summary, dry_run = opts["dry-run"] or false }
    else
      cli.out(summary .. (opts["dry-run"] and " (dry run: nothing written)" or ""))
    end
    if not stats then
      failed = failed + 1
      cli.err("import %s failed: %s (orders stored before the failure are kept; run again to continue)", cc[1].name, err)
    end
  end
  db:close()
  return failed == 0 and 0 or 1
end

return M
