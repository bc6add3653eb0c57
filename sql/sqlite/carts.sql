-- Carts: one row per configured cart, with its import watermark and last outcome.
-- Format (docs/store.md): each op starts at a `-- name: op (one|all|exec)` line and runs to the
-- next one; other `--` lines are comments. cw_now() is the current transaction's time.

-- name: cart_get (one)
SELECT * FROM carts WHERE name = :name

-- name: cart_list (all)
SELECT * FROM carts ORDER BY name

-- name: cart_ensure (exec)
INSERT INTO carts(name, connector) VALUES(:name, :connector)
  ON CONFLICT(name) DO UPDATE SET connector = excluded.connector

-- name: cart_set_watermark (exec)
-- the watermark only moves forward: ISO 8601 UTC strings compare as times
UPDATE carts SET watermark = :watermark WHERE name = :name
  AND (watermark IS NULL OR watermark < :watermark)

-- name: cart_finish_import (exec)
UPDATE carts SET last_import_at = cw_now(), last_summary = :summary, last_error = :error
  WHERE name = :name

-- name: cart_quota_get (one)
-- what the cart's rate limiter knew at the end of the last run (limiter.lua)
SELECT capacity, per_second, tokens, at, window_left, window_end FROM cart_quotas WHERE cart = :cart

-- name: cart_quota_put (exec)
INSERT INTO cart_quotas(cart, capacity, per_second, tokens, at, window_left, window_end)
  VALUES(:cart, :capacity, :per_second, :tokens, :at, :window_left, :window_end)
  ON CONFLICT(cart) DO UPDATE SET capacity = coalesce(excluded.capacity, capacity),
    per_second = coalesce(excluded.per_second, per_second), tokens = excluded.tokens, at = excluded.at,
    window_left = excluded.window_left, window_end = excluded.window_end
