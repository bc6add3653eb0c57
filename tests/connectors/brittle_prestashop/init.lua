return require("brittle").package("prestashop")
