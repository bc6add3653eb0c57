-- Puts the cart's order_prefix in front of the order number ("SH-1042"), so numbers from
-- several carts never collide in the back office. Running it twice changes nothing.
return {
  description = "prefix order numbers with the cart's order_prefix",
  apply = function(order, ctx)
    local prefix = ctx.cart.order_prefix or ""
    if prefix ~= "" and order.number:sub(1, #prefix) ~= prefix then
      order.number = prefix .. order.number
    end
  end,
}
