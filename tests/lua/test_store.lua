-- The store interface (SQLite backend): migrations once and in order, WAL, transactions that
-- roll back on error, "no row" (false) distinct from an error (nil, err), ids from RETURNING,
-- the SQL files of sql/sqlite/ and their faults named by file and line.
local T = require "t"
local store = require "cartwright.store"

-- the line of `-- name: op` in sql/sqlite/<file>
local function header_line(file, op)
  local n = 0
  for line in io.lines(T.home .. "/sql/sqlite/" .. file) do
    n = n + 1
    if line:match("^%-%- name: " .. op .. " ") then return n end
  end
  error("no op " .. op .. " in " .. file)
end

local dir = T.tmpdir()
local path = dir .. "/cw.db"
local db = assert(store.open(path))
local nmig = 0
for name in io.popen("ls " .. T.home .. "/sql/sqlite/migrations"):lines() do
  if name:match("^%d%d%d_.*%.sql$") then nmig = nmig + 1 end
end
local v, applied = db:schema_version()
T.eq(v, nmig, "schema version = the number of migration files")
T.eq(applied, v, "first open applies every migration")
T.match(store.sqlite_version, "^3%.%d+%.%d+", "sqlite_version")
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
T.eq(db:ship_map_get{ code = "X" }, false, "rolled back: no row")
r, err = db:transaction(function()
  assert(db:ship_map_set{ code = "X", method = "UPS" })
  return nil, "refused"
end)
T.eq(err, "refused", "nil, err from the function rolls back too")
T.eq(db:ship_map_get{ code = "X" }, false, "still rolled back")
r = db:transaction(function() assert(db:ship_map_set{ code = "X", method = "UPS" }) return "fine" end)
T.eq(r, "fine", "committed transaction returns the result")
T.eq(db:ship_map_get{ code = "X" }.method, "UPS", "committed")

-- the watermark never moves back; an exec op returns the rows it changed, and only that
T.eq(select("#", db:cart_set_watermark{ name = "a", watermark = "2026-01-02T00:00:00Z" }), 1, "exec: one result")
T.eq(db:cart_set_watermark{ name = "a", watermark = "2025-01-01T00:00:00Z" }, 0, "exec: 0 rows changed")
T.eq(db:cart_get{ name = "a" }.watermark, "2026-01-02T00:00:00Z", "watermark only moves forward")

-- parameters are bound, never spliced into SQL
db:ship_map_set{ code = "'; DROP TABLE orders; --", method = "x" }
T.eq(db:orders_count{}.n, 0, "quotes in values are data")
local f = io.open(path .. "-wal", "rb")
T.ok(f ~= nil, "WAL mode: the write-ahead log exists while open")
if f then f:close() end
db:close()

-- no row (false), no rows ({}), an error (nil, err) and misuse (raised) are four things
db = assert(store.open(path))
T.eq(db:order_get{ cart = "a", external_id = "none" }, false, "one: no row is false")
T.eq(select("#", db:order_get{ cart = "a", external_id = "none" }), 1, "one: no row is one value")
local none = db:orders_list{ cart = "nobody" }
T.ok(type(none) == "table" and next(none) == nil, "all: no rows is an empty table")
local bad, berr = db:order_insert{ cart = "a", external_id = "no-doc", raw = "{}" }
T.eq(bad, nil, "exec: a failing statement is nil")
T.eq(berr, "store order_insert: NOT NULL constraint failed: orders.doc", "exec: with the op and SQLite's message")

-- ids come back from the operation that made the row (an insert op), or from order_id by the
-- order's identity; never from whatever else the connection inserted
assert(db:order_event{ order_id = 999, kind = "unrelated" }) -- an insert into another table
local new_id = db:order_insert{ cart = "a", external_id = "1", doc = "{}", raw = "{}" }
local first = assert(db:order_id{ cart = "a", external_id = "1" })
T.eq(new_id, first.id, "insert: returns the new order's id")
T.eq(math.type(new_id), "integer", "insert: the id is an integer")
local keys = {}
for k in pairs(first) do keys[#keys + 1] = k end
T.eq(table.concat(keys, ","), "id", "order_id: { id = N } and nothing else")
T.eq(first.id, db:order_get{ cart = "a", external_id = "1" }.id, "order_id: the id is the new order's")
T.eq(db:order_id{ cart = "a", external_id = "nope" }, false, "order_id: no such order is false")
local oid, second
r = assert(db:transaction(function()
  assert(db:order_event{ order_id = 999, kind = "unrelated" })
  local made = assert(db:order_insert{ cart = "a", external_id = "2", doc = "{}", raw = "{}" })
  assert(db:order_event{ order_id = 999, kind = "another" })
  second = assert(db:order_id{ cart = "a", external_id = "2" })
  T.eq(made, second.id, "insert in a transaction: returns its own id, whatever was inserted after")
  assert(db:order_event{ order_id = second.id, kind = "imported" })
  return second.id
end))
T.eq(r, db:order_get{ cart = "a", external_id = "2" }.id, "insert in a transaction: its own id")
T.ok(second.id ~= first.id, "two orders, two ids")
local dup, derr = db:order_insert{ cart = "a", external_id = "1", doc = "{}", raw = "{}" }
T.ok(dup == nil and derr:find("UNIQUE constraint failed", 1, true), "insert of an order stored already: nil, err", derr)
oid = first.id

-- :now is the store's own parameter, the transaction's time (what cw_now() returns)
local third = assert(db:transaction(function()
  assert(db:order_insert{ cart = "a", external_id = "3", doc = "{}", raw = "{}", now = "1999-01-01" })
  local o = assert(db:order_id{ cart = "a", external_id = "3" })
  assert(db:order_event{ order_id = o.id, kind = "imported" })
  return o
end))
local row3, ev3 = db:order_by_id{ id = third.id }, assert(db:order_events{ order_id = third.id })
T.match(row3.imported_at, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", ":now: an ISO 8601 UTC time")
T.ok(row3.imported_at == ev3[1].at and row3.changed_at == ev3[1].at, ":now: the transaction's time, as cw_now()", ev3[1].at)

-- the insert keeps no statement journal (SQLite keeps one for a statement that may abort with a
-- trigger, RETURNING included; with 64 KiB pages it spilled to a temporary file on every insert)
local function wchar() return tonumber(T.slurp("/proc/self/io"):match("wchar: (%d+)")) end
local w0
assert(db:transaction(function()
  w0 = wchar()
  for i = 1, 20 do
    assert(db:order_insert{ cart = "j", external_id = tostring(i), doc = "{}", raw = string.rep("r", 9000) .. i })
  end
  T.ok(wchar() - w0 < 65536, "20 inserts in a transaction write nothing before the commit", wchar() - w0)
  return true
end))

-- an exec op given a list runs once per element, in one call, and returns the total
local n = db:order_line_add{ { order_id = oid, line_no = 1, sku = "A", quantity = 1, unknown_sku = 0 },
                             { order_id = oid, line_no = 2, sku = "B", quantity = 2, unknown_sku = 0 } }
T.eq(n, 2, "list: two lines in one call")
local lbad, lerr = db:order_line_add{ { order_id = oid, line_no = 3, quantity = 1, unknown_sku = 0 },
                                      { order_id = oid, line_no = 3, quantity = 1, unknown_sku = 0 } }
T.ok(lbad == nil and lerr:find("^store order_line_add: UNIQUE"), "list: a failing element is an error naming the op", lerr)
T.eq(#assert(db:order_lines{ order_id = oid }), 3, "lines: two from the list, the third before the failing one")
T.eq(db:order_raw_same{ id = oid, raw = "{}" }.same, 1, "raw_same: the same bytes")
T.eq(db:order_raw_same{ id = oid, raw = "{ }" }.same, 0, "raw_same: other bytes")
T.eq(db:order_raw_same{ id = 12345, raw = "{}" }, false, "raw_same: no such order")
assert(db:customer_seen{ email = "ann@example.com", first_name = "Ann", created_at = "2026-01-01T00:00:00Z" })
assert(db:customer_seen{ email = "ann@example.com", last_name = "Lee", created_at = "2026-02-01T00:00:00Z" })
assert(db:customer_seen{ email = "ann@example.com", created_at = "2025-12-24T00:00:00Z" }) -- an older order read late
local ann = db:customer_get{ email = "ann@example.com" }
T.ok(ann.orders == 3 and ann.first_name == "Ann" and ann.last_name == "Lee"
  and ann.first_order_at == "2025-12-24T00:00:00Z", "customers: one row per email, counts and names merged, earliest order kept")
db:close()
local ok, cerr = pcall(db.order_get, db, { cart = "a", external_id = "1" })
T.ok(not ok and cerr:find("store: database is closed", 1, true), "an op on a closed db is misuse: raised", cerr)

-- migrations one at a time, in order: schema = N stops at N; an old schema's ops prepare on
-- first use, and one its tables cannot run is an error naming the op's file and line
local steps = dir .. "/steps.db"
local s1 = assert(store.open(steps, { schema = 1 }))
T.eq(select(2, s1:schema_version()), 1, "schema 1: one migration applied")
assert(s1:cart_ensure{ name = "old", connector = "shopify" })
T.eq(s1:cart_get{ name = "old" }.connector, "shopify", "schema 1: an op its tables can run works")
local gone, gerr = s1:order_get{ cart = "old", external_id = "1" }
T.eq(gone, nil, "schema 1: an op it cannot run is an error, not false")
T.eq(gerr, "store sql/sqlite/orders.sql:" .. header_line("orders.sql", "order_get") .. ": op order_get: no such column: hold_kind",
  "schema 1: the error names the op's file and line")
s1:close()
local s2 = assert(store.open(steps, { schema = 2 }))
local sv, sa = s2:schema_version()
T.ok(sv == 2 and sa == 1, "schema 2: one more migration", sv .. " " .. sa)
s2:close()
local s3 = assert(store.open(steps))
sv, sa = s3:schema_version()
T.ok(sv == nmig and sa == nmig - 2, "latest: the rest", sv .. " " .. sa)
T.eq(s3:cart_get{ name = "old" }.connector, "shopify", "rows kept through the migrations")
s3:close()
local okr, rerr = pcall(store.open, steps, { schema = nmig + 1 })
T.ok(not okr and rerr:find("schema out of range", 1, true), "schema past the last migration: raised")

local sqlite_cli = os.execute("command -v sqlite3 >/dev/null")
if sqlite_cli then
  -- a version 1 database keeps its orders and lines through the migrations; a held order gets
  -- its hold kind, every order the folder 'new'
  local old = dir .. "/v1.db"
  local d1 = assert(store.open(old, { schema = 1 }))
  T.eq(d1:schema_version(), 1, "schema option stops at version 1")
  d1:close()
  os.execute("sqlite3 " .. old .. [[ "INSERT INTO orders(id, cart, external_id, doc, raw, raw_hash, imported_at, changed_at)
    VALUES(7, 'a', 'x', '{}', '{}', 'h', 't', 't');
    INSERT INTO orders(id, cart, external_id, hold_rule, hold_reason, doc, raw, imported_at, changed_at)
    VALUES(8, 'a', 'y', 'normalize', 'cannot normalize', '{}', '{}', 't', 't');
    INSERT INTO order_lines(order_id, line_no, sku, quantity, price) VALUES(7, 1, 'S1', 2, '1.00'), (7, 2, 'S2', 1, '2.00');
    INSERT INTO customers(email, first_name, orders) VALUES('bo@example.com', 'Bo', 3);"]])
  local d2 = assert(store.open(old))
  local v3, applied3 = d2:schema_version()
  T.ok(v3 == nmig and applied3 == v3 - 1, "upgrade applies the migrations after 1")
  local bo = d2:customer_get{ email = "bo@example.com" }
  T.ok(bo and bo.first_name == "Bo" and bo.orders == 3, "customers kept")
  local held = d2:order_get{ cart = "a", external_id = "y" }
  T.ok(held and held.id == 8 and held.hold_kind == "normalize" and held.hold_rule == "normalize"
    and held.folder == "new", "a held order gets its hold kind; folder new")
  local plain = d2:order_get{ cart = "a", external_id = "x" }
  T.ok(plain and plain.id == 7 and plain.hold_kind == nil and plain.folder == "new", "an order not held: no hold kind")
  T.eq(d2:order_insert{ cart = "a", external_id = "z", doc = "{}", raw = "{}" }, 9, "ids go on after the old ones")
  T.eq(d2:order_id{ cart = "a", external_id = "z" }.id, 9, "order_id finds it")
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
  T.eq(e3, "database schema 999 is newer than this cartwright (" .. nmig .. ")", "clear message")
end

-- The SQL files, through the real binary with CARTWRIGHT_HOME at a copy of the tree whose
-- sql/ is changed: each fault is one message naming the file and line, at store.open, and the
-- process ends normally (no crash, no leak under ASan).
local cwd = io.popen("pwd"):read("l")
local probe = T.write(dir .. "/probe.lua", [[
local store = require "cartwright.store"
for round = 1, 2 do
  local db, err = store.open(arg[1])
  if not db then print("error: " .. err) return end
  print("opened " .. table.concat({ db:schema_version() }, " ") .. " " .. tostring(db:cart_get{ name = "x" }))
  db:close()
end
]])
local function home_with(change)
  local home = T.tmpdir()
  assert(os.execute(string.format("ln -s %s/lua %s/lua && cp -r %s/sql %s/sql", T.q(cwd), home, T.q(cwd), home)))
  change(home .. "/sql/sqlite")
  return home
end
local function edit(file, fn)
  local text = T.slurp(file)
  T.write(file, fn(text))
end
local function open_in(home)
  local code, out, errout = T.cw({ "run", probe, home .. "/cw.db" }, { CARTWRIGHT_HOME = home }, { timeout = 60 })
  return code, out, errout
end

do -- the tree as it is: opens; migrations applied in order, once
  local home = home_with(function() end)
  local code, out, errout = open_in(home)
  T.eq(code, 0, "home copy: exit 0", errout)
  T.eq(out, "opened " .. nmig .. " " .. nmig .. " false\nopened " .. nmig .. " 0 false\n",
    "home copy: opened, every migration applied once")
  local order = {}
  for ver in errout:gmatch('msg="applied migration" version=(%d+)') do order[#order + 1] = ver end
  local want = {}
  for i = 1, nmig do want[i] = tostring(i) end
  T.eq(table.concat(order, ","), table.concat(want, ","), "migrations applied in order")
  os.execute("rm -rf " .. home)
end

local og = header_line("orders.sql", "order_get")
local cg = header_line("carts.sql", "cart_get")
local cases = {
  { "a bad op header",
    function(sql) edit(sql .. "/orders.sql", function(t) return (t:gsub("%-%- name: order_get %(one%)", "-- name: order_get (row)")) end) end,
    "error: sql/sqlite/orders.sql:" .. og .. ": bad op header '-- name: order_get (row)' (want '-- name: op_name (one|all|exec|insert)')" },
  { "an op file missing",
    function(sql) os.remove(sql .. "/catalog.sql") end,
    "error: cannot read sql/sqlite/catalog.sql: No such file or directory" },
  { "SQL before the first header",
    function(sql) edit(sql .. "/ship_map.sql", function(t) return "SELECT 1\n" .. t end) end,
    "error: sql/sqlite/ship_map.sql:1: SQL before the first '-- name: op_name (one|all|exec|insert)' header" },
  { "an op defined twice",
    function(sql) edit(sql .. "/customers.sql", function(t) return t .. "\n-- name: cart_get (one)\nSELECT 1\n" end) end,
    "error: sql/sqlite/customers.sql:" .. (select(2, T.slurp("sql/sqlite/customers.sql"):gsub("\n", "")) + 2)
      .. ": op cart_get is already defined at sql/sqlite/carts.sql:" .. cg },
  { "an op without SQL",
    function(sql) edit(sql .. "/catalog.sql", function(t) return t .. "\n-- name: product_forget (exec)\n-- to do\n" end) end,
    "error: sql/sqlite/catalog.sql:" .. (select(2, T.slurp("sql/sqlite/catalog.sql"):gsub("\n", "")) + 2)
      .. ": op product_forget has no SQL" },
  { "an op named like a method of the db",
    function(sql) edit(sql .. "/catalog.sql", function(t) return t .. "\n-- name: close (exec)\nDELETE FROM products\n" end) end,
    "error: sql/sqlite/catalog.sql:" .. (select(2, T.slurp("sql/sqlite/catalog.sql"):gsub("\n", "")) + 2)
      .. ": op close: the name of a method of the db itself" },
  { "an op that does not prepare",
    function(sql) edit(sql .. "/carts.sql", function(t) return (t:gsub("FROM carts WHERE name = :name", "FROM cartz WHERE name = :name", 1)) end) end,
    "error: sql/sqlite/carts.sql:" .. cg .. ": op cart_get: no such table: cartz" },
  { "two statements in one op",
    function(sql) edit(sql .. "/carts.sql", function(t) return (t:gsub("FROM carts WHERE name = :name", "FROM carts WHERE name = :name; DELETE FROM carts", 1)) end) end,
    "error: sql/sqlite/carts.sql:" .. cg .. ": op cart_get: more than one statement (an op is one statement)" },
  { "a gap in the migrations",
    function(sql) assert(os.execute("cd " .. sql .. "/migrations && mv 002_*.sql 004_moved.sql")) end,
    "error: sql/sqlite/migrations: no migration 002 (versions run 1, 2, 3, … with no gap; found 003_holds_folders_tags.sql)" },
  { "a migration named without its number",
    function(sql) T.write(sql .. "/migrations/later.sql", "SELECT 1;\n") end,
    "error: sql/sqlite/migrations/later.sql: a migration is named NNN_what.sql (NNN: its version, three digits)" },
}
for _, c in ipairs(cases) do
  local home = home_with(c[2])
  local code, out, errout = open_in(home)
  T.eq(code, 0, c[1] .. ": no crash, exit 0", errout)
  T.eq(out, c[3] .. "\n", c[1] .. ": the message names the file and line")
  os.execute("rm -rf " .. home)
end

do -- a migration that fails is rolled back whole, with the file and line of its statement
  local file
  local home = home_with(function(sql)
    file = io.popen("ls " .. sql .. "/migrations/003_*.sql"):read("l")
    edit(file, function(t) return t .. "\nCREATE INDEX broken ON orders(no_such_column);\n" end)
  end)
  local bad_line = select(2, T.slurp(file):gsub("\n", ""))
  local code, out, errout = open_in(home)
  T.eq(code, 0, "broken migration: exit 0", errout)
  T.eq(out, "error: sql/sqlite/migrations/" .. file:match("[^/]+$") .. ":" .. bad_line .. ": no such column: no_such_column\n",
    "broken migration: its file and the failing statement's line")
  local p = io.popen("sqlite3 " .. home .. "/cw.db 'PRAGMA user_version; SELECT count(*) FROM pragma_table_info(\"orders\") WHERE name = \"hold_kind\"'")
  local got = p:read("a")
  p:close()
  -- the missing migrations go in one transaction: a new file stays at version 0, none applied
  if sqlite_cli then T.eq(got, "0\n0\n", "broken migration: the database stays as it was (version 0), nothing of 1-3 applied") end
  os.execute("rm -rf " .. home)
end

os.execute("rm -rf " .. dir)
return T.done()
