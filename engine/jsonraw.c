/* jsonraw: the cartwright.jsonraw module. Finds the raw bytes of each element of a JSON array
 * without decoding it, so an order can be stored exactly as the cart sent it.
 * A structural scan only: strings, escapes and nesting; cjson does the real validation. */
#include <lauxlib.h>
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

int jsonraw_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"array", l_array}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
