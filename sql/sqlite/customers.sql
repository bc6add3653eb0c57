-- Customers: one row per email, seen on new orders. Format: docs/store.md.

-- name: customer_seen (exec)
-- counts the order; names and phone merged (a new value wins), the earliest order kept
INSERT INTO customers(email, first_name, last_name, phone, first_order_at, orders)
  VALUES(:email, :first_name, :last_name, :phone, :created_at, 1)
  ON CONFLICT(email) DO UPDATE SET orders = orders + 1,
  first_order_at = min(coalesce(first_order_at, excluded.first_order_at),
                       coalesce(excluded.first_order_at, first_order_at)),
  first_name = coalesce(excluded.first_name, first_name),
  last_name = coalesce(excluded.last_name, last_name), phone = coalesce(excluded.phone, phone)

-- name: customer_get (one)
SELECT * FROM customers WHERE email = :email
