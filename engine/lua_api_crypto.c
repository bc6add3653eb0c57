/* lua_api_crypto: the cartwright.crypto module — hashes, HMACs, base64, random bytes and a
 * constant-time compare, all from OpenSSL's libcrypto (never hand-rolled). Uses libcrypto. */
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>

#include "modules.h"

static int digest(lua_State *L, const EVP_MD *md)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (!EVP_Digest(s, len, out, &outlen, md, NULL)) return luaL_error(L, "crypto: digest failed");
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

static int hmac(lua_State *L, const EVP_MD *md)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (!HMAC(md, key, (int)klen, (const unsigned char *)msg, mlen, out, &outlen))
        return luaL_error(L, "crypto: hmac failed");
    lua_pushlstring(L, (const char *)out, outlen);
    return 1;
}

/* crypto.sha256(s) -> 32 raw bytes */
static int l_sha256(lua_State *L) { return digest(L, EVP_sha256()); }
/* crypto.sha1(s) -> 20 raw bytes */
static int l_sha1(lua_State *L) { return digest(L, EVP_sha1()); }
/* crypto.hmac_sha256(key, msg) -> 32 raw bytes */
static int l_hmac_sha256(lua_State *L) { return hmac(L, EVP_sha256()); }
/* crypto.hmac_sha1(key, msg) -> 20 raw bytes */
static int l_hmac_sha1(lua_State *L) { return hmac(L, EVP_sha1()); }

/* crypto.base64(s) -> standard base64 with padding, no newlines */
static int l_base64(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* crypto.unbase64(s) -> bytes | nil, err */
static int l_unbase64(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (len % 4 != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid base64");
        return 2;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, len / 4 * 3 + 1);
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    if (n < 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid base64");
        return 2;
    }
    /* EVP_DecodeBlock counts padding bytes as output: drop them */
    if (len >= 1 && s[len - 1] == '=') n--;
    if (len >= 2 && s[len - 2] == '=') n--;
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* crypto.hex(s) -> lower-case hex */
static int l_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, len * 2);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, len * 2);
    return 1;
}

/* crypto.random_bytes(n) -> n bytes from OpenSSL's CSPRNG (n <= 64 MiB) */
static int l_random_bytes(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= (64 << 20), 1, "0..64 MiB");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (size_t)n);
    if (RAND_bytes((unsigned char *)out, (int)n) != 1) return luaL_error(L, "crypto: no randomness");
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* crypto.equal(a, b) -> boolean; time depends only on the lengths */
static int l_equal(lua_State *L)
{
    size_t alen, blen;
    const char *a = luaL_checklstring(L, 1, &alen);
    const char *b = luaL_checklstring(L, 2, &blen);
    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
    return 1;
}

int crypto_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sha256", l_sha256}, {"sha1", l_sha1}, {"hmac_sha256", l_hmac_sha256},
        {"hmac_sha1", l_hmac_sha1}, {"base64", l_base64}, {"unbase64", l_unbase64},
        {"hex", l_hex}, {"random_bytes", l_random_bytes}, {"equal", l_equal}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
