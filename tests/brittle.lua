-- A test connector: the real one for `family`, except that normalize fails on any order the
-- simulator marked with cartwright_test_break — an order the connector cannot read. The mark
-- is looked for in the raw bytes, since connectors may decode only the fields they use.
return function(family)
  local base = require("connectors." .. family)
  local c = setmetatable({}, { __index = base })
  local broken = setmetatable({}, { __mode = "k" })
  function c.fetch_orders(ctx, q, on_page)
    return base.fetch_orders(ctx, q, function(raws, docs)
      for i, raw in ipairs(raws) do
        if raw:find("cartwright_test_break", 1, true) then broken[docs[i]] = true end
      end
      return on_page(raws, docs)
    end)
  end
  function c.normalize(ctx, doc)
    if broken[doc] then return nil, "unreadable test order" end
    return base.normalize(ctx, doc)
  end
  return c
end
