/* lua_api_shape: the cartwright.shape module — checks a nested record (the order model,
 * lua/cartwright/orders/model.lua) in one C call: the model runs on every imported order, and in
 * Lua a type() call per field was most of its cost. A spec is compiled once into arrays of
 * fields and a check function whose upvalues are the field names; the check reads each value
 * raw (no metamethod runs) and, when a field is wrong, says where (the path of keys) and what
 * it should have been. Two or three Lua C API calls per field, about 1.6 us for an order of 100
 * fields. Uses lua only. */
#include <lauxlib.h>
#include <string.h>

#include "modules.h"

/* What a field must be (shape.TEXT …); REQUIRED added refuses nil too. */
enum { K_TEXT = 1, K_MONEY, K_DATE, K_INTEGER, K_TABLE, K_LIST, K_TEXT_MAP };
#define K_REQUIRED 16
#define K_BASE(k) ((k) & ~K_REQUIRED)

#define MAX_FIELDS 250 /* each name is an upvalue of the check (at most 255) */
#define MAX_RECORDS 32
#define MAX_DEPTH 8

typedef struct {
    int key;    /* index of its name: the check's upvalue 1 + key */
    int kind;
    int record; /* TABLE: the record its value is checked with; LIST: each item's; else -1 */
} field;

typedef struct {
    int first, count; /* its fields: fields[first .. first + count - 1] */
} record;

typedef struct {
    int nfields, nrecords, nkeys;
    field fields[MAX_FIELDS];
    record records[MAX_RECORDS];
} compiled;

/* ---- the kinds ------------------------------------------------------------------------------ */

static int digit(char c) { return c >= '0' && c <= '9'; }

/* "-?D+.DD": money as the model writes it */
static int is_money(const char *s, size_t n)
{
    size_t i = s[0] == '-';
    size_t first = i;
    while (i < n && digit(s[i])) i++;
    return i > first && n - i == 3 && s[i] == '.' && digit(s[i + 1]) && digit(s[i + 2]);
}

static int num(const char *s, int len)
{
    int v = 0;
    for (int i = 0; i < len; i++) v = v * 10 + (s[i] - '0');
    return v;
}

/* "YYYY-MM-DDTHH:MM:SSZ", a day of the calendar and a time of the day */
static int is_date(const char *s, size_t n)
{
    static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != sizeof form - 1) return 0;
    for (size_t i = 0; i < n; i++)
        if (form[i] == 'd' ? !digit(s[i]) : s[i] != form[i]) return 0;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    if (mo < 1 || mo > 12 || d < 1 || num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[mo - 1] + (mo == 2 && leap);
}

static int is_text(lua_State *L, int idx) { return lua_type(L, idx) == LUA_TSTRING && lua_rawlen(L, idx) > 0; }

/* A table whose keys are 1..#t only. */
static int is_list(lua_State *L, int t)
{
    lua_Unsigned n = lua_rawlen(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        lua_Integer k = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (k < 1 || (lua_Unsigned)k > n) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

/* A table of non-empty strings by non-empty strings. */
static int is_text_map(lua_State *L, int t)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = is_text(L, -2) && is_text(L, -1);
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

static int value_ok(lua_State *L, int v, int type, int kind)
{
    if (type == LUA_TNIL) return !(kind & K_REQUIRED);
    size_t n = 0;
    const char *s = type == LUA_TSTRING ? lua_tolstring(L, v, &n) : NULL;
    switch (K_BASE(kind)) {
    case K_TEXT: return s && n > 0;
    case K_MONEY: return s && is_money(s, n);
    case K_DATE: return s && is_date(s, n);
    case K_INTEGER: return lua_isinteger(L, v);
    case K_TABLE: return type == LUA_TTABLE;
    case K_LIST: return type == LUA_TTABLE && is_list(L, v);
    default: return type == LUA_TTABLE && is_text_map(L, v); /* K_TEXT_MAP */
    }
}

/* ---- compiling a spec ----------------------------------------------------------------------- */

/* Compiles the spec at stack index `spec` ({ key, kind, … } where a kind may be { TABLE|LIST
 * [+ REQUIRED], subspec }) into c; keys go to the table at `keys`. Returns its record's index;
 * raises on a malformed spec (misuse). */
static int compile_record(lua_State *L, compiled *c, int spec, int keys, int depth)
{
    if (depth > MAX_DEPTH) luaL_error(L, "shape.compile: nested too deep");
    luaL_checkstack(L, 4, "shape.compile");
    lua_Unsigned len = lua_rawlen(L, spec);
    if (len % 2) luaL_error(L, "shape.compile: a name without a kind");
    int n = (int)(len / 2);
    if (c->nrecords >= MAX_RECORDS || c->nfields + n > MAX_FIELDS) luaL_error(L, "shape.compile: spec too large");
    int r = c->nrecords++;
    c->records[r].first = c->nfields, c->records[r].count = n;
    c->nfields += n;
    for (int i = 0; i < n; i++) {
        field *f = &c->fields[c->records[r].first + i];
        if (lua_rawgeti(L, spec, 2 * i + 1) != LUA_TSTRING) luaL_error(L, "shape.compile: field %d has no name", i + 1);
        lua_rawseti(L, keys, ++c->nkeys);
        f->key = c->nkeys, f->record = -1;
        int t = lua_rawgeti(L, spec, 2 * i + 2);
        if (t == LUA_TTABLE) {
            lua_rawgeti(L, -1, 1);
            f->kind = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
            if (K_BASE(f->kind) != K_TABLE && K_BASE(f->kind) != K_LIST) luaL_error(L, "shape.compile: only TABLE and LIST have a spec");
            if (lua_rawgeti(L, -1, 2) != LUA_TTABLE) luaL_error(L, "shape.compile: { kind, spec } needs a spec");
            f->record = compile_record(L, c, lua_gettop(L), keys, depth + 1);
            lua_pop(L, 1);
        } else {
            f->kind = (int)lua_tointeger(L, -1);
        }
        if (K_BASE(f->kind) < K_TEXT || K_BASE(f->kind) > K_TEXT_MAP) luaL_error(L, "shape.compile: unknown kind %d", f->kind);
        lua_pop(L, 1);
    }
    return r;
}

static int l_check(lua_State *L);

/* shape.compile(spec) -> check
 * spec = { key1, kind1, key2, kind2, … }; a kind is shape.TEXT, MONEY, DATE, INTEGER, TABLE,
 * LIST or TEXT_MAP, plus shape.REQUIRED to refuse nil; { TABLE, subspec } checks the table's
 * fields, { LIST, subspec } each item of the list (a table). Raises on a malformed spec.
 * check(t) -> true | nil, path, kind (below). */
static int l_compile(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    compiled *c = lua_newuserdatauv(L, sizeof *c, 0); /* 2 */
    memset(c, 0, sizeof *c);
    lua_newtable(L); /* 3: keys */
    compile_record(L, c, 1, 3, 0);
    /* the check's upvalues: the compiled spec, then every name (pushed from an upvalue, a name
     * costs no table lookup per field) */
    luaL_checkstack(L, c->nkeys + 2, "shape.compile");
    lua_pushvalue(L, 2);
    for (int i = 1; i <= c->nkeys; i++) lua_rawgeti(L, 3, i);
    lua_pushcclosure(L, l_check, 1 + c->nkeys);
    return 1;
}

/* ---- checking a value ----------------------------------------------------------------------- */

typedef struct {
    int depth;
    int kind;                   /* what the failing value should have been */
    int key[MAX_DEPTH * 2 + 2]; /* >0: a key's index; <0: -(list position) */
} failure;

static int check_record(lua_State *L, const compiled *c, int r, int t, failure *fl);

/* Each item of the list at v is a table checked with record r. */
static int check_items(lua_State *L, const compiled *c, int r, int v, failure *fl)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, v);
    for (lua_Integer i = 1; i <= n; i++) {
        int type = lua_rawgeti(L, v, i);
        fl->key[fl->depth++] = -(int)i;
        if (type != LUA_TTABLE) {
            fl->kind = K_TABLE | K_REQUIRED;
            return 0;
        }
        if (!check_record(L, c, r, lua_gettop(L), fl)) return 0;
        fl->depth--;
        lua_pop(L, 1);
    }
    return 1;
}

/* 1 when the table at t has the fields of record r; else 0 with fl saying where. */
static int check_record(lua_State *L, const compiled *c, int r, int t, failure *fl)
{
    /* the fewest API calls per field (it runs on every field of every imported order): each
     * value stays on the stack until the record is done, then all go at once */
    const record *rec = &c->records[r];
    luaL_checkstack(L, rec->count + 6, "shape.check");
    int base = lua_gettop(L);
    for (int i = 0; i < rec->count; i++) {
        const field *f = &c->fields[rec->first + i];
        int v = base + i + 1;
        lua_pushvalue(L, lua_upvalueindex(1 + f->key));
        int type = lua_rawget(L, t);
        if (!value_ok(L, v, type, f->kind)) {
            fl->key[fl->depth++] = f->key;
            fl->kind = f->kind;
            return 0;
        }
        if (f->record >= 0 && type == LUA_TTABLE) {
            fl->key[fl->depth++] = f->key;
            int ok = K_BASE(f->kind) == K_LIST ? check_items(L, c, f->record, v, fl)
                                               : check_record(L, c, f->record, v, fl);
            if (!ok) return 0; /* (a nested check that passes leaves the stack as it found it) */
            fl->depth--;
        }
    }
    lua_settop(L, base);
    return 1;
}

/* check(t) -> true | nil, path, kind   (the function shape.compile returns)
 * path = { "lines", 2, "quantity" }: the keys down to the first value that is not of its kind
 * (a position in a list is an integer); kind what it should have been. */
static int l_check(lua_State *L)
{
    const compiled *c = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    failure fl;
    fl.depth = 0, fl.kind = 0;
    if (check_record(L, c, 0, 1, &fl)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_settop(L, 1);
    lua_pushnil(L);
    lua_createtable(L, fl.depth, 0);
    for (int i = 0; i < fl.depth; i++) {
        if (fl.key[i] > 0) lua_pushvalue(L, lua_upvalueindex(1 + fl.key[i]));
        else lua_pushinteger(L, -fl.key[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, fl.kind);
    return 3;
}

int shape_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"compile", l_compile}, {NULL, NULL}};
    static const struct { const char *name; int kind; } kinds[] = {
        {"TEXT", K_TEXT}, {"MONEY", K_MONEY}, {"DATE", K_DATE}, {"INTEGER", K_INTEGER}, {"TABLE", K_TABLE},
        {"LIST", K_LIST}, {"TEXT_MAP", K_TEXT_MAP}, {"REQUIRED", K_REQUIRED}};
    luaL_newlib(L, fns);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        lua_pushinteger(L, kinds[i].kind);
        lua_setfield(L, -2, kinds[i].name);
    }
    return 1;
}
