-- cartwright connector check CART [--since DATE] [--write] [--json] and
-- cartwright connector new NAME [--dir DIR]: the connector kit (ops/connector*.lua).
local ops = require "cartwright.ops.connector"
local json = require "cjson.safe"

local M = {}

function M.check(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.check(s, args[1], { since = opts.since, write = opts.write })
  s:close()
  if not r then return cli.fail(err, kind) end
  if opts.write and not opts.json then
    cli.out("note: --write: this connector has no write capabilities yet; nothing is written to the cart")
  end
  for _, c in ipairs(r.checks) do
    if opts.json then
      cli.json{ check = c.name, ok = c.ok == nil and json.null or c.ok, skipped = c.ok == nil, detail = c.detail }
    elseif c.ok then
      cli.out("ok   %s (%s)", c.name, c.detail)
    elseif c.ok == nil then
      cli.out("skip %s: %s", c.name, c.detail)
    else
      cli.out("FAIL %s: %s", c.name, c.detail)
    end
  end
  if opts.json then
    cli.json{ cart = r.cart, connector = r.connector, ok = r.ok, written = false }
  end
  return r.ok and 0 or 1
end

function M.new(args, opts, cli)
  local r, err, kind = require("cartwright.ops.connector_new").new(args[1], { dir = opts.dir })
  if not r then return cli.fail(err, kind) end
  if opts.json then
    cli.json{ name = r.name, files = cli.list(r.files) }
  else
    for _, f in ipairs(r.files) do cli.out("wrote %s", f) end
    cli.out("next: fill in %s, then `cartwright connector check CART` (docs/connectors.md)", r.files[2])
  end
  return 0
end

return M
