-- Migration 6: shipments out. A shipment of an order (carrier, tracking, the lines and
-- quantities shipped) and its state at the cart: pending (written, not yet accepted), sent
-- (the cart holds it: cart_id), failed (the cart refused it: error), local (the cart does not
-- sync tracking: kept here only). It is written with its outbox entry (kind "shipment") in one
-- transaction; status pushes are an order event (kind "status") plus an outbox entry (kind
-- "status"). A failed shipment ships nothing: its quantities stay unshipped.

CREATE TABLE shipments(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
  carrier TEXT NOT NULL, tracking TEXT NOT NULL, url TEXT, service TEXT, created_at TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', cart_id TEXT, sent_at TEXT, error TEXT, outbox_id INTEGER);
CREATE INDEX shipments_by_order ON shipments(order_id);

CREATE TABLE shipment_lines(shipment_id INTEGER NOT NULL REFERENCES shipments(id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL, sku TEXT, quantity INTEGER NOT NULL,
  PRIMARY KEY(shipment_id, line_no)) WITHOUT ROWID;
