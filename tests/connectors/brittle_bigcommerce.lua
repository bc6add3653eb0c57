return require("brittle")("bigcommerce")
