return require("brittle").orders("prestashop")
