/* jsonraw: the cartwright.jsonraw module. Finds the raw bytes of each element of a JSON array
 * without decoding it, so an order can be stored exactly as the cart sent it; and decodes only
 * the parts of a document a connector asks for (a "shape"), skipping the rest at scan speed.
 * Uses lua only. */
#include <errno.h>
#include <math.h>
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

/* The first '"' or '\\' in [p, end) (and, with `controls`, the first byte below 0x20), or
 * end. Eight bytes at a time: most of a cart's document is string bytes, and the skipped parts
 * are scanned, never decoded. */
static inline const char *scan_special(const char *p, const char *end, int controls)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t q = v ^ 0x2222222222222222ULL, b = v ^ 0x5c5c5c5c5c5c5c5cULL;
        /* a byte of q or b is zero where v has '"' or '\\'; the lowest flag is exact */
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b);
        if (controls) hit |= (v - 0x2020202020202020ULL) & ~v;
        hit &= highs;
        if (hit) return p + (__builtin_ctzll(hit) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && !(controls && (unsigned char)*p < 0x20)) p++;
    return p;
}

static const char *find_quote(const char *p, const char *end) { return scan_special(p, end, 0); }

/* c->p at the opening quote; leaves it after the closing one. */
static int skip_string(cursor *c)
{
    c->p++;
    while (c->p < c->end) {
        const char *q = find_quote(c->p, c->end);
        if (q >= c->end) break;
        if (*q == '"') {
            c->p = q + 1;
            return 0;
        }
        c->p = q + 2; /* skip the escaped character */
    }
    return -1;
}

/* Bytes that end a number or literal. */
static const unsigned char ends_scalar[256] = {
    [','] = 1, [']'] = 1, ['}'] = 1, [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1,
};

static int skip_value(cursor *c)
{
    skip_ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == '"') return skip_string(c);
    if (*c->p != '{' && *c->p != '[') {
        const char *s = c->p;
        while (c->p < c->end && !ends_scalar[(unsigned char)*c->p]) c->p++;
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

#define MAX_DEPTH 200

/* A shape is compiled once per shape table (cached in a weak table in the registry): each
 * object level becomes a list of the wanted keys, matched on the document's raw key bytes.
 * A key that is not wanted never becomes a Lua string; a wanted one is pushed from a table of
 * keys already interned, so decoding a shaped document hashes no key at all. */
typedef struct snode snode;
typedef struct {
    const char *key; /* the bytes of keys[ref] (kept alive by the keys table) */
    size_t len;
    int ref;
    int next; /* the next entry (+1) in the same hash slot, 0: none */
    const snode *sub; /* nested shape, or NULL: the whole value */
} sentry;
#define SLOTS 64
struct snode {
    int n;
    sentry *e;
    unsigned char slot[SLOTS]; /* hash of a key -> its first entry + 1, 0: none */
};
typedef struct {
    int nnodes, nentries;
} shape_size;

#define SHAPES_KEY "cartwright.jsonraw.shapes"

typedef struct {
    cursor c;
    const char *start;
    const char *err;
    int depth;
    int keys; /* stack index of the compiled shape's keys table */
} decoder;

static int decode_value(lua_State *L, decoder *d, const snode *shape);


static unsigned key_slot(const char *k, size_t len)
{
    if (len == 0) return 0;
    return ((unsigned)len * 7u + (unsigned char)k[0] * 3u + (unsigned char)k[len - 1]) % SLOTS;
}

/* Counts the nodes and entries of the shape table at idx (for one allocation). */
static void shape_count(lua_State *L, int idx, shape_size *sz, int depth)
{
    if (depth > MAX_DEPTH) luaL_error(L, "jsonraw: shape nested too deep (a cycle?)");
    luaL_checkstack(L, 4, "jsonraw: shape");
    sz->nnodes++;
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "jsonraw: shape keys must be strings");
        if (lua_toboolean(L, -1) && ++n > 255) luaL_error(L, "jsonraw: more than 255 keys in one shape level");
        if (lua_istable(L, -1)) shape_count(L, lua_gettop(L), sz, depth + 1);
        lua_pop(L, 1);
    }
    sz->nentries += n;
}

typedef struct {
    snode *nodes;
    sentry *entries;
    int keys;
} shape_alloc;

/* Fills `node` from the shape table at idx: its entries first, contiguous, then the nested
 * nodes. Keys are appended to the keys table. */
static void shape_fill(lua_State *L, int idx, snode *node, shape_alloc *a)
{
    luaL_checkstack(L, 4, "jsonraw: shape");
    node->n = 0;
    node->e = a->entries;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_toboolean(L, -1)) {
            sentry *e = &node->e[node->n++];
            e->key = lua_tolstring(L, -2, &e->len);
            e->ref = (int)lua_rawlen(L, a->keys) + 1;
            lua_pushvalue(L, -2);
            lua_rawseti(L, a->keys, e->ref);
            e->sub = NULL;
        }
        lua_pop(L, 1);
    }
    a->entries += node->n;
    memset(node->slot, 0, sizeof node->slot);
    for (int i = node->n - 1; i >= 0; i--) {
        unsigned h = key_slot(node->e[i].key, node->e[i].len);
        node->e[i].next = node->slot[h];
        node->slot[h] = (unsigned char)(i + 1);
    }
    for (int i = 0; i < node->n; i++) {
        lua_rawgeti(L, a->keys, node->e[i].ref);
        lua_rawget(L, idx);
        if (lua_istable(L, -1)) {
            snode *sub = a->nodes++;
            node->e[i].sub = sub;
            shape_fill(L, lua_gettop(L), sub, a);
        }
        lua_pop(L, 1);
    }
}

/* Pushes the keys table of the compiled form of the shape table at idx and returns its root
 * node (compiled on first use, then cached: a shape must not change once used). */
static const snode *shape_compile(lua_State *L, int idx)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, SHAPES_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, SHAPES_KEY);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) { /* cache, compiled */
        const snode *root = lua_touserdata(L, -1);
        lua_getiuservalue(L, -1, 1);
        lua_replace(L, -3);
        lua_pop(L, 1);
        return root;
    }
    lua_pop(L, 1);
    shape_size sz = {0, 0};
    shape_count(L, idx, &sz, 0);
    size_t bytes = (size_t)sz.nnodes * sizeof(snode) + (size_t)sz.nentries * sizeof(sentry);
    snode *nodes = lua_newuserdatauv(L, bytes, 1); /* cache, ud */
    lua_newtable(L);                                /* cache, ud, keys */
    shape_alloc a = {nodes + 1, (sentry *)(nodes + sz.nnodes), lua_gettop(L)};
    shape_fill(L, idx, nodes, &a);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, -3, 1);                    /* ud's uservalue: keys */
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -3);
    lua_rawset(L, -5);                              /* cache[shape] = ud */
    lua_replace(L, -3);                             /* keys, ud */
    lua_pop(L, 1);
    return nodes;
}

/* The entry of `node` for the key bytes [k, k+len), or NULL. */
static const sentry *shape_find(const snode *node, const char *k, size_t len)
{
    for (int i = node->slot[key_slot(k, len)]; i; i = node->e[i - 1].next) {
        const sentry *e = &node->e[i - 1];
        if (e->len == len && memcmp(e->key, k, len) == 0) return e;
    }
    return NULL;
}

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
    c->p = find_quote(c->p, c->end);
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
    size_t n = (size_t)(c->p - s);
    if (!is_float && n > 0 && n <= 18 && (s[0] != '-' || n > 1)) { /* fits: no overflow check needed */
        const char *q = s[0] == '-' ? s + 1 : s;
        lua_Integer v = 0;
        for (; q < c->p; q++) v = v * 10 + (*q - '0');
        lua_pushinteger(L, s[0] == '-' ? -v : v);
        return 0;
    }
    char buf[64];
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

/* The key at the cursor (on its opening quote), as bytes: [*k, *k + *len) points into the
 * document when the key has no escape; an escaped key is decoded and left on the stack
 * (returns 1), so the caller pops it. */
static int read_key(lua_State *L, decoder *d, const char **k, size_t *len)
{
    cursor *c = &d->c;
    const char *s = c->p + 1, *q = find_quote(s, c->end);
    if (q < c->end && *q == '"') {
        *k = s, *len = (size_t)(q - s);
        c->p = q + 1;
        return 0;
    }
    if (decode_string(L, d)) return -1;
    *k = lua_tolstring(L, -1, len);
    return 1;
}

/* Object: with a shape, only the keys it names are decoded (with their nested shape, or whole
 * when the shape says true); the others are skipped unread. */
static int decode_object(lua_State *L, decoder *d, const snode *shape)
{
    cursor *c = &d->c;
    c->p++;
    lua_createtable(L, 0, shape ? shape->n : 0);
    int obj = lua_gettop(L);
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') return c->p++, 0;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return d->err = "expected a key", -1;
        const sentry *e = NULL;
        if (shape) {
            const char *k;
            size_t klen;
            int pushed = read_key(L, d, &k, &klen);
            if (pushed < 0) return -1;
            e = shape_find(shape, k, klen);
            if (pushed) lua_pop(L, 1);
            if (e) lua_rawgeti(L, d->keys, e->ref);
        } else if (decode_string(L, d)) {
            return -1;
        }
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return d->err = "expected :", -1;
        c->p++;
        if (shape && !e) {
            if (skip_value(c)) return d->err = "truncated or malformed value", -1;
        } else {
            if (decode_value(L, d, e ? e->sub : NULL)) return -1;
            lua_rawset(L, obj);
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
        return d->err = "expected , or }", -1;
    }
}

/* Array: the shape, if any, applies to every element. */
static int decode_array(lua_State *L, decoder *d, const snode *shape)
{
    cursor *c = &d->c;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        lua_newtable(L);
        return c->p++, 0;
    }
    lua_createtable(L, 4, 0); /* most arrays in an order are short: lines, tax lines, addresses */
    for (lua_Integer i = 1;; i++) {
        if (decode_value(L, d, shape)) return -1;
        lua_rawseti(L, -2, i);
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; return 0; }
        return d->err = "expected , or ]", -1;
    }
}

static int decode_value(lua_State *L, decoder *d, const snode *shape)
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

/* Compiles the optional shape argument at idx: pushes its keys table (or nil) at top. */
static const snode *shape_arg(lua_State *L, int idx, decoder *d)
{
    const snode *root = NULL;
    if (lua_istable(L, idx)) root = shape_compile(L, idx);
    else lua_pushnil(L);
    d->keys = lua_gettop(L);
    return root;
}

/* jsonraw.decode(text [, shape]) -> value | nil, err
 * Like cjson: null is cjson.null (a NULL lightuserdata). Unlike cjson: integers stay integers,
 * and with a shape only the named parts of objects are decoded. */
static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 2);
    decoder d = {{s, s + len}, s, NULL, 0, 0};
    const snode *shape = shape_arg(L, 2, &d);
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
    lua_settop(L, 3);
    decoder d = {{body, body + len}, body, NULL, 0, 0};
    const snode *shape = shape_arg(L, 3, &d); /* 4: keys */
    cursor *c = &d.c;
    if (key && find_member(c, key, klen)) return fail(L, c, body, "no array member");
    skip_ws(c);
    if (c->p >= c->end || *c->p != '[') return fail(L, c, body, "expected an array");
    c->p++;
    lua_newtable(L); /* 5: raws */
    lua_newtable(L); /* 6: docs */
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') return 2;
    for (lua_Integer i = 1;; i++) {
        skip_ws(c);
        const char *s = c->p;
        if (decode_value(L, &d, shape)) {
            lua_settop(L, 3);
            return fail(L, c, body, d.err ? d.err : "malformed element");
        }
        lua_rawseti(L, 6, i);
        lua_pushlstring(L, s, (size_t)(c->p - s));
        lua_rawseti(L, 5, i);
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


/* ---- encoding ------------------------------------------------------------------------------ */

/* The output grows in a userdata kept at a fixed stack slot, so an error (a bad value, out of
 * memory) leaves nothing to free. */
typedef struct {
    char *p;
    size_t n, cap;
    int slot;
} obuf;

static void ob_grow(lua_State *L, obuf *b, size_t need)
{
    size_t cap = b->cap;
    while (cap - b->n < need) cap *= 2;
    char *np = lua_newuserdatauv(L, cap, 0);
    memcpy(np, b->p, b->n);
    lua_replace(L, b->slot);
    b->p = np, b->cap = cap;
}

static inline void ob_add(lua_State *L, obuf *b, const char *s, size_t len)
{
    if (b->cap - b->n < len) ob_grow(L, b, len);
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

/* The first byte of [p, end) that needs an escape in a JSON string, or end. */
static const char *find_escape(const char *p, const char *end) { return scan_special(p, end, 1); }

static void encode_string(lua_State *L, obuf *b, const char *s, size_t len)
{
    const char *end = s + len;
    if (b->cap - b->n < len + 2) ob_grow(L, b, len + 2);
    b->p[b->n++] = '"';
    for (;;) {
        const char *q = find_escape(s, end);
        ob_add(L, b, s, (size_t)(q - s));
        if (q == end) break;
        unsigned char ch = (unsigned char)*q;
        char esc[8];
        size_t el = 2;
        esc[0] = '\\';
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default: el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
        }
        ob_add(L, b, esc, el);
        s = q + 1;
    }
    ob_add(L, b, "\"", 1);
}

static void encode_number(lua_State *L, obuf *b, int idx)
{
    char num[64];
    int n;
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v >= 0 && v < 10) { /* quantities, flags: the common case */
            char d = (char)('0' + v);
            ob_add(L, b, &d, 1);
            return;
        }
        n = snprintf(num, sizeof num, LUA_INTEGER_FMT, v);
    } else {
        lua_Number v = lua_tonumber(L, idx);
        if (v != v || v == (lua_Number)HUGE_VAL || v == -(lua_Number)HUGE_VAL)
            luaL_error(L, "jsonraw.encode: cannot encode NaN or infinity");
        n = snprintf(num, sizeof num, "%.14g", (double)v); /* as cjson */
    }
    ob_add(L, b, num, (size_t)n);
}

/* A table is an array when its keys are exactly 1..n (n > 0); an empty table is an object,
 * as cjson encodes it. Returns n, or 0 for an object. */
static lua_Integer array_length(lua_State *L, int t)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;
    if (n == 0) return 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n ? n : 0;
}

static void encode_value(lua_State *L, obuf *b, int idx, int depth);

static void encode_table(lua_State *L, obuf *b, int t, int depth)
{
    if (depth > MAX_DEPTH) luaL_error(L, "jsonraw.encode: nested too deep (a cycle?)");
    luaL_checkstack(L, 4, "jsonraw.encode");
    lua_Integer n = array_length(L, t);
    if (n > 0) {
        ob_add(L, b, "[", 1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1) ob_add(L, b, ",", 1);
            lua_rawgeti(L, t, i);
            encode_value(L, b, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        ob_add(L, b, "]", 1);
        return;
    }
    ob_add(L, b, "{", 1);
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (!first) ob_add(L, b, ",", 1);
        first = 0;
        int kt = lua_type(L, -2);
        if (kt == LUA_TSTRING) {
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);
            encode_string(L, b, k, klen);
        } else if (kt == LUA_TNUMBER) {
            ob_add(L, b, "\"", 1);
            encode_number(L, b, lua_gettop(L) - 1);
            ob_add(L, b, "\"", 1);
        } else {
            luaL_error(L, "jsonraw.encode: cannot encode a %s key", lua_typename(L, kt));
        }
        ob_add(L, b, ":", 1);
        encode_value(L, b, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    ob_add(L, b, "}", 1);
}

static void encode_value(lua_State *L, obuf *b, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        encode_string(L, b, s, len);
        break;
    }
    case LUA_TNUMBER: encode_number(L, b, idx); break;
    case LUA_TBOOLEAN: lua_toboolean(L, idx) ? ob_add(L, b, "true", 4) : ob_add(L, b, "false", 5); break;
    case LUA_TTABLE: encode_table(L, b, idx, depth); break;
    case LUA_TNIL: ob_add(L, b, "null", 4); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { /* cjson.null */
            ob_add(L, b, "null", 4);
            break;
        }
        /* fall through */
    default: luaL_error(L, "jsonraw.encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

/* jsonraw.encode(value) -> json. Raises on what JSON cannot hold (functions, NaN, cycles).
 * Like cjson: null is cjson.null, an empty table is {}, an array has keys exactly 1..n.
 * Unlike cjson: integers keep every digit, '/' is not escaped. */
static int l_encode(lua_State *L)
{
    lua_settop(L, 1);
    obuf b = {lua_newuserdatauv(L, 4096, 0), 0, 4096, 2};
    encode_value(L, &b, 1, 0);
    lua_pushlstring(L, b.p, b.n);
    return 1;
}

int jsonraw_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"array", l_array}, {"decode", l_decode}, {"split_decode", l_split_decode},
                                   {"encode", l_encode},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
