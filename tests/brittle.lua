-- A test connector: the real one for `family`, except that normalize fails on any order the
-- simulator marked with cartwright_test_break — an order the connector cannot read.
return function(family)
  local base = require("connectors." .. family)
  local c = setmetatable({}, { __index = base })
  function c.normalize(ctx, doc)
    local o = type(doc) == "table" and (doc.order or doc) or {}
    if o.cartwright_test_break then return nil, "unreadable test order" end
    return base.normalize(ctx, doc)
  end
  return c
end
