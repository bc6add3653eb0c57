/* lua_api_plain: the cartwright.plain module — checks that a value a merchant's file built (a
 * rule's order, the config's settings) is plain data: tables without metatables, strings,
 * finite numbers, booleans, cjson.null. The engine reads such values outside any instruction
 * budget, so a metatable left on them (__index, __pairs, __eq...) would run the merchant's code
 * there; the check itself never runs Lua (raw traversal). Uses lua only. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "modules.h"

#define PATH_MAX_LEN 200

#define MAX_DEPTH_LIMIT 256

typedef struct {
    int max_depth;
    int finite; /* refuse NaN and infinities (JSON cannot hold them) */
    long nodes, max_nodes;
    int keys[MAX_DEPTH_LIMIT + 1]; /* stack index of the key at each depth, for the path */
    int depth_failed;               /* depth of the value refused */
    char why[64];
} walk;

static int refuse(walk *w, int depth, const char *why)
{
    snprintf(w->why, sizeof w->why, "%s", why);
    w->depth_failed = depth;
    return -1;
}

static int check_value(lua_State *L, walk *w, int idx, int depth);

/* stack effect: none on success; on failure the keys of the path stay on the stack (the
 * caller formats them, then resets the stack) */
static int check_table(lua_State *L, walk *w, int t, int depth)
{
    if (depth > w->max_depth) return refuse(w, depth, "is nested too deep (a cycle?)");
    if (lua_getmetatable(L, t)) {
        lua_pop(L, 1);
        return refuse(w, depth, "holds a table with a metatable");
    }
    luaL_checkstack(L, 3, "plain.check");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        /* stack: ..., key, value */
        int kt = lua_type(L, -2);
        w->keys[depth + 1] = lua_gettop(L) - 1;
        if (kt != LUA_TSTRING && !(kt == LUA_TNUMBER && lua_isinteger(L, -2)))
            return refuse(w, depth, "has a key that is not a string or an integer");
        if (check_value(L, w, lua_gettop(L), depth + 1)) return -1;
        lua_pop(L, 1);
    }
    return 0;
}

static int check_value(lua_State *L, walk *w, int idx, int depth)
{
    if (++w->nodes > w->max_nodes) return refuse(w, depth, "holds too many values");
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: case LUA_TBOOLEAN: case LUA_TNIL: return 0;
    case LUA_TNUMBER: {
        if (lua_isinteger(L, idx)) return 0;
        double v = lua_tonumber(L, idx);
        return isfinite(v) || !w->finite ? 0 : refuse(w, depth, "holds a NaN or infinite number");
    }
    case LUA_TTABLE: return check_table(L, w, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) return 0; /* cjson.null */
        /* fall through */
    default: {
        char why[48];
        snprintf(why, sizeof why, "holds a %s", luaL_typename(L, idx));
        return refuse(w, depth, why);
    }
    }
}

/* The path of the refused value (".lines[2].sku"), from the keys left on the stack. */
static void format_path(lua_State *L, const walk *w, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int d = 1; d <= w->depth_failed && n < len; d++) {
        int k = w->keys[d];
        if (lua_type(L, k) == LUA_TSTRING)
            n += (size_t)snprintf(out + n, len - n, ".%s", lua_tostring(L, k));
        else
            n += (size_t)snprintf(out + n, len - n, "[%lld]", (long long)lua_tointeger(L, k));
    }
}

/* plain.check(value [, {depth = 32, nodes = 1000000, finite = true}]) -> true | nil, "WHERE what"
 * WHERE is a path like ".lines[2].sku" ("the value" for the value itself); finite = false lets
 * NaN and infinities through, for values a schema checks further */
static int l_check(lua_State *L)
{
    walk w;
    w.max_depth = 32, w.finite = 1, w.nodes = 0, w.max_nodes = 1000000, w.depth_failed = 0;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "finite") != LUA_TNIL) w.finite = lua_toboolean(L, -1);
        lua_getfield(L, 2, "depth");
        w.max_depth = (int)luaL_optinteger(L, -1, w.max_depth);
        lua_getfield(L, 2, "nodes");
        w.max_nodes = (long)luaL_optinteger(L, -1, w.max_nodes);
    }
    if (w.max_depth > MAX_DEPTH_LIMIT - 1) w.max_depth = MAX_DEPTH_LIMIT - 1;
    lua_settop(L, 1);
    if (check_value(L, &w, 1, 0) == 0) {
        lua_settop(L, 0);
        lua_pushboolean(L, 1);
        return 1;
    }
    char path[200];
    format_path(L, &w, path, sizeof path);
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s", path[0] ? path : "the value", w.why);
    return 2;
}

int plain_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"check", l_check}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
