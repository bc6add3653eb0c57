-- Migration 8: where a running `cartwright serve` answers (issue 13). The CLI finds the service
-- of its database here and sends state changes through its admin API. A service writes its row
-- when it listens, refreshes `seen` while it runs and deletes the row when it stops; a row whose
-- process is gone (same host) or not seen for a minute is ignored. Times are Unix seconds.

CREATE TABLE service_endpoints(holder TEXT PRIMARY KEY, url TEXT NOT NULL, started REAL NOT NULL,
  seen REAL NOT NULL) WITHOUT ROWID;
