/* http_server: an HTTP/1.1 server on evhttp. The only unit that includes evhttp.
 * Requests are handed out as http_server_req and answered later (possibly after other
 * loop turns); closing the server orphans unanswered requests safely. Used by lua_api_httpd.c. */
#ifndef CW_HTTP_SERVER_H
#define CW_HTTP_SERVER_H

#include <stddef.h>

struct event_base;
typedef struct http_server http_server;
typedef struct http_server_req http_server_req;

typedef void (*http_server_cb)(http_server_req *req, void *ud);

/* max_body: the largest request body read (more is answered 413 by evhttp, unread); 0 = 64 MiB.
 * Headers are capped at 64 KiB (431/400 beyond). */
http_server *http_server_listen(struct event_base *base, const char *host, int port, size_t max_body,
                                http_server_cb cb, void *ud, char *err, size_t errlen);
int http_server_port(const http_server *s);
void http_server_free(http_server *s);

const char *http_req_method(const http_server_req *r);
const char *http_req_uri(const http_server_req *r);   /* path?query as received */
const char *http_req_body(http_server_req *r, size_t *len);
const char *http_req_peer(const http_server_req *r);
/* Iterates request headers: returns 0 at the end. */
int http_req_header(const http_server_req *r, size_t i, const char **name, const char **value);
/* Sends the reply and frees req. headers: NULL-terminated name, value pairs. */
void http_req_reply(http_server_req *r, int status, const char *const *headers, const char *body,
                    size_t len);

#endif
