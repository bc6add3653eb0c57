/* fuzz_jsonraw: every entry point of cartwright.jsonraw on the input bytes, through a Lua
 * checker that returns a description of the first invariant violated (then: abort()):
 * - array and split_decode (with and without key and shape) agree: all refuse, or all accept
 *   with identical raws; errors read "bad JSON at byte N: ...";
 * - decode accepts exactly what array accepts, for a top-level array; with or without a shape;
 * - each raw decodes, to the element decode gives, and split_decode's doc i is decode(raw i);
 * - when decode(input) succeeds, encode(value) succeeds and decode(encode(value)) equals value
 *   (numbers by value, cjson.null by identity, {} and [] both an empty table); encode of the
 *   input as a string reads back as the same bytes.
 * One lua_State per process (base libraries + the module); a Lua error raised by jsonraw is a
 * finding too (it must return nil, err), except running out of memory. Uses jsonraw, lua. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "modules.h"

static const char checker[] =
    "local jraw = ...\n"
    "local SHAPE = { id = true, email = true, total_price = true, [''] = true,\n"
    "  line_items = { sku = true, quantity = true, price = true }, customer = { id = true, email = true },\n"
    "  a = { b = { c = true } } }\n"
    /* deep equality: numbers by value (an integral float equals the integer), tables by content */
    "local function same(a, b)\n"
    "  if a == b then return true end\n"
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return false end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local function bad_err(e) return type(e) ~= 'string' or not e:find('^bad JSON at byte %d+: ') end\n"
    /* array's outcome (raws or nil) against split_decode's */
    "local function agree(what, a, r, d)\n"
    "  if (a == nil) ~= (r == nil) then return what .. ': one accepts, the other refuses' end\n"
    "  if a == nil then return bad_err(d) and what .. ': error text ' .. tostring(d) or nil end\n"
    "  if #a ~= #r or #d ~= #a then return what .. ': element counts differ' end\n"
    "  for i = 1, #a do if a[i] ~= r[i] then return what .. ': raw ' .. i .. ' differs' end end\n"
    "end\n"
    /* the raws of a page against decode and split_decode's docs */
    "local function raws_decode(what, a, plain, shaped)\n"
    "  for i, raw in ipairs(a) do\n"
    "    local x, e = jraw.decode(raw)\n"
    "    if e then return what .. ': raw ' .. i .. ' does not decode: ' .. e end\n"
    "    if not same(x, plain[i]) then return what .. ': doc ' .. i .. ' is not decode(raw)' end\n"
    "    if not same(jraw.decode(raw, SHAPE), shaped[i]) then return what .. ': doc ' .. i .. ' is not decode(raw, shape)' end\n"
    "  end\n"
    "end\n"
    "local function round_trip(what, v)\n"
    "  local ok, text = pcall(jraw.encode, v)\n"
    "  if not ok then return what .. ': encode refuses a decoded value: ' .. tostring(text) end\n"
    "  local back, e = jraw.decode(text)\n"
    "  if e then return what .. ': decode refuses what encode wrote: ' .. e end\n"
    "  if not same(back, v) then return what .. ': decode(encode(v)) is not v' end\n"
    "end\n"
    "return function(s)\n"
    "  local a, aerr = jraw.array(s)\n"
    "  local ak, akerr = jraw.array(s, 'orders')\n"
    "  local r1, d1 = jraw.split_decode(s)\n"
    "  local r2, d2 = jraw.split_decode(s, nil, SHAPE)\n"
    "  local r3, d3 = jraw.split_decode(s, 'orders')\n"
    "  local r4, d4 = jraw.split_decode(s, 'orders', SHAPE)\n"
    "  local v, verr = jraw.decode(s)\n"
    "  local vs, vserr = jraw.decode(s, SHAPE)\n"
    "  local why = agree('array/split_decode', a, r1, d1) or agree('array/split_decode shape', a, r2, d2)\n"
    "    or agree('array key/split_decode key', ak, r3, d3) or agree('array key/split_decode key shape', ak, r4, d4)\n"
    "  if why then return why end\n"
    "  if bad_err(aerr or 'bad JSON at byte 0: ') or bad_err(akerr or 'bad JSON at byte 0: ') then return 'array: error text' end\n"
    "  if (verr == nil) ~= (vserr == nil) then return 'decode with and without a shape disagree' end\n"
    "  if verr and bad_err(verr) then return 'decode: error text ' .. tostring(verr) end\n"
    "  if (a ~= nil or ak ~= nil) and verr then return 'array accepts what decode refuses: ' .. verr end\n"
    "  if not verr and s:find('^[ \\t\\r\\n]*%[') and not a then return 'decode accepts an array that array refuses: ' .. aerr end\n"
    "  if a then\n"
    "    if #a ~= #v then return 'array and decode count different elements' end\n"
    "    why = raws_decode('top-level array', a, d1, d2)\n"
    "    if why then return why end\n"
    "    for i = 1, #a do if not same(v[i], d1[i]) then return 'element ' .. i .. ' of decode is not doc ' .. i end end\n"
    "  end\n"
    "  if ak then why = raws_decode('array at key', ak, d3, d4) if why then return why end end\n"
    "  if not verr then\n"
    "    why = round_trip('decode', v) or round_trip('decode with a shape', vs)\n"
    "    if why then return why end\n"
    "  end\n"
    "  local back = jraw.decode(jraw.encode(s))\n"
    "  if back ~= s then return 'a string does not read back as the same bytes' end\n"
    "end\n";

static lua_State *L;
static int check_ref = LUA_NOREF;

static void teardown(void)
{
    if (L) lua_close(L);
    L = NULL;
}

static void setup(void)
{
    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    if (luaL_loadbufferx(L, checker, sizeof checker - 1, "=fuzz_jsonraw", "t") != LUA_OK) {
        fprintf(stderr, "fuzz_jsonraw: %s\n", lua_tostring(L, -1));
        abort();
    }
    luaL_requiref(L, "cartwright.jsonraw", jsonraw_open, 0);
    lua_call(L, 1, 1);
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) setup();
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)data, size);
    int st = lua_pcall(L, 1, 1, 0);
    if (st == LUA_ERRMEM) {
        lua_settop(L, 0);
        lua_gc(L, LUA_GCCOLLECT);
        return 0;
    }
    if (st != LUA_OK || !lua_isnil(L, -1)) {
        fprintf(stderr, "fuzz_jsonraw: %s%s\n", st != LUA_OK ? "error raised: " : "", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    /* what this input allocated is freed now: libFuzzer runs a leak check after any input that
     * leaves more mallocs than frees, which Lua's incremental collector always would */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
