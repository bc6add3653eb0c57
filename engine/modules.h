/* modules: registers the engine's Lua modules in package.preload and installs the searcher
 * that loads lua/ and connectors/ files (and tests/ ones for developers' scripts) with short
 * chunk names.
 * Uses every lua_api_*.c opener. */
#ifndef CW_MODULES_H
#define CW_MODULES_H

#include <lua.h>

void modules_register(lua_State *L);

int http_open(lua_State *L);    /* cartwright.http    lua_api_http.c */
int httpd_open(lua_State *L);   /* cartwright.httpd   lua_api_httpd.c */
int crypto_open(lua_State *L);  /* cartwright.crypto  lua_api_crypto.c */
int jsonraw_open(lua_State *L); /* cartwright.jsonraw jsonraw.c */
int logmod_open(lua_State *L);  /* cartwright.log     lua_api_log.c */
int store_open(lua_State *L);   /* cartwright.store   store.c */
int text_open(lua_State *L);    /* cartwright.text    lua_api_text.c */
int plain_open(lua_State *L);   /* cartwright.plain   lua_api_plain.c */
int shape_open(lua_State *L);   /* cartwright.shape   lua_api_shape.c */

/* Replaces string.find/match/gmatch/gsub with the engine's budgeted ones (lua_api_string.c);
 * call after luaL_openlibs, before any other Lua code runs. */
void string_api_install(lua_State *L);

#endif
