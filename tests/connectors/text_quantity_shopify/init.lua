return require("brittle").package("shopify", "text_quantity_")
