-- cartwright carts [--json] and cartwright test CART [--json].
local ops = require "cartwright.ops.carts"
local json = require "cjson.safe"

local M = {}

function M.list(_, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local list, err, kind = ops.status(s)
  s:close()
  if not list then return cli.fail(err, kind) end
  for _, c in ipairs(list) do
    if opts.json then
      local null = json.null
      cli.json{ name = c.name, connector = c.connector, active = c.active, url = c.url or null, folder = c.folder,
                watermark = c.watermark or null, last_import = c.last_import or null,
                last_summary = c.last_summary or null, last_error = c.last_error or null }
    else
      cli.out(string.format("%-20s %-12s %-8s %-40s watermark=%s last_import=%s", c.name, c.connector,
        c.active and "active" or "inactive", c.url or "-", c.watermark or "-", c.last_import or "-"))
    end
  end
  return 0
end

function M.test(args, opts, cli)
  local s, code = cli.session(opts)
  if not s then return code end
  local r, err, kind = ops.test(s, args[1])
  s:close()
  if not r then return cli.fail(err, kind) end
  if opts.json then
    cli.json(r)
  elseif r.ok then
    cli.out("Test passed: %s %s (%s)", r.connector, tostring(r.api_version), tostring(r.shop))
  else
    cli.out("Test failed: " .. r.reason)
  end
  return r.ok and 0 or 1
end

return M
