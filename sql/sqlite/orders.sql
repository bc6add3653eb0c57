-- Orders: the stored order (row, normalized document, the cart's raw bytes), its lines, tags
-- and events. Format: docs/store.md. cw_now() is the current transaction's time, so every row
-- a page stores carries the same one.

-- name: order_get (one)
SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at, hold_kind,
  hold_rule, hold_reason, folder
  FROM orders WHERE cart = :cart AND external_id = :external_id

-- name: order_by_id (one)
-- the whole stored order: row, document and the cart's raw bytes
SELECT * FROM orders WHERE id = :id

-- name: orders_by_number (all)
-- our number (SH-1042) may be the same in two carts: every match
SELECT id, cart, external_id, number FROM orders WHERE number = :number ORDER BY cart

-- name: order_raw_same (one)
-- same = 1 when the stored raw document has exactly these bytes
SELECT raw = :raw AS same FROM orders WHERE id = :id

-- name: order_insert (insert)
-- a new order; returns its id (an insert op: the store reads it right after this statement's
-- step; RETURNING id was measured: SQLite runs it as a trigger with an ephemeral table, ~20k
-- instructions per insert, 5-8 % of the import's CPU). The transaction's time is :now, bound
-- by the store (the value cw_now() returns).
INSERT INTO orders(cart, external_id, number, status, cart_status, created_at, updated_at,
  email, ship_code, hold_kind, hold_rule, hold_reason, folder, doc, raw, imported_at, changed_at)
  VALUES(:cart, :external_id, :number, :status, :cart_status, :created_at, :updated_at,
  :email, :ship_code, :hold_kind, :hold_rule, :hold_reason, coalesce(:folder, 'new'), :doc, :raw,
  :now, :now)

-- name: order_id (one)
-- { id } of the order with this identity
SELECT id FROM orders WHERE cart = :cart AND external_id = :external_id

-- name: order_update (exec)
UPDATE orders SET number = :number, status = :status, cart_status = :cart_status,
  created_at = :created_at, updated_at = :updated_at, email = :email, ship_code = :ship_code,
  hold_kind = :hold_kind, hold_rule = :hold_rule, hold_reason = :hold_reason,
  folder = coalesce(:folder, folder), doc = :doc, raw = :raw, changed_at = cw_now()
  WHERE id = :id

-- name: order_set_hold (exec)
UPDATE orders SET hold_kind = :hold_kind, hold_rule = :hold_rule, hold_reason = :hold_reason,
  changed_at = cw_now() WHERE id = :id

-- name: order_lines (all)
SELECT line_no, sku, quantity, price, unknown_sku FROM order_lines
  WHERE order_id = :order_id ORDER BY line_no

-- name: order_lines_clear (exec)
DELETE FROM order_lines WHERE order_id = :order_id

-- name: order_line_add (exec)
INSERT INTO order_lines(order_id, line_no, sku, quantity, price, unknown_sku)
  VALUES(:order_id, :line_no, :sku, :quantity, :price, :unknown_sku)

-- name: order_tags (all)
SELECT tag FROM order_tags WHERE order_id = :order_id ORDER BY tag

-- name: order_tags_clear (exec)
DELETE FROM order_tags WHERE order_id = :order_id

-- name: order_tag_add (exec)
INSERT OR IGNORE INTO order_tags(order_id, tag) VALUES(:order_id, :tag)

-- name: order_event (exec)
INSERT INTO order_events(order_id, at, kind, detail, note)
  VALUES(:order_id, cw_now(), :kind, :detail, :note)

-- name: order_events (all)
SELECT at, kind, detail, note FROM order_events WHERE order_id = :order_id ORDER BY id

-- name: orders_list (all)
SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at,
  hold_kind, hold_rule, hold_reason, folder, doc
  FROM orders
  WHERE (:cart IS NULL OR cart = :cart) AND (:status IS NULL OR status = :status)
  AND (:held IS NULL OR (hold_rule IS NOT NULL) = :held)
  AND (:since IS NULL OR updated_at >= :since)
  AND (:folder IS NULL OR folder = :folder)
  AND (:tag IS NULL OR EXISTS(SELECT 1 FROM order_tags t WHERE t.order_id = orders.id AND t.tag = :tag))
  ORDER BY cart, created_at, id LIMIT coalesce(:limit, -1) OFFSET coalesce(:offset, 0)

-- name: orders_tags (all)
-- the tags of the orders in one listing: order_id, tag (for a page of orders_list); :ids is
-- a JSON array of order ids
SELECT order_id, tag FROM order_tags WHERE order_id IN (SELECT value FROM json_each(:ids))
  ORDER BY order_id, tag

-- name: orders_raw (all)
SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at, hold_kind,
  hold_rule, hold_reason, folder, doc, raw
  FROM orders
  WHERE (:cart IS NULL OR cart = :cart) AND (:since IS NULL OR updated_at >= :since)
  AND id > :after ORDER BY id LIMIT :limit

-- name: orders_count (one)
SELECT count(*) AS n, count(DISTINCT cart || ':' || external_id) AS distinct_n,
  sum(hold_rule IS NOT NULL) AS held
  FROM orders WHERE (:cart IS NULL OR cart = :cart)

-- name: orders_held_for_code (all)
SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at, hold_kind,
  hold_rule, hold_reason, folder, doc, raw
  FROM orders WHERE hold_rule = :rule AND coalesce(ship_code, '') = :code
  AND (:cart IS NULL OR cart = :cart)
