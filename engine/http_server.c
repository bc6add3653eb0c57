/* http_server: evhttp wrapper. Keeps a list of requests not yet answered so that freeing the
 * server (which frees evhttp's requests) leaves the handlers a dead request to drop, not a
 * dangling pointer. Uses libevent (evhttp). */
#include "http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define MAX_HEADERS ((ev_ssize_t)64 << 10)

struct http_server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    http_server_cb cb;
    void *ud;
    http_server_req *pending;
};

struct http_server_req {
    struct evhttp_request *req; /* NULL once the server is gone */
    http_server *s;
    char *body;
    char peer[64];
    http_server_req *prev, *next;
};

static void unlink_req(http_server_req *r)
{
    if (!r->s) return;
    if (r->prev) r->prev->next = r->next; else r->s->pending = r->next;
    if (r->next) r->next->prev = r->prev;
    r->s = NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    http_server *s = arg;
    http_server_req *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    r->req = req;
    r->s = s;
    r->next = s->pending;
    if (s->pending) s->pending->prev = r;
    s->pending = r;
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    snprintf(r->peer, sizeof r->peer, "%s:%u", addr ? addr : "?", port);
    s->cb(r, s->ud);
}

http_server *http_server_listen(struct event_base *base, const char *host, int port, size_t max_body,
                                http_server_cb cb, void *ud, char *err, size_t errlen)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s || !(s->http = evhttp_new(base))) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->cb = cb;
    s->ud = ud;
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s->http, on_request, s);
    /* evhttp reads a whole body before the handler runs: these caps keep a client from making
     * it buffer more than that (a longer body is refused as it arrives, never read to the end) */
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(max_body ? max_body : DEFAULT_MAX_BODY));
    evhttp_set_max_headers_size(s->http, MAX_HEADERS);
    s->sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!s->sock) {
        snprintf(err, errlen, "cannot listen on %s:%d", host, port);
        evhttp_free(s->http);
        free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    /* Accepted sockets inherit TCP_NODELAY on Linux. Without it, evhttp's separate header and
     * body writes meet the client's delayed ACK and every large reply stalls ~40 ms. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return s;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_free(http_server *s)
{
    if (!s) return;
    for (http_server_req *r = s->pending; r; r = r->next) {
        r->req = NULL;
        r->s = NULL;
    }
    evhttp_free(s->http);
    free(s);
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

const char *http_req_method(const http_server_req *r)
{
    return r->req ? method_name(evhttp_request_get_command(r->req)) : "";
}

const char *http_req_uri(const http_server_req *r) { return r->req ? evhttp_request_get_uri(r->req) : ""; }
const char *http_req_peer(const http_server_req *r) { return r->peer; }

const char *http_req_body(http_server_req *r, size_t *len)
{
    *len = 0;
    if (!r->req) return "";
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    *len = evbuffer_get_length(in);
    return (const char *)evbuffer_pullup(in, -1);
}

int http_req_header(const http_server_req *r, size_t i, const char **name, const char **value)
{
    if (!r->req) return 0;
    struct evkeyval *kv;
    size_t k = 0;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(r->req), next)
    {
        if (k++ == i) {
            *name = kv->key;
            *value = kv->value;
            return 1;
        }
    }
    return 0;
}

void http_req_reply(http_server_req *r, int status, const char *const *headers, const char *body,
                    size_t len)
{
    if (r->req) {
        struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
        for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
            evhttp_add_header(out, headers[i], headers[i + 1]);
        struct evbuffer *buf = evbuffer_new();
        if (buf && len) evbuffer_add(buf, body, len);
        evhttp_send_reply(r->req, status, NULL, buf);
        if (buf) evbuffer_free(buf);
    }
    unlink_req(r);
    free(r->body);
    free(r);
}
