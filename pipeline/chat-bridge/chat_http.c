/*  chat_http - the shoppers' side: the widget and its four calls.

        GET  /chat/widget.js    the widget (the file named by "widget")
        POST /chat/send         {"anonymousId", "userId", "userHash", "text",
                                 "email", "id", "conversation", "token"} -> 200
                                {"conversation", "token", "state", "seq"}
                                once the message is on disk; 429 (over a
                                rate) or 503 (max-conversations) with
                                Retry-After, and nothing stored
        POST /chat/end          {"conversation", "token"}
        GET  /chat/poll?conversation=C&token=T&after=N&wait=S
                                long poll: the lines after N, as soon as
                                there are any or after S seconds (<= 25)
        GET  /chat/stream?conversation=C&token=T&after=N
                                Server-Sent Events: one "line" event per
                                line (id: its seq, so Last-Event-ID
                                resumes), a comment every 15 s, "end"
                                when the conversation ends
        GET  /health

    The first message starts a conversation and its answer carries the
    conversation's token, a random secret the widget keeps; every other
    call must bring it. Requests run on libmicrohttpd's threads: writes
    go through the inbox and wait for the commit, reads (poll, stream)
    take short read transactions and wait on the transcripts' version.
    CORS: the widget runs on the shop's pages, so answers carry
    Access-Control-Allow-Origin ("allow-origin", default *).            */
#define _GNU_SOURCE
#include <assert.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "nd_json.h"
#include "nd_listen.h"
#include "chat.h"

#define s_BODY_MAX 16384
#define s_POLL_MAX_S 25
#define s_KEEPALIVE_MS 15000

struct _chat_http_t {
    nd_stage_t *stage;
    nd_inbox_t *inbox;
    chat_talk_t *talk;
    nd_httpd_t *server;
    char *widget;
    size_t widget_size;
    nd_httpd_site_t site;       //  address, limits, what every answer carries
    atomic_uint_fast64_t requests, refused, streams;
};

//  One open event stream.
typedef struct {
    chat_http_t *http;
    char *conversation;
    char *token;
    uint64_t after;
    uint64_t version;
    char *buffer;
    size_t size, sent;
    bool ended;
} s_stream_t;

/* ------------------------------------------------------------ answers */

static enum MHD_Result s_send (chat_http_t *self, struct MHD_Connection *connection,
                               unsigned int status, const char *type, char *body)
{
    return nd_httpd_answer (connection, status, type, body, self->site.headers);
}

static enum MHD_Result s_json (chat_http_t *self, struct MHD_Connection *connection,
                               unsigned int status, json_t *doc)
{
    return nd_httpd_json (connection, status, doc, self->site.headers);
}

static enum MHD_Result s_refuse (chat_http_t *self, struct MHD_Connection *connection,
                                 unsigned int status, const char *reason)
{
    self->refused++;
    return nd_httpd_refuse (connection, status, reason, self->site.headers);
}

static const char *s_arg (struct MHD_Connection *connection, const char *name)
{
    return MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, name);
}

static uint64_t s_number (const char *text)
{
    return text ? strtoull (text, NULL, 10) : 0;
}

/* -------------------------------------------------------------- writes */

static char *s_field (json_t *doc, const char *name)
{
    const char *value = json_string_value (json_object_get (doc, name));
    return value && *value ? strdup (value) : NULL;
}

static enum MHD_Result s_post (chat_http_t *self, struct MHD_Connection *connection,
                               nd_httpd_request_t *request, chat_kind_t kind)
{
    json_t *doc = request->body ? nd_json_parse (request->body, request->size, NULL, 0) : NULL;
    if (!json_is_object (doc)) {
        json_decref (doc);
        return s_refuse (self, connection, MHD_HTTP_BAD_REQUEST, "want a JSON object");
    }
    chat_event_t event = { .kind = kind };
    event.conversation = s_field (doc, "conversation");
    event.token = s_field (doc, "token");
    event.anonymous_id = s_field (doc, "anonymousId");
    event.user_id = s_field (doc, "userId");
    event.user_hash = s_field (doc, "userHash");
    event.text = s_field (doc, "text");
    event.email = s_field (doc, "email");
    event.client_id = s_field (doc, "id");
    json_decref (doc);
    if ((event.anonymous_id && strlen (event.anonymous_id) > CHAT_ID_MAX)
    ||  (event.user_id && strlen (event.user_id) > CHAT_ID_MAX)
    ||  (event.client_id && strlen (event.client_id) > 100)
    ||  (event.user_hash && strlen (event.user_hash) > 128)) {
        chat_event_clear (&event);
        return s_refuse (self, connection, MHD_HTTP_BAD_REQUEST, "an id over 200 bytes");
    }
    char client [64];
    nd_httpd_client_address (connection, client, sizeof client);
    event.client = strdup (client);
    int rc = nd_inbox_submit (self->inbox, &event, 1);
    enum MHD_Result result;
    if (rc == 0 && event.answer && event.retry_after > 0) {
        char seconds [24];
        snprintf (seconds, sizeof seconds, "%lld", (long long) event.retry_after);
        const char *headers [] = { "Access-Control-Allow-Origin", self->site.origin,
                                   "Access-Control-Expose-Headers", "Retry-After",
                                   MHD_HTTP_HEADER_CACHE_CONTROL, "no-store",
                                   MHD_HTTP_HEADER_RETRY_AFTER, seconds, NULL };
        self->refused++;
        result = nd_httpd_answer (connection, (unsigned int) event.status, "application/json",
                                  strdup (event.answer), headers);
    }
    else
    if (rc == 0 && event.answer)
        result = s_send (self, connection, (unsigned int) event.status, "application/json",
                         strdup (event.answer));
    else
        result = s_refuse (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE, "not stored: try again");
    chat_event_clear (&event);
    return result;
}

/* --------------------------------------------------------------- reads */

static enum MHD_Result s_poll (chat_http_t *self, struct MHD_Connection *connection)
{
    const char *conversation = s_arg (connection, "conversation");
    const char *token = s_arg (connection, "token");
    uint64_t after = s_number (s_arg (connection, "after"));
    int64_t wait = (int64_t) s_number (s_arg (connection, "wait"));
    wait = (wait > s_POLL_MAX_S ? s_POLL_MAX_S : wait) * 1000;
    int64_t until = zclock_mono () + wait;
    int status;
    uint64_t version = nd_inbox_version (self->inbox);
    json_t *answer = chat_talk_lines (self->talk, conversation, token, after, &status);
    while (answer && json_array_size (json_object_get (answer, "lines")) == 0
       &&  !streq (json_string_value (json_object_get (answer, "state")) ?: "", "ended")
       &&  zclock_mono () < until && version) {
        version = nd_inbox_wait (self->inbox, version, until - zclock_mono ());
        json_decref (answer);
        answer = chat_talk_lines (self->talk, conversation, token, after, &status);
    }
    if (!answer)
        return s_refuse (self, connection, (unsigned int) status,
                         status == 403 ? "wrong token" : status == 404 ? "no such conversation"
                                                                       : "try again");
    return s_json (self, connection, MHD_HTTP_OK, answer);
}

//  Fills the stream's buffer with what is new; blocks until something is.
static void s_stream_fill (s_stream_t *stream)
{
    chat_http_t *self = stream->http;
    free (stream->buffer);
    stream->buffer = NULL;
    stream->size = stream->sent = 0;
    zchunk_t *out = zchunk_new (NULL, 512);
    while (zchunk_size (out) == 0 && !stream->ended) {
        int status;
        uint64_t version = nd_inbox_version (self->inbox);
        json_t *answer = version ? chat_talk_lines (self->talk, stream->conversation,
                                                    stream->token, stream->after, &status) : NULL;
        size_t index;
        json_t *line;
        json_array_foreach (json_object_get (answer, "lines"), index, line) {
            char *data = nd_json_dump (line, NULL);
            uint64_t seq = (uint64_t) json_integer_value (json_object_get (line, "seq"));
            char *event = zsys_sprintf ("id: %llu\nevent: line\ndata: %s\n\n",
                                        (unsigned long long) seq, data);
            zchunk_extend (out, event, strlen (event));
            zstr_free (&event);
            free (data);
            stream->after = seq;
        }
        if (!answer || streq (json_string_value (json_object_get (answer, "state")) ?: "", "ended")) {
            const char *end = "event: end\ndata: {}\n\n";
            zchunk_extend (out, end, strlen (end));
            stream->ended = true;
        }
        json_decref (answer);
        if (zchunk_size (out) == 0
        &&  nd_inbox_wait (self->inbox, version, s_KEEPALIVE_MS) == version && version) {
            const char *ping = ": keep-alive\n\n";
            zchunk_extend (out, ping, strlen (ping));
        }
    }
    stream->size = zchunk_size (out);
    stream->buffer = (char *) malloc (stream->size + 1);
    memcpy (stream->buffer, zchunk_data (out), stream->size);
    zchunk_destroy (&out);
}

static ssize_t s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_stream_t *stream = (s_stream_t *) cls;
    if (stream->sent == stream->size) {
        if (stream->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_stream_fill (stream);
    }
    size_t size = stream->size - stream->sent < max ? stream->size - stream->sent : max;
    memcpy (buf, stream->buffer + stream->sent, size);
    stream->sent += size;
    return (ssize_t) size;
}

static void s_stream_free (void *cls)
{
    s_stream_t *stream = (s_stream_t *) cls;
    free (stream->conversation);
    free (stream->token);
    free (stream->buffer);
    free (stream);
}

static enum MHD_Result s_stream (chat_http_t *self, struct MHD_Connection *connection)
{
    const char *conversation = s_arg (connection, "conversation");
    const char *token = s_arg (connection, "token");
    const char *last = MHD_lookup_connection_value (connection, MHD_HEADER_KIND, "Last-Event-ID");
    int status;
    json_t *check = chat_talk_lines (self->talk, conversation, token, UINT64_MAX - 1, &status);
    json_decref (check);
    if (!check)
        return s_refuse (self, connection, (unsigned int) status,
                         status == 403 ? "wrong token" : "no such conversation");
    s_stream_t *stream = (s_stream_t *) zmalloc (sizeof *stream);
    stream->http = self;
    stream->conversation = strdup (conversation);
    stream->token = strdup (token);
    stream->after = s_number (last ? last : s_arg (connection, "after"));
    self->streams++;
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, 4096, s_stream_read, stream, s_stream_free);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, "Access-Control-Allow-Origin", self->site.origin);
    enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

/* ------------------------------------------------------------ dispatch */

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void) version;
    chat_http_t *self = (chat_http_t *) cls;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (nd_httpd_receive (request, data, data_size, s_BODY_MAX))
        return MHD_YES;
    self->requests++;
    if (streq (method, "OPTIONS"))
        return nd_httpd_preflight (connection, &self->site);
    bool get = streq (method, "GET"), post = streq (method, "POST");
    if (get && streq (url, "/health"))
        return s_send (self, connection, MHD_HTTP_OK, "application/json", strdup ("{\"status\":\"ok\"}"));
    if (get && streq (url, "/chat/widget.js"))
        return s_send (self, connection, MHD_HTTP_OK, "application/javascript; charset=utf-8",
                       strndup (self->widget, self->widget_size));
    if (get && streq (url, "/chat/poll"))
        return s_poll (self, connection);
    if (get && streq (url, "/chat/stream"))
        return s_stream (self, connection);
    if (request->discarded)
        return s_refuse (self, connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 16 KB");
    if (post && streq (url, "/chat/send"))
        return s_post (self, connection, request, CHAT_SHOPPER_SAY);
    if (post && streq (url, "/chat/end"))
        return s_post (self, connection, request, CHAT_SHOPPER_END);
    bool known = streq (url, "/chat/send") || streq (url, "/chat/end") || streq (url, "/chat/poll")
              || streq (url, "/chat/stream") || streq (url, "/chat/widget.js");
    return s_refuse (self, connection, known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
                     known ? "wrong method" : "no such path");
}

/* --------------------------------------------------------------- class */

static int s_load_widget (chat_http_t *self, nd_stage_t *stage)
{
    const char *path = nd_stage_option (stage, "widget", "conf/chat-widget.js");
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return nd_stage_config_error (stage, "widget", "cannot read the widget's file");
    self->widget_size = zchunk_size (chunk);
    self->widget = (char *) malloc (self->widget_size + 1);
    memcpy (self->widget, zchunk_data (chunk), self->widget_size);
    self->widget [self->widget_size] = 0;
    zchunk_destroy (&chunk);
    return 0;
}

chat_http_t *chat_http_new (nd_stage_t *stage, nd_inbox_t *inbox, chat_talk_t *talk)
{
    chat_http_t *self = (chat_http_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->inbox = inbox;
    self->talk = talk;
    if (nd_httpd_site (stage, "127.0.0.1:8070", &self->site) == 0 && s_load_widget (self, stage) == 0)
        self->server = nd_httpd_start (&self->site.where, self->site.connections, self->site.per_ip,
                                       60, s_handle, self);
    if (!self->server) {
        if (self->widget)
            nd_log ("http: cannot listen on %s: %s", self->site.address, strerror (errno));
        chat_http_destroy (&self);
        return NULL;
    }
    nd_log ("http: listening on %s (/chat/send, /chat/poll, /chat/stream, /chat/widget.js)",
            self->site.address);
    return self;
}

//  The inbox must be closed first: streams and polls waiting on it end.
void chat_http_destroy (chat_http_t **self_p)
{
    chat_http_t *self = *self_p;
    if (self) {
        nd_httpd_destroy (&self->server);
        free (self->widget);
        nd_httpd_site_clear (&self->site);
        free (self);
        *self_p = NULL;
    }
}

void chat_http_stats (chat_http_t *self, json_t *stats)
{
    json_object_set_new (stats, "http", json_pack ("{s:I, s:I, s:I}",
        "requests", (json_int_t) self->requests, "refused", (json_int_t) self->refused,
        "streams", (json_int_t) self->streams));
}
