-- Migration 4: what each cart's rate limiter learned, kept between runs so a new process does
-- not start with a full bucket into a 429: the size the cart announced (NULL: none yet), the
-- tokens left at `at` (epoch seconds), and the cart's window (requests left until window_end).
-- Keyed by cart name like the limiter; no foreign key: a cart is talked to before its first
-- import makes its carts row.

CREATE TABLE cart_quotas(cart TEXT PRIMARY KEY, capacity REAL, per_second REAL,
  tokens REAL NOT NULL, at REAL NOT NULL, window_left REAL, window_end REAL) WITHOUT ROWID;
