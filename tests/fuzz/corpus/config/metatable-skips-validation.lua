-- carts.load checks `c._valid` on the merchant's own table: an __index that answers for every
-- key makes the cart look validated already, so load_all returns it unchecked (no url, no
-- token, defaults never applied: batch_size is 1, connector's schema never consulted).
cart "a" (setmetatable({ connector = "shopify" }, { __index = function() return 1 end }))
