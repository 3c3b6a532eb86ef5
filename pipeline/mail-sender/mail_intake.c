/*  mail_intake - bounces and complaints that come after the session.

    Layer: stage input (beside the send orders), over suppress and verp.

    nd-bounce (tools/nd-bounce), run by the MTA for mail to the return
    path or over a Maildir, parses a DSN (RFC 3464) or an ARF complaint
    (RFC 5965), finds the VERP token of the message it is about and posts

        POST /bounce  {"token", "type": "bounce" | "complaint",
                       "kind": "hard" | "soft", "status", "action",
                       "reason", "feedback_type"}

    to "bounce-intake" (host:port; keep it on loopback). The request's
    thread checks the token (a forged or altered one: 400, nothing
    stored), then hands the report to the loop (nd_inbox) and waits for
    the commit: 200 only once it is on disk, 503 (try again) otherwise.
    So nd-bounce can tell the MTA "done", "bad input" or "later".

    The loop, in its transaction: a hard bounce suppresses the address
    ("bounced") and emits feedback.bounced {"kind": "hard", "suppressed":
    true}; a soft one (4.x.x, or "delayed") emits feedback.bounced
    {"kind": "soft"} and suppresses nothing; a complaint suppresses the
    address ("complained") and emits feedback.complained. A report seen
    before (the MTA retrying after a lost answer) is answered 200 and not
    passed on again.

    LMDB: "bounce.sent"  i64 order time + u64 id (mail_verp_id of the
                         idempotency key), as the token names it ->
                         {"key", "user", "to", "journey", "instance",
                          "step", "variant", "reported": ["bounced-hard", ...]}
          written for every send order while VERP is on, forgotten after
          "bounce-keep" (default 30d) a few at a time, and at once for a
          person erased (person.erased: a scan, as erasures are rare).                   */
#include <assert.h>
#include <microhttpd.h>
#include "nd_httpd.h"
#include "nd_inbox.h"
#include "nd_listen.h"
#include "mail.h"

#define s_BODY_MAX 16384
#define s_KEY_MAX 256
#define s_PRUNE 8               //  forgotten records per send order at most

typedef struct {
    int64_t time;               //  the order's
    uint64_t id;                //  its key's, as the token names it
    char key [s_KEY_MAX];       //  the idempotency key, once looked up
    bool complaint;
    bool hard;
    char *detail;               //  JSON {status, action, reason, feedback_type}
} s_report_t;

struct _mail_intake_t {
    nd_stage_t *stage;
    mail_suppress_t *suppress;  //  not ours
    mail_verp_t *verp;
    MDB_dbi sent;
    int64_t keep;
    nd_httpd_t *server;
    nd_inbox_t *inbox;
    //  Committed by the loop (hard, soft, complaints, unknown) or counted
    //  by request threads (refused): read for STATS only
    _Atomic uint64_t hard, soft, complaints, unknown, refused;
};

/* ------------------------------------------------------------ the loop -- */

static void s_sent_key (nd_key_t *key, int64_t time, uint64_t id)
{
    nd_key_init (key);
    nd_key_i64 (key, time);
    nd_key_u64 (key, id);
}

int mail_intake_remember (mail_intake_t *self, MDB_txn *txn, const json_t *order)
{
    const char *key = json_string_value (json_object_get (order, "idempotency_key"));
    if (!mail_verp_on (self->verp) || !key || strlen (key) >= s_KEY_MAX)
        return 0;
    nd_key_t sent_key;
    s_sent_key (&sent_key, mail_verp_order_time (order), mail_verp_id (key));
    json_t *record = json_pack ("{s:s}", "key", key);
    const char *fields [] = { "user", "to", "journey", "instance", "step", "variant", NULL };
    for (int i = 0; fields [i]; i++) {
        json_t *value = json_object_get (order, fields [i]);
        if (json_is_string (value))
            json_object_set (record, fields [i], value);
    }
    int rc = nd_db_put_json (txn, self->sent, &sent_key, record);
    json_decref (record);
    return rc ? -1 : nd_db_trim_before (txn, self->sent, nd_stage_now (self->stage) - self->keep,
                                        s_PRUNE, "bounce.sent");
}

//  Whether a bounce.sent record is the user's (arg): its "user" field.
static int s_sent_by (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) key;
    json_t *record = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *user = json_string_value (json_object_get (record, "user"));
    int match = user && streq (user, (const char *) arg);
    json_decref (record);
    return match;
}

int mail_intake_forget (mail_intake_t *self, MDB_txn *txn, const char *user)
{
    nd_key_t all;
    nd_key_init (&all);
    return nd_db_drop (txn, self->sent, &all, s_sent_by, (void *) user) < 0 ? -1 : 0;
}

static int s_suppress (mail_intake_t *self, MDB_txn *txn, const char *address, const char *what)
{
    char known [ND_SEND_TOPIC_MAX], reason [200];
    int rc = mail_suppress_check (self->suppress, txn, NULL, address, known, reason, sizeof reason);
    if (rc)
        return rc < 0 ? -1 : 0;
    return mail_suppress_address (self->suppress, txn, address, what, nd_stage_now (self->stage));
}

static json_t *s_feedback (const s_report_t *report, const json_t *record, const char *topic)
{
    json_t *body = json_loads (report->detail, 0, NULL);
    if (!body)
        body = json_object ();
    const char *fields [] = { "user", "journey", "instance", "step", "variant", NULL };
    for (int i = 0; fields [i]; i++)
        if (json_object_get (record, fields [i]))
            json_object_set (body, fields [i], json_object_get (record, fields [i]));
    if (!json_object_get (body, "user"))
        json_object_set_new (body, "user", json_string (""));
    json_object_set_new (body, "id", json_sprintf ("%s#%s-%s", report->key, topic,
                                                   report->complaint ? "report" : "dsn"));
    json_object_set_new (body, "idempotency_key", json_string (report->key));
    json_object_set_new (body, "channel", json_string ("email"));
    json_object_set_new (body, "via", json_string (report->complaint ? "arf" : "dsn"));
    if (!report->complaint) {
        json_object_set_new (body, "kind", json_string (report->hard ? "hard" : "soft"));
        json_object_set_new (body, "suppressed", json_boolean (report->hard));
    }
    //  The reason quotes a remote server: addresses in it are masked
    char masked [ND_SEND_REASON_MAX];
    nd_sender_mask (json_string_value (json_object_get (body, "reason")) ?: "", masked,
                    sizeof masked);
    json_object_set_new (body, "reason", json_string (masked));
    return body;
}

static int s_apply (void *arg, MDB_txn *txn, void *event)
{
    mail_intake_t *self = (mail_intake_t *) arg;
    s_report_t *report = (s_report_t *) event;
    const char *topic = report->complaint ? "complained" : "bounced";
    char mark [32];
    snprintf (mark, sizeof mark, "%s-%s", topic, report->complaint ? "abuse"
                                                : report->hard ? "hard" : "soft");
    nd_key_t key;
    s_sent_key (&key, report->time, report->id);
    json_t *record = NULL;
    int rc = nd_db_get_json (txn, self->sent, &key, &record);
    if (rc < 0)
        return -1;
    bool known = rc == 0;
    if (!known)
        record = json_object ();
    //  The message by its idempotency key; one sent longer ago than
    //  bounce-keep by what the token says of it
    const char *order_key = json_string_value (json_object_get (record, "key"));
    if (order_key)
        snprintf (report->key, sizeof report->key, "%s", order_key);
    else
        snprintf (report->key, sizeof report->key, "verp/%" PRId64 "-%016" PRIx64, report->time,
                  report->id);
    json_t *reported = json_object_get (record, "reported");
    for (size_t i = 0; i < json_array_size (reported); i++)
        if (streq (json_string_value (json_array_get (reported, i)) ?: "", mark)) {
            nd_log ("%s %s: reported before, not passed on again", topic, report->key);
            json_decref (record);
            return 0;
        }
    const char *address = json_string_value (json_object_get (record, "to"));
    rc = 0;
    if (address && (report->complaint || report->hard))
        rc = s_suppress (self, txn, address, topic);
    if (!reported)
        json_object_set_new (record, "reported", reported = json_array ());
    json_array_append_new (reported, json_string (mark));
    //  Kept even for a message it did not know, so a repeat is seen
    if (rc == 0)
        rc = nd_db_put_json (txn, self->sent, &key, record);
    json_t *body = s_feedback (report, record, topic);
    char full [48];
    snprintf (full, sizeof full, "feedback.%s", topic);
    if (rc == 0)
        rc = nd_emit (self->stage, txn, full, body);
    if (rc == 0) {
        _Atomic uint64_t *count = report->complaint ? &self->complaints
                                : report->hard ? &self->hard : &self->soft;
        (*count)++;
        if (!known)
            self->unknown++;
        nd_log ("%s %s (%s, after the session)%s: %s", topic, report->key, mark + strlen (topic) + 1,
                known ? "" : ", sent longer ago than bounce-keep: the address is not suppressed here",
                json_string_value (json_object_get (body, "reason")));
    }
    json_decref (body);
    json_decref (record);
    return rc ? -1 : 0;
}

int mail_intake_drain (mail_intake_t *self, MDB_txn *txn)
{
    return self->inbox ? nd_inbox_drain (self->inbox, txn, s_apply, self) : 0;
}

void mail_intake_committed (mail_intake_t *self, int rc)
{
    if (self->inbox)
        nd_inbox_committed (self->inbox, rc, false);
}

/* ------------------------------------------------------------ requests -- */

static enum MHD_Result s_refuse (mail_intake_t *self, struct MHD_Connection *connection,
                                 unsigned int status, const char *reason)
{
    self->refused++;
    nd_log ("bounce-intake: refused (%u): %s", status, reason);
    return nd_httpd_refuse (connection, status, reason, NULL);
}

static void s_report_clear (void *event)
{
    s_report_t *report = (s_report_t *) event;
    free (report->detail);
    report->detail = NULL;
}

//  The report's fields from the request, or a reason it is not one.
static const char *s_parse (mail_intake_t *self, const json_t *request, s_report_t *report)
{
    const char *token = json_string_value (json_object_get (request, "token"));
    const char *type = json_string_value (json_object_get (request, "type"));
    const char *kind = json_string_value (json_object_get (request, "kind"));
    if (!token || !type || (!streq (type, "bounce") && !streq (type, "complaint")))
        return "expected {\"token\", \"type\": \"bounce\" or \"complaint\", ...}";
    report->complaint = streq (type, "complaint");
    if (!report->complaint && (!kind || (!streq (kind, "hard") && !streq (kind, "soft"))))
        return "a bounce is \"kind\": \"hard\" or \"soft\"";
    report->hard = !report->complaint && streq (kind, "hard");
    if (mail_verp_open (self->verp, token, &report->time, &report->id))
        return "the return-path token was not made by this mail-sender (forged or altered)";
    json_t *detail = json_object ();
    const char *fields [] = { "status", "action", "reason", "feedback_type", NULL };
    for (int i = 0; fields [i]; i++) {
        const char *value = json_string_value (json_object_get (request, fields [i]));
        char clean [ND_SEND_REASON_MAX];
        if (value) {
            mime_clean (value, clean, sizeof clean);
            json_object_set_new (detail, fields [i], json_string (clean));
        }
    }
    report->detail = json_dumps (detail, JSON_COMPACT);
    json_decref (detail);
    return NULL;
}

static enum MHD_Result s_handle (void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void) version;
    mail_intake_t *self = (mail_intake_t *) cls;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (nd_httpd_receive (request, data, data_size, s_BODY_MAX))
        return MHD_YES;
    if (strcmp (url, "/bounce"))
        return s_refuse (self, connection, MHD_HTTP_NOT_FOUND, "no such path (POST /bounce)");
    if (strcmp (method, "POST"))
        return s_refuse (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (request->discarded)
        return s_refuse (self, connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 16 KB");
    json_t *body = request->body ? json_loads (request->body, 0, NULL) : NULL;
    s_report_t report = { 0 };
    const char *wrong = json_is_object (body) ? s_parse (self, body, &report) : "not a JSON object";
    json_decref (body);
    if (wrong) {
        s_report_clear (&report);
        return s_refuse (self, connection, MHD_HTTP_BAD_REQUEST, wrong);
    }
    int rc = nd_inbox_submit (self->inbox, &report, 1);
    s_report_clear (&report);
    if (rc)
        return s_refuse (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE, "not stored: try again");
    return nd_httpd_answer (connection, MHD_HTTP_OK, "application/json",
                            strdup ("{\"status\":\"ok\"}"), NULL);
}

/* --------------------------------------------------------------- class -- */

static int s_listen (mail_intake_t *self, nd_stage_t *stage, const char *address)
{
    struct sockaddr_storage where;
    socklen_t where_size;
    char reason [200];
    if (!mail_verp_on (self->verp))
        return nd_stage_config_error (stage, "bounce-intake",
                                      "needs return-path: bounces are found by its tokens");
    if (nd_listen_parse (address, &where, &where_size, reason, sizeof reason))
        return nd_stage_config_error (stage, "bounce-intake", reason);
    self->inbox = nd_inbox_new (stage, sizeof (s_report_t), s_report_clear);
    self->server = nd_httpd_start (&where, 16, 16, 30, s_handle, self);
    if (!self->server) {
        snprintf (reason, sizeof reason, "cannot listen: %s", strerror (errno));
        return nd_stage_config_error (stage, "bounce-intake", reason);
    }
    nd_log ("bounce-intake: listening on %s (POST /bounce, from nd-bounce)", address);
    return 0;
}

mail_intake_t *mail_intake_new (nd_stage_t *stage, MDB_txn *txn, mail_suppress_t *suppress)
{
    mail_intake_t *self = (mail_intake_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->suppress = suppress;
    const char *address = nd_stage_option (stage, "bounce-intake", NULL);
    if (!(self->verp = mail_verp_new (stage))
    ||  nd_stage_option_duration (stage, "bounce-keep", "30d", &self->keep)
    ||  nd_db_open (txn, "bounce.sent", &self->sent)
    ||  (address && s_listen (self, stage, address)))
        mail_intake_destroy (&self);
    return self;
}

void mail_intake_destroy (mail_intake_t **self_p)
{
    mail_intake_t *self = *self_p;
    if (!self)
        return;
    //  Waiting requests give up (503) before the server joins their threads
    if (self->inbox)
        nd_inbox_close (self->inbox);
    nd_httpd_destroy (&self->server);
    nd_inbox_destroy (&self->inbox);
    mail_verp_destroy (&self->verp);
    free (self);
    *self_p = NULL;
}

void mail_intake_stats (mail_intake_t *self, json_t *stats)
{
    json_object_set_new (stats, "bounces", json_pack ("{s:I, s:I, s:I, s:I, s:I}",
        "hard", (json_int_t) self->hard, "soft", (json_int_t) self->soft,
        "complaints", (json_int_t) self->complaints, "unknown", (json_int_t) self->unknown,
        "refused", (json_int_t) self->refused));
}
