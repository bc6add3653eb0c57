-- A test connector: Shopify's, except that every page after the first starts with the last
-- order of the page before it again (orders.lua), as a connector with an off-by-one cursor
-- would. `connector check` must name the repeated order.
return require("brittle").package("shopify", "repeating_")
