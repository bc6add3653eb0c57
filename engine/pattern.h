/* pattern: Lua 5.4 patterns (reference manual §6.4.1) matched by backtracking over a byte
 * string, counting the matcher's steps and handing them in chunks to a callback that can stop
 * it (so a pattern that would backtrack for minutes is charged to a budget). Pure C, no Lua:
 * errors are status codes. Uses nothing. */
#ifndef CW_PATTERN_H
#define CW_PATTERN_H

#include <stddef.h>

#define PM_MAXCAPTURES 32
#define PM_MAXDEPTH 200  /* nested backtracking points before "pattern too complex" */
#define PM_CHUNK 4096    /* steps between two calls of the charge callback */

/* A capture's len while it is open, and the len of a position capture "()". */
#define PM_CAP_OPEN (-1)
#define PM_CAP_POSITION (-2)

enum pm_status {
    PM_OK = 0,
    PM_ERR_ENDS_WITH_ESC,  /* malformed pattern (ends with '%') */
    PM_ERR_MISSING_BRACKET,/* malformed pattern (missing ']') */
    PM_ERR_BALANCE_ARGS,   /* malformed pattern (missing arguments to '%b') */
    PM_ERR_FRONTIER,       /* missing '[' after '%f' in pattern */
    PM_ERR_TOO_MANY,       /* too many captures */
    PM_ERR_CLOSE,          /* invalid pattern capture (a ')' with no open capture) */
    PM_ERR_INDEX,          /* invalid capture index %N (N in pm_state.bad_index) */
    PM_ERR_UNFINISHED,     /* unfinished capture */
    PM_ERR_COMPLEX,        /* pattern too complex (nesting deeper than PM_MAXDEPTH) */
    PM_STOPPED             /* the charge callback said stop */
};

/* Called with the steps taken since its last call; returns nonzero to stop the matcher. */
typedef int (*pm_charge_fn)(void *ud, long steps);

typedef struct pm_capture {
    const char *init;
    ptrdiff_t len;         /* bytes, or PM_CAP_OPEN / PM_CAP_POSITION */
} pm_capture;

typedef struct pm_state {
    const char *src, *src_end;   /* the subject */
    const char *pat_end;         /* end of the pattern (patterns may hold '\0') */
    int level;                   /* captures in cap[] */
    int depth;                   /* nesting left */
    int status;                  /* enum pm_status; sticky once set */
    int bad_index;               /* the N of PM_ERR_INDEX */
    long fuel;                   /* steps left before the next charge */
    pm_charge_fn charge;
    void *ud;
    pm_capture cap[PM_MAXCAPTURES];
} pm_state;

/* Prepares a match of patterns ending at p + lp over the subject s[0..ls). charge may be NULL
 * (then nothing stops the matcher but its nesting limit). */
void pm_begin(pm_state *ms, const char *s, size_t ls, const char *p, size_t lp, pm_charge_fn charge,
              void *ud);

/* Matches the pattern from p (anchor '^' already taken off) at s exactly. Returns the end of
 * the match, or NULL for no match or an error (ms->status != PM_OK). Captures are reset. */
const char *pm_match(pm_state *ms, const char *s, const char *p);

/* A match of the pattern at p can only start at a byte equal to the returned value (the
 * pattern starts with a literal, maybe inside captures), or anywhere: -1. Scanners skip with
 * memchr; that is safe because an attempt at another byte would fail without an error. */
int pm_first_byte(const pm_state *ms, const char *p);

/* Counts n steps of work done outside the matcher (a scanner skipping bytes). Returns
 * nonzero when the charge callback stopped it (ms->status is then PM_STOPPED). */
int pm_spend(pm_state *ms, long n);

/* Charges the steps not charged yet. Returns ms->status. */
int pm_flush(pm_state *ms);

/* Capture i of the match [s, e): i beyond the captures is the whole match when i == 0 (no
 * captures). Sets *str and *len (len PM_CAP_POSITION: a position, *str its place). Returns
 * PM_OK, PM_ERR_INDEX (ms->bad_index set) or PM_ERR_UNFINISHED. */
int pm_get_capture(pm_state *ms, int i, const char *s, const char *e, const char **str, ptrdiff_t *len);

/* Lua's message for a status (PM_ERR_INDEX: without the index). */
const char *pm_message(int status);

#endif
