return require("brittle").orders("cartcom")
