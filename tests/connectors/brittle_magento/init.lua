return require("brittle").package("magento")
