return require("brittle").package("bigcommerce")
