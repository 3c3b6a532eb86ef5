/*  nd_http - many HTTP requests at once, over reused connections; see
    nd_http.h.

    libcurl keeps open connections in a multi handle's cache. A pool of
    multi handles, each used by one thread at a time, gives every worker
    thread warm connections without a shared, locked cache.              */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>
#include "nd.h"
#include "nd_http.h"

#define s_POOL_MAX 64
#define s_RESPONSE_MAX 65536    //  more of an error page is never needed

struct _nd_http_t {
    int64_t timeout_ms;
    long per_host;
    char *ca_file;                      //  or NULL: the system's trust store
    pthread_mutex_t lock;
    CURLM *pool [s_POOL_MAX];
    size_t pooled;
};

typedef struct {
    nd_http_request_t *request;
    struct curl_slist *headers;
    size_t capacity;
    int64_t started;
} s_transfer_t;

nd_http_t *nd_http_new (int64_t timeout_ms, long per_host, const char *ca_file)
{
    if (curl_global_init (CURL_GLOBAL_DEFAULT))
        return NULL;
    nd_http_t *self = (nd_http_t *) calloc (1, sizeof *self);
    assert (self);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    self->per_host = per_host > 0 ? per_host : 8;
    self->ca_file = ca_file ? strdup (ca_file) : NULL;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

nd_http_t *nd_http_configured (nd_stage_t *stage)
{
    int64_t timeout, per_host;
    const char *ca_file = nd_stage_option (stage, "tls-ca", NULL);
    if (nd_stage_option_duration (stage, "timeout", "30s", &timeout)
    ||  nd_stage_option_int (stage, "per-host", "8", &per_host))
        return NULL;
    if (per_host < 1 || per_host > 256) {
        nd_stage_config_error (stage, "per-host", "between 1 and 256");
        return NULL;
    }
    //  Found out at start, not at the first send hours later
    if (ca_file && access (ca_file, R_OK)) {
        nd_stage_config_error (stage, "tls-ca", "cannot read the CA certificates file");
        return NULL;
    }
    return nd_http_new (timeout, (long) per_host, ca_file);
}

void nd_http_destroy (nd_http_t **self_p)
{
    nd_http_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->pooled; i++)
        curl_multi_cleanup (self->pool [i]);
    pthread_mutex_destroy (&self->lock);
    free (self->ca_file);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

static CURLM *s_multi_take (nd_http_t *self)
{
    pthread_mutex_lock (&self->lock);
    CURLM *multi = self->pooled ? self->pool [--self->pooled] : NULL;
    pthread_mutex_unlock (&self->lock);
    if (!multi) {
        multi = curl_multi_init ();
        assert (multi);
        curl_multi_setopt (multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt (multi, CURLMOPT_MAX_HOST_CONNECTIONS, self->per_host);
        curl_multi_setopt (multi, CURLMOPT_MAXCONNECTS, self->per_host * 16);
    }
    return multi;
}

static void s_multi_give (nd_http_t *self, CURLM *multi)
{
    pthread_mutex_lock (&self->lock);
    if (self->pooled < s_POOL_MAX) {
        self->pool [self->pooled++] = multi;
        multi = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    if (multi)
        curl_multi_cleanup (multi);
}

/* ----------------------------------------------------------- callbacks -- */

static size_t s_on_body (char *data, size_t size, size_t count, void *arg)
{
    s_transfer_t *transfer = (s_transfer_t *) arg;
    nd_http_request_t *request = transfer->request;
    size_t bytes = size * count;
    size_t keep = request->response_size + bytes > s_RESPONSE_MAX
                ? s_RESPONSE_MAX - request->response_size : bytes;
    if (request->response_size + keep + 1 > transfer->capacity) {
        transfer->capacity = request->response_size + keep + 1 + 1024;
        request->response = (char *) realloc (request->response, transfer->capacity);
        assert (request->response);
    }
    memcpy (request->response + request->response_size, data, keep);
    request->response_size += keep;
    request->response [request->response_size] = 0;
    return bytes;
}

static size_t s_on_header (char *data, size_t size, size_t count, void *arg)
{
    s_transfer_t *transfer = (s_transfer_t *) arg;
    size_t bytes = size * count;
    const char *name = "retry-after:";
    if (bytes > strlen (name) && strncasecmp (data, name, strlen (name)) == 0) {
        char value [128];
        snprintf (value, sizeof value, "%.*s", (int) (bytes - strlen (name)), data + strlen (name));
        value [strcspn (value, "\r\n")] = 0;
        int64_t wait = nd_http_retry_after (value, nd_wall_ms ());
        transfer->request->retry_after_ms = wait > 0 ? wait : 0;
    }
    return bytes;
}

/* ------------------------------------------------------------- perform -- */

static CURL *s_easy (nd_http_t *self, s_transfer_t *transfer)
{
    nd_http_request_t *request = transfer->request;
    CURL *easy = curl_easy_init ();
    assert (easy);
    //  Expect: 100-continue would cost a round trip per request
    transfer->headers = curl_slist_append (NULL, "Expect:");
    for (size_t i = 0; i < ND_HTTP_HEADERS_MAX && request->headers [i]; i++)
        transfer->headers = curl_slist_append (transfer->headers, request->headers [i]);
    curl_easy_setopt (easy, CURLOPT_URL, request->url);
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, transfer->headers);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) (self->timeout_ms < 10000
                                                              ? self->timeout_ms : 10000));
    curl_easy_setopt (easy, CURLOPT_PIPEWAIT, 1L);
    //  HTTP/2 where ALPN agrees on it; cleartext http stays on HTTP/1.1
    curl_easy_setopt (easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
    if (self->ca_file)
        curl_easy_setopt (easy, CURLOPT_CAINFO, self->ca_file);
    curl_easy_setopt (easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt (easy, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (easy, CURLOPT_HEADERDATA, transfer);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, transfer);
    if (request->userpwd) {
        curl_easy_setopt (easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt (easy, CURLOPT_USERPWD, request->userpwd);
    }
    const char *method = request->method ? request->method : "POST";
    if (request->body || strcmp (method, "POST") == 0) {
        curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) request->body_size);
        curl_easy_setopt (easy, CURLOPT_POSTFIELDS, request->body ? request->body : "");
    }
    if (strcmp (method, "POST") && strcmp (method, "GET"))
        curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, method);
    return easy;
}

static void s_finished (CURLM *multi, CURLMsg *message)
{
    s_transfer_t *transfer = NULL;
    curl_easy_getinfo (message->easy_handle, CURLINFO_PRIVATE, (char **) &transfer);
    nd_http_request_t *request = transfer->request;
    if (message->data.result == CURLE_OK)
        curl_easy_getinfo (message->easy_handle, CURLINFO_RESPONSE_CODE, &request->status);
    else {
        request->status = 0;
        snprintf (request->error, sizeof request->error, "%s",
                  curl_easy_strerror (message->data.result));
    }
    curl_multi_remove_handle (multi, message->easy_handle);
    curl_easy_cleanup (message->easy_handle);
    curl_slist_free_all (transfer->headers);
    transfer->headers = NULL;
}

void nd_http_perform (nd_http_t *self, nd_http_request_t *requests, size_t count)
{
    if (count == 0)
        return;
    s_transfer_t *transfers = (s_transfer_t *) calloc (count, sizeof *transfers);
    assert (transfers);
    CURLM *multi = s_multi_take (self);
    for (size_t i = 0; i < count; i++) {
        nd_http_request_reset (&requests [i]);
        transfers [i].request = &requests [i];
        curl_multi_add_handle (multi, s_easy (self, &transfers [i]));
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform (multi, &running) != CURLM_OK)
            break;
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read (multi, &left)))
            if (message->msg == CURLMSG_DONE)
                s_finished (multi, message);
        if (running)
            curl_multi_poll (multi, NULL, 0, 1000, NULL);
    }
    //  Only after a multi error can a transfer still be attached
    for (size_t i = 0; i < count; i++)
        if (transfers [i].headers) {
            snprintf (requests [i].error, sizeof requests [i].error, "transfer abandoned");
            curl_slist_free_all (transfers [i].headers);
        }
    s_multi_give (self, multi);
    free (transfers);
}

int nd_http_header (nd_http_request_t *request, const char *line)
{
    for (size_t i = 0; i < ND_HTTP_HEADERS_MAX; i++)
        if (!request->headers [i]) {
            request->headers [i] = line;
            request->headers [i + 1] = NULL;
            return 0;
        }
    return -1;
}

void nd_http_request_reset (nd_http_request_t *request)
{
    free (request->response);
    request->response = NULL;
    request->response_size = 0;
    request->status = 0;
    request->retry_after_ms = 0;
    request->error [0] = 0;
}

/* ------------------------------------------------------------- helpers -- */

int64_t nd_http_retry_after (const char *value, int64_t now_ms)
{
    while (value && isspace ((unsigned char) *value))
        value++;
    if (!value || !*value)
        return -1;
    if (isdigit ((unsigned char) *value)) {
        char *end;
        long long seconds = strtoll (value, &end, 10);
        while (isspace ((unsigned char) *end))
            end++;
        return *end || seconds < 0 || seconds > 86400LL * 365 ? -1 : seconds * 1000;
    }
    time_t when = curl_getdate (value, NULL);
    if (when == -1)
        return -1;
    int64_t wait = (int64_t) when * 1000 - now_ms;
    return wait > 0 ? wait : 0;
}

int nd_http_origin (const char *url, char *out, size_t size)
{
    const char *scheme_end = url ? strstr (url, "://") : NULL;
    if (!scheme_end || scheme_end == url)
        return -1;
    const char *host = scheme_end + 3;
    size_t length = strcspn (host, "/?#");
    if (length == 0)
        return -1;
    const char *at = memchr (host, '@', length);     //  userinfo is not part of it
    if (at) {
        length -= (size_t) (at + 1 - host);
        host = at + 1;
    }
    size_t scheme = (size_t) (scheme_end - url);
    //  RFC 6454: the default port is not written
    const char *colon = memrchr (host, ':', length);
    const char *bracket = memrchr (host, ']', length);
    if (colon && (!bracket || colon > bracket)) {
        const char *port = colon + 1;
        size_t port_length = length - (size_t) (port - host);
        if ((scheme == 5 && strncasecmp (url, "https", 5) == 0 && port_length == 3
             && memcmp (port, "443", 3) == 0)
        ||  (scheme == 4 && strncasecmp (url, "http", 4) == 0 && port_length == 2
             && memcmp (port, "80", 2) == 0))
            length = (size_t) (colon - host);
    }
    if (scheme + 3 + length + 1 > size)
        return -1;
    for (size_t i = 0; i < scheme; i++)
        out [i] = (char) tolower ((unsigned char) url [i]);
    memcpy (out + scheme, "://", 3);
    for (size_t i = 0; i < length; i++)
        out [scheme + 3 + i] = (char) tolower ((unsigned char) host [i]);
    out [scheme + 3 + length] = 0;
    return 0;
}

void nd_http_test (bool verbose)
{
    if (verbose)
        printf (" * nd_http: ");
    char origin [128];
    assert (nd_http_origin ("https://fcm.googleapis.com/fcm/send/abc:def", origin, sizeof origin) == 0
            && strcmp (origin, "https://fcm.googleapis.com") == 0);
    assert (nd_http_origin ("HTTPS://Updates.Push.Services.Mozilla.com:443/wpush/v2/x", origin,
                            sizeof origin) == 0
            && strcmp (origin, "https://updates.push.services.mozilla.com") == 0);
    assert (nd_http_origin ("http://127.0.0.1:8123/push/1", origin, sizeof origin) == 0
            && strcmp (origin, "http://127.0.0.1:8123") == 0);
    assert (nd_http_origin ("http://[::1]:80/x", origin, sizeof origin) == 0
            && strcmp (origin, "http://[::1]") == 0);
    assert (nd_http_origin ("no-scheme/x", origin, sizeof origin) == -1);
    assert (nd_http_origin ("https:///x", origin, sizeof origin) == -1);
    assert (nd_http_origin ("https://a.very.long.host.example/x", origin, 12) == -1);
    assert (nd_http_retry_after ("120", 0) == 120000);
    assert (nd_http_retry_after (" 5 ", 0) == 5000);
    assert (nd_http_retry_after ("soon", 0) == -1);
    assert (nd_http_retry_after ("-1", 0) == -1);
    //  Sun, 06 Nov 1994 08:49:37 GMT = 784111777
    assert (nd_http_retry_after ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000LL - 3000) == 3000);
    assert (nd_http_retry_after ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000LL + 3000) == 0);
    nd_http_request_t request = { .method = "POST" };
    for (int i = 0; i < ND_HTTP_HEADERS_MAX; i++)
        assert (nd_http_header (&request, "X: y") == 0);
    assert (nd_http_header (&request, "X: y") == -1);
    if (verbose)
        printf ("OK\n");
}
