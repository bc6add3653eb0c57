-- An __index that raises: carts.load_all raises (carts.lua reading c._valid) instead of
-- returning nil, err; an __pairs that loops runs merchant code inside carts.validate.
cart "a" (setmetatable({ connector = "shopify", url = "x", token = "shpat_abcd" },
  { __index = function(_, k) error("boom " .. k) end }))
