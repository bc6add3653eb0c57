-- A stock rule: a cart is told 0 while what can be sold is below the cart's
-- inventory.minimum (the seeds' "Minimum Inventory Level"), so the last few units are kept for
-- the other carts and the counter. With no minimum set (0) it changes nothing.
return {
  description = "below the cart's inventory.minimum, the cart is told 0",
  on_stock = function(item, ctx)
    local inv = ctx.cart.inventory
    local minimum = inv and inv.minimum or 0
    if item.available < minimum then item.available = 0 end
  end,
}
