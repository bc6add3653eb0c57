-- cartwright ship-map CODE METHOD [--cart C]: map a cart shipping code to a ship method and
-- release every order held for it; cartwright ship-map --list: the mappings.
local carts = require "cartwright.carts"
local importer = require "cartwright.import"
local json = require "cjson.safe"

local M = {}

local RULE = "reject_unmapped_shipping"

-- Re-runs normalize + rules on each order held for `code`, now that it is mapped.
local function release(db, cfg, code, cart_filter)
  local rows = assert(db:orders_held_for_code{ rule = RULE, code = code, cart = cart_filter })
  local runs, released = {}, 0
  for _, row in ipairs(rows) do
    local run = runs[row.cart]
    if not run then
      local cart, conn = carts.load(cfg, row.cart)
      if not cart then error(conn, 0) end
      run = assert(importer.new(db, cart, conn, { rules_dir = cfg.rules_dir }))
      runs[row.cart] = run
    end
    local rec = run:process(run:decode(row.raw), row.raw)
    importer.store(db, row.cart, rec, row.raw, row)
    if not rec.hold or rec.hold.rule ~= RULE then released = released + 1 end
  end
  return released
end

-- Usage errors before anything is opened: exit 2 with why.
local function check_args(opts, args, cli)
  if opts.list then return true end
  if #args ~= 2 then
    cli.err("usage: cartwright ship-map CODE METHOD [--cart C] | ship-map --list")
    return nil
  end
  if not args[2]:find("%S") then
    cli.err("ship-map: METHOD must not be empty: orders released to an empty ship method could not be shipped")
    return nil
  end
  if (args[1] .. args[2]):find("[%z\1-\31\127]") then
    cli.err("ship-map: CODE and METHOD must not hold control characters")
    return nil
  end
  return true
end

function M.run(opts, args, cli)
  if not check_args(opts, args, cli) then return 2 end
  local cfg, db = cli.open(opts)
  if not cfg then return db end
  if opts.list then
    for _, m in ipairs(assert(db:ship_map_list{})) do
      if opts.json then
        cli.json{ code = m.code, cart = m.cart ~= "" and m.cart or json.null, method = m.method }
      else
        cli.out("%-24s %-16s %s", m.code, m.cart ~= "" and m.cart or "(all carts)", m.method)
      end
    end
    return 0
  end
  local code, method = args[1], args[2]
  if opts.cart and not cfg.carts[opts.cart] then
    cli.err("config error: no cart named \"%s\"", opts.cart)
    return 2
  end
  local released, err = db:transaction(function()
    assert(db:ship_map_set{ code = code, method = method, cart = opts.cart })
    return release(db, cfg, code, opts.cart)
  end)
  if not released then
    cli.err("ship-map failed: %s", err)
    return 1
  end
  if opts.json then
    cli.json{ code = code, method = method, cart = opts.cart or json.null, released = released }
  else
    cli.out("mapped %s -> %s%s; released %d orders", code, method, opts.cart and (" for " .. opts.cart) or "", released)
  end
  db:close()
  return 0
end

return M
