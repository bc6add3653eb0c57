-- Test connectors: the real one of `family`, except that normalize fails on any order the
-- simulator marked with cartwright_test_break — an order the connector cannot read. The mark
-- is looked for in the raw bytes, since connectors may decode only the fields they use.
-- The package tests/connectors/brittle_<family>/ is init.lua = M.package(family) and
-- orders.lua = M.orders(family).
local M = {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- The family's declarations under the name brittle_<family>.
function M.package(family)
  local p = copy(require("connectors." .. family))
  p.name = "brittle_" .. family
  return p
end

--- The family's orders hooks, with a normalize that fails on marked orders.
function M.orders(family)
  local base = require("connectors." .. family .. ".orders")
  local c = copy(base)
  local broken = setmetatable({}, { __mode = "k" })
  function c.fetch_orders(ctx, q, on_page)
    return base.fetch_orders(ctx, q, function(raws, docs)
      for i, raw in ipairs(raws) do
        if raw:find("cartwright_test_break", 1, true) then broken[docs[i]] = true end
      end
      return on_page(raws, docs)
    end)
  end
  function c.normalize(ctx, doc)
    if broken[doc] then return nil, "unreadable test order" end
    return base.normalize(ctx, doc)
  end
  return c
end

return M
