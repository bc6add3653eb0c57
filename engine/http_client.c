/* http_client: libcurl multi driven by libevent (the hiperfifo pattern): curl tells us which
 * sockets to watch and when its timer is due; events call curl_multi_socket_action; finished
 * transfers are drained with curl_multi_info_read after every action.
 * Uses curl, libevent. */
#include "http_client.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sock {
    curl_socket_t fd;
    struct event *ev;
    http_client *c;
    struct sock *prev, *next;
};

struct http_client {
    CURLM *multi;
    struct event_base *base;
    struct event *timer;
    struct sock *socks;
    size_t max_body;
    int running;
};

struct header {
    char *name, *value;
    size_t nlen, vlen;
};

struct http_transfer {
    CURL *easy;
    http_client *c;
    CURLU *url; /* the parsed URL curl uses when the request names an origin, else NULL */
    struct curl_slist *req_headers;
    char *body;
    size_t body_len, body_cap;
    struct header *headers;
    size_t nheaders, capheaders;
    long status;
    int finished, too_large;
    char errbuf[CURL_ERROR_SIZE];
    char error[CURL_ERROR_SIZE + 32];
    http_done_fn done;
    void *ud;
};

static int curl_ready;

/* ---- response collection ----------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_transfer *x = ud;
    size_t n = size * nmemb;
    if (x->body_len + n > x->c->max_body) {
        x->too_large = 1;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (x->body_len + n + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 16384;
        curl_off_t announced = -1;
        /* a page of orders is megabytes: take the announced length at once, not by doubling
         * (each doubling copies what came so far); never more than the cap allows */
        if (!x->body_cap && curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced) == CURLE_OK &&
            announced > 0 && (size_t)announced < x->c->max_body)
            cap = (size_t)announced + 1;
        while (cap < x->body_len + n + 1) cap *= 2;
        char *nb = realloc(x->body, cap);
        if (!nb) return 0;
        x->body = nb;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, ptr, n);
    x->body_len += n;
    x->body[x->body_len] = '\0';
    return n;
}

static void headers_clear(http_transfer *x)
{
    for (size_t i = 0; i < x->nheaders; i++) {
        free(x->headers[i].name);
        free(x->headers[i].value);
    }
    x->nheaders = 0;
}

static char *dup_trimmed(const char *s, size_t n, size_t *outlen)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) n--;
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    *outlen = n;
    return p;
}

/* Keeps only the final response's headers: a new status line (after 100 Continue or a
 * redirect) starts the list again. */
static size_t header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
    http_transfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        headers_clear(x);
        return n;
    }
    char *colon = memchr(line, ':', n);
    if (!colon) return n;
    if (x->nheaders == x->capheaders) {
        size_t cap = x->capheaders ? x->capheaders * 2 : 16;
        struct header *nh = realloc(x->headers, cap * sizeof *nh);
        if (!nh) return 0;
        x->headers = nh;
        x->capheaders = cap;
    }
    struct header *h = &x->headers[x->nheaders];
    h->name = dup_trimmed(line, (size_t)(colon - line), &h->nlen);
    h->value = dup_trimmed(colon + 1, n - (size_t)(colon - line) - 1, &h->vlen);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return 0;
    }
    x->nheaders++;
    return n;
}

/* ---- finishing ------------------------------------------------------------------------- */

static const char *error_token(CURLcode rc, int too_large)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: return "refused";
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return "tls";
    case CURLE_WRITE_ERROR: return too_large ? "too large" : "transport";
    default: return "transport";
    }
}

static void finish(http_transfer *x, CURLcode rc)
{
    x->finished = 1;
    curl_multi_remove_handle(x->c->multi, x->easy);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    } else {
        x->status = 0;
        snprintf(x->error, sizeof x->error, "%s: %s", error_token(rc, x->too_large),
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    }
    x->done(x, x->ud);
}

static void drain(http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        http_transfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x) finish(x, msg->data.result);
    }
}

/* ---- loop glue ---------------------------------------------------------------------------- */

static void socket_action(http_client *c, curl_socket_t fd, int flags)
{
    CURLMcode mc = curl_multi_socket_action(c->multi, fd, flags, &c->running);
    if (mc != CURLM_OK) fprintf(stderr, "curl_multi_socket_action: %s\n", curl_multi_strerror(mc));
    drain(c);
}

static void event_cb(evutil_socket_t fd, short kind, void *arg)
{
    http_client *c = arg;
    int flags = ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    socket_action(c, fd, flags);
}

static void timer_cb(evutil_socket_t fd, short kind, void *arg)
{
    (void)fd;
    (void)kind;
    socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* curl's timer callback: -1 deletes the timer, 0 means "as soon as possible". */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *ud)
{
    (void)multi;
    http_client *c = ud;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

static void sock_free(struct sock *s)
{
    http_client *c = s->c;
    if (s->prev) s->prev->next = s->next; else c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    event_free(s->ev);
    free(s);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    (void)e;
    http_client *c = ud;
    struct sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) sock_free(s);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        s->fd = fd;
        s->c = c;
        s->next = c->socks;
        if (c->socks) c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    } else {
        event_free(s->ev);
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    s->ev = event_new(c->base, fd, kind, event_cb, c);
    event_add(s->ev, NULL);
    return 0;
}

/* ---- URLs ------------------------------------------------------------------------------- */

/* Parses url (resolved against base when base is not NULL) with libcurl's URL API, the parser
 * a transfer handed the result connects with: a scheme is required and never guessed. */
static CURLU *url_parse(const char *url, const char *base, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    CURLUcode rc = CURLUE_OUT_OF_MEMORY;
    if (!u) goto fail;
    if (base && (rc = curl_url_set(u, CURLUPART_URL, base, 0)) != CURLUE_OK) goto fail;
    if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) goto fail;
    return u;
fail:
    /* the URL itself is never echoed: its query may carry a key */
    snprintf(err, errlen, "not a URL (%s)", curl_url_strerror(rc));
    curl_url_cleanup(u);
    return NULL;
}

/* "scheme://host:port" of a parsed URL: host in lower case (an IPv6 literal in brackets, with
 * its zone), the scheme's default port filled in; no user, path or query. Returns a malloc'd
 * string, or NULL with err. */
static char *url_origin(CURLU *u, char *err, size_t errlen)
{
    char *scheme = NULL, *host = NULL, *zone = NULL, *port = NULL, *out = NULL;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "not a URL (no scheme, host or port)");
        goto done;
    }
    curl_url_get(u, CURLUPART_ZONEID, &zone, 0); /* absent for most hosts */
    size_t n = strlen(scheme) + strlen(host) + strlen(port) + (zone ? strlen(zone) + 3 : 0) + 5;
    if (!(out = malloc(n))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* the zone goes inside the brackets, percent-encoded as in a URL: [fe80::1%25eth0] */
    size_t hl = strlen(host);
    if (zone && hl >= 2 && host[hl - 1] == ']')
        snprintf(out, n, "%s://%.*s%%25%s]:%s", scheme, (int)(hl - 1), host, zone, port);
    else
        snprintf(out, n, "%s://%s:%s", scheme, host, port);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(zone);
    curl_free(port);
    return out;
}

char *http_url_origin(const char *url, const char *base, char **path, char *err, size_t errlen)
{
    char *origin = NULL, *p = NULL;
    CURLU *u = url_parse(url, base, err, errlen);
    if (!u) goto done;
    if (!(origin = url_origin(u, err, errlen))) goto done;
    if (path) {
        if (curl_url_get(u, CURLUPART_PATH, &p, 0) != CURLUE_OK || !(*path = strdup(p))) {
            snprintf(err, errlen, "out of memory");
            free(origin);
            origin = NULL;
        }
    }
done:
    curl_free(p);
    curl_url_cleanup(u);
    return origin;
}

/* Hands curl the URL parsed here when the request names its origin, so the origin checked is
 * the one curl connects to (a userinfo trick, case, default ports: one parser decides). */
static int set_url(http_transfer *x, const http_request *req, char *err, size_t errlen)
{
    if (!req->origin) {
        curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
        return 0;
    }
    char why[128];
    char *origin = NULL;
    int rc = -1;
    if (!(x->url = url_parse(req->url, NULL, why, sizeof why)) || !(origin = url_origin(x->url, why, sizeof why))) {
        snprintf(err, errlen, "origin: %s, so it was not sent (only %s is allowed)", why, req->origin);
        goto done;
    }
    if (strcmp(origin, req->origin) != 0) {
        snprintf(err, errlen, "origin: refused to send a request to %s (only %s is allowed)", origin, req->origin);
        goto done;
    }
    curl_easy_setopt(x->easy, CURLOPT_CURLU, x->url);
    rc = 0;
done:
    free(origin);
    return rc;
}

/* ---- public ------------------------------------------------------------------------------ */

http_client *http_client_new(struct event_base *base, const http_client_options *opt)
{
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        curl_ready = 1;
    }
    http_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->base = base;
    c->max_body = opt && opt->max_body ? opt->max_body : (size_t)256 << 20;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, timer_cb, c);
    if (!c->multi || !c->timer) {
        http_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      opt && opt->max_host_connections ? opt->max_host_connections : 64L);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
    return c;
}

void http_client_free(http_client *c)
{
    if (!c) return;
    if (c->multi) curl_multi_cleanup(c->multi);
    while (c->socks) sock_free(c->socks);
    if (c->timer) event_free(c->timer);
    free(c);
}

static int set_method(CURL *e, const http_request *req)
{
    const char *m = req->method ? req->method : "GET";
    if (req->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body);
        if (strcmp(m, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
    return 0;
}

http_transfer *http_client_start(http_client *c, const http_request *req, http_done_fn done,
                                 void *ud, char *err, size_t errlen)
{
    http_transfer *x = calloc(1, sizeof *x);
    if (!x || !(x->easy = curl_easy_init())) {
        snprintf(err, errlen, "out of memory");
        free(x);
        return NULL;
    }
    x->c = c;
    x->done = done;
    x->ud = ud;
    CURL *e = x->easy;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    if (set_url(x, req, err, errlen) != 0) {
        x->finished = 1; /* never added to the multi handle */
        http_transfer_free(x);
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cartwright/" CW_VERSION);
    set_method(e, req);
    /* An empty Expect header stops curl waiting for 100 Continue before large bodies. */
    x->req_headers = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(x->req_headers, req->headers[i]);
        if (n) x->req_headers = n;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    CURLMcode mc = curl_multi_add_handle(c->multi, e);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "transport: %s", curl_multi_strerror(mc));
        x->finished = 1;
        http_transfer_free(x);
        return NULL;
    }
    /* Start now rather than on the next loop turn: on a kept-alive connection the request is
     * on the wire before the caller goes back to work (a connector fetching the next page
     * while it stores this one). Finished transfers are only queued for their tasks here. */
    socket_action(c, CURL_SOCKET_TIMEOUT, 0);
    return x;
}

void http_transfer_free(http_transfer *x)
{
    if (!x) return;
    if (!x->finished) curl_multi_remove_handle(x->c->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_url_cleanup(x->url); /* after the easy handle, which may use it to the end */
    curl_slist_free_all(x->req_headers);
    headers_clear(x);
    free(x->headers);
    free(x->body);
    free(x);
}

long http_transfer_status(const http_transfer *x) { return x->status; }
const char *http_transfer_error(const http_transfer *x) { return x->error; }

const char *http_transfer_body(const http_transfer *x, size_t *len)
{
    *len = x->body_len;
    return x->body ? x->body : "";
}

size_t http_transfer_header_count(const http_transfer *x) { return x->nheaders; }

void http_transfer_header(const http_transfer *x, size_t i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen)
{
    *name = x->headers[i].name;
    *nlen = x->headers[i].nlen;
    *value = x->headers[i].value;
    *vlen = x->headers[i].vlen;
}

const char *http_client_version(void) { return curl_version_info(CURLVERSION_NOW)->version; }
