/* fuzz_patterns: libFuzzer target comparing the engine's string.find/match/gmatch/gsub
 * (engine/pattern.c through lua_api_string.c) with Lua 5.4's own, kept by string_api_install
 * in the registry. Any difference in results or in error-or-not and message aborts.
 * Uses lua, pattern, lua_api_string (and, through it, budget).
 *
 * Input: byte 0 picks the call (bits 0-1: find, match, gmatch, gsub; bit 2: an init argument;
 * bit 3: find's plain flag; bits 4-6: gsub's replacement, see REPLS; bit 7: gsub's max
 * count), byte 1 is init or the max count (signed), bytes 2-3 the pattern's length (little
 * endian; 400 bytes of pattern reach the nesting limit), then the pattern, then the subject.
 * Before Lua's functions run, the engine's matcher tries the pattern at every start of the
 * subject with a step cap: an input whose matching would take longer (a pattern that
 * backtracks exponentially, which Lua's own functions would run for minutes) is skipped. The
 * same pass runs on exact-size copies, so ASan sees any read past the pattern or subject.
 *
 * Links with engine/pattern.c, engine/lua_api_string.c and engine/budget.c (or the whole
 * engine without main.c) and lua5.4; by hand, from the repository's root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iengine \
 *     $(pkg-config --cflags lua5.4) tests/fuzz/fuzz_patterns.c engine/pattern.c \
 *     engine/lua_api_string.c engine/budget.c $(pkg-config --libs lua5.4) -o fuzz_patterns
 *   ./fuzz_patterns -max_len=1024 -timeout=10 CORPUS_DIR tests/fuzz/corpus/patterns */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"
#include "pattern.h"

#define STEP_CAP 20000   /* per input, over all starts; Lua's functions do the same work */
#define MAX_GMATCH 100   /* iterations compared per gmatch */
#define ORIGINALS "cartwright.lua_string"

static const char *const REPLS[] = {"x", "%0", "[%1]", "%2", "%%", "%", "fn", "tbl"};

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* ---- the tractability pass, in C ------------------------------------------------------------ */

static int cap_charge(void *ud, long steps)
{
    long *left = ud;
    *left -= steps;
    return *left < 0;
}

/* Tries p at every start of s (exact-size copies); checks each match's end and captures lie
 * in the subject. Returns 0 when the step cap was reached. */
static int tractable(const uint8_t *s, size_t ls, const uint8_t *p, size_t lp, long *left)
{
    char *sc = malloc(ls ? ls : 1), *pc = malloc(lp ? lp : 1);
    if (!sc || !pc) abort();
    memcpy(sc, s, ls);
    memcpy(pc, p, lp);
    pm_state ms;
    pm_begin(&ms, sc, ls, pc, lp, cap_charge, left);
    int ok = 1;
    for (size_t i = 0; i <= ls && ok; i++) {
        const char *e = pm_match(&ms, sc + i, pc);
        if (e && (e < sc + i || e > sc + ls)) abort();
        for (int k = 0; e && k < ms.level; k++) {
            pm_capture *c = &ms.cap[k];
            if (c->init < sc || c->init > sc + ls) abort();
            if (c->len >= 0 && c->init + c->len > sc + ls) abort();
        }
        if (ms.status == PM_STOPPED) ok = 0;
        /* a pattern error found at this start: how a call reports it depends on the call
         * (gsub with a plain replacement never reads an unfinished capture and goes on to the
         * next start), so the other starts are tried too */
        ms.status = 0;
    }
    pm_flush(&ms);
    if (ms.status == PM_STOPPED) ok = 0;
    free(sc);
    free(pc);
    return ok;
}

/* ---- the comparison, in Lua ----------------------------------------------------------------- */

/* gsub's function replacement: nil, false, the first capture doubled or its length, by the
 * capture's length mod 4 (so every kind of value is met). */
static int repl_fn(lua_State *L)
{
    size_t len = 0;
    const char *c = lua_tolstring(L, 1, &len);
    switch (len % 4) {
    case 0: lua_pushnil(L); break;
    case 1: lua_pushboolean(L, 0); break;
    case 2:
        lua_pushlstring(L, c ? c : "", len);
        lua_pushvalue(L, -1);
        lua_concat(L, 2);
        break;
    default: lua_pushinteger(L, (lua_Integer)len); break;
    }
    return 1;
}

/* Appends a description of the values at L's stack from index `from` to the top. */
static void describe(lua_State *L, int from, buf *out)
{
    char tmp[64];
    for (int i = from; i <= lua_gettop(L); i++) {
        size_t n = 0;
        switch (lua_type(L, i)) {
        case LUA_TSTRING: {
            const char *s = lua_tolstring(L, i, &n);
            int k = snprintf(tmp, sizeof tmp, "s%zu:", n);
            buf_add(out, tmp, (size_t)k);
            buf_add(out, s, n);
            break;
        }
        case LUA_TNUMBER:
            n = (size_t)(lua_isinteger(L, i) ? snprintf(tmp, sizeof tmp, "i%lld", (long long)lua_tointeger(L, i))
                                             : snprintf(tmp, sizeof tmp, "f%.17g", lua_tonumber(L, i)));
            buf_add(out, tmp, n);
            break;
        default:
            buf_add(out, lua_typename(L, lua_type(L, i)), strlen(lua_typename(L, lua_type(L, i))));
            break;
        }
        buf_add(out, ",", 1);
    }
}

typedef struct fuzz_case {
    int fn, has_init, plain, repl, has_max;
    lua_Integer arg;
    const char *s, *p;
    size_t ls, lp;
} fuzz_case;

static const char *const NAMES[] = {"find", "match", "gmatch", "gsub"};

/* Describes what Lua's function (original) or the engine's does for the case: its results
 * (every gmatch iteration), or "E" and its error message. */
static void outcome(lua_State *L, int original, const fuzz_case *c, buf *out)
{
    int top = lua_gettop(L);
    if (original) lua_getfield(L, LUA_REGISTRYINDEX, ORIGINALS);
    else lua_getglobal(L, "string");
    lua_getfield(L, -1, NAMES[c->fn]);
    lua_pushlstring(L, c->s, c->ls);
    lua_pushlstring(L, c->p, c->lp);
    int nargs = 2;
    if (c->fn == 3) {
        const char *r = REPLS[c->repl];
        if (strcmp(r, "fn") == 0) lua_pushcfunction(L, repl_fn);
        else if (strcmp(r, "tbl") == 0) lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.table");
        else lua_pushstring(L, r);
        nargs++;
        if (c->has_max) {
            lua_pushinteger(L, c->arg);
            nargs++;
        }
    } else if (c->has_init) {
        lua_pushinteger(L, c->arg);
        nargs++;
        if (c->fn == 0 && c->plain) {
            lua_pushboolean(L, 1);
            nargs++;
        }
    }
    int base = lua_gettop(L) - nargs; /* the function */
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) {
        buf_add(out, "E", 1);
        describe(L, lua_gettop(L), out);
    } else if (c->fn != 2) {
        describe(L, base, out);
    } else {
        int iter = lua_gettop(L);
        for (int i = 0; i < MAX_GMATCH; i++) {
            lua_pushvalue(L, iter);
            if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
                buf_add(out, "E", 1);
                describe(L, lua_gettop(L), out);
                break;
            }
            int got = lua_gettop(L) - iter;
            describe(L, iter + 1, out);
            buf_add(out, ";", 1);
            lua_settop(L, iter);
            if (got == 0) break;
        }
    }
    lua_settop(L, top);
}

static lua_State *state(void)
{
    static lua_State *L;
    if (L) return L;
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    string_api_install(L);
    lua_createtable(L, 0, 4); /* gsub's table replacement */
    lua_pushliteral(L, "A");
    lua_setfield(L, -2, "a");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "b");
    lua_newtable(L);
    lua_setfield(L, -2, "c"); /* "invalid replacement value (a table)" */
    lua_pushliteral(L, "one");
    lua_rawseti(L, -2, 1);    /* a position capture 1 */
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.table");
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    fuzz_case c;
    memset(&c, 0, sizeof c);
    c.fn = data[0] & 3;
    c.has_init = (data[0] >> 2) & 1;
    c.plain = (data[0] >> 3) & 1;
    c.repl = (data[0] >> 4) & 7;
    c.has_max = (data[0] >> 7) & 1;
    c.arg = (int8_t)data[1];
    size_t lp = (size_t)data[2] | (size_t)data[3] << 8;
    c.lp = lp < size - 4 ? lp : size - 4;
    c.p = (const char *)data + 4;
    c.s = c.p + c.lp;
    c.ls = size - 4 - c.lp;

    /* The pattern as find/match/gsub read it (an anchor taken off) and as gmatch reads it. */
    long left = STEP_CAP;
    size_t skip = c.lp > 0 && c.p[0] == '^';
    if (!tractable((const uint8_t *)c.s, c.ls, (const uint8_t *)c.p + skip, c.lp - skip, &left)) return 0;
    if (skip && !tractable((const uint8_t *)c.s, c.ls, (const uint8_t *)c.p, c.lp, &left)) return 0;

    lua_State *L = state();
    buf want = {0}, got = {0};
    outcome(L, 1, &c, &want);
    outcome(L, 0, &c, &got);
    if (want.len != got.len || memcmp(want.p, got.p, want.len) != 0) {
        fprintf(stderr, "fuzz_patterns: %s differs\n  Lua:    %.*s\n  engine: %.*s\n",
                NAMES[c.fn], (int)want.len, want.p, (int)got.len, got.p);
        abort();
    }
    free(want.p);
    free(got.p);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
