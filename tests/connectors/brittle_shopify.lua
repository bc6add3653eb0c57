return require("brittle")("shopify")
