-- cartwright ship-map CODE METHOD [--cart C] [--json] | ship-map --list [--json].
local ops = require "cartwright.ops.ship_map"
local remote = require "cartwright.cli.remote"
local json = require "cjson.safe"

local M = {}

function M.run(args, opts, cli)
  if (opts.list and #args > 0) or (not opts.list and #args ~= 2) then
    cli.err("usage: cartwright ship-map CODE METHOD [--cart C] [--json] | ship-map --list [--json]")
    return 2
  end
  -- the arguments are checked before anything is opened
  if not opts.list and not args[2]:find("%S") then
    return cli.fail("ship-map: METHOD must not be empty: orders released to an empty ship method could not be shipped", "usage")
  end
  local s, code = cli.session(opts)
  if not s then return code end
  if opts.list then
    local list, err, kind = ops.list(s)
    s:close()
    if not list then return cli.fail(err, kind) end
    for _, m in ipairs(list) do
      if opts.json then
        cli.json{ code = m.code, cart = m.cart or json.null, method = m.method }
      else
        cli.out("%-24s %-16s %s", m.code, m.cart or "(all carts)", m.method)
      end
    end
    return 0
  end
  local route = { path = "/api/v1/ship-map", body = { code = args[1], method = args[2], cart = opts.cart } }
  local r, err, kind = remote.change(s, route, function() return ops.set(s, args[1], args[2], opts.cart) end)
  s:close()
  if not r then return cli.fail((kind == "usage" and "ship-map: " or "") .. err, kind) end
  if opts.json then
    cli.json{ code = r.code, method = r.method, cart = r.cart or json.null, released = r.released }
  else
    cli.out("mapped %s -> %s%s; released %d orders", r.code, r.method, r.cart and (" for " .. r.cart) or "", r.released)
  end
  return 0
end

return M
