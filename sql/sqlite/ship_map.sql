-- The ship-method map: a cart's shipping code to the back office's ship method, for one cart
-- or (cart = '') for every cart. Format: docs/store.md.

-- name: ship_map_set (exec)
INSERT INTO ship_methods(code, cart, method) VALUES(:code, coalesce(:cart, ''), :method)
  ON CONFLICT(code, cart) DO UPDATE SET method = excluded.method

-- name: ship_map_get (one)
-- the cart's own mapping first, else the one for every cart
SELECT method FROM ship_methods WHERE code = :code AND cart IN (coalesce(:cart, ''), '')
  ORDER BY cart DESC LIMIT 1

-- name: ship_map_list (all)
SELECT code, cart, method FROM ship_methods ORDER BY code, cart
