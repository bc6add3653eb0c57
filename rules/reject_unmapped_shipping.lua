-- Holds an order whose shipping code has no ship method yet. Map each code once with
--   cartwright ship-map CODE METHOD [--cart CART]
-- and every order held for that code is released.
return {
  description = "hold orders whose shipping code is not mapped to a ship method",
  apply = function(order, ctx)
    local code = order.shipping and order.shipping.code or ""
    local method = ctx.ship_method(code)
    if not method then
      return "hold", "shipping code '" .. code .. "' is not mapped to a ship method (cartwright ship-map '"
        .. code .. "' METHOD)"
    end
    if order.shipping then order.shipping.method = method end
  end,
}
