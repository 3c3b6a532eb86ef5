/*  onsite_http - the page's side of on-site messages.

        GET  /onsite/poll?visitor=ANONYMOUS_ID&wait=S
                            {"messages": [...]}: at once when the visitor
                            has any, else as soon as one comes or after S
                            seconds (at most 25; 0 or none: at once)
        POST /onsite/event  {"id", "visitor", "action": "shown" |
                            "clicked" | "dismissed"} -> 200 {"ok": true}
                            once recorded; 404 for an id unknown, expired
                            or not addressed to that visitor
        GET  /health

    A long poll holds no thread: the server runs a few threads over one
    event loop (libmicrohttpd's thread pool), and a poll with nothing to
    show is suspended and kept in a list by its visitor. The loop resumes
    those whose visitor got a message in the transaction it committed; a
    small timer thread resumes those whose wait is over. A resumed poll
    looks again and answers.

    Reports are written by the loop (through the inbox) and answered once
    on disk. Answers carry Access-Control-Allow-Origin ("allow-origin",
    default *): the page is the shop's, not ours.                         */
#define _GNU_SOURCE
#include <pthread.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "nd_json.h"
#include "nd_listen.h"
#include "onsite.h"

#define s_BODY_MAX 4096
#define s_POLL_MAX_S 25
#define s_TICK_MS 200               //  how late a finished wait may answer

//  One request; a waiting poll is also a link in the waiters' list.
typedef struct _s_request_t {
    nd_httpd_request_t base;        //  first: nd_httpd_receive works on it
    struct MHD_Connection *connection;
    char *visitor;
    int64_t until;                  //  zclock_mono () when the wait ends; 0: not polling yet
    bool waiting;                   //  suspended, in the list
    struct _s_request_t *prev, *next;
} s_request_t;

struct _onsite_http_t {
    nd_stage_t *stage;
    nd_inbox_t *inbox;
    onsite_store_t *store;
    struct MHD_Daemon *daemon;
    nd_httpd_site_t site;           //  address, limits, what every answer carries
    pthread_mutex_t lock;           //  the waiters, changes, stopping
    s_request_t *waiters;
    uint64_t changes;               //  moves with each wake: a poll that looked before
                                    //  a wake does not go to sleep after it
    bool stopping;
    pthread_t ticker;
    bool ticking;
    uint64_t requests, refused, polls, waits, reports;
};

/* ------------------------------------------------------------ waiters */

static void s_unlink (onsite_http_t *self, s_request_t *request)
{
    if (request->prev)
        request->prev->next = request->next;
    else
        self->waiters = request->next;
    if (request->next)
        request->next->prev = request->prev;
    request->prev = request->next = NULL;
    request->waiting = false;
}

//  With the lock held: the poll looks again.
static void s_resume (onsite_http_t *self, s_request_t *request)
{
    s_unlink (self, request);
    MHD_resume_connection (request->connection);
}

void onsite_http_wake (onsite_http_t *self, zlistx_t *visitors)
{
    if (!self || !visitors)
        return;
    zhashx_t *set = zhashx_new ();
    for (const char *visitor = (const char *) zlistx_first (visitors); visitor;
         visitor = (const char *) zlistx_next (visitors))
        zhashx_insert (set, visitor, (void *) 1);
    pthread_mutex_lock (&self->lock);
    self->changes++;
    s_request_t *request = self->waiters;
    while (request) {
        s_request_t *next = request->next;
        if (zhashx_lookup (set, request->visitor))
            s_resume (self, request);
        request = next;
    }
    pthread_mutex_unlock (&self->lock);
    zhashx_destroy (&set);
}

//  Resumes the polls whose wait is over, every s_TICK_MS.
static void *s_ticker (void *arg)
{
    onsite_http_t *self = (onsite_http_t *) arg;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        int64_t now = zclock_mono ();
        s_request_t *request = self->waiters;
        while (request) {
            s_request_t *next = request->next;
            if (request->until <= now)
                s_resume (self, request);
            request = next;
        }
        pthread_mutex_unlock (&self->lock);
        zclock_sleep (s_TICK_MS);
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

/* ------------------------------------------------------------ answers */

static enum MHD_Result s_json (onsite_http_t *self, struct MHD_Connection *connection,
                               unsigned int status, json_t *doc)
{
    return nd_httpd_json (connection, status, doc, self->site.headers);
}

static enum MHD_Result s_refuse (onsite_http_t *self, struct MHD_Connection *connection,
                                 unsigned int status, const char *reason)
{
    __atomic_add_fetch (&self->refused, 1, __ATOMIC_RELAXED);
    return nd_httpd_refuse (connection, status, reason, self->site.headers);
}

static bool s_visitor_ok (const char *visitor)
{
    return visitor && *visitor && strlen (visitor) <= ONSITE_VISITOR_MAX;
}

/* --------------------------------------------------------------- poll */

static enum MHD_Result s_poll (onsite_http_t *self, struct MHD_Connection *connection,
                               s_request_t *request)
{
    if (!request->visitor) {
        const char *visitor = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND,
                                                           "visitor");
        const char *wait = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "wait");
        if (!s_visitor_ok (visitor))
            return s_refuse (self, connection, MHD_HTTP_BAD_REQUEST,
                             "want ?visitor=<anonymousId> (at most 200 bytes)");
        int64_t seconds = wait ? strtoll (wait, NULL, 10) : 0;
        seconds = seconds < 0 ? 0 : seconds > s_POLL_MAX_S ? s_POLL_MAX_S : seconds;
        request->visitor = strdup (visitor);
        request->until = zclock_mono () + seconds * 1000;
        __atomic_add_fetch (&self->polls, 1, __ATOMIC_RELAXED);
    }
    for (;;) {
        pthread_mutex_lock (&self->lock);
        uint64_t changes = self->changes;
        bool stopping = self->stopping;
        pthread_mutex_unlock (&self->lock);
        json_t *messages = onsite_store_messages (self->store, request->visitor);
        if (!messages)
            return s_refuse (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE, "try again");
        if (json_array_size (messages) || stopping || zclock_mono () >= request->until)
            return s_json (self, connection, MHD_HTTP_OK, json_pack ("{s:o}", "messages", messages));
        json_decref (messages);
        pthread_mutex_lock (&self->lock);
        //  A wake since we looked: look again rather than sleep through it
        bool sleep = !self->stopping && changes == self->changes;
        if (sleep) {
            request->waiting = true;
            request->next = self->waiters;
            if (self->waiters)
                self->waiters->prev = request;
            self->waiters = request;
            MHD_suspend_connection (connection);
            self->waits++;
        }
        pthread_mutex_unlock (&self->lock);
        if (sleep)
            return MHD_YES;
    }
}

/* ------------------------------------------------------------- report */

static enum MHD_Result s_report (onsite_http_t *self, struct MHD_Connection *connection,
                                 nd_httpd_request_t *request)
{
    json_t *doc = request->body ? nd_json_parse (request->body, request->size, NULL, 0) : NULL;
    const char *id = json_string_value (json_object_get (doc, "id"));
    const char *visitor = json_string_value (json_object_get (doc, "visitor"));
    const char *action = json_string_value (json_object_get (doc, "action"));
    onsite_report_t report = { .status = 0 };
    bool ok = id && strlen (id) == ONSITE_ID_SIZE - 1 && s_visitor_ok (visitor) && action;
    if (ok && streq (action, "shown"))
        report.action = ONSITE_SHOWN;
    else
    if (ok && streq (action, "clicked"))
        report.action = ONSITE_CLICKED;
    else
    if (ok && streq (action, "dismissed"))
        report.action = ONSITE_DISMISSED;
    else
        ok = false;
    if (ok) {
        snprintf (report.id, sizeof report.id, "%s", id);
        snprintf (report.visitor, sizeof report.visitor, "%s", visitor);
    }
    bool unknown_id = doc && id && strlen (id) != ONSITE_ID_SIZE - 1;
    json_decref (doc);
    if (unknown_id)
        return s_refuse (self, connection, MHD_HTTP_NOT_FOUND, "no such message");
    if (!ok)
        return s_refuse (self, connection, MHD_HTTP_BAD_REQUEST,
                         "want {\"id\", \"visitor\", \"action\": \"shown\"|\"clicked\"|\"dismissed\"}");
    __atomic_add_fetch (&self->reports, 1, __ATOMIC_RELAXED);
    if (nd_inbox_submit (self->inbox, &report, 1))
        return s_refuse (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE, "not stored: try again");
    if (report.status != 200)
        return s_refuse (self, connection, MHD_HTTP_NOT_FOUND, "no such message");
    return s_json (self, connection, MHD_HTTP_OK, json_pack ("{s:b}", "ok", 1));
}

/* ----------------------------------------------------------- dispatch */

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void) version;
    onsite_http_t *self = (onsite_http_t *) cls;
    s_request_t *request = (s_request_t *) *con_cls;
    request->connection = connection;
    if (!request->base.headers_seen && nd_httpd_ambiguous (connection))
        return nd_httpd_refuse (connection, MHD_HTTP_BAD_REQUEST,
                                "both Transfer-Encoding and Content-Length: refused", NULL);
    if (nd_httpd_receive (&request->base, data, data_size, s_BODY_MAX))
        return MHD_YES;
    bool get = streq (method, "GET"), post = streq (method, "POST");
    if (get && streq (url, "/onsite/poll"))
        return s_poll (self, connection, request);
    __atomic_add_fetch (&self->requests, 1, __ATOMIC_RELAXED);
    if (streq (method, "OPTIONS"))
        return nd_httpd_preflight (connection, &self->site);
    if (get && streq (url, "/health"))
        return s_json (self, connection, MHD_HTTP_OK, json_pack ("{s:s}", "status", "ok"));
    if (request->base.discarded)
        return s_refuse (self, connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 4 KB");
    if (post && streq (url, "/onsite/event"))
        return s_report (self, connection, &request->base);
    bool known = streq (url, "/onsite/poll") || streq (url, "/onsite/event");
    return s_refuse (self, connection, known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
                     known ? "wrong method" : "no such path");
}

static void *s_begin (void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void) cls;
    s_request_t *request = (s_request_t *) zmalloc (sizeof *request);
    request->base.uri = strdup (uri);
    request->connection = connection;
    return request;
}

static void s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void) connection;
    (void) code;
    onsite_http_t *self = (onsite_http_t *) cls;
    s_request_t *request = (s_request_t *) *con_cls;
    if (!request)
        return;
    pthread_mutex_lock (&self->lock);
    if (request->waiting)
        s_unlink (self, request);
    pthread_mutex_unlock (&self->lock);
    free (request->base.uri);
    free (request->base.body);
    free (request->visitor);
    free (request);
    *con_cls = NULL;
}

/* -------------------------------------------------------------- class */

onsite_http_t *onsite_http_new (nd_stage_t *stage, nd_inbox_t *inbox, onsite_store_t *store)
{
    int64_t threads;
    if (nd_stage_option_int (stage, "threads", "4", &threads))
        return NULL;
    if (threads < 1 || threads > 64) {
        nd_stage_config_error (stage, "threads", threads > 64 ? "at most 64" : "must be at least 1");
        return NULL;
    }
    onsite_http_t *self = (onsite_http_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->inbox = inbox;
    self->store = store;
    pthread_mutex_init (&self->lock, NULL);
    if (nd_httpd_site (stage, "127.0.0.1:8060", &self->site)) {
        onsite_http_destroy (&self);
        return NULL;
    }
    //  Polls wait suspended on a few threads, so this server is not the
    //  door of nd_httpd (a thread per connection): libmicrohttpd's own
    //  limits bound it (over them a connection is closed, not answered)
    struct MHD_OptionItem limits [] = {
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t) self->site.connections, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t) self->site.per_ip, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL },
        { MHD_OPTION_END, 0, NULL }
    };
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME
        | (self->site.where.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, s_handle, self,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &self->site.where,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) threads,
        MHD_OPTION_ARRAY, limits,
        MHD_OPTION_URI_LOG_CALLBACK, s_begin, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        nd_log ("http: cannot listen on %s: %s", self->site.address, strerror (errno));
        onsite_http_destroy (&self);
        return NULL;
    }
    self->ticking = pthread_create (&self->ticker, NULL, s_ticker, self) == 0;
    nd_log ("http: listening on %s (/onsite/poll, /onsite/event)", self->site.address);
    return self;
}

void onsite_http_destroy (onsite_http_t **self_p)
{
    onsite_http_t *self = *self_p;
    if (!self)
        return;
    //  Waiting polls answer now (stopping: they do not wait again), then stop
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    while (self->waiters)
        s_resume (self, self->waiters);
    pthread_mutex_unlock (&self->lock);
    if (self->ticking)
        pthread_join (self->ticker, NULL);
    if (self->daemon) {
        MHD_quiesce_daemon (self->daemon);
        zclock_sleep (50);          //  the resumed polls answer
        pthread_mutex_lock (&self->lock);
        while (self->waiters)
            s_resume (self, self->waiters);
        pthread_mutex_unlock (&self->lock);
        MHD_stop_daemon (self->daemon);
    }
    pthread_mutex_destroy (&self->lock);
    nd_httpd_site_clear (&self->site);
    free (self);
    *self_p = NULL;
}

void onsite_http_stats (onsite_http_t *self, json_t *stats)
{
    pthread_mutex_lock (&self->lock);
    size_t waiting = 0;
    for (s_request_t *request = self->waiters; request; request = request->next)
        waiting++;
    pthread_mutex_unlock (&self->lock);
    json_object_set_new (stats, "http", json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I}",
        "requests", (json_int_t) __atomic_load_n (&self->requests, __ATOMIC_RELAXED),
        "refused", (json_int_t) __atomic_load_n (&self->refused, __ATOMIC_RELAXED),
        "polls", (json_int_t) __atomic_load_n (&self->polls, __ATOMIC_RELAXED),
        "reports", (json_int_t) __atomic_load_n (&self->reports, __ATOMIC_RELAXED),
        "waits", (json_int_t) self->waits, "waiting", (json_int_t) waiting));
}
