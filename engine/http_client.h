/* http_client: HTTP requests over libcurl multi, driven by the libevent loop.
 * The only unit that includes curl. Used by lua_api_http.c. */
#ifndef CW_HTTP_CLIENT_H
#define CW_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
typedef struct http_client http_client;
typedef struct http_transfer http_transfer;

typedef struct http_request {
    const char *method;         /* "GET" when NULL */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* copied; may be NULL */
    size_t body_len;
    long timeout_ms;            /* whole transfer; 0 = 30 s */
    const char *origin;         /* when set, the transfer starts only if url's origin (as
                                 * http_url_origin gives it) is this one */
} http_request;

/* Called once per transfer, from the loop (never from inside a curl callback). */
typedef void (*http_done_fn)(http_transfer *x, void *ud);

typedef struct http_client_options {
    long max_host_connections; /* 0 = 64 */
    size_t max_body;           /* 0 = 256 MiB */
} http_client_options;

http_client *http_client_new(struct event_base *base, const http_client_options *opt);
void http_client_free(http_client *c); /* cancels what is still running, without callbacks */

/* Starts a transfer; returns NULL and fills err when it cannot start. */
http_transfer *http_client_start(http_client *c, const http_request *req, http_done_fn done,
                                 void *ud, char *err, size_t errlen);
/* Stops a transfer before its callback ran, or frees one whose callback ran. */
void http_transfer_free(http_transfer *x);

/* After done: status is the HTTP status, or 0 on a transport failure with error set to a
 * token ("refused", "timeout", "dns", "tls", "too large") plus curl's message. */
long http_transfer_status(const http_transfer *x);
const char *http_transfer_error(const http_transfer *x);
const char *http_transfer_body(const http_transfer *x, size_t *len);
/* Response headers of the final response; names as received. Returns count. */
size_t http_transfer_header_count(const http_transfer *x);
void http_transfer_header(const http_transfer *x, size_t i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen);

/* The origin "scheme://host:port" of url (resolved against base when base is not NULL), as
 * libcurl parses it for a transfer: host lower-cased, default port filled in, userinfo, path
 * and query left out. Returns a malloc'd string and, when path is not NULL, a malloc'd *path
 * (no query); or NULL with err (which never quotes the URL). */
char *http_url_origin(const char *url, const char *base, char **path, char *err, size_t errlen);

const char *http_client_version(void);

#endif
