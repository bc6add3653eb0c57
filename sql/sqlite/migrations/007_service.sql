-- Migration 7: service mode (issue 13). One job per cart and service at a time, also across
-- processes: a job holds its lease (job_leases) while it runs and renews it; an expired lease
-- (its holder died) is taken over. sync_state: whether the scheduler runs a cart's service
-- (`cartwright sync start|stop`) and how its last run went. runs: one audit row per run.
-- Times are Unix seconds (REAL): leases compare them across processes.

CREATE TABLE job_leases(cart TEXT NOT NULL, service TEXT NOT NULL, holder TEXT NOT NULL,
  expires REAL NOT NULL, PRIMARY KEY(cart, service)) WITHOUT ROWID;

CREATE TABLE sync_state(cart TEXT NOT NULL, service TEXT NOT NULL, running INTEGER NOT NULL DEFAULT 1,
  last_run REAL, last_result TEXT, last_error TEXT, next_run REAL, failures INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(cart, service)) WITHOUT ROWID;

CREATE TABLE runs(id INTEGER PRIMARY KEY, cart TEXT NOT NULL, service TEXT NOT NULL, holder TEXT,
  started REAL NOT NULL, finished REAL, window_from TEXT, window_to TEXT, pages INTEGER, seen INTEGER,
  imported INTEGER, updated INTEGER, skipped INTEGER, skipped_why TEXT, error TEXT);
CREATE INDEX runs_by_cart ON runs(cart, id);
