-- the shipped stock capability, unchanged: the package copies init.lua, which declares it
return require "connectors.woocommerce.stock"
