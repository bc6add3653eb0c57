-- Shopify's orders hooks with a fetch_orders that repeats an order across pages (see init.lua).
return require("brittle").repeating("shopify")
