return require("brittle").orders("woocommerce")
