/* log: logfmt lines on stderr with level filter, and the process's registered secrets with
 * their redaction (used for log lines here and, through log_redact, for every other way out:
 * CLI output, stored errors and events). One line is built in a buffer and written with a
 * single write so lines never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static enum log_level min_level = LOG_INFO;
/* Registered secrets: a growing array, no cap (a config with 500 carts has 500+ tokens). */
static char **secrets;
static size_t nsecrets, capsecrets;
static const char redact_mark[] = "[redacted]";

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level) { min_level = level; }

int log_enabled(enum log_level level) { return level >= min_level; }

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_add_secret(const char *value)
{
    if (!value || strlen(value) < LOG_SECRET_MIN) return 0;
    for (size_t i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], value) == 0) return 0;
    if (nsecrets == capsecrets) {
        size_t cap = capsecrets ? capsecrets * 2 : 16;
        char **ns = realloc(secrets, cap * sizeof *ns);
        if (!ns) return -1;
        secrets = ns;
        capsecrets = cap;
    }
    char *copy = strdup(value);
    if (!copy) return -1;
    secrets[nsecrets++] = copy;
    return 0;
}

void log_clear_secrets(void)
{
    for (size_t i = 0; i < nsecrets; i++) free(secrets[i]);
    free(secrets);
    secrets = NULL;
    nsecrets = capsecrets = 0;
}

size_t log_secret_count(void) { return nsecrets; }

/* A growing line buffer; on allocation failure the line is cut, never lost entirely. */
struct line {
    char *p;
    size_t len, cap;
};

static void line_add(struct line *l, const char *s, size_t n)
{
    if (l->len + n + 2 > l->cap) {
        size_t cap = (l->len + n + 2) * 2;
        char *np = realloc(l->p, cap);
        if (!np) return;
        l->p = np;
        l->cap = cap;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void line_adds(struct line *l, const char *s) { line_add(l, s, strlen(s)); }

/* logfmt value: bare when safe, else quoted with \" \\ \n escaped. */
static void line_value(struct line *l, const char *v)
{
    int quote = (*v == '\0');
    for (const char *c = v; *c; c++)
        if (*c == ' ' || *c == '"' || *c == '=' || *c == '\\' || (unsigned char)*c < 0x20) quote = 1;
    if (!quote) {
        line_adds(l, v);
        return;
    }
    line_add(l, "\"", 1);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\') {
            line_add(l, "\\", 1);
            line_add(l, c, 1);
        } else if (*c == '\n') {
            line_add(l, "\\n", 2);
        } else if ((unsigned char)*c < 0x20) {
            line_add(l, " ", 1);
        } else {
            line_add(l, c, 1);
        }
    }
    line_add(l, "\"", 1);
}

/* Does [s, s+len) contain a registered secret? */
static int has_secret(const char *s, size_t len)
{
    for (size_t i = 0; i < nsecrets; i++)
        if (memmem(s, len, secrets[i], strlen(secrets[i]))) return 1;
    return 0;
}

int log_redact(const char *s, size_t len, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!nsecrets || !has_secret(s, len)) return 0;
    struct line cur = {0};
    line_add(&cur, s, len);
    for (size_t i = 0; i < nsecrets && cur.p; i++) {
        size_t sl = strlen(secrets[i]);
        if (!memmem(cur.p, cur.len, secrets[i], sl)) continue;
        struct line next = {0};
        size_t pos = 0;
        char *hit;
        while ((hit = memmem(cur.p + pos, cur.len - pos, secrets[i], sl))) {
            line_add(&next, cur.p + pos, (size_t)(hit - (cur.p + pos)));
            line_add(&next, redact_mark, sizeof redact_mark - 1);
            pos = (size_t)(hit - cur.p) + sl;
        }
        line_add(&next, cur.p + pos, cur.len - pos);
        free(cur.p);
        cur = next;
    }
    /* line_add cuts on allocation failure: a cut copy could still hold part of a secret */
    if (!cur.p || has_secret(cur.p, cur.len)) {
        free(cur.p);
        return -1;
    }
    cur.p[cur.len] = '\0'; /* line_add keeps 2 spare bytes */
    *out = cur.p;
    *outlen = cur.len;
    return 1;
}

/* A logfmt value with registered secrets redacted first: escaping would hide a secret that
 * holds '"', '\\' or a space from the search. */
static void line_secret_value(struct line *l, const char *v)
{
    char *clean;
    size_t n;
    int rc = log_redact(v, strlen(v), &clean, &n);
    line_value(l, rc == 0 ? v : rc > 0 ? clean : redact_mark);
    free(clean);
}

void log_write(enum log_level level, const char *msg, const char *const *kv)
{
    if (level < min_level) return;
    struct line l = {0};
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    line_adds(&l, "ts=");
    line_adds(&l, ts);
    line_adds(&l, " level=");
    line_adds(&l, level_names[level]);
    line_adds(&l, " msg=");
    line_secret_value(&l, msg ? msg : "");
    for (int i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        line_add(&l, " ", 1);
        line_adds(&l, kv[i]);
        line_add(&l, "=", 1);
        line_secret_value(&l, kv[i + 1]);
    }
    line_add(&l, "\n", 1);
    if (l.p) {
        ssize_t w = write(STDERR_FILENO, l.p, l.len);
        (void)w;
    }
    free(l.p);
}

void log_msgf(enum log_level level, const char *fmt, ...)
{
    if (level < min_level) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_write(level, buf, NULL);
}
