-- Service mode: leases, sync state and the run audit (migration 007, lua/cartwright/service).
-- Format (docs/store.md): each op starts at a `-- name: op (one|all|exec)` line.

-- name: lease_take (one)
-- taken when free, expired, or already ours (a renewal); no row: another holder has it
INSERT INTO job_leases(cart, service, holder, expires) VALUES(:cart, :service, :holder, :expires)
  ON CONFLICT(cart, service) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
  WHERE job_leases.holder = excluded.holder OR job_leases.expires < :at
  RETURNING holder

-- name: lease_steal (one)
-- takes a lease from a holder whose process is gone (its host's process table says so); no row:
-- it changed hands meanwhile
UPDATE job_leases SET holder = :holder, expires = :expires
  WHERE cart = :cart AND service = :service AND holder = :dead
  RETURNING holder

-- name: lease_get (one)
SELECT holder, expires FROM job_leases WHERE cart = :cart AND service = :service

-- name: lease_release (exec)
DELETE FROM job_leases WHERE cart = :cart AND service = :service AND holder = :holder

-- name: sync_get (one)
SELECT * FROM sync_state WHERE cart = :cart AND service = :service

-- name: sync_list (all)
SELECT * FROM sync_state ORDER BY cart, service

-- name: sync_set_running (exec)
INSERT INTO sync_state(cart, service, running) VALUES(:cart, :service, :running)
  ON CONFLICT(cart, service) DO UPDATE SET running = excluded.running

-- name: sync_record (exec)
-- after a run (or a skipped tick): how it went and when the next one is due
INSERT INTO sync_state(cart, service, last_run, last_result, last_error, next_run, failures)
  VALUES(:cart, :service, :last_run, :last_result, :last_error, :next_run, :failures)
  ON CONFLICT(cart, service) DO UPDATE SET last_run = coalesce(excluded.last_run, last_run),
    last_result = coalesce(excluded.last_result, last_result),
    last_error = CASE WHEN excluded.last_result IS NULL THEN last_error ELSE excluded.last_error END,
    next_run = excluded.next_run, failures = excluded.failures

-- name: run_start (one)
INSERT INTO runs(cart, service, holder, started, window_from) VALUES(:cart, :service, :holder, :started, :window_from)
  RETURNING id

-- name: run_finish (exec)
UPDATE runs SET finished = :finished, window_to = :window_to, pages = :pages, seen = :seen,
  imported = :imported, updated = :updated, skipped = :skipped, skipped_why = :skipped_why, error = :error
  WHERE id = :id

-- name: run_list (all)
-- the newest first; :cart NULL: every cart
SELECT * FROM runs WHERE (:cart IS NULL OR cart = :cart) ORDER BY id DESC LIMIT :limit

-- name: endpoint_set (exec)
-- a service's address, written when it listens and again to say it still runs
INSERT INTO service_endpoints(holder, url, started, seen) VALUES(:holder, :url, :started, :seen)
  ON CONFLICT(holder) DO UPDATE SET url = excluded.url, seen = excluded.seen

-- name: endpoint_drop (exec)
DELETE FROM service_endpoints WHERE holder = :holder

-- name: endpoint_list (all)
-- the most recently seen first
SELECT holder, url, started, seen FROM service_endpoints ORDER BY seen DESC
