-- The SQLite store: migrations once, WAL, transactions that roll back on error.
local T = require "t"
local store = require "cartwright.store"

local dir = T.tmpdir()
local path = dir .. "/cw.db"
local db = assert(store.open(path))
local v, applied = db:schema_version()
T.ok(v >= 1, "schema version set")
T.eq(applied, v, "first open applies every migration")
db:close()
db = assert(store.open(path))
local v2, applied2 = db:schema_version()
T.eq(v2, v, "version unchanged on reopen")
T.eq(applied2, 0, "second open applies nothing")

-- a transaction that fails leaves nothing behind
assert(db:cart_ensure{ name = "a", connector = "shopify" })
local r, err = db:transaction(function()
  assert(db:ship_map_set{ code = "X", method = "UPS" })
  error("boom")
end)
T.eq(r, nil, "failed transaction returns nil")
T.match(err, "boom", "with the error")
T.eq(db:ship_map_get{ code = "X" }, nil, "rolled back")
r, err = db:transaction(function()
  assert(db:ship_map_set{ code = "X", method = "UPS" })
  return nil, "refused"
end)
T.eq(err, "refused", "nil, err from the function rolls back too")
T.eq(db:ship_map_get{ code = "X" }, nil, "still rolled back")
r = db:transaction(function() assert(db:ship_map_set{ code = "X", method = "UPS" }) return "fine" end)
T.eq(r, "fine", "committed transaction returns the result")
T.eq(db:ship_map_get{ code = "X" }.method, "UPS", "committed")

-- the watermark never moves back
db:cart_set_watermark{ name = "a", watermark = "2026-01-02T00:00:00Z" }
db:cart_set_watermark{ name = "a", watermark = "2025-01-01T00:00:00Z" }
T.eq(db:cart_get{ name = "a" }.watermark, "2026-01-02T00:00:00Z", "watermark only moves forward")

-- parameters are bound, never spliced into SQL
db:ship_map_set{ code = "'; DROP TABLE orders; --", method = "x" }
T.ok(db:orders_count{} ~= nil, "quotes in values are data")
local f = io.open(path .. "-wal", "rb")
T.ok(f ~= nil, "WAL mode: the write-ahead log exists while open")
if f then f:close() end
db:close()

-- a newer schema than we know is refused
local sqlite_cli = os.execute("command -v sqlite3 >/dev/null")
if sqlite_cli then
  os.execute("sqlite3 " .. path .. " 'PRAGMA user_version = 999'")
  local db3, e3 = store.open(path)
  T.ok(db3 == nil, "newer schema refused")
  T.match(e3, "newer than this cartwright", "clear message")
end
os.execute("rm -rf " .. dir)
return T.done()
