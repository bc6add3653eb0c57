return require("brittle").package("woocommerce")
