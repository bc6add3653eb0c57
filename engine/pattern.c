/* pattern: Lua 5.4 patterns matched by backtracking, with the steps counted. The pattern is
 * interpreted as it is read (no compiled form): Lua reports a malformed part of a pattern only
 * when the matcher reaches it, and scripts can tell (("xyz"):find("a%") is nil, not an error),
 * so doing the same keeps every result and every error Lua's. Nesting (captures, and the
 * points a quantifier backtracks to) is limited like Lua's, at PM_MAXDEPTH, so the C stack is
 * bounded; time is bounded by the charge callback. Uses nothing. */
#include "pattern.h"

#include <string.h>

/* ---- character classes (the C locale's, as Lua's are in this process) -------------------- */

enum {
    C_ALPHA = 1 << 0, C_CNTRL = 1 << 1, C_DIGIT = 1 << 2, C_GRAPH = 1 << 3, C_LOWER = 1 << 4,
    C_PUNCT = 1 << 5, C_SPACE = 1 << 6, C_UPPER = 1 << 7, C_ALNUM = 1 << 8, C_XDIGIT = 1 << 9,
    C_ZERO = 1 << 10 /* %z, the byte 0: deprecated since Lua 5.2, still there in 5.4 */
};

#define IS_UP(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_LO(c) ((c) >= 'a' && (c) <= 'z')
#define IS_DI(c) ((c) >= '0' && (c) <= '9')
#define IS_GR(c) ((c) > 0x20 && (c) < 0x7f)
#define IS_AN(c) (IS_UP(c) || IS_LO(c) || IS_DI(c))
#define BITS(c)                                                                                 \
    ((IS_UP(c) || IS_LO(c) ? C_ALPHA : 0) | ((c) < 0x20 || (c) == 0x7f ? C_CNTRL : 0) |         \
     (IS_DI(c) ? C_DIGIT : 0) | (IS_GR(c) ? C_GRAPH : 0) | (IS_LO(c) ? C_LOWER : 0) |           \
     (IS_GR(c) && !IS_AN(c) ? C_PUNCT : 0) | ((c) == ' ' || ((c) >= 9 && (c) <= 13) ? C_SPACE : 0) | \
     (IS_UP(c) ? C_UPPER : 0) | (IS_AN(c) ? C_ALNUM : 0) |                                      \
     (IS_DI(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F') ? C_XDIGIT : 0) | \
     ((c) == 0 ? C_ZERO : 0))
#define R4(c) BITS(c), BITS((c) + 1), BITS((c) + 2), BITS((c) + 3)
#define R16(c) R4(c), R4((c) + 4), R4((c) + 8), R4((c) + 12)
#define R64(c) R16(c), R16((c) + 16), R16((c) + 32), R16((c) + 48)

static const unsigned short ctab[256] = {R64(0), R64(64), R64(128), R64(192)};

/* The classes by letter, a to z: %a, %c, %d, %g, %l, %p, %s, %u, %w, %x, %z. */
static const unsigned short letter_class[26] = {
    C_ALPHA, 0, C_CNTRL, C_DIGIT, 0, 0, C_GRAPH, 0, 0, 0, 0, C_LOWER, 0,
    0, 0, C_PUNCT, 0, 0, C_SPACE, 0, C_UPPER, 0, C_ALNUM, C_XDIGIT, 0, C_ZERO};

/* The bits of class letter k (%a, %A, ...), or 0 when k names no class (then %k is k). */
static inline unsigned short class_bits(unsigned char k)
{
    if (IS_LO(k)) return letter_class[k - 'a'];
    if (IS_UP(k)) return letter_class[k - 'A'];
    return 0;
}

/* Whether c matches %k. */
static int class_match(unsigned char c, unsigned char k)
{
    unsigned short bits = class_bits(k);
    if (!bits) return c == k;
    int in = (ctab[c] & bits) != 0;
    return IS_UP(k) ? !in : in;
}

/* Whether c is in the set [ ... ] from set (the '[') to close (its ']'). A range's ends and a
 * '%' escape are read the way the set's end was found, so a set never reads past close. */
static int set_match(unsigned char c, const char *set, const char *close)
{
    const unsigned char *q = (const unsigned char *)set + 1;
    const unsigned char *end = (const unsigned char *)close;
    int yes = 1;
    if (*q == '^') {
        yes = 0;
        q++;
    }
    for (; q < end; q++) {
        if (*q == '%') {
            q++;
            if (class_match(c, *q)) return yes;
        } else if (q[1] == '-' && q + 2 < end) {
            if (q[0] <= c && c <= q[2]) return yes;
            q += 2;
        } else if (*q == c) {
            return yes;
        }
    }
    return !yes;
}

/* The ']' closing the set that starts at p ('['), or NULL. The first byte of the set (after
 * a '^') is never its end, so "[]]" and "[^]]" are sets holding ']'. */
static const char *set_close(const char *p, const char *pe)
{
    const char *q = p + 1;
    if (q < pe && *q == '^') q++;
    do {
        if (q >= pe) return NULL;
        if (*q++ == '%' && q < pe) q++;
    } while (q >= pe || *q != ']');
    return q;
}

/* ---- single-character items ---------------------------------------------------------------- */

enum item_kind { IT_ANY, IT_CHAR, IT_CLASS, IT_SET };

typedef struct item {
    enum item_kind kind;
    unsigned char c;        /* IT_CHAR */
    unsigned char neg;      /* IT_CLASS: an upper-case class, the complement */
    unsigned short bits;    /* IT_CLASS */
    const char *set, *close;/* IT_SET */
    const char *end;        /* the byte after the item: its quantifier, if any */
} item;

static int fail(pm_state *ms, int status)
{
    ms->status = status;
    return status;
}

/* Reads the item at p (p < pat_end). Returns PM_OK or an error status. */
static int item_read(pm_state *ms, const char *p, item *it)
{
    unsigned char c = (unsigned char)*p;
    if (c == '.') {
        it->kind = IT_ANY;
        it->end = p + 1;
    } else if (c == '%') {
        if (p + 1 >= ms->pat_end) return fail(ms, PM_ERR_ENDS_WITH_ESC);
        unsigned char k = (unsigned char)p[1];
        unsigned short bits = class_bits(k);
        if (bits) {
            it->kind = IT_CLASS;
            it->bits = bits;
            it->neg = IS_UP(k);
        } else {
            it->kind = IT_CHAR;
            it->c = k;
        }
        it->end = p + 2;
    } else if (c == '[') {
        const char *close = set_close(p, ms->pat_end);
        if (!close) return fail(ms, PM_ERR_MISSING_BRACKET);
        it->kind = IT_SET;
        it->set = p;
        it->close = close;
        it->end = close + 1;
    } else {
        it->kind = IT_CHAR;
        it->c = c;
        it->end = p + 1;
    }
    return PM_OK;
}

static int item_match(const item *it, unsigned char c)
{
    switch (it->kind) {
    case IT_ANY: return 1;
    case IT_CHAR: return c == it->c;
    case IT_CLASS: return ((ctab[c] & it->bits) != 0) != it->neg;
    default: return set_match(c, it->set, it->close);
    }
}

/* How many bytes from s match the item, one after the other. */
static ptrdiff_t item_run(const pm_state *ms, const char *s, const item *it)
{
    const unsigned char *q = (const unsigned char *)s;
    const unsigned char *end = (const unsigned char *)ms->src_end;
    switch (it->kind) {
    case IT_ANY: return end - q;
    case IT_CHAR: while (q < end && *q == it->c) q++; break;
    case IT_CLASS: while (q < end && ((ctab[*q] & it->bits) != 0) != it->neg) q++; break;
    default: while (q < end && set_match(*q, it->set, it->close)) q++; break;
    }
    return q - (const unsigned char *)s;
}

/* The quantifier after an item ending at e, or 0. */
static int quantifier(const pm_state *ms, const char *e)
{
    return e < ms->pat_end ? (unsigned char)*e : 0;
}

/* The byte the pattern at p must match first, when it starts with a plain or escaped literal
 * that may not be skipped (no '*', '?' or '-' after it); else -1. Trying that pattern at
 * another byte fails at once and can raise no error. */
static int literal_at(const pm_state *ms, const char *p)
{
    const char *pe = ms->pat_end;
    if (p >= pe) return -1;
    unsigned char c = (unsigned char)*p;
    const char *next = p + 1;
    switch (c) {
    case '(': case ')': case '[': case '.': return -1;
    case '$':
        if (next == pe) return -1;
        break;
    case '%':
        if (next == pe || IS_AN((unsigned char)*next)) return -1; /* a class, %b, %f, %1 */
        c = (unsigned char)*next++;
        break;
    default: break;
    }
    int q = quantifier(ms, next);
    return q == '*' || q == '?' || q == '-' ? -1 : c;
}

/* ---- steps ---------------------------------------------------------------------------------- */

/* Hands the steps used since the last charge to the callback and fills the tank again. */
static int refuel(pm_state *ms)
{
    long used = PM_CHUNK - ms->fuel;
    ms->fuel = PM_CHUNK;
    if (ms->status == PM_STOPPED) return 1;
    if (used > 0 && ms->charge && ms->charge(ms->ud, used)) return fail(ms, PM_STOPPED);
    return 0;
}

static inline int spend(pm_state *ms, long n)
{
    ms->fuel -= n;
    return ms->fuel < 0 && refuel(ms);
}

int pm_spend(pm_state *ms, long n) { return spend(ms, n); }

int pm_flush(pm_state *ms)
{
    refuel(ms);
    return ms->status;
}

/* ---- the matcher ---------------------------------------------------------------------------- */

static const char *match(pm_state *ms, const char *s, const char *p);

/* The pattern at p tried at s, from a place the matcher may come back to: counts one level of
 * nesting. The literal-first shortcuts below are only taken with a level to spare, so they
 * fail exactly where the full attempt would, and raise "too complex" where it would. */
static const char *nested(pm_state *ms, const char *s, const char *p)
{
    if (ms->depth == 0) {
        fail(ms, PM_ERR_COMPLEX);
        return NULL;
    }
    ms->depth--;
    const char *r = match(ms, s, p);
    ms->depth++;
    return r;
}

/* Greedy: the longest run of the item from s first, then one byte shorter each time. */
static const char *expand_max(pm_state *ms, const char *s, const item *it)
{
    ptrdiff_t n = item_run(ms, s, it);
    const char *rest = it->end + 1;
    if (spend(ms, it->kind == IT_ANY ? n / 16 : n)) return NULL;
    if (ms->depth > 0) {
        if (rest == ms->pat_end) return s + n;
        int lit = literal_at(ms, rest);
        if (lit >= 0) {
            for (; n >= 0; n--) {
                if (spend(ms, 1)) return NULL;
                if (s + n == ms->src_end || (unsigned char)s[n] != lit) continue;
                const char *r = nested(ms, s + n, rest);
                if (r || ms->status) return r;
            }
            return NULL;
        }
    }
    for (; n >= 0; n--) {
        if (spend(ms, 1)) return NULL;
        const char *r = nested(ms, s + n, rest);
        if (r || ms->status) return r;
    }
    return NULL;
}

/* Lazy: the rest of the pattern first, then one more byte of the item each time. */
static const char *expand_min(pm_state *ms, const char *s, const item *it)
{
    const char *rest = it->end + 1;
    int lit = ms->depth > 0 ? literal_at(ms, rest) : -1;
    for (;;) {
        if (spend(ms, 1)) return NULL;
        if (lit < 0 || (s < ms->src_end && (unsigned char)*s == lit)) {
            const char *r = nested(ms, s, rest);
            if (r || ms->status) return r;
        }
        if (s < ms->src_end && item_match(it, (unsigned char)*s)) s++;
        else return NULL;
    }
}

static const char *open_capture(pm_state *ms, const char *s, const char *p, ptrdiff_t what)
{
    if (ms->level >= PM_MAXCAPTURES) {
        fail(ms, PM_ERR_TOO_MANY);
        return NULL;
    }
    ms->cap[ms->level].init = s;
    ms->cap[ms->level].len = what;
    ms->level++;
    const char *r = nested(ms, s, p);
    if (!r) ms->level--;
    return r;
}

static const char *close_capture(pm_state *ms, const char *s, const char *p)
{
    int l = ms->level - 1;
    while (l >= 0 && ms->cap[l].len != PM_CAP_OPEN) l--;
    if (l < 0) {
        fail(ms, PM_ERR_CLOSE);
        return NULL;
    }
    ms->cap[l].len = s - ms->cap[l].init;
    const char *r = nested(ms, s, p);
    if (!r) ms->cap[l].len = PM_CAP_OPEN;
    return r;
}

/* %bxy at s, with p at x. */
static const char *balance(pm_state *ms, const char *s, const char *p)
{
    if (p + 1 >= ms->pat_end) {
        fail(ms, PM_ERR_BALANCE_ARGS);
        return NULL;
    }
    if (s >= ms->src_end || *s != *p) return NULL;
    char open = p[0], close = p[1];
    const char *start = s;
    int depth = 1;
    const char *r = NULL;
    while (++s < ms->src_end) {
        if (*s == close) {
            if (--depth == 0) {
                r = s + 1;
                break;
            }
        } else if (*s == open) {
            depth++;
        }
    }
    if (spend(ms, s - start)) return NULL;
    return r;
}

/* %N at s: the same bytes as capture N again. */
static const char *backref(pm_state *ms, const char *s, unsigned char digit)
{
    int l = digit - '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == PM_CAP_OPEN) {
        ms->bad_index = l + 1;
        fail(ms, PM_ERR_INDEX);
        return NULL;
    }
    ptrdiff_t len = ms->cap[l].len;
    if (len < 0 || ms->src_end - s < len) return NULL; /* a position never matches again */
    if (spend(ms, len)) return NULL;
    return memcmp(ms->cap[l].init, s, (size_t)len) == 0 ? s + len : NULL;
}

/* %f[set] at s, with p at '['. Returns the pattern after the set, or NULL. */
static const char *frontier(pm_state *ms, const char *s, const char *p)
{
    if (p >= ms->pat_end || *p != '[') {
        fail(ms, PM_ERR_FRONTIER);
        return NULL;
    }
    const char *close = set_close(p, ms->pat_end);
    if (!close) {
        fail(ms, PM_ERR_MISSING_BRACKET);
        return NULL;
    }
    unsigned char prev = s == ms->src ? 0 : (unsigned char)s[-1];
    unsigned char cur = s < ms->src_end ? (unsigned char)*s : 0;
    if (!set_match(prev, p, close) && set_match(cur, p, close)) return close + 1;
    return NULL;
}

/* The pattern from p at s. Items that cannot backtrack loop here; captures and quantifiers
 * that can recurse through nested(). Returns the match's end or NULL. */
static const char *match(pm_state *ms, const char *s, const char *p)
{
    const char *pe = ms->pat_end;
    while (p < pe) {
        if (spend(ms, 1)) return NULL;
        switch (*p) {
        case '(':
            if (p + 1 < pe && p[1] == ')') return open_capture(ms, s, p + 2, PM_CAP_POSITION);
            return open_capture(ms, s, p + 1, PM_CAP_OPEN);
        case ')':
            return close_capture(ms, s, p + 1);
        case '$':
            if (p + 1 == pe) return s == ms->src_end ? s : NULL;
            break;
        case '%':
            if (p + 1 == pe) break;
            if (p[1] == 'b') {
                s = balance(ms, s, p + 2);
                if (!s) return NULL;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p = frontier(ms, s, p + 2);
                if (!p) return NULL;
                continue;
            }
            if (IS_DI((unsigned char)p[1])) {
                s = backref(ms, s, (unsigned char)p[1]);
                if (!s) return NULL;
                p += 2;
                continue;
            }
            break;
        default: break;
        }
        item it;
        if (item_read(ms, p, &it)) return NULL;
        int q = quantifier(ms, it.end);
        if (s >= ms->src_end || !item_match(&it, (unsigned char)*s)) {
            if (q != '*' && q != '?' && q != '-') return NULL;
            p = it.end + 1; /* zero of them */
            continue;
        }
        switch (q) {
        case '?': {
            const char *r = nested(ms, s + 1, it.end + 1);
            if (r || ms->status) return r;
            p = it.end + 1;
            continue;
        }
        case '+': return expand_max(ms, s + 1, &it);
        case '*': return expand_max(ms, s, &it);
        case '-': return expand_min(ms, s, &it);
        default:
            s++;
            p = it.end;
            continue;
        }
    }
    return s;
}

/* ---- the interface -------------------------------------------------------------------------- */

void pm_begin(pm_state *ms, const char *s, size_t ls, const char *p, size_t lp, pm_charge_fn charge,
              void *ud)
{
    ms->src = s;
    ms->src_end = s + ls;
    ms->pat_end = p + lp;
    ms->level = 0;
    ms->depth = PM_MAXDEPTH;
    ms->status = PM_OK;
    ms->bad_index = 0;
    ms->fuel = PM_CHUNK;
    ms->charge = charge;
    ms->ud = ud;
}

const char *pm_match(pm_state *ms, const char *s, const char *p)
{
    ms->level = 0;
    ms->depth = PM_MAXDEPTH;
    if (ms->status) return NULL;
    return nested(ms, s, p);
}

int pm_first_byte(const pm_state *ms, const char *p)
{
    /* Captures opened first consume nothing; fewer than PM_MAXCAPTURES cannot fail. */
    for (int opened = 0; p < ms->pat_end && *p == '('; opened++) {
        if (opened + 1 >= PM_MAXCAPTURES) return -1;
        p += (p + 1 < ms->pat_end && p[1] == ')') ? 2 : 1;
    }
    return literal_at(ms, p);
}

int pm_get_capture(pm_state *ms, int i, const char *s, const char *e, const char **str, ptrdiff_t *len)
{
    if (i >= ms->level) {
        if (i != 0) {
            ms->bad_index = i + 1;
            return PM_ERR_INDEX;
        }
        *str = s;
        *len = e - s;
        return PM_OK;
    }
    if (ms->cap[i].len == PM_CAP_OPEN) return PM_ERR_UNFINISHED;
    *str = ms->cap[i].init;
    *len = ms->cap[i].len;
    return PM_OK;
}

const char *pm_message(int status)
{
    switch (status) {
    case PM_OK: return "no error";
    case PM_ERR_ENDS_WITH_ESC: return "malformed pattern (ends with '%')";
    case PM_ERR_MISSING_BRACKET: return "malformed pattern (missing ']')";
    case PM_ERR_BALANCE_ARGS: return "malformed pattern (missing arguments to '%b')";
    case PM_ERR_FRONTIER: return "missing '[' after '%f' in pattern";
    case PM_ERR_TOO_MANY: return "too many captures";
    case PM_ERR_CLOSE: return "invalid pattern capture";
    case PM_ERR_INDEX: return "invalid capture index";
    case PM_ERR_UNFINISHED: return "unfinished capture";
    case PM_ERR_COMPLEX: return "pattern too complex";
    default: return "stopped";
    }
}
