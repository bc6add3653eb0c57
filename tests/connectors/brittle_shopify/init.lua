return require("brittle").package("shopify")
