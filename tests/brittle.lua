-- Test connectors, each the real one of `family` with one fault:
-- brittle_<family>: normalize fails on any order the simulator marked with cartwright_test_break
-- (an order the connector cannot read; the mark is looked for in the raw bytes, since
-- connectors may decode only the fields they use): init.lua = M.package(family),
-- orders.lua = M.orders(family).
-- text_quantity_<family>: normalize gives the last line of every order whose id ends in 3 its
-- quantity as text ("2"), which the order model refuses: init.lua = M.package(family,
-- "text_quantity_"), orders.lua = M.text_quantity(family).
-- repeating_<family>: every page after the first starts again with the last order of the page
-- before it (an off-by-one cursor): init.lua = M.package(family, "repeating_"), orders.lua =
-- M.repeating(family).
local M = {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- The family's declarations under the name <prefix><family> (prefix "brittle_" by default).
function M.package(family, prefix)
  local p = copy(require("connectors." .. family))
  p.name = (prefix or "brittle_") .. family
  p.capabilities = { orders = true } -- only the orders hooks are here
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

--- The family's orders hooks, with a normalize that writes a quantity as text.
function M.text_quantity(family)
  local base = require("connectors." .. family .. ".orders")
  local c = copy(base)
  function c.normalize(ctx, doc)
    local order, err = base.normalize(ctx, doc)
    if order and order.external_id:sub(-1) == "3" and #order.lines > 0 then
      local line = order.lines[#order.lines]
      line.quantity = tostring(line.quantity)
    end
    return order, err
  end
  return c
end

--- The family's orders hooks, with pages that repeat the previous page's last order.
function M.repeating(family)
  local base = require("connectors." .. family .. ".orders")
  local c = copy(base)
  function c.fetch_orders(ctx, q, on_page)
    local last_raw, last_doc
    return base.fetch_orders(ctx, q, function(raws, docs)
      local r, d = raws, docs
      if last_raw then
        r, d = { last_raw }, { last_doc }
        for i = 1, #raws do r[i + 1], d[i + 1] = raws[i], docs[i] end
      end
      last_raw, last_doc = raws[#raws], docs[#docs]
      return on_page(r, d)
    end)
  end
  return c
end

return M
