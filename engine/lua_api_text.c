/* lua_api_text: the cartwright.text module — what every byte that leaves the process through
 * the CLI passes: registered secrets redacted, valid UTF-8 for JSON, control characters
 * escaped for a terminal. Cart data is untrusted: an email holding "\33[2J\n" must not paint
 * a fake order line, and invalid UTF-8 must not make a JSON line unreadable.
 * Uses log (the secrets). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "modules.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF are not). Sets *cp. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end, unsigned long *cp)
{
    unsigned c = p[0];
    if (c < 0x80) return *cp = c, 1;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || c > 0xF4 || (size_t)(end - p) < n) return 0;
    unsigned long v = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

/* Pushes s with secrets redacted (s itself when it holds none). Returns the pushed string. */
static const char *push_redacted(lua_State *L, int idx, size_t *len)
{
    const char *s = luaL_checklstring(L, idx, len);
    char *clean = NULL;
    size_t n = 0;
    int rc = log_redact(s, *len, &clean, &n);
    if (rc == 0) {
        lua_pushvalue(L, idx);
        return s;
    }
    if (rc < 0) luaL_error(L, "text: out of memory while redacting");
    lua_pushlstring(L, clean, n);
    free(clean);
    return lua_tolstring(L, -1, len);
}

/* text.redact(s) -> s with every registered secret replaced by "[redacted]" */
static int l_redact(lua_State *L)
{
    size_t len;
    push_redacted(L, 1, &len);
    return 1;
}

/* How a mode writes the sequence at hand (cp: its code point, n: its length, 0 when the byte
 * is not part of valid UTF-8): the escape written into esc, or 0 to keep the bytes as they are. */
typedef int (*escape_fn)(unsigned long cp, size_t n, unsigned char byte, char *esc, size_t len);

/* Pushes the string at idx, redacted, with every sequence `escape` asks for rewritten. */
static int rewrite(lua_State *L, int idx, escape_fn escape)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)push_redacted(L, idx, &len);
    const unsigned char *p = s, *end = s + len, *run = s;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    while (p < end) {
        unsigned long cp = *p;
        size_t n = *p < 0x80 ? 1 : utf8_seq(p, end, &cp);
        char esc[16];
        if (!escape(cp, n, *p, esc, sizeof esc)) {
            p += n;
            continue;
        }
        luaL_addlstring(&b, (const char *)run, (size_t)(p - run));
        luaL_addstring(&b, esc);
        p += n ? n : 1;
        run = p;
    }
    luaL_addlstring(&b, (const char *)run, (size_t)(p - run));
    luaL_pushresult(&b);
    return 1;
}

/* For JSON: invalid bytes become U+FFFD; DEL and C1 become \u00XX. */
static int json_escape(unsigned long cp, size_t n, unsigned char byte, char *esc, size_t len)
{
    (void)byte;
    if (n == 0) return snprintf(esc, len, "\xEF\xBF\xBD");
    if (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) return snprintf(esc, len, "\\u%04lx", cp);
    return 0;
}

/* For a terminal: control characters and invalid bytes become visible escapes. */
static int terminal_escape(unsigned long cp, size_t n, unsigned char byte, char *esc, size_t len)
{
    if (n == 0) return snprintf(esc, len, "\\x%02X", byte);
    if (cp >= 0x20 && cp != 0x7F && (cp < 0x80 || cp > 0x9F)) return 0;
    if (cp == '\n') return snprintf(esc, len, "\\n");
    if (cp == '\t') return snprintf(esc, len, "\\t");
    if (cp == '\r') return snprintf(esc, len, "\\r");
    if (cp < 0x80) return snprintf(esc, len, "\\x%02lX", cp);
    return snprintf(esc, len, "\\u{%02lX}", cp);
}

/* text.json_safe(s) -> s redacted, with every byte that is not part of valid UTF-8 replaced
 * by U+FFFD, and DEL and the C1 controls written as \u00XX (for a JSON text from an encoder
 * that escapes C0 itself: its bytes outside strings are printable ASCII, so only the insides
 * of strings change) */
static int l_json_safe(lua_State *L) { return rewrite(L, 1, json_escape); }

/* text.terminal(s) -> s redacted, printable on a terminal: control characters (C0, DEL and the
 * C1 range U+0080-U+009F, which some terminals obey) and invalid UTF-8 bytes become \n, \t,
 * \r or \xNN / \u{NN}; a backslash stays itself */
static int l_terminal(lua_State *L) { return rewrite(L, 1, terminal_escape); }

int text_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"redact", l_redact}, {"json_safe", l_json_safe}, {"terminal", l_terminal}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
