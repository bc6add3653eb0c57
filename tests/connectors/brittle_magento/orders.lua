return require("brittle").orders("magento")
