/* log: logfmt lines on stderr (ts=… level=… msg=… k=v…), level filter, secret redaction.
 * Used by every unit; uses nothing but libc. */
#ifndef CW_LOG_H
#define CW_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out); /* 0 ok, -1 unknown */
int log_enabled(enum log_level level);

/* Registers a secret value: it is replaced by "[redacted]" wherever it appears in a line.
 * Values shorter than LOG_SECRET_MIN bytes are ignored (they would redact ordinary words).
 * Returns 0, or -1 when out of memory. */
#define LOG_SECRET_MIN 4
int log_add_secret(const char *value);
void log_clear_secrets(void);
size_t log_secret_count(void);

/* Redacts [s, s+len): returns 0 when it holds no registered secret (*out = NULL); 1 with a
 * malloc'd, NUL-terminated copy in *out (length *outlen) where every secret is replaced by
 * "[redacted]"; -1 when it holds one but memory ran out (print nothing of it). */
int log_redact(const char *s, size_t len, char **out, size_t *outlen);

/* Writes one line. kv is NULL or a NULL-terminated array of key, value pairs. */
void log_write(enum log_level level, const char *msg, const char *const *kv);

void log_msgf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_info(...) log_msgf(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msgf(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msgf(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msgf(LOG_DEBUG, __VA_ARGS__)

#endif
