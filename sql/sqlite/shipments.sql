-- Shipments and status out: an order's shipments and their lines, what is shipped of each
-- line, the state of a shipment at the cart, and our status of an order set by an operator.
-- Format: docs/store.md. The outbox entries that send them are in outbox.sql.

-- name: shipment_add (insert)
INSERT INTO shipments(order_id, carrier, tracking, url, service, created_at, state)
  VALUES(:order_id, :carrier, :tracking, :url, :service, cw_now(), :state)

-- name: shipment_line_add (exec)
INSERT INTO shipment_lines(shipment_id, line_no, sku, quantity) VALUES(:shipment_id, :line_no, :sku, :quantity)

-- name: shipment_set_outbox (exec)
UPDATE shipments SET outbox_id = :outbox_id WHERE id = :id

-- name: shipment_get (one)
SELECT * FROM shipments WHERE id = :id

-- name: shipments_of_order (all)
SELECT s.*, o.state AS outbox_state, o.attempts, o.last_error, o.next_at
  FROM shipments s LEFT JOIN outbox o ON o.id = s.outbox_id
  WHERE s.order_id = :order_id ORDER BY s.id

-- name: shipment_lines_of_order (all)
-- every line of the order's shipments, by shipment
SELECT l.shipment_id, l.line_no, l.sku, l.quantity FROM shipment_lines l
  JOIN shipments s ON s.id = l.shipment_id WHERE s.order_id = :order_id ORDER BY l.shipment_id, l.line_no

-- name: shipped_by_line (all)
-- per order line, the quantity its shipments carry (a shipment the cart refused ships nothing)
SELECT l.line_no, sum(l.quantity) AS shipped FROM shipment_lines l
  JOIN shipments s ON s.id = l.shipment_id
  WHERE s.order_id = :order_id AND s.state <> 'failed' GROUP BY l.line_no ORDER BY l.line_no

-- name: shipment_sent (exec)
UPDATE shipments SET state = 'sent', cart_id = :cart_id, sent_at = cw_now(), error = NULL WHERE id = :id

-- name: shipment_failed (exec)
-- the cart refused it (a permanent error); `outbox retry` makes it pending again
UPDATE shipments SET state = 'failed', error = :error WHERE id = :id

-- name: shipments_retry (exec)
-- before outbox_retry: the refused shipments of the failed entries :id names (or of every
-- failed entry) are pending again
UPDATE shipments SET state = 'pending', error = NULL WHERE state = 'failed' AND outbox_id IN
  (SELECT id FROM outbox WHERE state = 'failed' AND (:id IS NULL OR id = :id))

-- name: order_set_status (exec)
-- our status, set by an operator (`cartwright status`)
UPDATE orders SET status = :status, changed_at = cw_now() WHERE id = :id
