return require("brittle").package("cartcom")
