-- Migration 5: stock out. On hand per (SKU, warehouse); aliases (the SKU a cart knows an item
-- by, per alias type); per cart: the cart's ids for its SKUs (refs, the connector's JSON),
-- the SKUs it has no product for (reported once), and what it last accepted from us per SKU and
-- location ('' for a cart without locations). SKUs in the per-cart tables are the cart's (after
-- the alias). The outbox: every effect on a cart, written before it is sent, retried with
-- backoff until done (docs/stock.md). Open orders are found through a partial index, so the
-- reserved figures read only them, not every order ever imported.

CREATE TABLE stock(sku TEXT NOT NULL, warehouse TEXT NOT NULL, on_hand INTEGER NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY(sku, warehouse)) WITHOUT ROWID;

CREATE TABLE aliases(sku TEXT NOT NULL, type TEXT NOT NULL, alias TEXT NOT NULL,
  PRIMARY KEY(sku, type)) WITHOUT ROWID;
-- an order line of an aliased cart carries the alias: the SKU it reserves is found by it
CREATE INDEX aliases_by_alias ON aliases(type, alias);

CREATE TABLE stock_refs(cart TEXT NOT NULL, sku TEXT NOT NULL, ref TEXT NOT NULL,
  looked_at TEXT NOT NULL, PRIMARY KEY(cart, sku)) WITHOUT ROWID;

CREATE TABLE stock_missing(cart TEXT NOT NULL, sku TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY(cart, sku)) WITHOUT ROWID;

CREATE TABLE stock_accepted(cart TEXT NOT NULL, sku TEXT NOT NULL, location TEXT NOT NULL DEFAULT '',
  quantity INTEGER NOT NULL, at TEXT NOT NULL, PRIMARY KEY(cart, sku, location)) WITHOUT ROWID;

CREATE TABLE outbox(id INTEGER PRIMARY KEY, cart TEXT NOT NULL, kind TEXT NOT NULL,
  payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT, next_at TEXT, created_at TEXT NOT NULL, done_at TEXT, key TEXT NOT NULL UNIQUE);
CREATE INDEX outbox_open ON outbox(cart, id) WHERE state <> 'done';

CREATE INDEX orders_open ON orders(id) WHERE status IS NULL OR status NOT IN ('shipped', 'cancelled');
