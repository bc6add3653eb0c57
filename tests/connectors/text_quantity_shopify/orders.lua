return require("brittle").text_quantity("shopify")
