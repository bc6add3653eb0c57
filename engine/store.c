/* store: the SQLite backend of cartwright.store and its Lua module; the only unit that
 * includes sqlite3. Its statements are named operations and its schema numbered migrations,
 * both in files under sql/sqlite/ read at run time from the engine's home (why: sql_get); it
 * keeps only the connection's own statements (pragmas, BEGIN/COMMIT/ROLLBACK, user_version).
 * Uses sqlfile, sqlite3, lua, rt (the home), log. */
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "modules.h"
#include "rt.h"
#include "sqlfile.h"

#define DB_MT "cartwright.store.db"
#define SQL_MT "cartwright.store.sql"
#define SQL_KEY "cartwright.store.sqlset" /* registry: this process's SQL (a userdata with SQL_MT) */
#define SQL_DIR "sql/sqlite"
#define WAL_CHECKPOINT_BYTES (512LL << 20) /* log size that triggers a checkpoint */
#define BUSY_WAIT_MS 15000 /* how long a write waits for another process's lock */

/* The op files of sql/sqlite/ (a file named here and missing is an error at open). */
static const char *const op_files[] = {"carts.sql",   "orders.sql", "ship_map.sql", "customers.sql",
                                       "catalog.sql", "stock.sql",  "outbox.sql",   "shipments.sql", "service.sql", NULL};
/* the db's own methods: no op may take their names */
static const char *const reserved_names[] = {"transaction", "schema_version", "close", NULL};

typedef struct {
    sqlite3 *db;
    const sqlset *sql;     /* the process's SQL, kept alive by the db's user value */
    sqlite3_stmt **stmts;  /* one per op of sql: prepared at open, or on first use (old schema) */
    int *now_param;        /* per op: the index of its :now parameter, 0 when it has none */
    unsigned char **param_flags; /* per op, per parameter (from 1): PARAM_* (made with its names) */
    int nops;
    sqlite3_stmt *begin, *commit, *rollback;
    int in_tx, migrated;
    int busy_said;
    struct timespec busy_since;
    char *path;
    char tx_now[32]; /* the transaction's time: cw_now() and :now inside one */
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

/* Runs a migration's statements one by one. Returns 0, or -1 with err naming its file and
 * the line of the statement that failed. */
static int exec_migration(store *s, const sqlmigration *m, char *err, size_t errlen)
{
    const char *p = m->sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(s->db, p, -1, &st, &tail);
        if (rc == SQLITE_OK && st) {
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) continue;
            if (rc == SQLITE_DONE) rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK) {
            char buf[512];
            snprintf(err, errlen, "%s:%d: %s", m->file, sqlfile_line(m->sql, p), store_error(s, buf, sizeof buf));
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_finalize(st);
        if (!tail || tail == p) break; /* nothing left but what SQLite skips */
        p = tail;
    }
    return 0;
}

/* Applies the missing migrations and the version bump in one transaction: one write lock per
 * open, however many there are (each lock cycle is a chance for processes opening a new file
 * at once to meet in SQLite's lock upgrades), and a failing migration leaves the schema as it
 * was. The version is read inside the transaction, after the write lock is taken: two
 * processes opening a new database at once each see the other's migrations, never apply one
 * twice. */
static int migrate(store *s, int upto, char *err, size_t errlen)
{
    char ignore[16];
    if (exec_sql(s, "BEGIN IMMEDIATE", err, errlen)) return -1;
    int v = user_version(s->db);
    if (v < 0 || v > s->sql->nmigrations) {
        if (v < 0) snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(s->db));
        else snprintf(err, errlen, "database schema %d is newer than this cartwright (%d)", v, s->sql->nmigrations);
        exec_sql(s, "ROLLBACK", ignore, sizeof ignore);
        return -1;
    }
    if (v >= upto) return exec_sql(s, "COMMIT", err, errlen);
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", upto);
    for (int m = v; m < upto; m++) {
        if (exec_migration(s, &s->sql->migrations[m], err, errlen)) {
            exec_sql(s, "ROLLBACK", ignore, sizeof ignore);
            return -1;
        }
    }
    if (exec_sql(s, bump, err, errlen) || exec_sql(s, "COMMIT", err, errlen)) {
        exec_sql(s, "ROLLBACK", ignore, sizeof ignore);
        return -1;
    }
    for (int m = v + 1; m <= upto; m++) {
        char num[16];
        snprintf(num, sizeof num, "%d", m);
        log_write(LOG_INFO, "applied migration", (const char *[]){"version", num, "db", s->path, NULL});
        s->migrated++;
    }
    return 0;
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

/* The pragmas and the migrations of open. Processes opening a new file at once can meet in
 * SQLite's lock upgrades (the switch to WAL, the first write), where SQLite answers BUSY at once
 * instead of calling the busy handler, to break a deadlock: that open is tried again after a
 * short sleep, within the same BUSY_WAIT_MS as any wait for the lock. */
static int setup_schema(store *s, int upto, char *err, size_t errlen)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int attempt = 0;; attempt++) {
        if (!exec_sql(s, "PRAGMA page_size = 65536; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                         " PRAGMA cache_size = -65536; PRAGMA foreign_keys = ON;", err, errlen) &&
            !migrate(s, upto, err, errlen))
            return 0;
        if ((sqlite3_extended_errcode(s->db) & 0xff) != SQLITE_BUSY) return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000 >= BUSY_WAIT_MS) return -1;
        struct timespec ts = {0, (5 + (attempt % 10) * 5) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void store_close(store *s)
{
    for (int i = 0; i < s->nops && s->stmts; i++) sqlite3_finalize(s->stmts[i]);
    free(s->stmts);
    free(s->now_param);
    for (int i = 0; i < s->nops && s->param_flags; i++) free(s->param_flags[i]);
    free(s->param_flags);
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

/* The time of the current transaction, or the clock (written into buf) outside one. */
static const char *store_now(store *s, char buf[32])
{
    if (s->in_tx && s->tx_now[0]) return s->tx_now;
    format_now(buf, 32);
    return buf;
}

/* SQL cw_now() */
static void sql_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc, (void)argv;
    char buf[32];
    sqlite3_result_text(ctx, store_now(sqlite3_user_data(ctx), buf), -1, SQLITE_TRANSIENT);
}

/* Prepares op i: one statement, nothing after it but comments. Returns 0, or -1 with err
 * naming the op's file and line. */
static int op_prepare(store *s, int i, char *err, size_t errlen)
{
    const sqlop *op = &s->sql->ops[i];
    const char *tail = NULL;
    sqlite3_stmt *extra = NULL;
    if (sqlite3_prepare_v3(s->db, op->sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i], &tail) != SQLITE_OK) {
        snprintf(err, errlen, "%s: op %s: %s", op->where, op->name, sqlite3_errmsg(s->db));
        return -1;
    }
    while (s->stmts[i] && tail && *tail) { /* what follows may only be blanks and comments */
        const char *next = NULL;
        if (sqlite3_prepare_v2(s->db, tail, -1, &extra, &next) != SQLITE_OK || extra || next == tail) {
            sqlite3_finalize(extra);
            break;
        }
        tail = next;
    }
    s->now_param[i] = s->stmts[i] ? sqlite3_bind_parameter_index(s->stmts[i], ":now") : 0;
    if (!s->stmts[i] || (tail && *tail)) {
        snprintf(err, errlen, "%s: op %s: %s", op->where, op->name,
                 s->stmts[i] ? "more than one statement (an op is one statement)" : "no statement");
        sqlite3_finalize(s->stmts[i]);
        s->stmts[i] = NULL;
        return -1;
    }
    return 0;
}

static int store_init(store *s, const char *path, int upto, char *err, size_t errlen)
{
    s->path = strdup(path);
    s->nops = s->sql->nops;
    if (!(s->stmts = calloc((size_t)s->nops, sizeof *s->stmts)) ||
        !(s->now_param = calloc((size_t)s->nops, sizeof *s->now_param)) ||
        !(s->param_flags = calloc((size_t)s->nops, sizeof *s->param_flags))) {
        snprintf(err, errlen, "cannot open database %s: out of memory", path);
        return -1;
    }
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
    if (setup_schema(s, upto, err, errlen)) return -1;
    int page = 0;
    sqlite3_stmt *ps = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK && sqlite3_step(ps) == SQLITE_ROW)
        page = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    if (page > 0) sqlite3_wal_autocheckpoint(s->db, (int)(WAL_CHECKPOINT_BYTES / page));
    /* with the latest schema every operation must prepare: a broken statement is found at open */
    for (int i = 0; i < s->nops && upto == s->sql->nmigrations; i++)
        if (op_prepare(s, i, err, errlen)) return -1;
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

enum { PARAM_MESSAGE = 1, PARAM_STORE = 2 };

/* The names of op idx's parameters (without ':') and result columns as Lua strings, made once
 * per op and kept in the db's user value 2 (names[2*idx+1] params, names[2*idx+2] columns):
 * binding a parameter or naming a column then looks a table up by an interned string instead
 * of hashing a C string each time (the import binds ~50 parameters per order). Pushes the two
 * tables (stack: +2). */
static void push_names(lua_State *L, store *s, int db, int idx, sqlite3_stmt *st)
{
    luaL_checkstack(L, 6, "store");
    lua_getiuservalue(L, db, 2);
    if (lua_rawgeti(L, -1, 2 * idx + 1) == LUA_TTABLE) {
        lua_rawgeti(L, -2, 2 * idx + 2);
        lua_remove(L, -3);
        return;
    }
    lua_pop(L, 1);
    int n = sqlite3_bind_parameter_count(st), ncols = sqlite3_column_count(st);
    unsigned char *flags = calloc((size_t)n + 1, 1);
    if (!flags) luaL_error(L, "store: out of memory");
    free(s->param_flags[idx]);
    s->param_flags[idx] = flags;
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(st, i);
        if (name) lua_pushstring(L, name + 1); else lua_pushboolean(L, 0);
        lua_rawseti(L, -2, i);
        if (name && is_message_param(name)) flags[i] |= PARAM_MESSAGE;
        if (i == s->now_param[idx]) flags[i] |= PARAM_STORE;
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, 2 * idx + 1);
    lua_createtable(L, ncols, 0);
    for (int i = 0; i < ncols; i++) {
        lua_pushstring(L, sqlite3_column_name(st, i));
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, -4, 2 * idx + 2);
    lua_remove(L, -3); /* stack: params, cols */
}

/* Binds op idx's parameters from the table at index t (missing = NULL), by the names at
 * index names. Strings are bound without a copy: they stay alive in the table until the
 * statement is reset. */
static void bind_params(lua_State *L, store *s, int idx, sqlite3_stmt *st, int t, int names)
{
    int n = sqlite3_bind_parameter_count(st);
    const unsigned char *flags = s->param_flags[idx];
    for (int i = 1; i <= n; i++) {
        int type = LUA_TNIL;
        if (flags[i] & PARAM_STORE) continue;
        if (t && lua_rawgeti(L, names, i) == LUA_TSTRING) type = lua_rawget(L, t);
        if (type == LUA_TSTRING && (flags[i] & PARAM_MESSAGE)) {
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
        if (t) lua_pop(L, 1);
    }
}

/* Pushes the current row as a table, its fields named by the column names at index cols. */
static void push_row(lua_State *L, sqlite3_stmt *st, int cols)
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
        lua_rawgeti(L, cols, i + 1);
        lua_insert(L, -2);
        lua_rawset(L, -3);
    }
}

static int run_op(lua_State *L, store *s, int idx, int t, int *nrow)
{
    const sqlop *op = &s->sql->ops[idx];
    char buf[512];
    /* an old schema (store.open(path, {schema = N}), for upgrade tests) prepares on first use */
    if (!s->stmts[idx] && op_prepare(s, idx, buf, sizeof buf)) {
        lua_pushnil(L);
        lua_pushfstring(L, "store %s", buf);
        return -1;
    }
    sqlite3_stmt *st = s->stmts[idx];
    push_names(L, s, 1, idx, st); /* stack: ..., params, cols */
    int names = lua_gettop(L) - 1, cols = names + 1;
    bind_params(L, s, idx, st, t, names);
    if (s->now_param[idx]) /* the store's own parameter: never taken from the table */
        sqlite3_bind_text(st, s->now_param[idx], store_now(s, buf), -1, SQLITE_TRANSIENT);
    int rc;
    *nrow = 0;
    if (op->kind == SQLOP_ALL) lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (op->kind == SQLOP_ONE && *nrow == 0) push_row(L, st, cols);
        if (op->kind == SQLOP_ALL) {
            push_row(L, st, cols);
            lua_rawseti(L, -2, *nrow + 1);
        }
        (*nrow)++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* the result (a row or the rows' table), if any, above the names: take the names out */
    lua_remove(L, names);
    lua_remove(L, names);
    if (rc != SQLITE_DONE) {
        if (lua_gettop(L) >= names) lua_settop(L, names - 1);
        lua_pushnil(L);
        lua_pushfstring(L, "store %s: %s", op->name, store_error(s, buf, sizeof buf));
        return -1;
    }
    return 0;
}

/* db:<op>(params) -> row | false (one), {rows} (all), changes (exec), id (insert); nil, err on
 * failure. `false` is "no row", never an error. An insert op's id is the row it made: SQLite's
 * last insert rowid read at once after its step, inside this call (nothing else runs on the
 * connection in between; RETURNING costs ~20k instructions a row here, docs/store.md). An
 * exec op given a list of parameter tables runs once per element, in order, and returns the
 * total of changes (the lines of an order, say). */
static int l_op(lua_State *L)
{
    store *s = check_db(L);
    int idx = (int)lua_tointeger(L, lua_upvalueindex(1));
    enum sqlop_kind kind = s->sql->ops[idx].kind;
    int t = lua_istable(L, 2) ? 2 : 0, nrow;
    if (t && kind == SQLOP_EXEC && lua_rawgeti(L, t, 1) == LUA_TTABLE) {
        lua_pop(L, 1);
        lua_Integer n = (lua_Integer)lua_rawlen(L, t), changes = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, t, i) != LUA_TTABLE)
                return luaL_error(L, "store %s: element %d is not a table", s->sql->ops[idx].name, (int)i);
            if (run_op(L, s, idx, lua_gettop(L), &nrow)) return 2;
            lua_pop(L, 1);
            changes += sqlite3_changes(s->db);
        }
        lua_pushinteger(L, changes);
        return 1;
    }
    if (t) lua_settop(L, 2);
    if (run_op(L, s, idx, t, &nrow)) return 2;
    if (kind == SQLOP_EXEC) lua_pushinteger(L, sqlite3_changes(s->db));
    else if (kind == SQLOP_INSERT && sqlite3_changes(s->db) > 0) lua_pushinteger(L, sqlite3_last_insert_rowid(s->db));
    else if (kind == SQLOP_INSERT) lua_pushboolean(L, 0); /* OR IGNORE made nothing: no id */
    else if (kind == SQLOP_ONE && nrow == 0) lua_pushboolean(L, 0);
    return 1;
}

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* db:transaction(fn, ...) -> fn's results | nil, err. BEGIN IMMEDIATE … COMMIT; any error
 * in fn, or fn returning nil, err, rolls back. With SQLite nothing in it yields (every call is
 * synchronous and fast), so a transaction never spans two loop turns and the one connection
 * is never shared by two tasks. A networked backend keeps this signature but yields the task
 * on each round trip and holds one connection for it from BEGIN to COMMIT (docs/store.md). */
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

/* __gc of the process's SQL */
static int l_sql_gc(lua_State *L)
{
    sqlset_free(luaL_checkudata(L, 1, SQL_MT));
    return 0;
}

/* Puts an l_op closure for each op of set in the db methods. An op may not take the name of
 * a method of the db itself. Returns 0, or -1 with err. */
static int methods_add(lua_State *L, const sqlset *set, char *err, size_t errlen)
{
    for (int i = 0; i < set->nops; i++)
        for (int j = 0; reserved_names[j]; j++)
            if (strcmp(set->ops[i].name, reserved_names[j]) == 0) {
                snprintf(err, errlen, "%s: op %s: the name of a method of the db itself", set->ops[i].where,
                         set->ops[i].name);
                return -1;
            }
    luaL_getmetatable(L, DB_MT);
    lua_getfield(L, -1, "__index");
    for (int i = 0; i < set->nops; i++) { /* stack: mt, methods */
        lua_pushinteger(L, i);
        lua_pushcclosure(L, l_op, 1);
        lua_setfield(L, -2, set->ops[i].name);
    }
    lua_pop(L, 2);
    return 0;
}

/* The process's SQL, read from the home at the first call; pushes it (the userdata that owns
 * it), or returns NULL with err and pushes nothing (the next call reads the files again).
 * Read at run time, not compiled in: the binary needs its home for lua/ anyway, so the files
 * add no new dependency; each statement has one copy (no generated C); a fault in a file is a
 * message naming its file and line at store.open, testable through the real binary; reading
 * and parsing them takes ~35 us, once per process. */
static const sqlset *sql_get(lua_State *L, char *err, size_t errlen)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, SQL_KEY) == LUA_TUSERDATA) return lua_touserdata(L, -1);
    lua_pop(L, 1);
    sqlset *set = lua_newuserdatauv(L, sizeof *set, 0);
    memset(set, 0, sizeof *set);
    luaL_setmetatable(L, SQL_MT); /* before it owns anything: freed by __gc from now on */
    if (sqlset_load(set, rt_home(rt_from_lua(L)), SQL_DIR, op_files, err, errlen) ||
        methods_add(L, set, err, errlen)) {
        sqlset_free(set);
        lua_pop(L, 1);
        return NULL;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, SQL_KEY);
    return set;
}

/* store.open(path [, {schema = N}]) -> db | nil, err. schema stops the migrations at version N
 * (upgrade tests build an old database with it). A fault in the SQL files is an error here,
 * naming the file and line. */
static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer schema = 0;
    int latest = 1;
    if (lua_istable(L, 2) && lua_getfield(L, 2, "schema") != LUA_TNIL) schema = luaL_checkinteger(L, -1), latest = 0;
    lua_settop(L, 1);
    char err[1024];
    const sqlset *sql = sql_get(L, err, sizeof err); /* stack: path, sql */
    if (!sql) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    if (latest) schema = sql->nmigrations;
    luaL_argcheck(L, schema >= 1 && schema <= sql->nmigrations, 2, "schema out of range");
    store *s = lua_newuserdatauv(L, sizeof *s, 2);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, DB_MT);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, 1); /* the db keeps the SQL alive */
    lua_newtable(L);
    lua_setiuservalue(L, -2, 2); /* each op's parameter and column names, made on first use */
    s->sql = sql;
    if (store_init(s, path, (int)schema, err, sizeof err)) {
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
    if (luaL_newmetatable(L, SQL_MT)) {
        lua_pushcfunction(L, l_sql_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, DB_MT)) {
        lua_newtable(L); /* the methods; the ops join them at the first store.open (sql_get) */
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
