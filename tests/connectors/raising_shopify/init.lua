-- A test connector: Shopify's, except that fetch_orders raises a Lua error, as a bug in a
-- connector would (orders.lua). Its cart must fail alone.
return require("brittle").package("shopify", "raising_")
