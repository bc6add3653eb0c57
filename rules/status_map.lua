-- Maps each cart's own statuses to ours: received, payment_received, shipped, cancelled.
-- The first line that matches wins; every field named in a line must match. Edit freely:
-- add a connector, or a custom status your cart uses. A connector without a table here may
-- ship its own (orders.lua: statuses = { [cart status] = ours }), which is used then.
local to_ours = {
  shopify = {
    { cart_status = "cancelled", status = "cancelled" },
    { fulfillment_status = "fulfilled", status = "shipped" },
    { payment_status = "paid", status = "payment_received" },
    { payment_status = "partially_refunded", status = "payment_received" },
    { payment_status = "refunded", status = "cancelled" },
    { payment_status = "voided", status = "cancelled" },
    { status = "received" }, -- pending, authorized, unpaid…
  },
  bigcommerce = {
    { cart_status = "Cancelled", status = "cancelled" },
    { cart_status = "Declined", status = "cancelled" },
    { cart_status = "Refunded", status = "cancelled" },
    { cart_status = "Shipped", status = "shipped" },
    { cart_status = "Completed", status = "shipped" },
    { cart_status = "Awaiting Fulfillment", status = "payment_received" },
    { cart_status = "Awaiting Shipment", status = "payment_received" },
    { cart_status = "Awaiting Pickup", status = "payment_received" },
    { cart_status = "Partially Shipped", status = "payment_received" },
    { status = "received" }, -- Pending, Awaiting Payment, Manual Verification…
  },
  woocommerce = {
    { cart_status = "cancelled", status = "cancelled" },
    { cart_status = "refunded", status = "cancelled" },
    { cart_status = "failed", status = "cancelled" },
    { cart_status = "completed", status = "shipped" },
    { cart_status = "processing", status = "payment_received" },
    { status = "received" }, -- pending, on-hold
  },
}

-- Ours to the cart's, for sending status back (used by the status-out flow).
local to_cart = {
  shopify = { cancelled = "cancelled", shipped = "fulfilled" },
  bigcommerce = { cancelled = "Cancelled", shipped = "Shipped", payment_received = "Awaiting Fulfillment" },
  woocommerce = { cancelled = "cancelled", shipped = "completed", payment_received = "processing" },
  -- the connector's own table maps several statuses to one of ours; these are the ones to set
  cartcom = { cancelled = "Cancelled", shipped = "Shipped", payment_received = "Pending Processing",
    received = "Awaiting Payment" },
  -- PrestaShop's fresh-install state ids (its own statuses table maps 2, 3, 9 and 11 to ours)
  prestashop = { cancelled = "6", shipped = "4", payment_received = "2" },
  -- complete is Magento's own (invoiced and shipped): set_status leaves it to Magento
  magento = { cancelled = "canceled", shipped = "complete", payment_received = "processing" },
}

local function matches(line, order)
  for field, want in pairs(line) do
    if field ~= "status" and order[field] ~= want then return false end
  end
  return true
end

return {
  description = "cart status -> received | payment_received | shipped | cancelled",
  to_ours = to_ours,
  to_cart = to_cart,
  apply = function(order, ctx)
    local map = to_ours[ctx.connector]
    if not map and ctx.statuses then
      local ours = ctx.statuses[order.cart_status]
      if ours then
        order.status = ours
        return
      end
      return "hold", "no status mapping for cart status '" .. tostring(order.cart_status) .. "' (status_map has no table for "
        .. tostring(ctx.connector) .. "; the connector's own statuses have none for it)"
    end
    if not map then return "hold", "status_map has no table for connector " .. tostring(ctx.connector) end
    for _, line in ipairs(map) do
      if matches(line, order) then
        order.status = line.status
        return
      end
    end
    return "hold", "no status mapping for cart status '" .. tostring(order.cart_status) .. "'"
  end,
}
