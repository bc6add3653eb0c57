return require("brittle").orders("bigcommerce")
