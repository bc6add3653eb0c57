-- cartwright rules check [FILE...] [--sample FILE] [--json] and
-- cartwright rules replay [--cart C] [--since DATE] [--apply] [--json].
local ops = require "cartwright.ops.rules"
local config = require "cartwright.config"
local json = require "cjson.safe"

local M = {}

-- The config when there is one (rules check works without: the shipped rules). cfg | false | nil, code.
local function maybe_config(opts, cli)
  local f = io.open(config.path(opts.config))
  if not f then return false end
  f:close()
  return cli.load_config(opts)
end

local function check_samples(cfg, opts, cli)
  local s = cfg and require("cartwright.ops").session(cfg) or nil
  local list, err, kind = ops.check_samples(s, opts.sample)
  if s then s:close() end
  if not list then return cli.fail(err, kind) end
  local broken = 0
  for _, r in ipairs(list) do
    local h = r.hold
    if h and h.broken then broken = broken + 1 end
    if opts.json then
      cli.json{ line = r.line, cart = r.cart or json.null, number = r.number or json.null,
                held = h and { rule = h.rule, reason = h.reason, broken = h.broken or false } or json.null,
                status = r.status or json.null, method = r.method or json.null, folder = r.folder or json.null,
                tags = cli.list(r.tags) }
    elseif h then
      cli.out("%s %s: held by %s: %s", h.broken and "FAIL" or "held", r.number or ("line " .. r.line), h.rule, h.reason)
    else
      cli.out("ok   %s: status %s, method %s%s", r.number or ("line " .. r.line), tostring(r.status),
        tostring(r.method or "none"), r.folder and (", folder " .. r.folder) or "")
    end
  end
  if broken > 0 then
    cli.err("%d of %d orders failed a rule", broken, #list)
    return 2
  end
  return 0
end

function M.check(args, opts, cli)
  local cfg, code = maybe_config(opts, cli)
  if cfg == nil then return code end
  if opts.sample then return check_samples(cfg, opts, cli) end
  local failed = 0
  for _, r in ipairs(ops.check(cfg or nil, args)) do
    if r.error then
      failed = failed + 1
      cli.err("%s", r.error)
    end
    if opts.json then
      cli.json{ file = r.file, orders = r.orders or 0, held = r.held or 0, error = r.error or json.null }
    elseif not r.error then
      cli.out("ok   %s: %d sample orders, %d held", r.file, r.orders, r.held)
    end
  end
  return failed == 0 and 0 or 2
end

local function show(v) return v == nil and "none" or tostring(v) end

function M.replay(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.replay(s, { cart = opts.cart, since = opts.since, apply = opts.apply })
  s:close()
  if not r then return cli.fail(err, kind) end
  for _, item in ipairs(r.items) do
    if opts.json then
      local changes = cli.list()
      for i, c in ipairs(item.changes) do changes[i] = { field = c[1], before = c[2] or json.null, after = c[3] or json.null } end
      cli.json{ cart = item.cart, external_id = item.external_id, number = item.number or json.null,
                before = item.before, after = item.after, changes = changes, applied = opts.apply or false }
    else
      local parts = {}
      for i, c in ipairs(item.changes) do parts[i] = string.format("%s %s -> %s", c[1], show(c[2]), show(c[3])) end
      cli.out("%s %s: %s", item.cart, item.number or item.external_id, table.concat(parts, "; "))
    end
  end
  if not opts.json then
    cli.out("replayed %d orders: %d %s", r.seen, r.changed,
      opts.apply and ("changed, " .. r.applied .. " written") or "would change (nothing written)")
  end
  return 0
end

return M
