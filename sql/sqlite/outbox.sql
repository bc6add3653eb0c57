-- The outbox: each effect on a cart (kind "stock": a batch of quantities; "shipment": one
-- shipment; "status": an order's status) written before it is
-- sent, with a key that stays the same across its retries (the cart's idempotency key). States:
-- pending (not sent yet), sending (a try began: a crash leaves it so, and the next run sends it
-- again with the same key), failed (the last try failed: tried again from next_at; next_at NULL
-- after the last attempt, until `outbox retry`), done. Format: docs/store.md.

-- name: outbox_add (insert)
-- the new entry's id, or false when an entry with this key exists
INSERT OR IGNORE INTO outbox(cart, kind, payload, state, attempts, created_at, key)
  VALUES(:cart, :kind, :payload, 'pending', 0, :now, :key)

-- name: outbox_get (one)
SELECT * FROM outbox WHERE id = :id

-- name: outbox_open (all)
-- a cart's entries not done, oldest first: those due at :at (ISO time), or all with :any = 1
SELECT * FROM outbox INDEXED BY outbox_open WHERE cart = :cart AND state <> 'done'
  AND (:any = 1 OR (state <> 'failed' OR (next_at IS NOT NULL AND next_at <= :at)))
  ORDER BY id

-- name: outbox_claim (exec)
-- a try begins (1: claimed; 0: it is done already)
UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = :id AND state <> 'done'

-- name: outbox_done (exec)
UPDATE outbox SET state = 'done', done_at = cw_now(), next_at = NULL, last_error = :error WHERE id = :id

-- name: outbox_fail (exec)
-- :next_at NULL: no more automatic tries (outbox retry sends it again)
UPDATE outbox SET state = 'failed', last_error = :error, next_at = :next_at WHERE id = :id

-- name: outbox_list (all)
SELECT id, cart, kind, state, attempts, last_error, next_at, created_at, done_at, key,
  json_array_length(payload, '$.items') AS items
  FROM outbox WHERE (:cart IS NULL OR cart = :cart) AND (:failed IS NULL OR state = 'failed')
  AND (:open IS NULL OR state <> 'done') AND (:kind IS NULL OR kind = :kind)
  ORDER BY id LIMIT coalesce(:limit, -1)

-- name: outbox_retry (exec)
-- failed entries (one by :id, or every one) due again now
UPDATE outbox SET state = 'pending', next_at = NULL
  WHERE state = 'failed' AND (:id IS NULL OR id = :id)

-- name: outbox_carts_retry (all)
-- the carts and kinds of the failed entries :id names (or of every failed entry), before outbox_retry
SELECT DISTINCT cart, kind FROM outbox WHERE state = 'failed' AND (:id IS NULL OR id = :id) ORDER BY cart, kind

-- name: outbox_depth (all)
-- entries not done, by kind and state (for /metrics)
SELECT kind, state, count(*) AS n FROM outbox WHERE state <> 'done' GROUP BY kind, state ORDER BY kind, state
