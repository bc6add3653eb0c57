/* modules: package.preload for the C modules, and a searcher over the engine's home that
 * names chunks relative to it ("@connectors/shopify/orders.lua") so every error shows a short
 * path; the test tree is on the path only for scripts run by developers.
 * Uses rt (for the home directory) and the module openers. */
#include "modules.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <string.h>

#include "rt.h"

int luaopen_cjson_safe(lua_State *L); /* from liblua5.4-cjson, not in its header */

/* Replaces package.searchers[2]. The production path is the engine's library (lua/, which
 * is package.path) and the connector packages (connectors/, for names "connectors.*"). tests/
 * (the harness, the simulators, the test connectors) is searched too only for a developer's
 * script (`cartwright run FILE`, which sets the global `arg` as lua(1) does) and for a command
 * that asks for it (`cartwright sim` sets package.cartwright_tests), so a merchant's config
 * cannot name a test connector. Chunk names drop the home prefix; only text chunks load. */
static const char searcher_src[] =
    "local home, loadfile_short = ...\n"
    "local LIB = home..'/lua/?.lua;'..home..'/lua/?/init.lua'\n"
    "local CONNECTORS = home..'/?.lua;'..home..'/?/init.lua'\n"
    "local TESTS = home..'/tests/?.lua;'..home..'/tests/?/init.lua'\n"
    "local function tests_on() return package.cartwright_tests or rawget(_G, 'arg') ~= nil end\n"
    "package.path = LIB\n"
    "package.cpath = ''\n"
    "package.cartwright_home = home\n"
    "local function short(path)\n"
    "  if path:sub(1, #home + 1) == home .. '/' then return path:sub(#home + 2) end\n"
    "  return path\n"
    "end\n"
    "package.searchers[2] = function(name)\n"
    "  local where = LIB\n"
    "  if name:find('^connectors%.[%w_.]+$') then where = CONNECTORS end\n"
    "  if tests_on() then where = where .. ';' .. TESTS end\n"
    "  local path, err = package.searchpath(name, where)\n"
    "  if not path then return '\\n\\t' .. err:gsub('^\\n\\t', '') end\n"
    "  local fn, lerr = loadfile_short(path, short(path))\n"
    "  if not fn then error(lerr, 0) end\n"
    "  return fn, path\n"
    "end\n"
    "package.searchers[3] = nil\n"
    "package.searchers[4] = nil\n";

/* loadfile_short(path, display) -> fn | nil, err */
static int l_loadfile_short(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *display = luaL_checkstring(L, 2);
    if (rt_load_file(L, path, display) != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static void preload(lua_State *L, const char *name, lua_CFunction open)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void modules_register(lua_State *L)
{
    preload(L, "cartwright.task", task_open);
    preload(L, "cartwright.http", http_open);
    preload(L, "cartwright.httpd", httpd_open);
    preload(L, "cartwright.crypto", crypto_open);
    preload(L, "cartwright.jsonraw", jsonraw_open);
    preload(L, "cartwright.log", logmod_open);
    preload(L, "cartwright.store", store_open);
    preload(L, "cartwright.text", text_open);
    preload(L, "cartwright.plain", plain_open);
    preload(L, "cartwright.shape", shape_open);
    preload(L, "cjson", luaopen_cjson);
    preload(L, "cjson.safe", luaopen_cjson_safe);

    if (luaL_loadbufferx(L, searcher_src, sizeof searcher_src - 1, "=searcher", "t") == LUA_OK) {
        lua_pushstring(L, rt_home(rt_from_lua(L)));
        lua_pushcfunction(L, l_loadfile_short);
        lua_call(L, 2, 0);
    } else {
        lua_pop(L, 1);
    }
}
