/* log: logfmt lines on stderr (ts=… level=… msg=… k=v…), level filter, secret redaction.
 * Used by every unit; uses nothing but libc. */
#ifndef CW_LOG_H
#define CW_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out); /* 0 ok, -1 unknown */
int log_enabled(enum log_level level);

/* Registers a secret value: it is replaced by "[redacted]" wherever it appears in a line.
 * Values shorter than 4 bytes are ignored (they would redact ordinary words). */
void log_add_secret(const char *value);
void log_clear_secrets(void);

/* Writes one line. kv is NULL or a NULL-terminated array of key, value pairs. */
void log_write(enum log_level level, const char *msg, const char *const *kv);

void log_msgf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_info(...) log_msgf(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msgf(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msgf(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msgf(LOG_DEBUG, __VA_ARGS__)

#endif
