/*  collector_confirm - double opt-in: a person confirms an address.

    Layer: the collector's HTTP intake, beside collector_http.c (which
    routes /confirm and /v1/confirm here); commits through the queue as
    any request does, so the answer comes once the event is on disk.

    An address a browser gave (a public write key) is only a claim: the
    scheduler sent its owner a link (e-mail) or a code (SMS), signed with
    the pipeline's unsubscribe-secret (scheduler confirm.c). What comes
    back here, checked, becomes a trusted identify - no "via", as a
    server key's - with the address and its consent, which the
    sessionizer merges and which starts the welcome journey as any first
    contact does:

      GET /confirm?t=TOKEN     a page with a button; changes nothing (mail
                               scanners fetch every link in a message)
      POST /confirm?t=TOKEN    checks the token (purpose "confirm", its
                               expiry against the collector's clock) and
                               commits identify {email, email_consent:
                               true} for the anonymousId or userId in it
      POST /v1/confirm         a write key (server or browser) and
                               {"anonymousId"?, "userId"?, "phone",
                               "code"}, the phone as typed (made E.164
                               with phone-region, as the sessionizer
                               does): the code is checked against each
                               id given, for today and yesterday (UTC
                               days); right: identify {phone, sms_consent:
                               true}, 200 {"confirmed": true}; wrong or
                               expired: 400 {"error"}; more than 5 tries an
                               hour for one id or phone: 429

    The committed event's messageId comes from what it confirms, so a
    second click is a duplicate, not a second identify. Log lines name
    no address; the pages escape what they show.                          */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <microhttpd.h>
#include "nd_phone.h"
#include "nd_token.h"
#include "collector.h"

#define COMMIT_TIMEOUT_MS 20000
#define DAY_MS 86400000LL
#define TRIES_PER_HOUR 5            //  typed codes, per id and per phone
#define TRY_SLOTS 16384
#define ADDRESS_MAX 254

struct _collector_confirm_t {
    const char *secret;
    const collector_limits_t *limits;
    collector_queue_t *queue;
    collector_counters_t *counters;
    collector_rate_t *tries;
};

collector_confirm_t *collector_confirm_new (const char *secret, const collector_limits_t *limits,
                                            collector_queue_t *queue,
                                            collector_counters_t *counters)
{
    if (!secret)
        return NULL;
    collector_confirm_t *self = (collector_confirm_t *) calloc (1, sizeof *self);
    assert (self);
    self->secret = secret;
    self->limits = limits;
    self->queue = queue;
    self->counters = counters;
    //  A burst of TRIES_PER_HOUR, then they come back over the hour
    self->tries = collector_rate_new_burst (TRIES_PER_HOUR / 3600.0, TRIES_PER_HOUR, TRY_SLOTS);
    return self;
}

void collector_confirm_destroy (collector_confirm_t **self_p)
{
    collector_confirm_t *self = *self_p;
    if (self) {
        collector_rate_destroy (&self->tries);
        free (self);
        *self_p = NULL;
    }
}

/* ------------------------------------------------------------- helpers */

//  The collector's "now": event time follows the loop's clock.
static int64_t s_now (collector_confirm_t *self)
{
    return self->limits->event_time ? atomic_load (&self->counters->now) : nd_wall_ms ();
}

static void s_digest_hex (const char *text, char *hex, size_t size)
{
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) text, strlen (text), digest);
    hex [0] = 0;
    for (size_t i = 0; i < 16 && 2 * i + 2 < size; i++)
        sprintf (hex + 2 * i, "%02x", digest [i]);
}

//  Commits identify with traits for the id (field "anonymousId" or
//  "userId"); id_seed names what it confirms, for its messageId.
static int s_commit (collector_confirm_t *self, const char *field, const char *id,
                     json_t *traits, const char *how, const char *id_seed)
{
    char message_id [48] = "confirm-", topic [32], reason [COLLECTOR_REASON_MAX];
    s_digest_hex (id_seed, message_id + 8, sizeof message_id - 8);
    json_t *event = json_pack ("{s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "type", "identify",
                               "messageId", message_id, field, id, "traits", traits,
                               "context", "consent", "confirmed", how);
    collector_envelope_t envelope = { .limits = self->limits, .received = nd_wall_ms () };
    int64_t time;
    if (collector_event_normalize (event, "identify", &envelope, topic, sizeof topic, &time, reason)) {
        nd_log ("confirm: the identify was refused: %s", reason);
        json_decref (event);
        return COLLECTOR_FAILED;
    }
    collector_ticket_t *ticket = collector_ticket_new ();
    collector_ticket_add (ticket, topic, event, time);
    int rc = collector_queue_commit (self->queue, ticket, COMMIT_TIMEOUT_MS);
    collector_ticket_destroy (&ticket);
    return rc;
}

//  Text made safe for HTML, at most size - 1 bytes of it.
static void s_escape (const char *text, char *out, size_t size)
{
    size_t used = 0;
    for (; *text; text++) {
        const char *with = *text == '&' ? "&amp;" : *text == '<' ? "&lt;" : *text == '>' ? "&gt;"
                         : *text == '"' ? "&quot;" : *text == '\'' ? "&#39;" : NULL;
        size_t length = with ? strlen (with) : 1;
        if (used + length >= size)
            break;
        memcpy (out + used, with ? with : text, length);
        used += length;
    }
    out [used] = 0;
}

/* --------------------------------------------------------- the link -- */

typedef struct {
    char field [16];                //  "anonymousId" or "userId"
    char id [512];
    char address [ADDRESS_MAX + 1];
    int64_t expiry;                 //  epoch seconds
} s_link_t;

//  0 valid, -1 not made by nudge for this, 1 expired.
static int s_link_open (collector_confirm_t *self, const char *token, s_link_t *link)
{
    char payload [1024];
    if (!token || strlen (token) >= ND_TOKEN_MAX + 2 * ADDRESS_MAX
    ||  nd_token_open (self->secret, "confirm", token, payload, sizeof payload) < 0)
        return -1;
    char *lines [4];
    char *cursor = payload;
    for (int i = 0; i < 4; i++) {
        lines [i] = cursor;
        cursor = cursor ? strchr (cursor, '\n') : NULL;
        if (cursor)
            *cursor++ = 0;
        else
        if (i < 3)
            return -1;
    }
    if (strcmp (lines [0], "email") || (strncmp (lines [1], "a:", 2) && strncmp (lines [1], "u:", 2))
    ||  !lines [1][2] || strlen (lines [1]) >= sizeof link->id || !strchr (lines [2], '@')
    ||  strlen (lines [2]) > ADDRESS_MAX)
        return -1;
    snprintf (link->field, sizeof link->field, "%s", lines [1][0] == 'a' ? "anonymousId" : "userId");
    snprintf (link->id, sizeof link->id, "%s", lines [1] + 2);
    snprintf (link->address, sizeof link->address, "%s", lines [2]);
    link->expiry = strtoll (lines [3], NULL, 10);
    return s_now (self) / 1000 > link->expiry ? 1 : 0;
}

static int s_link_refused (struct MHD_Connection *connection, int opened)
{
    nd_log ("confirm: %s link refused", opened > 0 ? "an expired" : "a forged or damaged");
    if (opened > 0)
        return collector_reply_page (connection, MHD_HTTP_GONE, "Link expired",
            "<p>This confirmation link has expired. Enter your address on the shop's page "
            "again to get a new one.</p>");
    return collector_reply_page (connection, MHD_HTTP_BAD_REQUEST, "Link not valid",
        "<p>This confirmation link is not valid. Please use the link in the latest "
        "confirmation message you received.</p>");
}

int collector_confirm_link (collector_confirm_t *self, struct MHD_Connection *connection,
                            const char *method)
{
    if (!self)
        return collector_reply_page (connection, MHD_HTTP_NOT_FOUND, "Not found", "");
    bool show = strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
    if (!show && strcmp (method, "POST"))
        return collector_reply_page (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "Use POST", "");
    const char *token = MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "t");
    s_link_t link;
    int opened = s_link_open (self, token, &link);
    if (opened)
        return s_link_refused (connection, opened);
    char address [6 * ADDRESS_MAX + 1], escaped [6 * (ND_TOKEN_MAX + 2 * ADDRESS_MAX)];
    s_escape (link.address, address, sizeof address);
    if (show) {
        s_escape (token, escaped, sizeof escaped);
        char *form = zsys_sprintf (
            "<form method=\"post\" action=\"/confirm?t=%s\">"
            "<p>Confirm that you want news and offers at <b>%s</b>?</p>"
            "<p><button type=\"submit\">Confirm</button></p></form>"
            "<p>If you did not ask for them, close this page: nothing happens.</p>",
            escaped, address);
        int rc = collector_reply_page (connection, MHD_HTTP_OK, "Confirm your address", form);
        zstr_free (&form);
        return rc;
    }
    char seed [1200];
    snprintf (seed, sizeof seed, "email\n%s\n%s\n%s", link.field, link.id, link.address);
    json_t *traits = json_pack ("{s:s, s:b}", "email", link.address, "email_consent", 1);
    int rc = s_commit (self, link.field, link.id, traits, "email-link", seed);
    if (rc != COLLECTOR_COMMITTED)
        return collector_reply_page (connection, MHD_HTTP_SERVICE_UNAVAILABLE, "Please try again",
                                    "<p>We could not record that just now. Please try again "
                                    "in a minute.</p>");
    nd_log ("confirm: an e-mail address confirmed by its link");
    char *done = zsys_sprintf ("<p>Thank you: <b>%s</b> is confirmed.</p>", address);
    int result = collector_reply_page (connection, MHD_HTTP_OK, "Confirmed", done);
    zstr_free (&done);
    return result;
}

/* --------------------------------------------------------- the code -- */

static unsigned int s_error (json_t **answer, unsigned int status, const char *reason)
{
    *answer = json_pack ("{s:s}", "error", reason);
    return status;
}

//  Takes a try for who (an id or the phone, hashed: any length fits).
static int64_t s_try (collector_confirm_t *self, char kind, const char *who)
{
    char key [40] = { kind, ':' };
    s_digest_hex (who, key + 2, sizeof key - 2);
    return collector_rate_take (self->tries, key, nd_wall_ms ());
}

unsigned int collector_confirm_code (collector_confirm_t *self, const json_t *root,
                                     json_t **answer, char *retry_after, size_t size)
{
    if (!self)
        return s_error (answer, MHD_HTTP_NOT_FOUND, "no such endpoint");
    const char *ids [2] = { json_string_value (json_object_get (root, "anonymousId")),
                            json_string_value (json_object_get (root, "userId")) };
    const char *fields [2] = { "anonymousId", "userId" };
    const char *phone = json_string_value (json_object_get (root, "phone"));
    json_t *code_value = json_object_get (root, "code");
    char code [16] = "";
    if (json_is_string (code_value))
        snprintf (code, sizeof code, "%s", json_string_value (code_value));
    else
    if (json_is_integer (code_value))
        snprintf (code, sizeof code, "%06lld", (long long) json_integer_value (code_value));
    bool any_id = (ids [0] && *ids [0]) || (ids [1] && *ids [1]);
    if (!phone || !*phone || strlen (phone) > 32 || !*code || !any_id)
        return s_error (answer, MHD_HTTP_BAD_REQUEST,
                        "needs \"phone\", \"code\" and an \"anonymousId\" or \"userId\"");
    //  The number as the sessionizer made it (E.164), which the code was
    //  sent to and signed for; as typed when it can't be made so
    char e164 [ND_PHONE_MAX];
    if (!nd_phone_normalise (phone, *self->limits->phone_region ? self->limits->phone_region : NULL,
                             e164, sizeof e164))
        phone = e164;
    int64_t wait = s_try (self, 'p', phone);
    for (int i = 0; i < 2; i++)
        if (ids [i] && *ids [i]) {
            int64_t more = s_try (self, i ? 'u' : 'a', ids [i]);
            wait = more > wait ? more : wait;
        }
    if (wait) {
        snprintf (retry_after, size, "%lld", (long long) ((wait + 999) / 1000));
        nd_log ("confirm: too many code tries for one person");
        return s_error (answer, MHD_HTTP_TOO_MANY_REQUESTS, "too many tries: wait and retry");
    }
    int64_t today = s_now (self) / DAY_MS;
    char payload [1024];
    for (int i = 0; i < 2; i++)
        for (int64_t day = today; ids [i] && *ids [i] && strlen (ids [i]) < 512 && day >= today - 1;
             day--) {
            snprintf (payload, sizeof payload, "%s\n%s\n%lld", ids [i], phone, (long long) day);
            if (!nd_token_code_ok (self->secret, "sms-code", payload, 6, code))
                continue;
            json_t *traits = json_pack ("{s:s, s:b}", "phone", phone, "sms_consent", 1);
            int rc = s_commit (self, fields [i], ids [i], traits, "sms-code", payload);
            if (rc != COLLECTOR_COMMITTED)
                return s_error (answer, MHD_HTTP_SERVICE_UNAVAILABLE, "busy, retry later");
            nd_log ("confirm: a phone number confirmed by its code");
            *answer = json_pack ("{s:b}", "confirmed", 1);
            return MHD_HTTP_OK;
        }
    nd_log ("confirm: a wrong or expired code");
    return s_error (answer, MHD_HTTP_BAD_REQUEST, "wrong or expired code");
}

/* ------------------------------------------------------------ selftest */

void collector_confirm_test (bool verbose)
{
    if (verbose)
        printf (" * collector_confirm: ");
    char out [64];
    s_escape ("<a href=\"x\">'&'</a>", out, sizeof out);
    assert (strcmp (out, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;") == 0);
    s_escape ("&&&&&&&&&&&&&&&&", out, 12);         //  never a half entity
    assert (strcmp (out, "&amp;&amp;") == 0);

    collector_limits_t limits = { .event_time = true };
    collector_counters_t counters = { 0 };
    collector_confirm_t *self = collector_confirm_new ("s3cret", &limits, NULL, &counters);
    char token [ND_TOKEN_MAX];
    s_link_t link;
    assert (nd_token_sign ("s3cret", "confirm", "email\na:anon-1\nann@example.com\n1000",
                           token, sizeof token) == 0);
    atomic_store (&counters.now, 999000);
    assert (s_link_open (self, token, &link) == 0);
    assert (strcmp (link.field, "anonymousId") == 0 && strcmp (link.id, "anon-1") == 0
            && strcmp (link.address, "ann@example.com") == 0);
    atomic_store (&counters.now, 1001000);
    assert (s_link_open (self, token, &link) == 1);         //  expired
    token [strlen (token) - 2] ^= 1;
    assert (s_link_open (self, token, &link) == -1);        //  forged
    assert (nd_token_sign ("s3cret", "push-event", "email\na:x\nann@example.com\n9999999999",
                           token, sizeof token) == 0);
    assert (s_link_open (self, token, &link) == -1);        //  another purpose

    json_t *answer;
    char retry [24] = "";
    json_t *body = json_pack ("{s:s, s:s, s:s}", "anonymousId", "anon-2", "phone", "+48600100200",
                              "code", "000000");
    //  Wrong codes, then too many tries (the right code would commit,
    //  which needs the loop: the integration test has it)
    for (int i = 0; i < TRIES_PER_HOUR; i++) {
        char expected [16], payload [64];
        snprintf (payload, sizeof payload, "anon-2\n+48600100200\n%lld", 1001000LL / DAY_MS);
        nd_token_code ("s3cret", "sms-code", payload, 6, expected, sizeof expected);
        json_object_set_new (body, "code", json_string (strcmp (expected, "000000") == 0 ? "111111" : "000000"));
        assert (collector_confirm_code (self, body, &answer, retry, sizeof retry) == 400);
        json_decref (answer);
    }
    assert (collector_confirm_code (self, body, &answer, retry, sizeof retry) == 429);
    assert (atoi (retry) > 0);
    json_decref (answer);
    json_object_del (body, "phone");
    assert (collector_confirm_code (self, body, &answer, retry, sizeof retry) == 400);
    json_decref (answer);
    json_decref (body);
    collector_confirm_destroy (&self);
    collector_confirm_destroy (&self);
    if (verbose)
        printf ("OK\n");
}
