/* lua_api_log: the cartwright.log module — logfmt lines from Lua with a flat field table.
 * Uses log. */
#include <lauxlib.h>
#include <unistd.h>

#include "log.h"
#include "modules.h"

#define MAX_FIELDS 32

/* log.<level>(msg, fields) ; fields = flat table of string/number/boolean values */
static int emit(lua_State *L, enum log_level level)
{
    const char *msg = luaL_checkstring(L, 1);
    if (!log_enabled(level)) return 0;
    const char *kv[MAX_FIELDS * 2 + 1];
    int n = 0;
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, 2) && n < MAX_FIELDS * 2) {
            /* stack: msg, fields, ..., key, value ; converted copies stay on the stack */
            if (lua_type(L, -2) == LUA_TSTRING) {
                luaL_checkstack(L, 3, "log fields");
                lua_pushvalue(L, -2);
                kv[n++] = lua_tostring(L, -1);
                kv[n++] = luaL_tolstring(L, -2, NULL);
                lua_insert(L, 3);
                lua_insert(L, 3);
            }
            lua_pop(L, 1);
        }
    }
    kv[n] = NULL;
    log_write(level, msg, kv);
    return 0;
}

static int l_debug(lua_State *L) { return emit(L, LOG_DEBUG); }
static int l_info(lua_State *L) { return emit(L, LOG_INFO); }
static int l_warn(lua_State *L) { return emit(L, LOG_WARN); }
static int l_error(lua_State *L) { return emit(L, LOG_ERROR); }

/* log.enabled(level) -> boolean: whether lines of that level are written ("debug" | "info" |
 * "warn" | "error"), so a hot path builds a field table only when it will be used */
static int l_enabled(lua_State *L)
{
    static const char *const names[] = {"debug", "info", "warn", "error", NULL};
    static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    lua_pushboolean(L, log_enabled(levels[luaL_checkoption(L, 1, NULL, names)]));
    return 1;
}

/* log.secret(value): never print this value (tokens, passwords); values shorter than 4 bytes
 * are not registered (they would redact ordinary words) */
static int l_secret(lua_State *L)
{
    if (log_add_secret(luaL_checkstring(L, 1))) return luaL_error(L, "log.secret: out of memory");
    return 0;
}

/* log.isatty(fd) -> boolean: whether progress output would reach a person */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

int logmod_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"debug", l_debug}, {"info", l_info}, {"warn", l_warn},
                                   {"error", l_error}, {"secret", l_secret}, {"isatty", l_isatty},
                                   {"enabled", l_enabled},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
