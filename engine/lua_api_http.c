/* lua_api_http: the cartwright.http module. http.request parks the calling task on one
 * transfer; the transfer's callback only wakes the task, and the scheduler pushes the result.
 * Uses http_client, rt. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "modules.h"
#include "rt.h"
#include "urlcode.h"

#define CLIENT_MT "cartwright.http.client"
#define MAX_HEADERS 256

typedef struct {
    pending base;
    http_transfer *x;
    task *t;
} request_op;

/* The client lives in a registry-anchored userdata so lua_close frees it after every op
 * was cancelled by rt_free. */
static int client_gc(lua_State *L)
{
    http_client **c = luaL_checkudata(L, 1, CLIENT_MT);
    http_client_free(*c);
    *c = NULL;
    return 0;
}

static http_client *client_of(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, CLIENT_MT ".instance");
    http_client **c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return c ? *c : NULL;
}

static void request_done(http_transfer *x, void *ud)
{
    (void)x;
    request_op *op = ud;
    rt_wake(op->t);
}

/* Pushes res{status, headers, body} or nil, err. Header names are lower-cased; repeated
 * headers are joined with ", " as RFC 9110 allows. */
static int request_resume(lua_State *L, pending *p)
{
    request_op *op = (request_op *)p;
    http_transfer *x = op->x;
    long status = http_transfer_status(x);
    if (status == 0) {
        lua_pushnil(L);
        lua_pushstring(L, http_transfer_error(x));
        http_transfer_free(x);
        free(op);
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    size_t n = http_transfer_header_count(x);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_transfer_header(x, i, &name, &nlen, &value, &vlen);
        char lower[128];
        if (nlen >= sizeof lower) continue;
        for (size_t k = 0; k < nlen; k++) lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        /* stack: res, headers */
        lua_pushlstring(L, lower, nlen);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, value, vlen);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, value, vlen);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    size_t blen;
    const char *body = http_transfer_body(x, &blen);
    lua_pushlstring(L, body, blen);
    lua_setfield(L, -2, "body");
    http_transfer_free(x);
    free(op);
    return 1;
}

static void request_cancel(pending *p)
{
    request_op *op = (request_op *)p;
    http_transfer_free(op->x);
    free(op);
}

/* Collects opts.headers into "Name: value" strings on the Lua stack (kept alive there)
 * and pointers in lines[]. Returns the count. */
static int collect_headers(lua_State *L, int opts, const char **lines)
{
    int n = 0;
    lines[0] = NULL;
    if (lua_getfield(L, opts, "headers") != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    int tbl = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
        /* stack: ..., headers, key, value */
        if (n == MAX_HEADERS - 1) luaL_error(L, "http.request: more than %d headers", MAX_HEADERS - 1);
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
            luaL_error(L, "http.request: headers must map names to strings");
        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
        if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
            luaL_error(L, "http.request: header %s has a forbidden character", k);
        luaL_checkstack(L, 2, "headers");
        lines[n++] = lua_pushfstring(L, "%s: %s", k, v);
        lua_insert(L, tbl); /* keep the string below the iteration */
        tbl++;
        lua_pop(L, 1);
    }
    lines[n] = NULL;
    return n;
}

/* The longest timeout a request may have: 1e6 s (11.6 days). A double outside a long's
 * range is undefined behaviour to convert, and a config may say math.huge. */
#define TIMEOUT_MAX_S 1e6

/* http.request{method=, url=, headers=, body=, timeout=, origin=} -> res | nil, err */
static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    task *t = rt_check_task(L, "http.request");
    http_request req = {0};
    lua_getfield(L, 1, "url");
    req.url = lua_tostring(L, -1);
    if (!req.url) return luaL_error(L, "http.request: url is required");
    lua_getfield(L, 1, "method");
    req.method = luaL_optstring(L, -1, "GET");
    lua_getfield(L, 1, "body");
    if (!lua_isnil(L, -1)) req.body = luaL_checklstring(L, -1, &req.body_len);
    lua_getfield(L, 1, "timeout");
    double timeout = luaL_optnumber(L, -1, 30);
    if (!(timeout > 0)) timeout = 30; /* NaN, 0 and negatives: the default */
    if (timeout > TIMEOUT_MAX_S) timeout = TIMEOUT_MAX_S;
    req.timeout_ms = (long)(timeout * 1000);
    lua_getfield(L, 1, "origin");
    req.origin = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    const char *lines[MAX_HEADERS];
    collect_headers(L, 1, lines);
    req.headers = lines;

    request_op *op = calloc(1, sizeof *op);
    if (!op) return luaL_error(L, "out of memory");
    op->base.resume = request_resume;
    op->base.cancel = request_cancel;
    op->t = t;
    char err[768];
    op->x = http_client_start(client_of(L), &req, request_done, op, err, sizeof err);
    if (!op->x) {
        free(op);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return rt_yield(L, &op->base);
}

/* http.origin(url [, base]) -> origin, path | nil, err
 * origin = "scheme://host:port" as curl connects for url (resolved against base when given):
 * lower-case, the default port filled in, no userinfo; path without the query. */
static int l_origin(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    const char *base = luaL_optstring(L, 2, NULL);
    char err[160], *path = NULL;
    char *origin = http_url_origin(url, base, &path, err, sizeof err);
    if (!origin) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, origin);
    lua_pushstring(L, path);
    free(origin);
    free(path);
    return 2;
}

static int push_coded(lua_State *L, char *(*fn)(const char *, size_t, size_t *))
{
    size_t len, outlen;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out = fn(s, len, &outlen);
    if (!out) return luaL_error(L, "out of memory");
    lua_pushlstring(L, out, outlen);
    free(out);
    return 1;
}

/* http.urlencode(s) -> s with everything but A-Za-z0-9-._~ percent-encoded */
static int l_urlencode(lua_State *L) { return push_coded(L, url_encode); }
/* http.urldecode(s) -> s with %XX and + decoded */
static int l_urldecode(lua_State *L) { return push_coded(L, url_decode); }

int http_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"request", l_request}, {"origin", l_origin}, {"urlencode", l_urlencode}, {"urldecode", l_urldecode}, {NULL, NULL}};
    if (!client_of(L)) {
        http_client **c = lua_newuserdatauv(L, sizeof *c, 0);
        *c = http_client_new(rt_base(rt_from_lua(L)), NULL);
        if (!*c) return luaL_error(L, "cannot start the HTTP client");
        luaL_newmetatable(L, CLIENT_MT);
        lua_pushcfunction(L, client_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, CLIENT_MT ".instance");
    }
    luaL_newlib(L, fns);
    return 1;
}
