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

-- an EXEC op given a list runs once per element, in one call
db = assert(store.open(path))
local _, oid = assert(db:order_insert{ cart = "a", external_id = "1", doc = "{}", raw = "{}" })
local n = assert(db:order_line_add{ { order_id = oid, line_no = 1, sku = "A", quantity = 1, unknown_sku = 0 },
                                    { order_id = oid, line_no = 2, sku = "B", quantity = 2, unknown_sku = 0 } })
T.eq(n, 2, "list: two lines in one call")
local bad, berr = db:order_line_add{ { order_id = oid, line_no = 3, quantity = 1, unknown_sku = 0 }, { order_id = oid, line_no = 3, quantity = 1, unknown_sku = 0 } }
T.ok(bad == nil and berr:find("order_line_add"), "list: a failing element is an error naming the op")
T.eq(db:order_raw_same{ id = oid, raw = "{}" }.same, 1, "raw_same: the same bytes")
T.eq(db:order_raw_same{ id = oid, raw = "{ }" }.same, 0, "raw_same: other bytes")
assert(db:customer_seen{ email = "ann@example.com", first_name = "Ann", created_at = "2026-01-01T00:00:00Z" })
assert(db:customer_seen{ email = "ann@example.com", last_name = "Lee", created_at = "2026-02-01T00:00:00Z" })
assert(db:customer_seen{ email = "ann@example.com", created_at = "2025-12-24T00:00:00Z" }) -- an older order read late
local ann = db:customer_get{ email = "ann@example.com" }
T.ok(ann.orders == 3 and ann.first_name == "Ann" and ann.last_name == "Lee"
  and ann.first_order_at == "2025-12-24T00:00:00Z", "customers: one row per email, counts and names merged, earliest order kept")
db:close()

local sqlite_cli = os.execute("command -v sqlite3 >/dev/null")
if sqlite_cli then
  -- a version 1 database keeps its orders and lines through migration 2
  local old = dir .. "/v1.db"
  local d1 = assert(store.open(old, { schema = 1 }))
  T.eq(d1:schema_version(), 1, "schema option stops at version 1")
  d1:close()
  os.execute("sqlite3 " .. old .. [[ "INSERT INTO orders(id, cart, external_id, doc, raw, raw_hash, imported_at, changed_at)
    VALUES(7, 'a', 'x', '{}', '{}', 'h', 't', 't');
    INSERT INTO order_lines(order_id, line_no, sku, quantity, price) VALUES(7, 1, 'S1', 2, '1.00'), (7, 2, 'S2', 1, '2.00');
    INSERT INTO customers(email, first_name, orders) VALUES('bo@example.com', 'Bo', 3);"]])
  local d2 = assert(store.open(old))
  local v3, applied3 = d2:schema_version()
  T.ok(v3 >= 2 and applied3 == v3 - 1, "upgrade applies the migrations after 1")
  local bo = d2:customer_get{ email = "bo@example.com" }
  T.ok(bo and bo.first_name == "Bo" and bo.orders == 3, "customers kept")
  d2:close()
  local p = io.popen("sqlite3 " .. old .. [[ "SELECT group_concat(order_id || ':' || line_no || ':' || sku || ':' || quantity, ' ') FROM order_lines;
    SELECT count(*) FROM pragma_table_info('orders') WHERE name = 'raw_hash';"]])
  local out = p:read("a")
  p:close()
  T.eq(out, "7:1:S1:2 7:2:S2:1\n0\n", "lines kept; raw_hash gone")

  -- a newer schema than we know is refused
  os.execute("sqlite3 " .. path .. " 'PRAGMA user_version = 999'")
  local db3, e3 = store.open(path)
  T.ok(db3 == nil, "newer schema refused")
  T.match(e3, "newer than this cartwright", "clear message")
end
os.execute("rm -rf " .. dir)
return T.done()
