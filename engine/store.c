/* store: SQLite storage and its Lua module, cartwright.store. The only unit that includes
 * sqlite3. Every statement lives in the ops[] table below as a named domain operation
 * (order_get, order_put, …) run with prepared statements; Lua passes parameters by name and
 * never sees SQL. Migrations are applied at open, tracked in PRAGMA user_version.
 * Uses sqlite3, lua, log. */
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "modules.h"

#define DB_MT "cartwright.store.db"

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
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof migrations[0])

/* ---- operations ------------------------------------------------------------------------- */

enum mode { ONE, ALL, EXEC };
struct op {
    const char *name;
    enum mode mode;
    const char *sql;
};

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

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
                       " updated_at, hold_rule, hold_reason, raw_hash FROM orders"
                       " WHERE cart = :cart AND external_id = :external_id"},
    {"order_insert", EXEC,
     "INSERT INTO orders(cart, external_id, number, status, cart_status, created_at, updated_at,"
     " email, ship_code, hold_rule, hold_reason, doc, raw, raw_hash, imported_at, changed_at)"
     " VALUES(:cart, :external_id, :number, :status, :cart_status, :created_at, :updated_at,"
     " :email, :ship_code, :hold_rule, :hold_reason, :doc, :raw, :raw_hash, " NOW ", " NOW ")"},
    {"order_update", EXEC,
     "UPDATE orders SET number = :number, status = :status, cart_status = :cart_status,"
     " created_at = :created_at, updated_at = :updated_at, email = :email, ship_code = :ship_code,"
     " hold_rule = :hold_rule, hold_reason = :hold_reason, doc = :doc, raw = :raw,"
     " raw_hash = :raw_hash, changed_at = " NOW " WHERE id = :id"},
    {"order_set_hold", EXEC, "UPDATE orders SET hold_rule = :hold_rule, hold_reason = :hold_reason,"
                             " changed_at = " NOW " WHERE id = :id"},
    {"order_lines_clear", EXEC, "DELETE FROM order_lines WHERE order_id = :order_id"},
    {"order_line_add", EXEC, "INSERT INTO order_lines(order_id, line_no, sku, quantity, price, unknown_sku)"
                             " VALUES(:order_id, :line_no, :sku, :quantity, :price, :unknown_sku)"},
    {"order_event", EXEC, "INSERT INTO order_events(order_id, at, kind, detail)"
                          " VALUES(:order_id, " NOW ", :kind, :detail)"},
    {"order_events", ALL, "SELECT at, kind, detail FROM order_events WHERE order_id = :order_id ORDER BY id"},
    {"orders_list", ALL,
     "SELECT id, cart, external_id, number, status, cart_status, created_at, updated_at,"
     " hold_rule, hold_reason, doc FROM orders"
     " WHERE (:cart IS NULL OR cart = :cart) AND (:status IS NULL OR status = :status)"
     " AND (:held IS NULL OR (hold_rule IS NOT NULL) = :held)"
     " AND (:since IS NULL OR updated_at >= :since)"
     " ORDER BY cart, created_at, id LIMIT coalesce(:limit, -1)"},
    {"orders_raw", ALL,
     "SELECT id, cart, external_id, number, status, cart_status, hold_rule, hold_reason, doc, raw,"
     " raw_hash FROM orders"
     " WHERE (:cart IS NULL OR cart = :cart) AND (:since IS NULL OR updated_at >= :since)"
     " AND id > :after ORDER BY id LIMIT :limit"},
    {"orders_count", ONE, "SELECT count(*) AS n, count(DISTINCT cart || ':' || external_id) AS distinct_n,"
                          " sum(hold_rule IS NOT NULL) AS held FROM orders WHERE (:cart IS NULL OR cart = :cart)"},
    {"orders_held_for_code", ALL,
     "SELECT id, cart, external_id, status, cart_status, hold_rule, hold_reason, raw, raw_hash"
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
    char *path;
} store;

/* ---- open, migrate, close ----------------------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
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

/* Applies each missing migration in its own transaction together with its version bump. */
static int migrate(store *s, char *err, size_t errlen)
{
    int v = user_version(s->db);
    if (v < 0) return snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db)), -1;
    if (v > NMIGRATIONS)
        return snprintf(err, errlen, "database schema %d is newer than this cartwright (%d)", v, NMIGRATIONS), -1;
    for (int i = v; i < NMIGRATIONS; i++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", i + 1);
        if (exec_sql(s->db, "BEGIN IMMEDIATE", err, errlen)) return -1;
        if (exec_sql(s->db, migrations[i], err, errlen) || exec_sql(s->db, bump, err, errlen) ||
            exec_sql(s->db, "COMMIT", err, errlen)) {
            char ignore[16];
            exec_sql(s->db, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
        s->migrated++;
        char num[16];
        snprintf(num, sizeof num, "%d", i + 1);
        log_write(LOG_INFO, "applied migration", (const char *[]){"version", num, "db", s->path, NULL});
    }
    return 0;
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

static int store_init(store *s, const char *path, char *err, size_t errlen)
{
    s->path = strdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* 64 KiB pages: an order row carries the cart's raw document (~8-12 KB), which on the
     * default 4 KiB pages spills into overflow chains; measured: half the insert CPU. The page
     * size only applies to a new database file. */
    if (exec_sql(s->db, "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA foreign_keys = ON;", err, errlen) ||
        migrate(s, err, errlen))
        return -1;
    for (int i = 0; i < NOPS; i++) {
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

/* Binds :name parameters from the table at index t (missing = NULL). Strings are bound
 * without a copy: they stay alive in the table until the statement is reset. */
static void bind_params(lua_State *L, sqlite3_stmt *st, int t)
{
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        int type = (t && name) ? lua_getfield(L, t, name + 1) : (lua_pushnil(L), LUA_TNIL);
        if (type == LUA_TSTRING) {
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

/* db:<op>(params) -> row | nil (ONE), {rows} (ALL), changes, last_id (EXEC); nil, err on failure */
static int l_op(lua_State *L)
{
    store *s = check_db(L);
    int idx = (int)lua_tointeger(L, lua_upvalueindex(1));
    int t = lua_istable(L, 2) ? 2 : 0;
    sqlite3_stmt *st = s->stmts[idx];
    bind_params(L, st, t);
    int rc, nrow = 0;
    if (ops[idx].mode == ALL) lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ops[idx].mode == ONE && nrow == 0) push_row(L, st);
        if (ops[idx].mode == ALL) {
            push_row(L, st);
            lua_rawseti(L, -2, nrow + 1);
        }
        nrow++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        lua_pushnil(L);
        lua_pushfstring(L, "store %s: %s", ops[idx].name, sqlite3_errmsg(s->db));
        return 2;
    }
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
        lua_pushfstring(L, "store: begin: %s", sqlite3_errmsg(s->db));
        return 2;
    }
    s->in_tx = 1;
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
        lua_pushfstring(L, "store: commit: %s", sqlite3_errmsg(s->db));
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

/* store.open(path) -> db | nil, err */
static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    store *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, DB_MT);
    char err[512];
    if (store_init(s, path, err, sizeof err)) {
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
