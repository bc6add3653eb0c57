return require("brittle").orders("shopify")
