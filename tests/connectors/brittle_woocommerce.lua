return require("brittle")("woocommerce")
