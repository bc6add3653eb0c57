-- The lists of the normalized order (docs/order-model.md): an empty one is still a list, so it
-- is stored and printed as [] (a Lua table cannot tell an empty list from an empty object).
local jraw = require "cartwright.jsonraw"

local M = {}

local mt = jraw.array_mt

--- The keys whose value is a list, for jsonraw.encode(order, lists.KEYS): an empty one is [].
M.KEYS = { lines = true, discounts = true, tags = true, properties = true }

local function mark(t)
  if type(t) == "table" and getmetatable(t) == nil then setmetatable(t, mt) end
end

--- Marks the order's lists: lines, discounts, tags, and each line's properties. In place.
function M.mark(order)
  mark(order.lines)
  mark(order.discounts)
  mark(order.tags)
  if type(order.lines) == "table" then
    for _, line in ipairs(order.lines) do
      if type(line) == "table" then mark(line.properties) end
    end
  end
  return order
end

return M
