-- Stock: on hand per SKU and warehouse, aliases, what open orders reserve, and per cart the
-- refs (the cart's ids for its SKUs), the SKUs it lacks and what it last accepted from us.
-- Format: docs/store.md. SKUs of the per-cart tables are the cart's SKUs (after the alias).

-- name: stock_set (exec)
INSERT INTO stock(sku, warehouse, on_hand, updated_at) VALUES(:sku, :warehouse, :on_hand, cw_now())
  ON CONFLICT(sku, warehouse) DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at

-- name: stock_list (all)
-- on hand per SKU and warehouse; :sku limits it to one SKU
SELECT sku, warehouse, on_hand, updated_at FROM stock WHERE (:sku IS NULL OR sku = :sku)
  ORDER BY sku, warehouse

-- name: stock_reserved (all)
-- per SKU and cart, the quantities of open orders (not shipped, not cancelled, SKU known), leaving out
-- the carts in :excluded (a JSON array of cart names: the marketplace-fulfilled ones); the
-- lines of a cart in :aliased (a JSON object, cart -> alias type) carry that alias, which
-- reserves the SKU it is the alias of (the line's own SKU when none); :sku limits it to one SKU
SELECT coalesce(a.sku, l.sku) AS sku, o.cart AS cart, sum(l.quantity) AS reserved
  FROM orders o INDEXED BY orders_open JOIN order_lines l ON l.order_id = o.id
  LEFT JOIN json_each(coalesce(:aliased, '{}')) c ON c.key = o.cart
  LEFT JOIN aliases a INDEXED BY aliases_by_alias ON a.type = c.value AND a.alias = l.sku
  WHERE (o.status IS NULL OR o.status NOT IN ('shipped', 'cancelled'))
  AND l.unknown_sku = 0 AND l.sku IS NOT NULL AND (:sku IS NULL OR coalesce(a.sku, l.sku) = :sku)
  AND o.cart NOT IN (SELECT value FROM json_each(coalesce(:excluded, '[]')))
  GROUP BY 1, 2 ORDER BY 1, 2

-- name: alias_set (exec)
INSERT INTO aliases(sku, type, alias) VALUES(:sku, :type, :alias)
  ON CONFLICT(sku, type) DO UPDATE SET alias = excluded.alias

-- name: alias_list (all)
-- :type and :sku each limit it when set
SELECT sku, type, alias FROM aliases WHERE (:type IS NULL OR type = :type)
  AND (:sku IS NULL OR sku = :sku) ORDER BY sku, type

-- name: stock_ref_put (exec)
INSERT INTO stock_refs(cart, sku, ref, looked_at) VALUES(:cart, :sku, :ref, cw_now())
  ON CONFLICT(cart, sku) DO UPDATE SET ref = excluded.ref, looked_at = excluded.looked_at

-- name: stock_refs (all)
SELECT sku, ref, looked_at FROM stock_refs WHERE cart = :cart ORDER BY sku

-- name: stock_missing_add (exec)
-- 1 when the SKU is newly missing at the cart (reported then), 0 when it was known missing
INSERT OR IGNORE INTO stock_missing(cart, sku, at) VALUES(:cart, :sku, cw_now())

-- name: stock_missing_list (all)
SELECT sku, at FROM stock_missing WHERE cart = :cart ORDER BY sku

-- name: stock_missing_clear (exec)
-- :sku NULL: every SKU of the cart (a full push looks them up again)
DELETE FROM stock_missing WHERE cart = :cart AND (:sku IS NULL OR sku = :sku)

-- name: stock_accepted_put (exec)
INSERT INTO stock_accepted(cart, sku, location, quantity, at)
  VALUES(:cart, :sku, coalesce(:location, ''), :quantity, cw_now())
  ON CONFLICT(cart, sku, location) DO UPDATE SET quantity = excluded.quantity, at = excluded.at

-- name: stock_accepted_list (all)
-- location '' is a cart without locations
SELECT sku, location, quantity, at FROM stock_accepted WHERE cart = :cart
  AND (:sku IS NULL OR sku = :sku) ORDER BY sku, location
