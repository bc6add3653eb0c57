-- Migration 1: carts, orders, their lines and events, ship-method map, customers, catalog.
-- A migration never changes once released: a database remembers only its version number
-- (PRAGMA user_version), so a fix is a new migration.

CREATE TABLE carts(name TEXT PRIMARY KEY, connector TEXT NOT NULL, watermark TEXT,
  last_import_at TEXT, last_summary TEXT, last_error TEXT);

CREATE TABLE orders(id INTEGER PRIMARY KEY, cart TEXT NOT NULL, external_id TEXT NOT NULL,
  number TEXT, status TEXT, cart_status TEXT, created_at TEXT, updated_at TEXT,
  email TEXT, ship_code TEXT, hold_rule TEXT, hold_reason TEXT,
  doc TEXT NOT NULL, raw BLOB NOT NULL, raw_hash TEXT,
  imported_at TEXT NOT NULL, changed_at TEXT NOT NULL, UNIQUE(cart, external_id));
CREATE INDEX orders_by_status ON orders(status);
CREATE INDEX orders_by_updated ON orders(cart, updated_at);
CREATE INDEX orders_held ON orders(hold_rule, ship_code) WHERE hold_rule IS NOT NULL;

CREATE TABLE order_lines(order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  line_no INTEGER NOT NULL, sku TEXT, quantity INTEGER NOT NULL, price TEXT,
  unknown_sku INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(order_id, line_no));
CREATE INDEX order_lines_by_sku ON order_lines(sku);

CREATE TABLE order_events(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, at TEXT NOT NULL,
  kind TEXT NOT NULL, detail TEXT);
CREATE INDEX order_events_by_order ON order_events(order_id);

CREATE TABLE ship_methods(code TEXT NOT NULL, cart TEXT NOT NULL DEFAULT '',
  method TEXT NOT NULL, PRIMARY KEY(code, cart));

CREATE TABLE customers(email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT,
  first_order_at TEXT, orders INTEGER NOT NULL DEFAULT 0);

CREATE TABLE products(sku TEXT PRIMARY KEY, name TEXT);
