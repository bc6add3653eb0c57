-- Ship methods: map a cart's shipping code to one of the back office's ship methods (for every
-- cart, or one), and run the rules again on every order held for that code, so the ones the map
-- was waiting for are released. The re-run goes through orders/decide.lua like every change.
local carts = require "cartwright.carts"
local orders_in = require "cartwright.flows.orders_in"
local decide = require "cartwright.orders.decide"
local ops = require "cartwright.ops"

local M = {}

local RULE = "reject_unmapped_shipping"

--- The mappings: { { code, cart (nil for every cart), method }, ... } | nil, err, kind.
function M.list(s)
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local out = {}
  for i, m in ipairs(assert(db:ship_map_list{})) do
    out[i] = { code = m.code, cart = m.cart ~= "" and m.cart or nil, method = m.method }
  end
  return out
end

-- The runs (one per cart) that re-process stored orders.
local function runner(s)
  local runs = {}
  return function(name)
    local run = runs[name]
    if run == nil then
      local cart, conn = carts.load(s.cfg, name)
      if not cart then error(conn, 0) end
      run = assert(orders_in.new(s.db, cart, conn, { rules_dir = s.cfg.rules_dir }))
      runs[name] = run
    end
    return run
  end
end

--- Maps `code` to `method` (for `cart`, or every cart when nil) and releases the orders held
--- for it. Returns { code, method, cart, released = N } | nil, err, kind.
function M.set(s, code, method, cart)
  if type(code) ~= "string" or type(method) ~= "string" then return ops.fail("usage", "ship-map needs CODE and METHOD") end
  if not method:find("%S") then
    return ops.fail("usage", "METHOD must not be empty: orders released to an empty ship method could not be shipped")
  end
  if (code .. method):find("[%z\1-\31\127]") then return ops.fail("usage", "CODE and METHOD must not hold control characters") end
  if cart and not s.cfg.carts[cart] then return ops.fail("config", "no cart named \"%s\"", cart) end
  local db, err = s:open()
  if not db then return ops.fail("failed", err) end
  local run_for = runner(s)
  local released, terr = db:transaction(function()
    assert(db:ship_map_set{ code = code, method = method, cart = cart })
    local n = 0
    for _, row in ipairs(assert(db:orders_held_for_code{ rule = RULE, code = code, cart = cart })) do
      local run = run_for(row.cart)
      local rec = run:process(run:decode(row.raw), row.raw)
      local action = decide.decide(row, rec, { kind = "rerun", cart = row.cart, event = "remapped",
                                               stored_doc = run:decode_doc(row.doc) }, run:stored_tags(row))
      decide.apply(db, action)
      local after = action.skip and decide.hold_of(row) or action.hold
      if not after or after.rule ~= RULE then n = n + 1 end
    end
    return n
  end)
  if not released then return ops.fail("failed", terr) end
  return { code = code, method = method, cart = cart, released = released }
end

return M
