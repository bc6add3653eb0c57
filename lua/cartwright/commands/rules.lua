-- cartwright rules check [FILE...]: load rules and run them on sample orders (exit 2 on an
-- error, with file:line). cartwright rules replay [--cart C] [--since DATE]: run stored raw
-- orders through the current rules and print what would change; writes nothing.
local rules = require "cartwright.rules"
local samples = require "cartwright.samples"
local carts = require "cartwright.carts"
local importer = require "cartwright.import"
local jraw = require "cartwright.jsonraw"
local sandbox = require "cartwright.sandbox"

local M = {}

local function rule_names(cfg, files)
  if #files > 0 then return files end
  local names, seen = {}, {}
  for _, name in ipairs(cfg and cfg.cart_order or {}) do
    for _, r in ipairs(cfg.carts[name].rules or carts.default_rules) do
      if not seen[r] then seen[r], names[#names + 1] = true, r end
    end
  end
  if #names == 0 then names = carts.default_rules end
  return names
end

local function check(opts, files, cli)
  local cfg = nil
  local path = require("cartwright.config").path(opts.config)
  local f = io.open(path)
  if f then -- without a config, the shipped rules are checked
    f:close()
    local c, code = cli.load_config(opts)
    if not c then return code end
    cfg = c
  end
  local failed = 0
  for _, name in ipairs(rule_names(cfg, files)) do
    local rule, err = rules.load(name, cfg and cfg.rules_dir)
    if not rule then
      cli.err("%s", err)
      failed = failed + 1
    else
      local held, errors = 0, {}
      for _, s in ipairs(samples.all()) do
        local ctx = sandbox.readonly{ cart = { name = "sample", order_prefix = "S-", connector = s.connector },
          connector = s.connector, ship_method = function(code) return code == "Standard" and "UPS Ground" or nil end }
        local verdict = rules.run({ rule }, s.order, ctx)
        if verdict and verdict.broken then errors[#errors + 1] = verdict.reason
        elseif verdict then held = held + 1 end
      end
      if #errors > 0 then
        cli.err("%s", errors[1])
        failed = failed + 1
      else
        cli.out("ok   %s: %d sample orders, %d held", rule.file, #samples.all(), held)
      end
    end
  end
  return failed == 0 and 0 or 2
end

-- What a person reads: the fields rules decide.
local function decided(o, hold)
  return { status = o.status, number = o.number, method = o.shipping and o.shipping.method,
           hold = hold and hold.rule or nil }
end

local function replay(opts, cli)
  local cfg, db = cli.open(opts)
  if not cfg then return db end
  local runs, seen, changed, after = {}, 0, 0, 0
  local since = opts.since and require("cartwright.time").iso_utc(opts.since)
  for _ = 1, 1e9 do
    local rows = assert(db:orders_raw{ cart = opts.cart, since = since, after = after, limit = 500 })
    if #rows == 0 then break end
    for _, row in ipairs(rows) do
      after = row.id
      seen = seen + 1
      local run = runs[row.cart]
      if run == nil then
        local cart, conn = carts.load(cfg, row.cart)
        run = cart and assert(importer.new(db, cart, conn, { rules_dir = cfg.rules_dir, dry_run = true })) or false
        runs[row.cart] = run
      end
      if run then
        local rec = run:process(run:decode(row.raw), row.raw)
        local old = decided(jraw.decode(row.doc) or {}, row.hold_rule and { rule = row.hold_rule })
        local new = decided(rec.doc, rec.hold)
        local diffs = {}
        for _, k in ipairs{ "status", "number", "method", "hold" } do
          if old[k] ~= new[k] then diffs[#diffs + 1] = string.format("%s %s -> %s", k, tostring(old[k] or "none"), tostring(new[k] or "none")) end
        end
        if #diffs > 0 then
          changed = changed + 1
          if opts.json then
            cli.json{ cart = row.cart, external_id = row.external_id, before = old, after = new }
          else
            cli.out("%s %s: %s", row.cart, row.number or row.external_id, table.concat(diffs, "; "))
          end
        end
      end
    end
  end
  if not opts.json then cli.out("replayed %d orders: %d would change (nothing written)", seen, changed) end
  db:close()
  return 0
end

function M.run(opts, args, cli)
  local sub = table.remove(args, 1)
  if sub == "check" then return check(opts, args, cli) end
  if sub == "replay" and #args == 0 then return replay(opts, cli) end
  cli.err("usage: cartwright rules check [FILE...] | rules replay [--cart C] [--since DATE]")
  return 2
end

return M
