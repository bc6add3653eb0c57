/* lua_api_string: string.find, string.match, string.gmatch and string.gsub on the engine's own
 * matcher, installed over Lua's for all the Lua code of the process (string methods too), so
 * their steps are charged to the running budget and a backtracking pattern is stopped like a
 * loop. Lua's own four stay in the registry under ORIGINALS, for the differential tests and
 * the benchmark only. Uses lua, pattern, budget. */
#include <lauxlib.h>
#include <string.h>

#include "budget.h"
#include "modules.h"
#include "pattern.h"

#define ORIGINALS "cartwright.lua_string"
#define STOP_CAP (-1)           /* meter.stop: the cap for code outside a budgeted run */
#define SCAN_STEP 16            /* bytes skipped by memchr or memmem per step charged */

/* What a call's matcher has charged, and why it was stopped. */
typedef struct meter {
    lua_State *L;
    long long steps;
    int stop;   /* a budget_status, or STOP_CAP */
} meter;

/* The charge callback. The cap outside a run is checked on full chunks only, not on what a
 * call charges at its end (most calls charge only then, and a cap overrun by less than a
 * chunk does not matter). */
static int meter_charge(void *ud, long steps)
{
    meter *mt = ud;
    mt->steps += steps;
    int st = budget_charge(mt->L, steps);
    if (st == BUDGET_OK && steps >= PM_CHUNK && mt->steps > budget_outside_limit()) st = STOP_CAP;
    mt->stop = st;
    return st != BUDGET_OK;
}

/* Raises the error of a matcher stopped or failed with ms->status. */
static int raise_status(lua_State *L, const pm_state *ms, const meter *mt)
{
    if (ms->status == PM_STOPPED && mt->stop == STOP_CAP)
        return luaL_error(L, "pattern too complex (more than %I steps in one call)",
                          (lua_Integer)budget_outside_limit());
    if (ms->status == PM_STOPPED) return budget_raise(L, mt->stop);
    if (ms->status == PM_ERR_INDEX) return luaL_error(L, "invalid capture index %%%d", ms->bad_index);
    return luaL_error(L, "%s", pm_message(ms->status));
}

/* The 0-based start for a 1-based init that may be negative (from the end) or 0; more than
 * the length when init is past the end. */
static size_t start_index(lua_Integer init, size_t len)
{
    if (init > 0) return (size_t)init - 1;
    if (init == 0 || init < -(lua_Integer)len) return 0;
    return len - (size_t)(-init);
}

/* Pushes capture i of the match [s, e) (see pm_get_capture), or raises. */
static void push_capture(lua_State *L, pm_state *ms, const meter *mt, int i, const char *s, const char *e)
{
    const char *str = NULL;
    ptrdiff_t len = 0;
    int st = pm_get_capture(ms, i, s, e, &str, &len);
    if (st) {
        ms->status = st;
        raise_status(L, ms, mt);
    }
    if (len == PM_CAP_POSITION) lua_pushinteger(L, (lua_Integer)(str - ms->src) + 1);
    else lua_pushlstring(L, str, (size_t)len);
}

/* Pushes the captures of the match [s, e), or the whole match when it has none and s is not
 * NULL. Returns how many. */
static int push_captures(lua_State *L, pm_state *ms, const meter *mt, const char *s, const char *e)
{
    int n = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(L, ms, mt, i, s, e);
    return n;
}

/* Moves *at to the next byte a match can start at (lead, from pm_first_byte), charging the
 * bytes skipped. Returns 0 when there is none left (*at is then the end). */
static int skip_to(pm_state *ms, const char **at, int lead)
{
    const char *from = *at;
    const char *hit = memchr(from, lead, (size_t)(ms->src_end - from));
    *at = hit ? hit : ms->src_end;
    pm_spend(ms, (*at - from) / SCAN_STEP);
    return hit != NULL && ms->status == PM_OK;
}

/* ---- find and match ------------------------------------------------------------------------- */

static int has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++) {
        switch (p[i]) {
        case '^': case '$': case '*': case '+': case '?': case '.': case '(': case '[': case '%':
        case '-': return 1;
        default: break;
        }
    }
    return 0;
}

/* The first p[0..lp) in s[0..ls), or NULL. memmem is linear but slow to start; a short
 * needle is looked for with memchr and memcmp (at most lp times the haystack). */
static const char *substring(const char *s, size_t ls, const char *p, size_t lp)
{
    if (lp == 0) return s;
    if (lp > ls) return NULL;
    if (lp >= 16) return memmem(s, ls, p, lp);
    const char *end = s + (ls - lp) + 1; /* the last start + 1 */
    while (s < end) {
        const char *hit = memchr(s, *p, (size_t)(end - s));
        if (!hit) return NULL;
        if (memcmp(hit + 1, p + 1, lp - 1) == 0) return hit;
        s = hit + 1;
    }
    return NULL;
}

/* find with a plain substring: start, end | fail */
static int find_plain(lua_State *L, const char *s, size_t ls, size_t init, const char *p, size_t lp)
{
    const char *hit = substring(s + init, ls - init, p, lp);
    size_t scanned = hit ? (size_t)(hit - (s + init)) + lp : ls - init;
    int st = scanned < SCAN_STEP ? BUDGET_OK : budget_charge(L, (long long)(scanned / SCAN_STEP));
    if (st) return budget_raise(L, st);
    if (!hit) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
    lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
    return 2;
}

static int find_aux(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) return find_plain(L, s, ls, init, p, lp);
    meter mt = {L, 0, BUDGET_OK};
    pm_state ms;
    pm_begin(&ms, s, ls, p, lp, meter_charge, &mt);
    int anchor = lp > 0 && *p == '^';
    if (anchor) p++;
    int lead = anchor ? -1 : pm_first_byte(&ms, p);
    const char *at = s + init, *e = NULL;
    for (;;) {
        if (lead >= 0 && !skip_to(&ms, &at, lead)) break;
        e = pm_match(&ms, at, p);
        if (e || ms.status || anchor || at == ms.src_end) break;
        at++;
    }
    if (pm_flush(&ms)) return raise_status(L, &ms, &mt);
    if (!e) {
        luaL_pushfail(L);
        return 1;
    }
    if (!find) return push_captures(L, &ms, &mt, at, e);
    lua_pushinteger(L, (lua_Integer)(at - s) + 1);
    lua_pushinteger(L, (lua_Integer)(e - s));
    return push_captures(L, &ms, &mt, NULL, NULL) + 2;
}

/* string.find(s, pattern [, init [, plain]]) -> start, end, captures... | fail */
static int l_find(lua_State *L) { return find_aux(L, 1); }

/* string.match(s, pattern [, init]) -> captures... | whole match | fail */
static int l_match(lua_State *L) { return find_aux(L, 0); }

/* ---- gmatch --------------------------------------------------------------------------------- */

/* Where the iteration is: the next start, and the end of the last match (-1 before the
 * first), as offsets into the subject (kept alive by the iterator's upvalue). */
typedef struct gmatch_state {
    size_t pos;
    ptrdiff_t last;
} gmatch_state;

/* the iterator: -> captures... | whole match | nothing at the end */
static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    if (gm->pos > ls) return 0;
    meter mt = {L, 0, BUDGET_OK};
    pm_state ms;
    pm_begin(&ms, s, ls, p, lp, meter_charge, &mt);
    int lead = pm_first_byte(&ms, p); /* '^' is no anchor here: it stands for itself */
    const char *last = gm->last >= 0 ? s + gm->last : NULL;
    const char *at = s + gm->pos, *e = NULL;
    for (;;) {
        if (lead >= 0 && !skip_to(&ms, &at, lead)) break;
        e = pm_match(&ms, at, p);
        if (ms.status || (e && e != last)) break; /* no empty match where the last one ended */
        e = NULL;
        if (at == ms.src_end) break;
        at++;
    }
    if (pm_flush(&ms)) return raise_status(L, &ms, &mt);
    if (!e) {
        gm->pos = ls + 1;
        return 0;
    }
    gm->pos = (size_t)(e - s);
    gm->last = e - s;
    return push_captures(L, &ms, &mt, at, e);
}

/* string.gmatch(s, pattern [, init]) -> iterator over the matches */
static int l_gmatch(lua_State *L)
{
    size_t ls, lp;
    luaL_checklstring(L, 1, &ls);
    luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls);
    lua_settop(L, 2);
    gmatch_state *gm = lua_newuserdatauv(L, sizeof *gm, 0);
    gm->pos = init > ls ? ls + 1 : init;
    gm->last = -1;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ---- gsub ----------------------------------------------------------------------------------- */

/* Adds the replacement string repl for the match [s, e): %0-%9 captures, %% a '%'. */
static void add_string(lua_State *L, luaL_Buffer *b, pm_state *ms, const meter *mt, const char *repl,
                       size_t len, const char *s, const char *e)
{
    const char *end = repl + len, *q;
    while ((q = memchr(repl, '%', (size_t)(end - repl))) != NULL) {
        luaL_addlstring(b, repl, (size_t)(q - repl));
        int c = ++q < end ? (unsigned char)*q : 0;
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (c >= '1' && c <= '9') {
            push_capture(L, ms, mt, c - '1', s, e);
            luaL_addvalue(b); /* a position becomes its digits */
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        repl = q + 1;
    }
    luaL_addlstring(b, repl, (size_t)(end - repl));
}

/* Adds the value a table or function gives for the match [s, e): false or nil keeps the match.
 * Returns whether it replaced the match. */
static int add_value(lua_State *L, luaL_Buffer *b, pm_state *ms, const meter *mt, int tr, const char *s,
                     const char *e)
{
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(L, ms, mt, s, e);
        lua_call(L, n, 1);
    } else {
        push_capture(L, ms, mt, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1)) return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* string.gsub(s, pattern, repl [, n]) -> string, count ; repl: string, table or function */
static int l_gsub(lua_State *L)
{
    size_t ls, lp, lr = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                     "string/function/table");
    const char *repl = (tr == LUA_TNUMBER || tr == LUA_TSTRING) ? lua_tolstring(L, 3, &lr) : NULL;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    meter mt = {L, 0, BUDGET_OK};
    pm_state ms;
    pm_begin(&ms, s, ls, p, lp, meter_charge, &mt);
    int anchor = lp > 0 && *p == '^';
    if (anchor) p++;
    int lead = anchor ? -1 : pm_first_byte(&ms, p);
    const char *at = s, *last = NULL;
    lua_Integer n = 0;
    int changed = 0;
    while (n < max) {
        if (lead >= 0) { /* the bytes before the next possible start stay as they are */
            const char *from = at;
            int more = skip_to(&ms, &at, lead);
            luaL_addlstring(&b, from, (size_t)(at - from));
            if (!more) break;
        }
        const char *e = pm_match(&ms, at, p);
        if (ms.status) break;
        if (e && e != last) {
            n++;
            if (repl) {
                add_string(L, &b, &ms, &mt, repl, lr, at, e);
                changed = 1;
            } else {
                changed |= add_value(L, &b, &ms, &mt, tr, at, e);
            }
            at = last = e;
        } else if (at < ms.src_end) {
            luaL_addchar(&b, *at++);
        } else {
            break;
        }
        if (anchor) break;
    }
    if (pm_flush(&ms)) return raise_status(L, &ms, &mt);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, at, (size_t)(ms.src_end - at));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

/* ---- installation --------------------------------------------------------------------------- */

void string_api_install(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub}, {NULL, NULL}};
    if (lua_getglobal(L, "string") != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_createtable(L, 0, 4);
    for (const luaL_Reg *f = fns; f->name; f++) { /* stack: string, originals */
        lua_getfield(L, -2, f->name);
        lua_setfield(L, -2, f->name);
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -3, f->name);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, ORIGINALS);
    lua_pop(L, 1);
}
