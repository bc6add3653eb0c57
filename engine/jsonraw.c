/* jsonraw: the cartwright.jsonraw module. Finds the raw bytes of each element of a JSON array
 * without decoding it, so an order can be stored exactly as the cart sent it; and decodes only
 * the parts of a document a connector asks for (a "shape"), skipping the rest at scan speed.
 * Every entry point validates the whole document against RFC 8259. Uses lua only. */
#include <errno.h>
#include <math.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

/* Arrays and objects nested deeper than this are refused by decode, array and split_decode
 * ("nested too deep") and by encode: the same limit as cjson's default, far above any order,
 * and it bounds the C recursion of the decoder and the encoder. */
#define JSON_MAX_DEPTH 1000

typedef struct {
    const char *p, *end;
} cursor;

static const unsigned char is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1};

static inline void skip_ws(cursor *c)
{
    while (c->p < c->end && is_ws[(unsigned char)*c->p]) c->p++;
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

static inline int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* ---- shapes -------------------------------------------------------------------------------- */


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


static unsigned key_slot(const char *k, size_t len)
{
    if (len == 0) return 0;
    return ((unsigned)len * 7u + (unsigned char)k[0] * 3u + (unsigned char)k[len - 1]) % SLOTS;
}

/* Counts the nodes and entries of the shape table at idx (for one allocation). */
static void shape_count(lua_State *L, int idx, shape_size *sz, int depth)
{
    if (depth >= JSON_MAX_DEPTH) luaL_error(L, "jsonraw: shape nested too deep (a cycle?)");
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

/* ---- the scanner: one grammar for every entry point ------------------------------------------ */

/* One walk over a document, validating every byte against RFC 8259 whether it is decoded or
 * skipped. Strings, numbers and literals are read by the same scanners everywhere, and array
 * and split_decode walk a page with the same code (parse_page); the structure of arrays and
 * objects is checked by skip_value for everything not decoded (all of array's elements, every
 * member a shape leaves out) and by decode_object/decode_array for what is, with the same
 * rules and error texts. fuzz_jsonraw checks that array, split_decode and decode accept the
 * same documents and end every element at the same byte. UTF-8 is not validated: carts send
 * what they send, and the bytes are stored as they came. */
typedef struct {
    cursor c;
    const char *start;
    const char *err; /* what was wrong, at c.p */
    int depth;       /* arrays and objects open around the cursor */
    int keys;        /* stack index of the compiled shape's keys table, when decoding */
    int mark_arrays; /* decoded arrays get jsonraw.array_mt (so they encode as [] when empty) */
} parser;

#define ARRAY_MT "cartwright.jsonraw.array_mt"
/* The marker's address, for the encoder's check of every table (no registry lookup). One Lua
 * state per process; set by jsonraw_open. */
static const void *array_mt_ptr;

/* Pushes nil, "bad JSON at byte N: what" (N counted from 0, where the walk stopped). */
static int fail(lua_State *L, const parser *d)
{
    lua_pushnil(L);
    lua_pushfstring(L, "bad JSON at byte %I: %s", (lua_Integer)(d->c.p - d->start), d->err ? d->err : "malformed");
    return 2;
}

/* Validates the string at the cursor (on its opening quote) and leaves the cursor after it.
 * Returns 0 when it has no escape (its bytes are the value), 1 when it has, -1 when invalid. */
static inline __attribute__((always_inline)) int scan_string(parser *d)
{
    cursor *c = &d->c;
    const char *p = c->p + 1;
    int escaped = 0;
    for (;;) {
        p = scan_special(p, c->end, 1);
        if (p >= c->end) {
            c->p = p;
            return d->err = "unterminated string", -1;
        }
        if (*p == '"') break;
        c->p = p;
        if (*p != '\\') return d->err = "control character in string", -1;
        escaped = 1;
        if (c->end - p < 2) return d->err = "unterminated string", -1;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': p += 2; break;
        case 'u':
            if (hex4(p + 2, c->end) < 0) return d->err = "bad \\u escape", -1;
            p += 6;
            break;
        default: return d->err = "bad escape", -1;
        }
    }
    c->p = p + 1;
    return escaped;
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

/* Pushes the value of the string body [s, end) that scan_string has validated. A surrogate
 * pair becomes its code point; a surrogate without its other half becomes U+FFFD (the
 * replacement character), so the result never holds an encoded surrogate. */
static void push_unescaped(lua_State *L, const char *s, const char *end)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (s < end) {
        const char *q = memchr(s, '\\', (size_t)(end - s));
        if (!q) q = end;
        luaL_addlstring(&b, s, (size_t)(q - s));
        if (q == end) break;
        char e = q[1];
        s = q + 2;
        switch (e) {
        case 'b': luaL_addchar(&b, '\b'); break;
        case 'f': luaL_addchar(&b, '\f'); break;
        case 'n': luaL_addchar(&b, '\n'); break;
        case 'r': luaL_addchar(&b, '\r'); break;
        case 't': luaL_addchar(&b, '\t'); break;
        case 'u': {
            long cp = hex4(s, end);
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = end - s >= 6 && s[0] == '\\' && s[1] == 'u' ? hex4(s + 2, end) : -1;
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            put_utf8(&b, (unsigned long)cp);
            break;
        }
        default: luaL_addchar(&b, e); /* '"', '\\', '/' */
        }
    }
    luaL_pushresult(&b);
}

/* Pushes the string at the cursor (on its opening quote), validated. */
static int decode_string(lua_State *L, parser *d)
{
    const char *s = d->c.p + 1;
    int rc = scan_string(d);
    if (rc < 0) return -1;
    if (rc == 0) lua_pushlstring(L, s, (size_t)(d->c.p - 1 - s));
    else push_unescaped(L, s, d->c.p - 1);
    return 0;
}

/* strtod over exactly the token [s, s+n): from a NUL-terminated copy, so nothing after the
 * token is read (to strtod, "0x1" after "0" would be hex). 0 ok, -1 out of memory. */
static int token_double(const char *s, size_t n, double *out)
{
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small) free(buf);
    return 0;
}

/* Validates the number at the cursor (RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)
 * and leaves the cursor after it. A number beyond the range of a double is refused here, so no
 * entry point accepts what decode could not hold (RFC 8259 lets a parser limit the range).
 * *is_float: it has a fraction or an exponent. */
static int scan_number(parser *d, int *is_float)
{
    cursor *c = &d->c;
    const char *s = c->p, *p = c->p, *end = c->end;
    long idigits = 0, exp = 0;
    int neg_exp = 0, flt = 0;
    if (p < end && *p == '-') p++;
    if (p >= end || !is_digit(*p)) return c->p = p, d->err = "bad number", -1;
    if (*p == '0') {
        p++;
    } else {
        const char *q = p;
        while (p < end && is_digit(*p)) p++;
        idigits = (long)(p - q);
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return c->p = p, d->err = "bad number: no digit after '.'", -1;
        while (p < end && is_digit(*p)) p++;
        flt = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) neg_exp = *p++ == '-';
        if (p >= end || !is_digit(*p)) return c->p = p, d->err = "bad number: no digit in the exponent", -1;
        for (; p < end && is_digit(*p); p++)
            if (exp < 100000) exp = exp * 10 + (*p - '0');
        flt = 1;
    }
    *is_float = flt;
    c->p = p;
    /* |value| < 10^(integer digits + exponent): only beyond 10^308 can it overflow a double */
    if (idigits + (neg_exp ? -exp : exp) > 308) {
        double v;
        if (token_double(s, (size_t)(p - s), &v)) return d->err = "out of memory", -1;
        if (isinf(v)) return c->p = s, d->err = "number out of range", -1;
    }
    return 0;
}

/* Pushes the number at the cursor, validated. Integers stay integers (order ids exceed 2^53);
 * one beyond 64 bits, and everything with a fraction or exponent, is a float. */
static int decode_number(lua_State *L, parser *d)
{
    const char *s = d->c.p;
    int is_float;
    if (scan_number(d, &is_float)) return -1;
    size_t n = (size_t)(d->c.p - s);
    int neg = s[0] == '-';
    if (!is_float && n - (size_t)neg <= 18) { /* fits: no overflow check needed */
        lua_Integer v = 0;
        for (const char *q = s + neg; q < d->c.p; q++) v = v * 10 + (*q - '0');
        lua_pushinteger(L, neg ? -v : v);
        return 0;
    }
    if (!is_float && n < 64) {
        char buf[64], *endp;
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        long long v = strtoll(buf, &endp, 10);
        if (errno == 0) {
            lua_pushinteger(L, (lua_Integer)v);
            return 0;
        }
    }
    double v;
    if (token_double(s, n, &v)) return d->err = "out of memory", -1;
    lua_pushnumber(L, v);
    return 0;
}

static int parse_literal(parser *d, const char *lit, size_t n)
{
    if ((size_t)(d->c.end - d->c.p) < n || memcmp(d->c.p, lit, n) != 0) return d->err = "bad literal", -1;
    d->c.p += n;
    return 0;
}

/* The key at the cursor (on its opening quote), as bytes: [*k, *k + *len) points into the
 * document when the key has no escape; an escaped key is decoded and left on the stack
 * (returns 1), so the caller pops it. -1: invalid. */
static int read_key(lua_State *L, parser *d, const char **k, size_t *len)
{
    const char *s = d->c.p + 1;
    int rc = scan_string(d);
    if (rc < 0) return -1;
    *k = s;
    *len = (size_t)(d->c.p - 1 - s);
    if (rc == 0) return 0;
    push_unescaped(L, s, d->c.p - 1);
    *k = lua_tolstring(L, -1, len);
    return 1;
}

/* Validates the value at the cursor (after any whitespace) and leaves the cursor after it,
 * decoding nothing: the scan of the array elements and of every member a shape does not name.
 * One loop with an explicit stack (bit i of `objects`: level i is an object) instead of
 * recursion, as this is most of an import's scanning. 0 ok, -1 invalid. */
static int skip_value(parser *d)
{
    cursor *c = &d->c;
    uint64_t objects[(JSON_MAX_DEPTH + 63) / 64];
    int top = 0; /* levels opened here */
    int is_float;
value:
    skip_ws(c);
    if (c->p >= c->end) return d->err = "truncated", -1;
    switch (*c->p) {
    case '{':
    case '[': {
        if (d->depth + top >= JSON_MAX_DEPTH) return d->err = "nested too deep", -1;
        int obj = *c->p == '{';
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == (obj ? '}' : ']')) {
            c->p++;
            break;
        }
        uint64_t bit = 1ULL << (top & 63);
        if (obj) objects[top >> 6] |= bit; else objects[top >> 6] &= ~bit;
        top++;
        if (obj) goto key;
        goto value;
    }
    case '"': if (scan_string(d) < 0) return -1; break;
    case 't': if (parse_literal(d, "true", 4)) return -1; break;
    case 'f': if (parse_literal(d, "false", 5)) return -1; break;
    case 'n': if (parse_literal(d, "null", 4)) return -1; break;
    default: if (scan_number(d, &is_float)) return -1;
    }
    /* a value ended: close what it ends */
    while (top > 0) {
        int obj = (int)(objects[(top - 1) >> 6] >> ((top - 1) & 63)) & 1;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            if (obj) goto key;
            goto value;
        }
        if (c->p >= c->end || *c->p != (obj ? '}' : ']')) return d->err = obj ? "expected , or }" : "expected , or ]", -1;
        c->p++;
        top--;
    }
    return 0;
key:
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"') return d->err = "expected a key", -1;
    if (scan_string(d) < 0) return -1;
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':') return d->err = "expected :", -1;
    c->p++;
    goto value;
}

static int decode_value(lua_State *L, parser *d, const snode *shape);

/* The value at the cursor: decoded with `shape` onto the stack when `push`, else validated
 * only (skip_value). Every entry point reads values through here. */
static int parse_value(lua_State *L, parser *d, const snode *shape, int push)
{
    return push ? decode_value(L, d, shape) : skip_value(d);
}

/* Object: with a shape, only the keys it names are decoded (with their nested shape, or whole
 * when it says true); every other member is validated by skip_value, not decoded. The same
 * structure as skip_value's, which fuzz_jsonraw checks. */
static int decode_object(lua_State *L, parser *d, const snode *shape)
{
    cursor *c = &d->c;
    c->p++;
    lua_createtable(L, 0, shape ? shape->n : 0);
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') return c->p++, 0;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return d->err = "expected a key", -1;
        const sentry *e = NULL;
        int want = 1; /* decode this member's value */
        if (shape) {
            const char *k;
            size_t klen;
            int pushed = read_key(L, d, &k, &klen);
            if (pushed < 0) return -1;
            e = shape_find(shape, k, klen);
            if (pushed) lua_pop(L, 1);
            if (e) lua_rawgeti(L, d->keys, e->ref);
            else want = 0;
        } else if (decode_string(L, d)) {
            return -1;
        }
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return d->err = "expected :", -1;
        c->p++;
        if (parse_value(L, d, e ? e->sub : NULL, want)) return -1;
        if (want) lua_rawset(L, -3);
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
        return d->err = "expected , or }", -1;
    }
}

/* Array: the shape, if any, applies to every element. */
static int decode_array(lua_State *L, parser *d, const snode *shape)
{
    cursor *c = &d->c;
    c->p++;
    lua_createtable(L, 4, 0); /* most arrays in an order are short: lines, tax lines, addresses */
    if (d->mark_arrays) luaL_setmetatable(L, ARRAY_MT);
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

/* Pushes the value at the cursor (after any whitespace), validated; null is cjson.null (a NULL
 * lightuserdata). 0 ok, -1 invalid. */
static int decode_value(lua_State *L, parser *d, const snode *shape)
{
    cursor *c = &d->c;
    skip_ws(c);
    if (c->p >= c->end) return d->err = "truncated", -1;
    switch (*c->p) {
    case '{':
    case '[': {
        if (d->depth >= JSON_MAX_DEPTH) return d->err = "nested too deep", -1;
        luaL_checkstack(L, 4, "jsonraw");
        d->depth++;
        int rc = *c->p == '{' ? decode_object(L, d, shape) : decode_array(L, d, shape);
        d->depth--;
        return rc;
    }
    case '"': return decode_string(L, d);
    case 't':
        if (parse_literal(d, "true", 4)) return -1;
        lua_pushboolean(L, 1);
        return 0;
    case 'f':
        if (parse_literal(d, "false", 5)) return -1;
        lua_pushboolean(L, 0);
        return 0;
    case 'n':
        if (parse_literal(d, "null", 4)) return -1;
        lua_pushlightuserdata(L, NULL);
        return 0;
    default: return decode_number(L, d);
    }
}

/* After the document's one value: only whitespace may follow. */
static int parse_end(parser *d)
{
    skip_ws(&d->c);
    if (d->c.p != d->c.end) return d->err = "trailing characters", -1;
    return 0;
}

/* ---- pages: the elements of one array of a document ---------------------------------------- */

/* The array at the cursor: pushes the table of each element's raw bytes and, with `decode`,
 * the table of each element decoded with `shape`. */
static int page_elements(lua_State *L, parser *d, const snode *shape, int decode)
{
    cursor *c = &d->c;
    if (c->p >= c->end || *c->p != '[') return d->err = "expected an array", -1;
    if (d->depth >= JSON_MAX_DEPTH) return d->err = "nested too deep", -1;
    d->depth++;
    c->p++;
    lua_newtable(L);
    int raws = lua_gettop(L);
    if (decode) lua_newtable(L);
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') return c->p++, d->depth--, 0;
    for (lua_Integer i = 1;; i++) {
        skip_ws(c);
        const char *s = c->p;
        if (parse_value(L, d, shape, decode)) return -1;
        if (decode) lua_rawseti(L, raws + 1, i);
        lua_pushlstring(L, s, (size_t)(c->p - s));
        lua_rawseti(L, raws, i);
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == ']') { c->p++; d->depth--; return 0; }
        return d->err = "expected , or ]", -1;
    }
}

/* The elements of the array at top-level member `key` (the first member of that name; or of
 * the top-level array when key is NULL): pushes raws (and docs, with `decode`). The whole
 * document is validated, before and after the array too. 0 ok, -1 invalid. */
static int parse_page(lua_State *L, parser *d, const char *key, size_t klen, const snode *shape, int decode)
{
    cursor *c = &d->c;
    skip_ws(c);
    if (!key) {
        if (page_elements(L, d, shape, decode)) return -1;
        return parse_end(d);
    }
    if (c->p >= c->end || *c->p != '{') return d->err = "expected an object", -1;
    c->p++;
    d->depth++;
    int found = 0;
    skip_ws(c);
    int empty = c->p < c->end && *c->p == '}';
    while (!empty) {
        skip_ws(c);
        if (c->p >= c->end || *c->p != '"') return d->err = "expected a key", -1;
        const char *k;
        size_t len;
        int pushed = read_key(L, d, &k, &len);
        if (pushed < 0) return -1;
        int match = !found && len == klen && memcmp(k, key, klen) == 0;
        if (pushed) lua_pop(L, 1);
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return d->err = "expected :", -1;
        c->p++;
        skip_ws(c);
        if (match) {
            if (page_elements(L, d, shape, decode)) return -1;
            found = 1;
        } else if (parse_value(L, d, NULL, 0)) {
            return -1;
        }
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == '}') break;
        return d->err = "expected , or }", -1;
    }
    c->p++;
    d->depth--;
    if (!found) return d->err = "no array member", -1;
    return parse_end(d);
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* Compiles the optional shape argument at idx: pushes its keys table (or nil) at top. */
static const snode *shape_arg(lua_State *L, int idx, parser *d)
{
    const snode *root = NULL;
    if (lua_istable(L, idx)) root = shape_compile(L, idx);
    else lua_pushnil(L);
    d->keys = lua_gettop(L);
    return root;
}

/* jsonraw.array(body [, key]) -> { raw1, raw2, ... } | nil, err
 * The raw bytes of each element of the array at top-level member `key` (or of the top-level
 * array); the whole body must be valid JSON. */
static int l_array(lua_State *L)
{
    size_t len, klen = 0;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *key = luaL_optlstring(L, 2, NULL, &klen);
    lua_settop(L, 2);
    parser d = {{body, body + len}, body, NULL, 0, 0, 0};
    if (parse_page(L, &d, key, klen, NULL, 0) == 0) return 1;
    lua_settop(L, 2);
    return fail(L, &d);
}

/* jsonraw.decode(text [, shape [, {arrays = true}]]) -> value | nil, err
 * Like cjson: null is cjson.null (a NULL lightuserdata). Unlike cjson: integers stay integers,
 * and with a shape only the named parts of objects are decoded (the rest is validated). With
 * arrays = true every array gets jsonraw.array_mt, so encode writes it back as an array even
 * when it is empty (for output: a document re-encoded keeps [] where it had []). */
static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int mark = lua_istable(L, 3) && lua_getfield(L, 3, "arrays") != LUA_TNIL && lua_toboolean(L, -1);
    lua_settop(L, 2);
    parser d = {{s, s + len}, s, NULL, 0, 0, mark};
    const snode *shape = shape_arg(L, 2, &d);
    if (parse_value(L, &d, shape, 1) == 0 && parse_end(&d) == 0) return 1;
    lua_settop(L, 2);
    return fail(L, &d);
}

/* jsonraw.split_decode(body, key, shape) -> raws, docs | nil, err
 * One pass over a page: the raw bytes of each element of the array at member `key` (or the
 * top-level array when key is nil) and each element decoded with `shape`. Accepts exactly what
 * jsonraw.array accepts, with the same raws. */
static int l_split_decode(lua_State *L)
{
    size_t len, klen = 0;
    const char *body = luaL_checklstring(L, 1, &len);
    const char *key = luaL_optlstring(L, 2, NULL, &klen);
    lua_settop(L, 3);
    parser d = {{body, body + len}, body, NULL, 0, 0, 0};
    const snode *shape = shape_arg(L, 3, &d); /* 4: keys; 5: raws, 6: docs */
    if (parse_page(L, &d, key, klen, shape, 1) == 0) return 2;
    lua_settop(L, 3);
    return fail(L, &d);
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* The output grows in a userdata kept at a fixed stack slot, so an error (a bad value, out of
 * memory) leaves nothing to free. */
typedef struct {
    char *p;
    size_t n, cap;
    int slot;
    int lists; /* stack index of encode's table of list names (0: none) */
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
        /* 14 digits as cjson (0.1 stays "0.1"), more only when 14 would not read back as the
         * same double: what is stored decodes to exactly what was encoded */
        n = snprintf(num, sizeof num, "%.14g", (double)v);
        for (int prec = 15; prec <= 17 && strtod(num, NULL) != (double)v; prec++)
            n = snprintf(num, sizeof num, "%.*g", prec, (double)v);
    }
    ob_add(L, b, num, (size_t)n);
}

/* A table is an array when its keys are exactly 1..n (n > 0), or when its metatable is
 * jsonraw.array_mt and empty; another empty table is an object, as cjson encodes it. Returns n,
 * 0 for an object, -1 for an empty marked array. */
static lua_Integer array_length(lua_State *L, int t)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;
    if (n == 0) { /* only an empty table needs the mark: a full one shows what it is */
        if (!lua_getmetatable(L, t)) return 0;
        int marked = lua_topointer(L, -1) == array_mt_ptr;
        lua_pop(L, 1);
        return marked ? -1 : 0;
    }
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

static void encode_value(lua_State *L, obuf *b, int idx, int depth, int key);

/* key: the stack index of the key the table is the value of (0 in an array or at the top) */
static void encode_table(lua_State *L, obuf *b, int t, int depth, int key)
{
    if (depth >= JSON_MAX_DEPTH) luaL_error(L, "jsonraw.encode: nested too deep (a cycle?)");
    luaL_checkstack(L, 4, "jsonraw.encode");
    lua_Integer n = array_length(L, t);
    if (n < 0) {
        ob_add(L, b, "[]", 2);
        return;
    }
    if (n > 0) {
        ob_add(L, b, "[", 1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1) ob_add(L, b, ",", 1);
            lua_rawgeti(L, t, i);
            encode_value(L, b, lua_gettop(L), depth + 1, 0);
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
        encode_value(L, b, lua_gettop(L), depth + 1, lua_gettop(L) - 1);
        lua_pop(L, 1);
    }
    if (first && b->lists && key && lua_type(L, key) == LUA_TSTRING) {
        /* an empty table under a key the caller names a list is [] (only empty tables pay) */
        lua_pushvalue(L, key);
        int list = lua_rawget(L, b->lists) != LUA_TNIL;
        lua_pop(L, 1);
        if (list) {
            b->n--; /* the "{" */
            ob_add(L, b, "[]", 2);
            return;
        }
    }
    ob_add(L, b, "}", 1);
}

static void encode_value(lua_State *L, obuf *b, int idx, int depth, int key)
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
    case LUA_TTABLE: encode_table(L, b, idx, depth, key); break;
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

/* jsonraw.encode(value [, lists]) -> json. Raises on what JSON cannot hold (functions, NaN,
 * infinities, cycles, more than JSON_MAX_DEPTH nested tables).
 * Like cjson: null is cjson.null, an empty table is {}, an array has keys exactly 1..n.
 * Unlike cjson: integers keep every digit, '/' is not escaped; a table with jsonraw.array_mt
 * is an array even when empty; `lists` ({ lines = true, … }) names keys whose value, when it
 * is an empty table, is written [] (the lists of a document, without marking each one). */
static int l_encode(lua_State *L)
{
    int lists = lua_istable(L, 2);
    lua_settop(L, 2);
    obuf b = {lua_newuserdatauv(L, 4096, 0), 0, 4096, 3, lists ? 2 : 0};
    encode_value(L, &b, 1, 0, 0);
    lua_pushlstring(L, b.p, b.n);
    return 1;
}

int jsonraw_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"array", l_array}, {"decode", l_decode}, {"split_decode", l_split_decode},
                                   {"encode", l_encode},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    luaL_newmetatable(L, ARRAY_MT);
    array_mt_ptr = lua_topointer(L, -1);
    lua_pushliteral(L, "jsonraw.array");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "array_mt");
    return 1;
}
