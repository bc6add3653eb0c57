-- A test connector: Shopify's, except that fetch_orders raises a Lua error, as a bug in a
-- connector would. Its cart must fail alone.
local base = require "connectors.shopify"
local c = setmetatable({}, { __index = base })
function c.fetch_orders() error("the connector broke") end
return c
