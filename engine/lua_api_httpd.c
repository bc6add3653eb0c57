/* lua_api_httpd: the cartwright.httpd module. Each request runs its Lua handler in a new task,
 * so handlers may yield; the task's end sends the reply. An open server keeps the runtime
 * alive until srv:close(). Uses http_server, rt, log. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_server.h"
#include "urlcode.h"
#include "log.h"
#include "modules.h"
#include "rt.h"

#define SERVER_MT "cartwright.httpd.server"
#define MAX_REPLY_HEADERS 256

typedef struct {
    http_server *s;
    rt *r;
    int handler_ref, self_ref;
} server;

/* Pushes the req table: method, path, query (decoded, last value wins), query_string, uri,
 * headers (lower-case names), body, peer. */
static void push_request(lua_State *L, http_server_req *hr)
{
    const char *uri = http_req_uri(hr);
    const char *q = strchr(uri, '?');
    lua_createtable(L, 0, 8);
    lua_pushstring(L, http_req_method(hr));
    lua_setfield(L, -2, "method");
    lua_pushstring(L, uri);
    lua_setfield(L, -2, "uri");
    lua_pushlstring(L, uri, q ? (size_t)(q - uri) : strlen(uri));
    lua_setfield(L, -2, "path");
    lua_pushstring(L, q ? q + 1 : "");
    lua_setfield(L, -2, "query_string");
    lua_pushstring(L, http_req_peer(hr));
    lua_setfield(L, -2, "peer");
    size_t blen;
    const char *body = http_req_body(hr, &blen);
    lua_pushlstring(L, body, blen);
    lua_setfield(L, -2, "body");

    lua_newtable(L);
    const char *name, *value;
    for (size_t i = 0; http_req_header(hr, i, &name, &value); i++) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *c = name; *c; c++) luaL_addchar(&b, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
        luaL_pushresult(&b);
        lua_pushstring(L, value);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");

    lua_newtable(L);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen, vlen;
        char *k = url_decode(p, (size_t)((eq ? eq : end) - p), &klen);
        char *v = eq ? url_decode(eq + 1, (size_t)(end - eq - 1), &vlen) : NULL;
        if (k) {
            lua_pushlstring(L, k, klen);
            if (v) lua_pushlstring(L, v, vlen); else lua_pushliteral(L, "");
            lua_rawset(L, -3);
        }
        free(k);
        free(v);
        p = amp ? amp + 1 : NULL;
    }
    lua_setfield(L, -2, "query");
}

/* Reads the handler's reply table at index idx of L and sends it. */
static void send_reply(lua_State *L, int idx, http_server_req *hr)
{
    int status = 200;
    const char *hdrs[MAX_REPLY_HEADERS * 2 + 1];
    int n = 0, have_type = 0;
    size_t blen = 0;
    const char *body = "";
    if (lua_type(L, idx) == LUA_TTABLE) {
        if (lua_getfield(L, idx, "status") == LUA_TNUMBER) status = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (lua_getfield(L, idx, "body") == LUA_TSTRING) body = lua_tolstring(L, -1, &blen);
        /* the body string stays on the stack until the reply is sent */
        if (lua_getfield(L, idx, "headers") == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2) && n < MAX_REPLY_HEADERS * 2) {
                /* stack: ..., headers, key, value */
                /* strings only: they live in the table, so the pointers stay valid */
                if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                    hdrs[n++] = lua_tostring(L, -2);
                    hdrs[n++] = lua_tostring(L, -1);
                    if (strcasecmp(hdrs[n - 2], "content-type") == 0) have_type = 1;
                }
                lua_pop(L, 1);
            }
        }
    }
    if (!have_type) {
        hdrs[n++] = "Content-Type";
        hdrs[n++] = "text/plain; charset=utf-8";
    }
    hdrs[n] = NULL;
    http_req_reply(hr, status, hdrs, body, blen);
}

static void handler_done(task *t, lua_State *co, int ok, int nres, void *ud)
{
    (void)t;
    http_server_req *hr = ud;
    if (!ok) {
        log_write(LOG_ERROR, "httpd handler failed",
                  (const char *[]){"uri", http_req_uri(hr), "error", lua_tostring(co, -1), NULL});
        static const char *const h[] = {"Content-Type", "application/json", NULL};
        static const char msg[] = "{\"error\":\"internal error\"}";
        http_req_reply(hr, 500, h, msg, sizeof msg - 1);
        return;
    }
    int top = lua_gettop(co);
    send_reply(co, top - nres + 1, hr);
    lua_settop(co, top);
}

static void on_request(http_server_req *hr, void *ud)
{
    server *s = ud;
    lua_State *L = rt_lua(s->r);
    luaL_checkstack(L, 4, "httpd");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->handler_ref);
    push_request(L, hr);
    rt_spawn(s->r, L, 1, handler_done, hr);
}

static void server_close(lua_State *L, server *s)
{
    if (!s->s) return;
    http_server_free(s->s);
    s->s = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, s->handler_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
    rt_release(s->r);
}

/* srv:close() */
static int l_close(lua_State *L)
{
    server_close(L, luaL_checkudata(L, 1, SERVER_MT));
    return 0;
}

/* srv.port, srv:close */
static int l_index(lua_State *L)
{
    server *s = luaL_checkudata(L, 1, SERVER_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "port") == 0) {
        lua_pushinteger(L, s->s ? http_server_port(s->s) : 0);
    } else if (strcmp(k, "close") == 0) {
        lua_pushcfunction(L, l_close);
    } else {
        lua_pushnil(L);
    }
    return 1;
}

/* httpd.listen{host = "127.0.0.1", port = 0, handler = fn, max_body = bytes} -> srv | nil, err
 * (max_body: a longer request body is answered 413 unread; default 64 MiB) */
static int l_listen(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "host");
    const char *host = luaL_optstring(L, -1, "127.0.0.1");
    lua_getfield(L, 1, "port");
    int port = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "max_body");
    lua_Integer max_body = luaL_optinteger(L, -1, 0);
    luaL_argcheck(L, max_body >= 0 && max_body <= ((lua_Integer)1 << 30), 1, "max_body: 0 to 1 GiB");
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "handler") != LUA_TFUNCTION)
        return luaL_error(L, "httpd.listen: handler must be a function");
    server *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->r = rt_from_lua(L);
    luaL_setmetatable(L, SERVER_MT);
    char err[256];
    s->s = http_server_listen(rt_base(s->r), host, port, (size_t)max_body, on_request, s, err, sizeof err);
    if (!s->s) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    /* stack: opts, host, port, handler, srv */
    lua_pushvalue(L, -2);
    s->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    rt_hold(s->r);
    return 1;
}

static int l_gc(lua_State *L)
{
    server_close(L, luaL_checkudata(L, 1, SERVER_MT));
    return 0;
}

int httpd_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"listen", l_listen}, {NULL, NULL}};
    if (luaL_newmetatable(L, SERVER_MT)) {
        lua_pushcfunction(L, l_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
