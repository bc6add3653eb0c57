/* store: SQLite storage and its Lua module, cartwright.store. The only unit that includes
 * sqlite3. Every statement lives in the ops[] table below as a named domain operation
 * (order_get, order_put, …) run with prepared statements; Lua passes parameters by name and
 * never sees SQL. Migrations are applied at open, tracked in PRAGMA user_version.
 * Uses sqlite3, lua, log. */
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "modules.h"

#define DB_MT "cartwright.store.db"
#define WAL_CHECKPOINT_BYTES (512LL << 20) /* log size that triggers a checkpoint */
#define BUSY_WAIT_MS 15000 /* how long a write waits for another process's lock */

/* ---- schema ------------------------------------------------------------------------------ */

static const char *const migrations[] = {
    /* 1: carts, orders, their lines and events, ship-method map, customers, catalog */
    "CREATE TABLE carts(name TEXT PRIMARY KEY, connector TEXT NOT NULL, watermark TEXT,"
    "  last_import_at TEXT, last_summary TEXT, last_error TEXT);"
    "CREATE TABLE orders(id INTEGER PRIMARY KEY, cart TEXT NOT NULL, external_id TEXT NOT NULL,"
    "  number TEXT, status TEXT, cart_status TEXT, created_at TEXT, updated_at TEXT,"
    "  email TEXT, ship_code TEXT, hold_rule TEXT, hold_reason TEXT,"
    "  doc TEXT NOT NULL, raw BLOB NOT NULL, raw_hash TEXT,"
    "  imported_at TEXT NOT NULL, changed_at TEXT NOT NULL, UNIQUE(cart, external_id));"
    "CREATE INDEX orders_by_status ON orders(status);"
    "CREATE INDEX orders_by_updated ON orders(cart, updated_at);"
    "CREATE INDEX orders_held ON orders(hold_rule, ship_code) WHERE hold_rule IS NOT NULL;"
    "CREATE TABLE order_lines(order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,"
    "  line_no INTEGER NOT NULL, sku TEXT, quantity INTEGER NOT NULL, price TEXT,"
    "  unknown_sku INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(order_id, line_no));"
    "CREATE INDEX order_lines_by_sku ON order_lines(sku);"
    "CREATE TABLE order_events(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, at TEXT NOT NULL,"
    "  kind TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX order_events_by_order ON order_events(order_id);"
    "CREATE TABLE ship_methods(code TEXT NOT NULL, cart TEXT NOT NULL DEFAULT '',"
    "  method TEXT NOT NULL, PRIMARY KEY(code, cart));"
    "CREATE TABLE customers(email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT,"
    "  first_order_at TEXT, orders INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE products(sku TEXT PRIMARY KEY, name TEXT);",
    /* 2: lines keyed by (order, line) and customers by email, each in one b-tree instead of a
     * table plus its key index; no index on lines by SKU until a query needs one (with random
     * keys, every commit rewrote most of its pages: 30 MB more log per 15,000 orders); an order
     * is unchanged when its raw bytes are (compared in SQL), so no raw hash is kept */
    "CREATE TABLE order_lines_new(order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,"
    "  line_no INTEGER NOT NULL, sku TEXT, quantity INTEGER NOT NULL, price TEXT,"
    "  unknown_sku INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(order_id, line_no)) WITHOUT ROWID;"
    "INSERT INTO order_lines_new SELECT order_id, line_no, sku, quantity, price, unknown_sku FROM order_lines;"
    "DROP TABLE order_lines;"
    "ALTER TABLE order_lines_new RENAME TO order_lines;"
    "CREATE TABLE customers_new(email TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, phone TEXT,"
    "  first_order_at TEXT, orders INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "INSERT INTO customers_new SELECT email, first_name, last_name, phone, first_order_at, orders FROM customers;"
    "DROP TABLE customers;"
    "ALTER TABLE customers_new RENAME TO customers;"
    "ALTER TABLE orders DROP COLUMN raw_hash;",
    /* 3: holds have a kind (rule, normalize, operator); orders have a folder and tags; events
     * carry an operator's note; orders are found by their number */
    "ALTER TABLE orders ADD COLUMN hold_kind TEXT;"
    "ALTER TABLE orders ADD COLUMN folder TEXT NOT NULL DEFAULT 'new';"
    "UPDATE orders SET hold_kind = CASE WHEN hold_rule = 'normalize' THEN 'normalize' ELSE 'rule' END"
    "  WHERE hold_rule IS NOT NULL;"
    "CREATE INDEX orders_by_number ON orders(number);"
    "CREATE TABLE order_tags(order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,"
    "  tag TEXT NOT NULL, PRIMARY KEY(order_id, tag)) WITHOUT ROWID;"
    "CREATE INDEX order_tags_by_tag ON order_tags(tag);"
    "ALTER TABLE order_events ADD COLUMN note TEXT;",
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof migrations[0])

/* ---- operations ------------------------------------------------------------------------- */

enum mode { ONE, ALL, EXEC };
struct op {
    const char *name;
    enum mode mode;
    const char *sql;
};

/* cw_now(): the time of the current transaction (every row a page stores carries the same
 * one, and the clock is read once per transaction, not per row), or the clock outside one. */
#define NOW "cw_now()"

static const struct op ops[] = {
    {"cart_get", ONE, "SELECT * FROM carts WHERE name = :name"},
    {"cart_list", ALL, "SELECT * FROM carts ORDER BY name"},
    {"cart_ensure", EXEC, "INSERT INTO carts(name, connector) VALUES(:name, :connector)"
                          " ON CONFLICT(name) DO UPDATE SET connector = excluded.connector"},
    /* the watermark only moves forward: ISO 8601 UTC strings compare as times */
    {"cart_set_watermark", EXEC, "UPDATE carts SET watermark = :watermark WHERE name = :name"
                                 " AND (watermark IS NULL OR watermark < :watermark)"},
    {"cart_finish_import", EXEC, "UPDATE carts SET last_import_at = " NOW ", last_summary = :summary,"
                                 " last_error = :error WHERE name = :name"},
    {"order_get", ONE, "SELECT id, cart, external_id, number, status, cart_status, created_at,"
                       " updated_at, hold_kind, hold_rule, hold_reason, folder FROM orders"
                       " WHERE cart = :cart AND external_id = :external_id"},
    /* the whole stored order: row, document and the cart's raw bytes */
    {"order_by_id", ONE, "SELECT * FROM orders WHERE id = :id"},
    /* our number (SH-1042) may be the same in two carts: every match */
    {"orders_by_number", ALL, "SELECT id, cart, external_id, number FROM orders WHERE number = :number ORDER BY cart"},
    /* same = 1 when the stored raw document has exactly these bytes */
    {"order_raw_same", ONE, "SELECT raw = :raw AS same FROM orders WHERE id = :id"},
    {"order_insert", EXEC,
     "INSERT INTO orders(cart, external_id, number, status, cart_status, created_at, updated_at,"
     " email, ship_code, hold_kind, hold_rule, hold_reason, folder, doc, raw, imported_at, changed_at)"
     " VALUES(:cart, :external_id, :number, :status, :cart_status, :created_at, :updated_at,"
     " :email, :ship_code, :hold_kind, :hold_rule, :hold_reason, coalesce(:folder, 'new'), :doc, :raw,"
     " " NOW ", " NOW ")"},
    {"order_update", EXEC,
     "UPDATE orders SET number = :number, status = :status, cart_status = :cart_status,"
     " created_at = :created_at, updated_at = :updated_at, email = :email, ship_code = :ship_code,"
     " hold_kind = :hold_kind, hold_rule = :hold_rule, hold_reason = :hold_reason,"
     " folder = coalesce(:folder, folder), doc = :doc, raw = :raw,"
     " changed_at = " NOW " WHERE id = :id"},
    {"order_set_hold", EXEC, "UPDATE orders SET hold_kind = :hold_kind, hold_rule = :hold_rule,"
                             " hold_reason = :hold_reason, changed_at = " NOW " WHERE id = :id"},
    {"order_lines", ALL, "SELECT line_no, sku, quantity, price, unknown_sku FROM order_lines"
                         " WHERE order_id = :order_id ORDER BY line_no"},
    {"order_tags", ALL, "SELECT tag FROM order_tags WHERE order_id = :order_id ORDER BY tag"},
    {"order_tags_clear", EXEC, "DELETE FROM order_tags WHERE order_id = :order_id"},
    {"order_tag_add", EXEC, "INSERT OR IGNORE INTO order_tags(order_id, tag) VALUES(:order_id, :tag)"},
    {"order_lines_clear", EXEC, "DELETE FROM order_lines WHERE order_id = :order_id"},
    {"order_line_add", EXEC, "INSERT INTO order_lines(order_id, line_no, sku, quantity, price, unknown_sku)"
                             " VALUES(:order_id, :line_no, :sku, :quantity, :price, :unknown_sku)"},
    {"order_event", EXEC, "INSERT INTO order_events(order_id, at, kind, detail, note)"
                          " VALUES(:order_id, " NOW ", :kind, :detail, :note)"},
    {"order_events", ALL, "SELECT at, kind, detail, note FROM order_events WHERE order_id = :order_id ORDER BY id"},
    {"orders_list", ALL,
     "SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at,"
     " hold_kind, hold_rule, hold_reason, folder, doc FROM orders"
     " WHERE (:cart IS NULL OR cart = :cart) AND (:status IS NULL OR status = :status)"
     " AND (:held IS NULL OR (hold_rule IS NOT NULL) = :held)"
     " AND (:since IS NULL OR updated_at >= :since)"
     " AND (:folder IS NULL OR folder = :folder)"
     " AND (:tag IS NULL OR EXISTS(SELECT 1 FROM order_tags t WHERE t.order_id = orders.id AND t.tag = :tag))"
     " ORDER BY cart, created_at, id LIMIT coalesce(:limit, -1)"},
    /* the tags of the orders in one listing: order_id, tag (for a page of orders_list) */
    {"orders_tags", ALL, "SELECT order_id, tag FROM order_tags WHERE order_id IN"
                         " (SELECT value FROM json_each(:ids)) ORDER BY order_id, tag"},
    {"orders_raw", ALL,
     "SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at, hold_kind,"
     " hold_rule, hold_reason, folder, doc, raw"
     " FROM orders"
     " WHERE (:cart IS NULL OR cart = :cart) AND (:since IS NULL OR updated_at >= :since)"
     " AND id > :after ORDER BY id LIMIT :limit"},
    {"orders_count", ONE, "SELECT count(*) AS n, count(DISTINCT cart || ':' || external_id) AS distinct_n,"
                          " sum(hold_rule IS NOT NULL) AS held FROM orders WHERE (:cart IS NULL OR cart = :cart)"},
    {"orders_held_for_code", ALL,
     "SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at, hold_kind,"
     " hold_rule, hold_reason, folder, doc, raw"
     " FROM orders WHERE hold_rule = :rule AND coalesce(ship_code, '') = :code"
     " AND (:cart IS NULL OR cart = :cart)"},
    {"ship_map_set", EXEC, "INSERT INTO ship_methods(code, cart, method) VALUES(:code, coalesce(:cart, ''), :method)"
                           " ON CONFLICT(code, cart) DO UPDATE SET method = excluded.method"},
    {"ship_map_get", ONE, "SELECT method FROM ship_methods WHERE code = :code AND cart IN (coalesce(:cart, ''), '')"
                          " ORDER BY cart DESC LIMIT 1"},
    {"ship_map_list", ALL, "SELECT code, cart, method FROM ship_methods ORDER BY code, cart"},
    {"customer_seen", EXEC,
     "INSERT INTO customers(email, first_name, last_name, phone, first_order_at, orders)"
     " VALUES(:email, :first_name, :last_name, :phone, :created_at, 1)"
     " ON CONFLICT(email) DO UPDATE SET orders = orders + 1,"
     " first_order_at = min(coalesce(first_order_at, excluded.first_order_at),"
     " coalesce(excluded.first_order_at, first_order_at)),"
     " first_name = coalesce(excluded.first_name, first_name),"
     " last_name = coalesce(excluded.last_name, last_name), phone = coalesce(excluded.phone, phone)"},
    {"customer_get", ONE, "SELECT * FROM customers WHERE email = :email"},
    {"product_put", EXEC, "INSERT INTO products(sku, name) VALUES(:sku, :name)"
                          " ON CONFLICT(sku) DO UPDATE SET name = excluded.name"},
    {"product_known", ONE, "SELECT EXISTS(SELECT 1 FROM products WHERE sku = :sku) AS known,"
                           " EXISTS(SELECT 1 FROM products) AS catalog"},
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *stmts[NOPS];
    sqlite3_stmt *begin, *commit, *rollback;
    int in_tx, migrated;
    int busy_said;
    struct timespec busy_since;
    char *path;
    char tx_now[32]; /* cw_now() inside a transaction */
} store;

/* ---- open, migrate, close ----------------------------------------------------------------- */

/* The last error of s, said plainly when it is another process's lock. */
static const char *store_error(store *s, char *buf, size_t len)
{
    int code = sqlite3_extended_errcode(s->db) & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        snprintf(buf, len, "database %s is locked: another process held its write lock for %d s (is another"
                 " cartwright command writing to it?)", s->path, BUSY_WAIT_MS / 1000);
        return buf;
    }
    return sqlite3_errmsg(s->db);
}

static int exec_sql(store *s, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        char buf[512];
        snprintf(err, errlen, "%s", store_error(s, buf, sizeof buf));
        return -1;
    }
    return 0;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Applies each missing migration in its own transaction together with its version bump. The
 * version is read inside the transaction, after the write lock is taken: two processes opening
 * a new database at once each see the other's migrations, never apply one twice. */
static int migrate(store *s, int upto, char *err, size_t errlen)
{
    for (;;) {
        if (exec_sql(s, "BEGIN IMMEDIATE", err, errlen)) return -1;
        int v = user_version(s->db);
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        char ignore[16];
        if (v < 0 || v > NMIGRATIONS) {
            if (v < 0) snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
            else snprintf(err, errlen, "database schema %d is newer than this cartwright (%d)", v, NMIGRATIONS);
            exec_sql(s, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
        if (v >= upto) return exec_sql(s, "COMMIT", err, errlen);
        if (exec_sql(s, migrations[v], err, errlen) || exec_sql(s, bump, err, errlen) ||
            exec_sql(s, "COMMIT", err, errlen)) {
            exec_sql(s, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
        s->migrated++;
        char num[16];
        snprintf(num, sizeof num, "%d", v + 1);
        log_write(LOG_INFO, "applied migration", (const char *[]){"version", num, "db", s->path, NULL});
    }
}

/* Waiting for another process's write lock: sleeps in growing steps up to BUSY_WAIT_MS in all,
 * and says once, after a second, what it waits for (an operator sees why a command stands
 * still). Runs on the loop's thread: SQLite calls are synchronous anyway. */
static int busy_wait(void *ud, int count)
{
    store *s = ud;
    if (count == 0) clock_gettime(CLOCK_MONOTONIC, &s->busy_since);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long waited = (now.tv_sec - s->busy_since.tv_sec) * 1000LL + (now.tv_nsec - s->busy_since.tv_nsec) / 1000000;
    if (waited >= BUSY_WAIT_MS) return 0;
    if (waited >= 1000 && !s->busy_said) {
        s->busy_said = 1;
        log_write(LOG_WARN, "waiting for the database: another process holds its write lock",
                  (const char *[]){"db", s->path, NULL});
    }
    long step = count < 10 ? 1 + count : 20; /* ms */
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

static void store_close(store *s)
{
    for (int i = 0; i < NOPS; i++) sqlite3_finalize(s->stmts[i]);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    if (s->db) sqlite3_close(s->db);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* "2026-11-23T14:20:05.123Z" */
static void format_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* SQL cw_now() */
static void sql_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc, (void)argv;
    store *s = sqlite3_user_data(ctx);
    if (s->in_tx && s->tx_now[0]) {
        sqlite3_result_text(ctx, s->tx_now, -1, SQLITE_STATIC);
        return;
    }
    char buf[32];
    format_now(buf, sizeof buf);
    sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
}

static int store_init(store *s, const char *path, int upto, char *err, size_t errlen)
{
    s->path = strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_handler(s->db, busy_wait, s);
    sqlite3_create_function(s->db, "cw_now", 0, SQLITE_UTF8, s, sql_now, NULL, NULL);
    /* 64 KiB pages: an order row carries the cart's raw document (~8-12 KB), which on the
     * default 4 KiB pages spills into overflow chains; measured: half the insert CPU. The page
     * size only applies to a new database file.
     * Checkpoints: with synchronous = NORMAL a commit is never fsynced, only a checkpoint is,
     * and the loop stands still while it copies the log into the database and syncs it. At
     * SQLite's default (every 1000 pages, 64 MiB here) a 20,000-order import stopped three times,
     * 0.2 s in all, and wrote 545 MB; letting the log reach 512 MiB before a checkpoint (and
     * checkpointing on close, as SQLite does) wrote 540 MB with one sync, and the import never
     * waited. Durability is the same: a commit is durable once the OS has written the log. */
    if (exec_sql(s, "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA foreign_keys = ON;", err, errlen) ||
        migrate(s, upto, err, errlen))
        return -1;
    int page = 0;
    sqlite3_stmt *ps = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK && sqlite3_step(ps) == SQLITE_ROW)
        page = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    if (page > 0) sqlite3_wal_autocheckpoint(s->db, (int)(WAL_CHECKPOINT_BYTES / page));
    /* with the latest schema every operation must prepare: a broken statement is found at open */
    for (int i = 0; i < NOPS && upto == NMIGRATIONS; i++) {
        if (sqlite3_prepare_v3(s->db, ops[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "prepare %s: %s", ops[i].name, sqlite3_errmsg(s->db));
            return -1;
        }
    }
    if (sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "prepare: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* ---- Lua binding ------------------------------------------------------------------------ */

static store *check_db(lua_State *L)
{
    store *s = luaL_checkudata(L, 1, DB_MT);
    if (!s->db) luaL_error(L, "store: database is closed");
    return s;
}

/* Parameters holding text about what happened (a cart's error body, a rule's reason): a cart
 * may echo our token in them, so registered secrets are redacted before they are stored. */
static int is_message_param(const char *name)
{
    static const char *const names[] = {":error", ":summary", ":hold_reason", ":detail", ":note",
                                        ":reason", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* Binds a message parameter with secrets redacted. Returns 0, or -1 when out of memory. */
static int bind_message(sqlite3_stmt *st, int i, const char *v, size_t len)
{
    char *clean = NULL;
    size_t n = 0;
    int rc = log_redact(v, len, &clean, &n);
    if (rc < 0) return -1;
    if (rc == 0) return sqlite3_bind_text(st, i, v, (int)len, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
    return sqlite3_bind_text(st, i, clean, (int)n, free) == SQLITE_OK ? 0 : -1;
}

/* Binds :name parameters from the table at index t (missing = NULL). Strings are bound
 * without a copy: they stay alive in the table until the statement is reset. */
static void bind_params(lua_State *L, sqlite3_stmt *st, int t)
{
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        int type = (t && name) ? lua_getfield(L, t, name + 1) : (lua_pushnil(L), LUA_TNIL);
        if (type == LUA_TSTRING && is_message_param(name)) {
            size_t len;
            const char *v = lua_tolstring(L, -1, &len);
            if (bind_message(st, i, v, len)) luaL_error(L, "store: out of memory");
        } else if (type == LUA_TSTRING) {
            size_t len;
            const char *v = lua_tolstring(L, -1, &len);
            sqlite3_bind_text(st, i, v, (int)len, SQLITE_STATIC);
        } else if (type == LUA_TNUMBER && lua_isinteger(L, -1)) {
            sqlite3_bind_int64(st, i, lua_tointeger(L, -1));
        } else if (type == LUA_TNUMBER) {
            sqlite3_bind_double(st, i, lua_tonumber(L, -1));
        } else if (type == LUA_TBOOLEAN) {
            sqlite3_bind_int(st, i, lua_toboolean(L, -1));
        } else {
            sqlite3_bind_null(st, i);
        }
        lua_pop(L, 1);
    }
}

static void push_row(lua_State *L, sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, i)); break;
        case SQLITE_NULL: continue;
        default:
            lua_pushlstring(L, (const char *)sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
        }
        lua_setfield(L, -2, sqlite3_column_name(st, i));
    }
}

/* Runs op idx once with the parameters of the table at t (0: none). Returns 0 with the rows
 * counted in *nrow (ONE: the first row pushed; ALL: a table of them pushed; EXEC: nothing
 * pushed), or -1 with nil, err pushed. */
static int run_op(lua_State *L, store *s, int idx, int t, int *nrow)
{
    /* an old schema (store.open(path, {schema = N}), for upgrade tests) prepares on first use */
    if (!s->stmts[idx] &&
        sqlite3_prepare_v3(s->db, ops[idx].sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[idx], NULL) != SQLITE_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "store %s: %s", ops[idx].name, sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_stmt *st = s->stmts[idx];
    bind_params(L, st, t);
    int rc;
    *nrow = 0;
    if (ops[idx].mode == ALL) lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ops[idx].mode == ONE && *nrow == 0) push_row(L, st);
        if (ops[idx].mode == ALL) {
            push_row(L, st);
            lua_rawseti(L, -2, *nrow + 1);
        }
        (*nrow)++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        lua_pushnil(L);
        char buf[512];
        lua_pushfstring(L, "store %s: %s", ops[idx].name, store_error(s, buf, sizeof buf));
        return -1;
    }
    return 0;
}

/* db:<op>(params) -> row | nil (ONE), {rows} (ALL), changes, last_id (EXEC); nil, err on failure.
 * An EXEC op given a list of parameter tables runs once per element, in order, and returns
 * the total of changes and the last id (for the lines of an order, say). */
static int l_op(lua_State *L)
{
    store *s = check_db(L);
    int idx = (int)lua_tointeger(L, lua_upvalueindex(1));
    int t = lua_istable(L, 2) ? 2 : 0, nrow;
    if (t && ops[idx].mode == EXEC && lua_rawgeti(L, t, 1) == LUA_TTABLE) {
        lua_pop(L, 1);
        lua_Integer n = (lua_Integer)lua_rawlen(L, t), changes = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, t, i) != LUA_TTABLE) return luaL_error(L, "store %s: element %d is not a table", ops[idx].name, (int)i);
            if (run_op(L, s, idx, lua_gettop(L), &nrow)) return 2;
            lua_pop(L, 1);
            changes += sqlite3_changes(s->db);
        }
        lua_pushinteger(L, changes);
        lua_pushinteger(L, sqlite3_last_insert_rowid(s->db));
        return 2;
    }
    if (t) lua_settop(L, 2);
    if (run_op(L, s, idx, t, &nrow)) return 2;
    if (ops[idx].mode == EXEC) {
        lua_pushinteger(L, sqlite3_changes(s->db));
        lua_pushinteger(L, sqlite3_last_insert_rowid(s->db));
        return 2;
    }
    if (ops[idx].mode == ONE && nrow == 0) lua_pushnil(L);
    return 1;
}

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* db:transaction(fn, ...) -> fn's results | nil, err. BEGIN IMMEDIATE … COMMIT; any error
 * in fn rolls back. fn may not yield: a transaction never spans two loop turns. */
static int l_transaction(lua_State *L)
{
    store *s = check_db(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (s->in_tx) return luaL_error(L, "store: transactions do not nest");
    if (step_once(s->begin)) {
        lua_pushnil(L);
        char buf[512];
        lua_pushfstring(L, "store: begin: %s", store_error(s, buf, sizeof buf));
        return 2;
    }
    s->in_tx = 1;
    format_now(s->tx_now, sizeof s->tx_now);
    int base = 1;
    int st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    if (st == LUA_OK && lua_isnil(L, base + 1) && lua_gettop(L) >= base + 2) {
        st = -1; /* fn returned nil, err: roll back and pass them on */
        lua_settop(L, base + 2);
    }
    if (st == LUA_OK && step_once(s->commit) == 0) {
        s->in_tx = 0;
        return lua_gettop(L) - base;
    }
    if (st == LUA_OK) {
        lua_settop(L, base);
        lua_pushnil(L);
        char buf[512];
        lua_pushfstring(L, "store: commit: %s", store_error(s, buf, sizeof buf));
    } else if (st != -1) {
        lua_pushnil(L);
        lua_insert(L, -2);
    }
    step_once(s->rollback);
    s->in_tx = 0;
    return 2;
}

/* db:schema_version() -> n, migrations applied by this open */
static int l_schema_version(lua_State *L)
{
    store *s = check_db(L);
    lua_pushinteger(L, user_version(s->db));
    lua_pushinteger(L, s->migrated);
    return 2;
}

/* db:close() */
static int l_close(lua_State *L)
{
    store *s = luaL_checkudata(L, 1, DB_MT);
    store_close(s);
    return 0;
}

/* store.open(path [, {schema = N}]) -> db | nil, err. schema stops the migrations at version N
 * (upgrade tests build an old database with it). */
static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int upto = NMIGRATIONS;
    if (lua_istable(L, 2) && lua_getfield(L, 2, "schema") != LUA_TNIL) {
        upto = (int)luaL_checkinteger(L, -1);
        luaL_argcheck(L, upto >= 1 && upto <= NMIGRATIONS, 2, "schema out of range");
    }
    lua_settop(L, 1);
    store *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, DB_MT);
    char err[512];
    if (store_init(s, path, upto, err, sizeof err)) {
        store_close(s);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

int store_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"open", l_open}, {NULL, NULL}};
    if (luaL_newmetatable(L, DB_MT)) {
        lua_newtable(L);
        for (int i = 0; i < NOPS; i++) {
            lua_pushinteger(L, i);
            lua_pushcclosure(L, l_op, 1);
            lua_setfield(L, -2, ops[i].name);
        }
        lua_pushcfunction(L, l_transaction);
        lua_setfield(L, -2, "transaction");
        lua_pushcfunction(L, l_schema_version);
        lua_setfield(L, -2, "schema_version");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "close");
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_pushstring(L, sqlite3_libversion());
    lua_setfield(L, -2, "sqlite_version");
    return 1;
}
