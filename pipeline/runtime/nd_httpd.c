/*  nd_httpd - a stage's own HTTP server: the door that takes connections
    within the limits and answers the others 503, and the request side (the
    upload kept up to a limit, JSON answers, the request freed when done).
    See nd_httpd.h.                                                      */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include "nd.h"
#include "nd_listen.h"
#include "nd_httpd.h"

#define FILES_SPARE 256         //  files kept for LMDB, sockets and logs
#define THREAD_STACK (512 * 1024)   //  a handler parses JSON, no more

/* ------------------------------------------------------------ the door */

#define LINGER_MAX 256          //  refused connections drained at once, at most
#define LINGER_MS 2000          //  and for at most this long each
#define ACCEPT_BATCH 64         //  connections taken per wake-up
#define FULL_RETRY_S "2"        //  Retry-After of the 503
#define MHD_SPARE 64            //  libmicrohttpd's own limits, above ours: its
                                //  count of a closing connection lags our notice

typedef struct {
    int fd;
    int64_t until;
} s_linger_t;

struct _nd_httpd_t {
    struct MHD_Daemon *daemon;
    int fd;                     //  the listening socket
    int stop [2];               //  a pipe: the door thread's stop signal
    pthread_t thread;
    bool running;
    unsigned int connections;   //  our limits
    unsigned int per_ip;
    char *full;                 //  the whole 503 answer
    size_t full_size;
    pthread_mutex_t lock;       //  guards the counts
    unsigned int open;          //  connections libmicrohttpd holds
    zhashx_t *by_address;       //  address -> open from it (as a pointer)
    s_linger_t linger [LINGER_MAX];
    size_t lingering;
    MHD_AccessHandlerCallback handle;   //  the stage's, behind s_guard
    void *cls;
};

//  Every connection is an open file: the soft limit (often 1024) would
//  cap them long before memory does.
static unsigned int s_file_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit))
        return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur > UINT_MAX ? UINT_MAX : (unsigned int) limit.rlim_cur;
}

static void s_address_text (const struct sockaddr *address, char *text, size_t size)
{
    snprintf (text, size, "?");
    if (address && address->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) address)->sin_addr, text, (socklen_t) size);
    else
    if (address && address->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) address)->sin6_addr, text, (socklen_t) size);
}

void nd_httpd_client_address (struct MHD_Connection *connection, char *text, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    s_address_text (info ? info->client_addr : NULL, text, size);
}

//  One connection more (or fewer) from address. Taking one: false, and
//  nothing counted, when either limit is reached.
static bool s_count (nd_httpd_t *self, const char *address, int change)
{
    pthread_mutex_lock (&self->lock);
    uintptr_t from = (uintptr_t) zhashx_lookup (self->by_address, address);
    bool room = change < 0 ? from > 0 : self->open < self->connections && from < self->per_ip;
    if (room) {
        self->open += change;
        if (from + change)
            zhashx_update (self->by_address, address, (void *) (from + change));
        else
            zhashx_delete (self->by_address, address);
    }
    pthread_mutex_unlock (&self->lock);
    return room || change < 0;
}

//  The door counts a connection when it hands it over (libmicrohttpd
//  starts it later, on its own thread); it is counted off when
//  libmicrohttpd is done with it. The address is kept with it meanwhile.
static void s_notify (void *cls, struct MHD_Connection *connection, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    nd_httpd_t *self = (nd_httpd_t *) cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        char address [INET6_ADDRSTRLEN];
        nd_httpd_client_address (connection, address, sizeof address);
        *socket_context = strdup (address);
    }
    else
    if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        s_count (self, (char *) *socket_context, -1);
        free (*socket_context);
        *socket_context = NULL;
    }
}

//  Full: the 503 goes out at once, then our side is shut, and what the
//  client still sends is read and dropped for a while before the close,
//  so that the close does not reset the connection before the client has
//  read the answer (Apache's "lingering close").
static void s_turn_away (nd_httpd_t *self, int fd)
{
    int flags = fcntl (fd, F_GETFL);
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
    ssize_t sent = send (fd, self->full, self->full_size, MSG_NOSIGNAL);
    if (sent != (ssize_t) self->full_size || shutdown (fd, SHUT_WR)
    ||  self->lingering == LINGER_MAX) {
        close (fd);
        return;
    }
    self->linger [self->lingering++] = (s_linger_t) { fd, nd_wall_ms () + LINGER_MS };
}

static void s_admit (nd_httpd_t *self, int fd, struct sockaddr_storage *address,
                     socklen_t size)
{
    char text [INET6_ADDRSTRLEN];
    s_address_text ((struct sockaddr *) address, text, sizeof text);
    if (!s_count (self, text, 1))
        s_turn_away (self, fd);
    else                        //  it closes fd itself if it cannot take it
    if (MHD_add_connection (self->daemon, fd, (struct sockaddr *) address, size) != MHD_YES)
        s_count (self, text, -1);
}

static void s_drain_lingering (nd_httpd_t *self, struct pollfd *polled, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->lingering; i++) {
        bool done = self->linger [i].until <= now;
        if (!done && polled [i].revents) {
            char scratch [4096];
            ssize_t got = recv (self->linger [i].fd, scratch, sizeof scratch, 0);
            done = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
        }
        if (done)
            close (self->linger [i].fd);
        else
            self->linger [kept++] = self->linger [i];
    }
    self->lingering = kept;
}

static void *s_door (void *arg)
{
    nd_httpd_t *self = (nd_httpd_t *) arg;
    struct pollfd polled [LINGER_MAX + 2];
    while (true) {
        int64_t now = nd_wall_ms (), wait = -1;
        for (size_t i = 0; i < self->lingering; i++) {
            polled [i] = (struct pollfd) { self->linger [i].fd, POLLIN, 0 };
            int64_t left = self->linger [i].until - now;
            wait = wait < 0 || left < wait ? (left < 0 ? 0 : left) : wait;
        }
        size_t n = self->lingering;
        polled [n] = (struct pollfd) { self->fd, POLLIN, 0 };
        polled [n + 1] = (struct pollfd) { self->stop [0], POLLIN, 0 };
        if (poll (polled, n + 2, (int) wait) < 0 && errno != EINTR)
            break;
        if (polled [n + 1].revents)
            break;
        bool accept_ready = polled [n].revents != 0;
        s_drain_lingering (self, polled, nd_wall_ms ());
        for (int i = 0; accept_ready && i < ACCEPT_BATCH; i++) {
            struct sockaddr_storage address;
            socklen_t size = sizeof address;
            int fd = accept4 (self->fd, (struct sockaddr *) &address, &size, SOCK_CLOEXEC);
            if (fd < 0)
                break;          //  EAGAIN: all taken; EMFILE and the like: next round
            s_admit (self, fd, &address, size);
        }
    }
    for (size_t i = 0; i < self->lingering; i++)
        close (self->linger [i].fd);
    self->lingering = 0;
    return NULL;
}

/* ---------------------------------------------------------- the server */

int nd_httpd_listen (const struct sockaddr_storage *where)
{
    int fd = socket (where->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    socklen_t size = where->ss_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                  : sizeof (struct sockaddr_in);
    //  SO_REUSEADDR: a restart after kill -9 must not wait out TIME_WAIT
    if (fd < 0 || setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)
    ||  bind (fd, (const struct sockaddr *) where, size) || listen (fd, SOMAXCONN)) {
        int error = errno;
        if (fd >= 0)
            close (fd);
        errno = error;
        return -1;
    }
    return fd;
}

int nd_httpd_site (nd_stage_t *stage, const char *default_address, nd_httpd_site_t *site)
{
    int64_t connections, per_ip;
    if (nd_stage_option_int (stage, "max-connections", "4096", &connections)
    ||  nd_stage_option_int (stage, "max-connections-per-ip", "64", &per_ip))
        return -1;
    if (connections < 1 || per_ip < 1)
        return nd_stage_config_error (stage, connections < 1 ? "max-connections"
                                      : "max-connections-per-ip", "must be at least 1");
    site->address = nd_stage_option (stage, "http", default_address);
    socklen_t where_size;
    char reason [200];
    if (nd_listen_parse (site->address, &site->where, &where_size, reason, sizeof reason))
        return nd_stage_config_error (stage, "http", reason);
    site->connections = (unsigned int) connections;
    site->per_ip = (unsigned int) per_ip;
    site->origin = strdup (nd_stage_option (stage, "allow-origin", "*"));
    memcpy (site->headers, (const char *[]) { "Access-Control-Allow-Origin", site->origin,
                                              MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL },
            sizeof site->headers);
    return 0;
}

void nd_httpd_site_clear (nd_httpd_site_t *site)
{
    free (site->origin);
    site->origin = NULL;
}

enum MHD_Result nd_httpd_preflight (struct MHD_Connection *connection, const nd_httpd_site_t *site)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header (response, "Access-Control-Allow-Origin", site->origin);
    MHD_add_response_header (response, "Access-Control-Allow-Methods", "GET, POST");
    MHD_add_response_header (response, "Access-Control-Allow-Headers", "Content-Type");
    MHD_add_response_header (response, "Access-Control-Max-Age", "86400");
    enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_NO_CONTENT, response);
    MHD_destroy_response (response);
    return rc;
}

bool nd_httpd_ambiguous (struct MHD_Connection *connection)
{
    return MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_TRANSFER_ENCODING)
        && MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_LENGTH);
}

//  Before the stage's handler: a request framed two ways (Transfer-Encoding
//  and Content-Length) is refused on its first call, before any body, as
//  RFC 9112 6.3 allows: behind a proxy that reads the other framing, the
//  rest of the body would be a request of its own (smuggling).
static enum MHD_Result s_guard (void *cls, struct MHD_Connection *connection, const char *url,
                                const char *method, const char *version, const char *data,
                                size_t *data_size, void **con_cls)
{
    nd_httpd_t *self = (nd_httpd_t *) cls;
    if (*data_size == 0 && nd_httpd_ambiguous (connection))
        return nd_httpd_answer (connection, MHD_HTTP_BAD_REQUEST, "application/json",
            strdup ("{\"error\":\"both Transfer-Encoding and Content-Length: refused\"}"),
            (const char *const []) { MHD_HTTP_HEADER_CONNECTION, "close", NULL });
    return self->handle (self->cls, connection, url, method, version, data, data_size, con_cls);
}

nd_httpd_t *nd_httpd_new (int fd, const nd_httpd_conf_t *conf)
{
    nd_httpd_t *self = (nd_httpd_t *) calloc (1, sizeof *self);
    assert (self);
    self->fd = fd;
    self->stop [0] = self->stop [1] = -1;
    unsigned int files = s_file_limit ();
    unsigned int most = files > 2 * FILES_SPARE ? files - FILES_SPARE : files / 2;
    self->connections = conf->connections < most ? conf->connections : most;
    self->per_ip = conf->per_ip;
    self->handle = conf->handle;
    self->cls = conf->cls;
    pthread_mutex_init (&self->lock, NULL);
    self->by_address = zhashx_new ();
    char *body = conf->full ? strdup (conf->full)
               : strdup ("{\"error\":\"too many connections: retry later\"}");
    self->full = zsys_sprintf ("HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: application/json\r\n"
                               "Retry-After: " FULL_RETRY_S "\r\n"
                               "Connection: close\r\n"
                               "Content-Length: %zu\r\n\r\n%s", strlen (body), body);
    self->full_size = strlen (self->full);
    free (body);
    int flags = fcntl (fd, F_GETFL);
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
    //  libmicrohttpd's own limits stay as a backstop, a little above ours
    struct MHD_OptionItem options [] = {
        { MHD_OPTION_CONNECTION_LIMIT, self->connections + MHD_SPARE, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, conf->per_ip + MHD_SPARE, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, conf->timeout_s, NULL },
        { MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK, NULL },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) s_notify, self },
        { conf->log ? MHD_OPTION_EXTERNAL_LOGGER : MHD_OPTION_END, (intptr_t) conf->log, NULL },
        { MHD_OPTION_END, 0, NULL }
    };
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO
        | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | (conf->log ? MHD_USE_ERROR_LOG : 0),
        0, NULL, NULL, s_guard, self,
        MHD_OPTION_ARRAY, options,
        MHD_OPTION_URI_LOG_CALLBACK, conf->completed ? NULL : nd_httpd_begin, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, conf->completed ? conf->completed : nd_httpd_completed,
        conf->cls,
        MHD_OPTION_END);
    if (!self->daemon || pipe2 (self->stop, O_CLOEXEC)
    ||  pthread_create (&self->thread, NULL, s_door, self)) {
        nd_httpd_destroy (&self);
        return NULL;
    }
    self->running = true;
    return self;
}

void nd_httpd_destroy (nd_httpd_t **self_p)
{
    nd_httpd_t *self = *self_p;
    if (self) {
        if (self->running) {
            if (write (self->stop [1], "", 1) != 1)
                assert (false);
            pthread_join (self->thread, NULL);
        }
        if (self->daemon)       //  its connections' CLOSED notices come now
            MHD_stop_daemon (self->daemon);
        close (self->fd);
        if (self->stop [0] >= 0) {
            close (self->stop [0]);
            close (self->stop [1]);
        }
        zhashx_destroy (&self->by_address);
        pthread_mutex_destroy (&self->lock);
        free (self->full);
        free (self);
        *self_p = NULL;
    }
}

unsigned int nd_httpd_port (nd_httpd_t *self)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    if (getsockname (self->fd, (struct sockaddr *) &address, &size))
        return 0;
    return ntohs (address.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &address)->sin6_port
                                                : ((struct sockaddr_in *) &address)->sin_port);
}

nd_httpd_t *nd_httpd_start (const struct sockaddr_storage *where, unsigned int connections,
                            unsigned int per_ip, unsigned int timeout_s,
                            MHD_AccessHandlerCallback handle, void *cls)
{
    int fd = nd_httpd_listen (where);
    if (fd < 0)
        return NULL;
    //  Every request keeps its URI as sent (nd_httpd_begin): Twilio signs it so
    nd_httpd_conf_t conf = { .connections = connections, .per_ip = per_ip,
                             .timeout_s = timeout_s, .handle = handle, .cls = cls };
    nd_httpd_t *self = nd_httpd_new (fd, &conf);
    if (!self)
        errno = EADDRNOTAVAIL;
    return self;
}

void *nd_httpd_begin (void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void) cls;
    (void) connection;
    nd_httpd_request_t *request = (nd_httpd_request_t *) calloc (1, sizeof *request);
    assert (request);
    request->uri = strdup (uri);
    assert (request->uri);
    return request;
}

void nd_httpd_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) connection;
    (void) code;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (request) {
        free (request->uri);
        free (request->body);
        free (request);
        *con_cls = NULL;
    }
}

bool nd_httpd_receive (nd_httpd_request_t *request, const char *data, size_t *data_size,
                       size_t limit)
{
    if (!request->headers_seen) {
        request->headers_seen = true;
        return true;
    }
    if (!*data_size)
        return false;
    //  Once over, always over: a body cut short must not pass for whole
    if (request->discarded || request->size + *data_size > limit)
        request->discarded += *data_size;
    else {
        request->body = (char *) realloc (request->body, request->size + *data_size + 1);
        assert (request->body);
        memcpy (request->body + request->size, data, *data_size);
        request->size += *data_size;
        request->body [request->size] = 0;
    }
    *data_size = 0;
    return true;
}

enum MHD_Result nd_httpd_answer (struct MHD_Connection *connection, unsigned int status,
                                 const char *content_type, char *body, const char *const *headers)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers [i] && headers [i + 1]; i += 2)
        MHD_add_response_header (response, headers [i], headers [i + 1]);
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

enum MHD_Result nd_httpd_json (struct MHD_Connection *connection, unsigned int status,
                               json_t *doc, const char *const *headers)
{
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return nd_httpd_answer (connection, status, "application/json", text ? text : strdup ("{}"),
                            headers);
}

enum MHD_Result nd_httpd_refuse (struct MHD_Connection *connection, unsigned int status,
                                 const char *reason, const char *const *headers)
{
    return nd_httpd_json (connection, status, json_pack ("{s:s}", "error", reason), headers);
}

/* ------------------------------------------------------------------ test */

#include "nd_http.h"

#define s_TEST_LIMIT 8

static enum MHD_Result s_test_handle (void *cls, struct MHD_Connection *connection,
                                      const char *url, const char *method, const char *version,
                                      const char *data, size_t *data_size, void **con_cls)
{
    (void) cls;
    (void) url;
    (void) method;
    (void) version;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (nd_httpd_receive (request, data, data_size, s_TEST_LIMIT))
        return MHD_YES;
    static const char *const headers [] = { "X-Test", "yes", NULL };
    if (request->discarded)
        return nd_httpd_refuse (connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 8 bytes", headers);
    return nd_httpd_json (connection, MHD_HTTP_OK, json_pack ("{s:s, s:s?}", "uri", request->uri,
                                                              "body", request->body), headers);
}

static void s_test_post (nd_http_t *client, const char *url, const char *body, long status,
                         const char *answer)
{
    nd_http_request_t request = { .method = "POST", .url = url, .body = body,
                                  .body_size = strlen (body) };
    nd_http_perform (client, &request, 1);
    if (request.status != status || !request.response || strcmp (request.response, answer)) {
        fprintf (stderr, "nd_httpd: POST %s: want %ld %s, got %ld %s\n", url, status, answer,
                 request.status, request.response ? request.response : request.error);
        assert (false);
    }
    nd_http_request_reset (&request);
}

void nd_httpd_test (bool verbose)
{
    printf (" * nd_httpd: ");
    //  The calls as libmicrohttpd makes them
    nd_httpd_request_t *request = (nd_httpd_request_t *) nd_httpd_begin (NULL, "/a?b=c", NULL);
    size_t size = 0;
    assert (nd_httpd_receive (request, NULL, &size, 4));           //  headers
    assert (!nd_httpd_receive (request, NULL, &size, 4));          //  no upload: all in
    assert (strcmp (request->uri, "/a?b=c") == 0 && !request->body && !request->discarded);
    void *con_cls = request;
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);
    assert (!con_cls);
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);

    request = (nd_httpd_request_t *) nd_httpd_begin (NULL, "/", NULL);
    assert (nd_httpd_receive (request, NULL, &size, 4));
    size = 3;
    assert (nd_httpd_receive (request, "abc", &size, 4) && size == 0);
    size = 1;
    assert (nd_httpd_receive (request, "d", &size, 4));
    assert (request->size == 4 && strcmp (request->body, "abcd") == 0 && !request->discarded);
    size = 2;
    assert (nd_httpd_receive (request, "ef", &size, 4) && size == 0);
    size = 0;
    assert (!nd_httpd_receive (request, NULL, &size, 4));
    assert (request->size == 4 && request->discarded == 2);
    //  Once over the limit, even a chunk that would fit is thrown away
    request->size = 1;
    size = 1;
    nd_httpd_receive (request, "g", &size, 4);
    assert (request->size == 1 && request->discarded == 3);
    con_cls = request;
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_CLIENT_ABORT);

    //  A real server: limits, answers, headers
    struct sockaddr_storage where = { 0 };
    struct sockaddr_in *in = (struct sockaddr_in *) &where;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    nd_httpd_t *server = nd_httpd_start (&where, 4, 4, 60, s_test_handle, NULL);
    assert (server);
    unsigned int port = nd_httpd_port (server);
    char url [64], big [64];
    nd_http_t *client = nd_http_new (5000, 2, NULL);
    snprintf (url, sizeof url, "http://127.0.0.1:%u/x?y=1", port);
    s_test_post (client, url, "12345678", 200, "{\"uri\":\"/x?y=1\",\"body\":\"12345678\"}");
    s_test_post (client, url, "", 200, "{\"uri\":\"/x?y=1\",\"body\":null}");
    s_test_post (client, url, "123456789", 413, "{\"error\":\"body over 8 bytes\"}");
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    s_test_post (client, url, big, 413, "{\"error\":\"body over 8 bytes\"}");
    nd_http_destroy (&client);

    //  Full: four idle connections held, the fifth is told 503 at once.
    //  One answered 503 all the same (a slot not yet given back) is tried
    //  again. First the client's keep-alive connection must have gone: while the
    //  server still counts it, the fourth would be the one told 503
    for (int tries = 0; tries < 500; tries++) {
        pthread_mutex_lock (&server->lock);
        unsigned int open = server->open;
        pthread_mutex_unlock (&server->lock);
        if (open == 0)
            break;
        zclock_sleep (10);
    }
    int idle [5], held = 0;
    in->sin_port = htons ((uint16_t) port);
    for (int tries = 0; held < 4 && tries < 200; tries++) {
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert (fd >= 0 && connect (fd, (struct sockaddr *) in, sizeof *in) == 0);
        struct pollfd answered = { fd, POLLIN, 0 };
        if (poll (&answered, 1, 50) == 0)
            idle [held++] = fd;
        else {
            close (fd);
            zclock_sleep (20);
        }
    }
    assert (held == 4);
    idle [4] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert (idle [4] >= 0 && connect (idle [4], (struct sockaddr *) in, sizeof *in) == 0);
    struct pollfd ready = { idle [4], POLLIN, 0 };
    assert (poll (&ready, 1, 5000) == 1);
    char answer [512] = "";
    assert (recv (idle [4], answer, sizeof answer - 1, 0) > 0);
    assert (strncmp (answer, "HTTP/1.1 503 ", 13) == 0 && strstr (answer, "\r\nRetry-After: ")
            && strstr (answer, "\r\nConnection: close\r\n"));
    for (int i = 0; i < 4; i++) {     //  the held ones are not answered
        ready.fd = idle [i];
        assert (poll (&ready, 1, 0) == 0);
    }
    for (int i = 0; i < 5; i++)
        close (idle [i]);
    nd_httpd_destroy (&server);
    nd_httpd_destroy (&server);
    if (verbose)
        printf ("(chunks, limit, discarded, a server's answers, 503 when full) ");
    printf ("OK\n");
}
