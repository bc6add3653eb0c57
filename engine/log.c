/* log: logfmt lines on stderr with level filter and redaction of registered secrets.
 * One line is built in a buffer and written with a single write so lines never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#define MAX_SECRETS 64

static enum log_level min_level = LOG_INFO;
static char *secrets[MAX_SECRETS];
static int nsecrets;

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

void log_add_secret(const char *value)
{
    if (!value || strlen(value) < 4 || nsecrets == MAX_SECRETS) return;
    for (int i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], value) == 0) return;
    secrets[nsecrets++] = strdup(value);
}

void log_clear_secrets(void)
{
    for (int i = 0; i < nsecrets; i++) free(secrets[i]);
    nsecrets = 0;
}

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

/* Rebuilds the line with every registered secret replaced by a marker. */
static void redact(struct line *l)
{
    static const char mark[] = "[redacted]";
    for (int i = 0; i < nsecrets && l->p; i++) {
        size_t sl = strlen(secrets[i]);
        if (!memmem(l->p, l->len, secrets[i], sl)) continue;
        struct line out = {0};
        size_t pos = 0;
        char *hit;
        while ((hit = memmem(l->p + pos, l->len - pos, secrets[i], sl))) {
            line_add(&out, l->p + pos, (size_t)(hit - (l->p + pos)));
            line_add(&out, mark, sizeof mark - 1);
            pos = (size_t)(hit - l->p) + sl;
        }
        line_add(&out, l->p + pos, l->len - pos);
        free(l->p);
        *l = out;
    }
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
    line_value(&l, msg ? msg : "");
    for (int i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        line_add(&l, " ", 1);
        line_adds(&l, kv[i]);
        line_add(&l, "=", 1);
        line_value(&l, kv[i + 1]);
    }
    redact(&l);
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
