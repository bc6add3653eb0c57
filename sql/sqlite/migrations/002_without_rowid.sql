-- Migration 2: lines keyed by (order, line) and customers by email, each in one b-tree instead
-- of a table plus its key index; no index on lines by SKU until a query needs one (with random
-- keys, every commit rewrote most of its pages: 30 MB more log per 15,000 orders); an order is
-- unchanged when its raw bytes are (compared in SQL), so no raw hash is kept.

CREATE TABLE order_lines_new(order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL, sku TEXT, quantity INTEGER NOT NULL, price TEXT,
  unknown_sku INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(order_id, line_no)) WITHOUT ROWID;
INSERT INTO order_lines_new SELECT order_id, line_no, sku, quantity, price, unknown_sku FROM order_lines;
DROP TABLE order_lines;
ALTER TABLE order_lines_new RENAME TO order_lines;

CREATE TABLE customers_new(email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT,
  first_order_at TEXT, orders INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
INSERT INTO customers_new SELECT email, first_name, last_name, phone, first_order_at, orders FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;

ALTER TABLE orders DROP COLUMN raw_hash;
