/* jsonraw: the cartwright.jsonraw module. Finds the raw bytes of each element of a JSON array
 * without decoding it, so an order can be stored exactly as the cart sent it; and decodes only
 * the parts of a document a connector asks for (a "shape"), skipping the rest at scan speed.
 * Uses lua only. */
#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

/* c->p at the opening quote; leaves it after the closing one. */
static int skip_string(cursor *c)
{
    c->p++;
    while (c->p < c->end) {
        const char *q = c->p;
        while (q < c->end && *q != '"' && *q != '\\') q++;
        if (q >= c->end) break;
        if (*q == '"') {
            c->p = q + 1;
            return 0;
        }
        c->p = q + 2; /* skip the escaped character */
    }
    return -1;
}

static int skip_value(cursor *c)
{
    skip_ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == '"') return skip_string(c);
    if (*c->p != '{' && *c->p != '[') {
        const char *s = c->p;
        while (c->p < c->end && !strchr(",]} \t\r\n", *c->p)) c->p++;
        return c->p > s ? 0 : -1;
    }
    int depth = 0;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == '"') {
            if (skip_string(c)) return -1;
            continue;
        }
        if (ch == '{' || ch == '[') depth++;
        else if (ch == '}' || ch == ']') depth--;
        c->p++;
        if (depth == 0) return 0;
    }
    return -1;
}

static int fail(lua_State *L, const cursor *c, const char *start, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L, "bad JSON at byte %d: %s", (int)(c->p - start), what);
    return 2;
}

/* Moves c into the value of top-level member `key` of an object. */
static int find_member(cursor *c, const char *key, size_t klen)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return -1;
    c->p++;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return -1;
        const char *ks = c->p + 1;
        if (skip_string(c)) return -1;
        int match = (size_t)(c->p - 1 - ks) == klen && memcmp(ks, key, klen) == 0;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return -1;
        c->p++;
        skip_ws(c);
        if (match) return 0;
        if (skip_value(c)) return -1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') c->p++;
        else return -1;
    }
}

/* jsonraw.array(body [, key]) -> { raw1, raw2, ... } | nil, err */
static int l_array(lua_State *L)
{
    size_t len, klen = 0;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *key = luaL_optlstring(L, 2, NULL, &klen);
    cursor c = {body, body + len};
    if (key && find_member(&c, key, klen)) return fail(L, &c, body, "no array member");
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '[') return fail(L, &c, body, "expected an array");
    c.p++;
    lua_newtable(L);
    for (lua_Integer i = 1;; i++) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == ']' && i == 1) break;
        const char *s = c.p;
        if (skip_value(&c)) return fail(L, &c, body, "truncated or malformed element");
        lua_pushlstring(L, s, (size_t)(c.p - s));
        lua_rawseti(L, -2, i);
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == ']') break;
        return fail(L, &c, body, "expected , or ]");
    }
    return 1;
}

/* ---- decoding with a shape ----------------------------------------------------------------- */

typedef struct {
    cursor c;
    const char *start;
    const char *err;
    int depth;
} decoder;

#define MAX_DEPTH 200

static int decode_value(lua_State *L, decoder *d, int shape);

static void put_utf8(luaL_Buffer *b, unsigned long cp)
{
    if (cp < 0x80) {
        luaL_addchar(b, (char)cp);
    } else if (cp < 0x800) {
        luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    }
}

static long hex4(const char *p, const char *end)
{
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        int h = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Pushes the string at the cursor (on its opening quote). */
static int decode_string(lua_State *L, decoder *d)
{
    cursor *c = &d->c;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != '"' && *c->p != '\\') c->p++;
    if (c->p < c->end && *c->p == '"') { /* the common case: no escapes */
        lua_pushlstring(L, s, (size_t)(c->p - s));
        c->p++;
        return 0;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, s, (size_t)(c->p - s));
    while (c->p < c->end && *c->p != '"') {
        if (*c->p != '\\') {
            luaL_addchar(&b, *c->p++);
            continue;
        }
        if (++c->p >= c->end) break;
        char e = *c->p++;
        switch (e) {
        case '"': case '\\': case '/': luaL_addchar(&b, e); break;
        case 'b': luaL_addchar(&b, '\b'); break;
        case 'f': luaL_addchar(&b, '\f'); break;
        case 'n': luaL_addchar(&b, '\n'); break;
        case 'r': luaL_addchar(&b, '\r'); break;
        case 't': luaL_addchar(&b, '\t'); break;
        case 'u': {
            long cp = hex4(c->p, c->end);
            if (cp < 0) return d->err = "bad \\u escape", -1;
            c->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u') {
                long lo = hex4(c->p + 2, c->end);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    c->p += 6;
                }
            }
            put_utf8(&b, (unsigned long)cp);
            break;
        }
        default: return d->err = "bad escape", -1;
        }
    }
    if (c->p >= c->end) return d->err = "unterminated string", -1;
    c->p++;
    luaL_pushresult(&b);
    return 0;
}

/* Integers stay integers (order ids exceed 2^53); everything else is a float. */
static int decode_number(lua_State *L, decoder *d)
{
    cursor *c = &d->c;
    const char *s = c->p;
    int is_float = 0;
    if (c->p < c->end && *c->p == '-') c->p++;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch >= '0' && ch <= '9') { c->p++; continue; }
        if (ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') { is_float = 1; c->p++; continue; }
        break;
    }
    char buf[64];
    size_t n = (size_t)(c->p - s);
    if (n == 0 || n >= sizeof buf) return d->err = "bad number", -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *endp;
    errno = 0;
    if (!is_float) {
        long long v = strtoll(buf, &endp, 10);
        if (*endp == '\0' && errno == 0) {
            lua_pushinteger(L, (lua_Integer)v);
            return 0;
        }
    }
    double v = strtod(buf, &endp);
    if (*endp != '\0') return d->err = "bad number", -1;
    lua_pushnumber(L, v);
    return 0;
}

static int expect_literal(decoder *d, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(d->c.end - d->c.p) < n || memcmp(d->c.p, lit, n) != 0) return d->err = "bad literal", -1;
    d->c.p += n;
    return 0;
}

/* Object: with a shape table, only the keys it names are decoded (key = true: the whole value;
 * key = table: that value with the nested shape); the others are skipped unread. */
static int decode_object(lua_State *L, decoder *d, int shape)
{
    cursor *c = &d->c;
    c->p++;
    lua_newtable(L);
    int obj = lua_gettop(L);
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') return c->p++, 0;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return d->err = "expected a key", -1;
        if (decode_string(L, d)) return -1;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return d->err = "expected :", -1;
        c->p++;
        skip_ws(c);
        int sub = 0; /* 0: skip, -1: whole value, >0: stack index of the nested shape */
        if (!shape) {
            sub = -1;
        } else {
            lua_pushvalue(L, -1);
            int t = lua_rawget(L, shape); /* stack: obj, key, shape[key] */
            if (t == LUA_TTABLE) sub = lua_gettop(L);
            else if (t != LUA_TNIL && t != LUA_TNONE) sub = -1;
            if (sub <= 0) lua_pop(L, 1);
        }
        if (sub == 0) {
            lua_pop(L, 1);
            if (skip_value(c)) return d->err = "truncated or malformed value", -1;
        } else {
            if (decode_value(L, d, sub > 0 ? sub : 0)) return -1;
            if (sub > 0) lua_remove(L, sub); /* stack: obj, key, value */
            lua_rawset(L, obj);
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
        return d->err = "expected , or }", -1;
    }
}

/* Array: the shape, if any, applies to every element. */
static int decode_array(lua_State *L, decoder *d, int shape)
{
    cursor *c = &d->c;
    c->p++;
    lua_newtable(L);
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') return c->p++, 0;
    for (lua_Integer i = 1;; i++) {
        if (decode_value(L, d, shape)) return -1;
        lua_rawseti(L, -2, i);
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
        return d->err = "expected , or ]", -1;
    }
}

static int decode_value(lua_State *L, decoder *d, int shape)
{
    cursor *c = &d->c;
    skip_ws(c);
    if (c->p >= c->end) return d->err = "truncated", -1;
    if (++d->depth > MAX_DEPTH) return d->err = "nested too deep", -1;
    luaL_checkstack(L, 4, "jsonraw.decode");
    int rc;
    switch (*c->p) {
    case '{': rc = decode_object(L, d, shape); break;
    case '[': rc = decode_array(L, d, shape); break;
    case '"': rc = decode_string(L, d); break;
    case 't': rc = expect_literal(d, "true"); if (!rc) lua_pushboolean(L, 1); break;
    case 'f': rc = expect_literal(d, "false"); if (!rc) lua_pushboolean(L, 0); break;
    case 'n': rc = expect_literal(d, "null"); if (!rc) lua_pushlightuserdata(L, NULL); break;
    default: rc = decode_number(L, d);
    }
    d->depth--;
    return rc;
}

/* jsonraw.decode(text [, shape]) -> value | nil, err
 * Like cjson: null is cjson.null (a NULL lightuserdata). Unlike cjson: integers stay integers,
 * and with a shape only the named parts of objects are decoded. */
static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int shape = lua_istable(L, 2) ? 2 : 0;
    lua_settop(L, 2);
    decoder d = {{s, s + len}, s, NULL, 0};
    if (decode_value(L, &d, shape) == 0) {
        skip_ws(&d.c);
        if (d.c.p == d.c.end) return 1;
        d.err = "trailing characters";
    }
    lua_settop(L, 2);
    return fail(L, &d.c, s, d.err ? d.err : "malformed");
}

/* jsonraw.split_decode(body, key, shape) -> raws, docs | nil, err
 * One pass over a page: the raw bytes of each element of the array at member `key` (or the
 * top-level array when key is nil) and each element decoded with `shape`. */
static int l_split_decode(lua_State *L)
{
    size_t len, klen = 0;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *key = luaL_optlstring(L, 2, NULL, &klen);
    int shape = lua_istable(L, 3) ? 3 : 0;
    lua_settop(L, 3);
    decoder d = {{body, body + len}, body, NULL, 0};
    cursor *c = &d.c;
    if (key && find_member(c, key, klen)) return fail(L, c, body, "no array member");
    skip_ws(c);
    if (c->p >= c->end || *c->p != '[') return fail(L, c, body, "expected an array");
    c->p++;
    lua_newtable(L); /* 4: raws */
    lua_newtable(L); /* 5: docs */
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') return 2;
    for (lua_Integer i = 1;; i++) {
        skip_ws(c);
        const char *s = c->p;
        if (decode_value(L, &d, shape)) {
            lua_settop(L, 3);
            return fail(L, c, body, d.err ? d.err : "malformed element");
        }
        lua_rawseti(L, 5, i);
        lua_pushlstring(L, s, (size_t)(c->p - s));
        lua_rawseti(L, 4, i);
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ']') return 2;
        lua_settop(L, 3);
        return fail(L, c, body, "expected , or ]");
    }
}

int jsonraw_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"array", l_array}, {"decode", l_decode}, {"split_decode", l_split_decode},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
