-- cartwright webhooks register CART URL [--json].
local ops = require "cartwright.ops.webhooks"

local M = {}

function M.register(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.register(s, args[1], args[2])
  s:close()
  if not r then return cli.fail(err, kind) end
  if opts.json then
    cli.json(r)
  else
    cli.out("Registered %s webhooks at %s for %s (%s)", r.connector, r.cart, r.url, table.concat(r.topics, ", "))
  end
  return 0
end

return M
