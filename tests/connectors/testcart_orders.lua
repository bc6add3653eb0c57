-- The order listing the test carts (tests/stock/serve.lua, tests/ship/serve.lua) share:
-- GET /orders answers every order in one page. fetch_orders for their connectors.
local jraw = require "cartwright.jsonraw"

local M = {}

function M.fetch_orders(ctx, _, page)
  local res, err = ctx:request{ url = ctx.origin .. "/orders" }
  if not res then return nil, err end
  if res.status ~= 200 then return nil, "HTTP " .. res.status end
  local raws = jraw.array(res.body)
  local docs = {}
  for i, r in ipairs(raws) do docs[i] = jraw.decode(r) end
  if #raws > 0 then
    local ok, perr = page(raws, docs)
    if not ok then return nil, perr end
  end
  return true
end

return M
