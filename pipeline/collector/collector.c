/*  collector - nudge's intake: shop events in over HTTP, durably.

NAME
    collector - the Segment HTTP Tracking API in front of the nudge pipeline

SYNOPSIS
    collector [--config FILE] [--name NAME] [--clock wall|event]
              [--notify-fd N] [--stdin]
    collector --selftest

DESCRIPTION
    Serves Segment's HTTP Tracking API (POST /v1/track, /v1/identify,
    /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/batch), so any Segment
    or RudderStack SDK feeds nudge once its host points here. Requests carry
    a write key, as Segment's do: the HTTP Basic user name, or "writeKey" in
    the body. Each event is checked (a known type, a userId or anonymousId,
    an "event" name for track, ...), normalized (its "id" is its messageId,
    its "user" the userId or else the anonymousId, its "time" the client's
    timestamp corrected for clock skew) and published on topic
    "event.<type>" for the sessionizer.

    The answer is 200 only once the events are committed to the collector's
    LMDB journal: kill -9 after a 200 loses nothing. A messageId seen before
    (an SDK retrying a batch whose answer it missed) is answered 200 and
    not passed on again. Limits follow Segment: 32 KB an event, 500 KB a
    batch (413 beyond). In a batch, valid events are kept and each invalid
    one is listed with its index and reason.

    With --clock event, POST /v1/tick {"time":...} (or a stdin line
    {"type":"tick","time":...}) moves event time for the whole pipeline.

    GET /health answers {"status":"ok"} for load balancers.

    POST /unsubscribe?token=... is the RFC 8058 one-click unsubscribe of
    the mail-sender's List-Unsubscribe header (GET shows a page with a
    button that posts it). The token is checked with the secret named by
    "unsubscribe-secret" (env:NAME or file:PATH, usually in [pipeline] so
    the mail-sender shares it) and needs no write key; a valid one is
    committed as topic "unsubscribe" {"user", "channel", "via"}, which
    the mail-sender turns into a suppression and feedback.unsubscribed
    for the scheduler. Without the option the endpoint answers 404.

    GET and POST /confirm?t=TOKEN and POST /v1/confirm are the double
    opt-in: an address a browser gave is confirmed by the link or code
    the scheduler sent to it, and committed as a trusted identify with
    its consent (collector_confirm.c). Without the secret: 404.

    When a stage reading the collector runs in partitions, the person
    router (collector_route.c) stamps each event with the visitor the
    sessionizer will give it and routes it, and whatever else is about a
    visitor, to that person's partition; a merge across partitions is
    preceded by move.out and move.in (README "Partitioned stages").

    With --stdin, Segment events are also read from standard input, one JSON
    object a line (a replay of an export); bad lines are logged with their
    number and skipped. At end of input the collector keeps serving.

    Options in its section of the pipeline file: http (host:port, default
    127.0.0.1:8080, "off" for none), write-keys (one "key = ..." line per
    key; "env:NAME" or "file:PATH" to keep the secret out of the file),
    browser-keys (the shop's pages' public keys, each "key = ..." with
    "origins = ..." under it: good only from those origins, and its events
    say "via": "browser"; CORS answers only to those origins),
    max-event, max-batch (sizes), dedupe-window (default 24h),
    unsubscribe-secret, kit (the browser kit's directory, default web:
    GET /nudge.js and /nudge-sw.js from memory, gzip, ETag), vapid-key
    (the push-sender's key: GET /v1/push/key tells pages its public half).
    See collector(1).
*/
#include <ctype.h>
#include <stddef.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include "nd_p256.h"
#include "nd_phone.h"
#include "nd_token.h"
#include "collector.h"
#include "collector_route.h"

typedef struct {
    bool read_stdin;
    const char *config;         //  the pipeline file, as the runtime reads it
} collector_args_t;

typedef struct {
    nd_stage_t *stage;
    collector_args_t *args;
    collector_limits_t limits;
    collector_counters_t counters;
    collector_key_t *keys;      //  server keys, then browser keys; key NULL ends
    char *unsubscribe_secret;   //  or NULL: no /unsubscribe
    collector_kit_t *kit;       //  or NULL: no /nudge.js
    char push_key [ND_P256_TEXT];   //  the VAPID public key, or ""
    collector_queue_t *queue;
    collector_seen_t *seen;
    collector_route_t *route;   //  or NULL: no consumer is partitioned
    collector_http_t *http;
    collector_stdin_t *input;
    collector_ticket_t *inflight;   //  tickets in the open transaction
    uint64_t inflight_accepted;
    uint64_t inflight_duplicates;
    bool inflight_failed;
} collector_t;

static int s_parse_arg (const char *arg, void *args)
{
    if (strcmp (arg, "--stdin"))
        return -1;
    ((collector_args_t *) args)->read_stdin = true;
    return 0;
}

/* ---------------------------------------------------------------- setup */

static int s_size_option (nd_stage_t *stage, const char *path, const char *fallback,
                          size_t *value)
{
    uint64_t bytes;
    if (nd_size_parse (nd_stage_option (stage, path, fallback), &bytes)
    ||  bytes < 1024 || bytes > 64 * 1024 * 1024)
        return nd_stage_config_error (stage, path, "not a size from 1k to 64M, such as 32k");
    *value = (size_t) bytes;
    return 0;
}

//  The secret may live outside the pipeline file, which is checked in.
static char *s_resolve_key (nd_stage_t *stage, const char *value)
{
    if (strncmp (value, "env:", 4) == 0) {
        const char *secret = getenv (value + 4);
        if (secret && *secret)
            return strdup (secret);
        nd_stage_config_error (stage, "write-keys/key", "environment variable not set");
        return NULL;
    }
    if (strncmp (value, "file:", 5) == 0) {
        char secret [256] = "";
        FILE *file = fopen (value + 5, "r");
        if (file) {
            if (!fgets (secret, sizeof secret, file))
                *secret = 0;
            fclose (file);
        }
        secret [strcspn (secret, "\r\n")] = 0;
        if (*secret)
            return strdup (secret);
        nd_stage_config_error (stage, "write-keys/key", "cannot read the key file");
        return NULL;
    }
    return strdup (value);
}

//  An origin as browsers send it: scheme://host[:port], nothing after,
//  lower case. Returns a copy, or NULL if text is not one.
static char *s_origin (const char *text, size_t length)
{
    size_t scheme = strncasecmp (text, "https://", 8) == 0 ? 8
                  : strncasecmp (text, "http://", 7) == 0 ? 7 : 0;
    if (!scheme || length <= scheme || length > 255)
        return NULL;
    char *origin = strndup (text, length);
    for (char *c = origin; *c; c++) {
        *c = (char) tolower ((unsigned char) *c);
        if ((c - origin) >= (ptrdiff_t) scheme && !isalnum ((unsigned char) *c)
        &&  !strchr ("-.:[]", *c)) {
            free (origin);
            return NULL;
        }
    }
    return origin;
}

//  "https://shop.example, https://www.shop.example" into a list.
static char **s_origins (const char *text)
{
    size_t count = 0;
    char **origins = (char **) zmalloc ((strlen (text) / 8 + 2) * sizeof *origins);
    while (*text) {
        text += strspn (text, ", ");
        size_t length = strcspn (text, ", ");
        if (!length)
            break;
        if (!(origins [count++] = s_origin (text, length))) {
            for (size_t i = 0; i < count; i++)
                free (origins [i]);
            free (origins);
            return NULL;
        }
        text += length;
    }
    if (!count) {
        free (origins);
        return NULL;
    }
    return origins;
}

//  Browser keys are public: they are written in the file as they are, and
//  each names the origins (the shop's pages) it is good from.
static int s_read_browser_keys (collector_t *self, size_t first)
{
    const char *origins;
    for (size_t i = 0; ; i++) {
        const char *key = nd_stage_option_nth (self->stage, "browser-keys", "key", i,
                                               "origins", &origins);
        if (!key)
            return 0;
        collector_key_t *entry = &self->keys [first + i];
        if (!*key || strncmp (key, "env:", 4) == 0 || strncmp (key, "file:", 5) == 0)
            return nd_stage_config_error_nth (self->stage, "browser-keys/key", i,
                                              "a browser key is public: write it as it is");
        if (!origins)
            return nd_stage_config_error_nth (self->stage, "browser-keys/key", i,
                                              "needs origins = \"https://shop.example, ...\" "
                                              "(the pages it is used from)");
        entry->key = strdup (key);
        if (!(entry->origins = s_origins (origins)))
            return nd_stage_config_error_nth (self->stage, "browser-keys/key", i,
                                              "origins: not a list of origins such as "
                                              "\"https://shop.example, http://127.0.0.1:8000\"");
        for (size_t k = 0; k < first + i; k++)
            if (streq (self->keys [k].key, key))
                return nd_stage_config_error_nth (self->stage, "browser-keys/key", i,
                                                  "the same key is listed twice");
    }
}

static int s_read_keys (collector_t *self)
{
    const char **values = nd_stage_option_list (self->stage, "write-keys", "key");
    const char *origins;
    size_t count = 0, browser = 0;
    while (values [count])
        count++;
    while (nd_stage_option_nth (self->stage, "browser-keys", "key", browser, NULL, &origins))
        browser++;
    self->keys = (collector_key_t *) zmalloc ((count + browser + 1) * sizeof *self->keys);
    int rc = count + browser ? 0 : nd_stage_config_error (self->stage, "write-keys",
                                                          "needs at least one key = \"...\" line");
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = (self->keys [i].key = s_resolve_key (self->stage, values [i])) ? 0 : -1;
    free (values);
    return rc ? rc : s_read_browser_keys (self, count);
}

//  Shared with the mail-sender, which signs the tokens this checks.
static int s_read_unsubscribe_secret (collector_t *self)
{
    const char *name = nd_stage_option (self->stage, "unsubscribe-secret", NULL);
    char reason [200];
    if (name && !(self->unsubscribe_secret = nd_secret_load (name, true, reason, sizeof reason)))
        return nd_stage_config_error (self->stage, "unsubscribe-secret", reason);
    return 0;
}

//  The kit's files, read once: "off" for none. The default directory may
//  be missing (a stage started elsewhere than the shop's checkout); one
//  named on purpose must be there.
static int s_read_kit (collector_t *self)
{
    const char *dir = nd_stage_option (self->stage, "kit", NULL);
    if (dir && strcmp (dir, "off") == 0)
        return 0;
    struct stat st;
    if (dir && (stat (dir, &st) || !S_ISDIR (st.st_mode)))
        return nd_stage_config_error (self->stage, "kit", "not a directory");
    char reason [300];
    self->kit = collector_kit_new (dir ? dir : "web", reason, sizeof reason);
    return self->kit ? 0 : nd_stage_config_error (self->stage, "kit", reason);
}

//  The push-sender's key, of which pages need the public half only.
static int s_read_push_key (collector_t *self)
{
    const char *name = nd_stage_option (self->stage, "vapid-key", NULL);
    if (!name)
        return 0;
    char reason [200];
    EVP_PKEY *key = nd_p256_load (name, reason, sizeof reason);
    int rc = key ? nd_p256_public_text (key, self->push_key, sizeof self->push_key) : -1;
    EVP_PKEY_free (key);
    if (rc && key)
        snprintf (reason, sizeof reason, "cannot take the public key");
    return rc ? nd_stage_config_error (self->stage, "vapid-key", reason) : 0;
}

static int s_start_http (collector_t *self)
{
    const char *address = nd_stage_option (self->stage, "http", "127.0.0.1:8080");
    if (strcmp (address, "off") == 0)
        return 0;
    if (s_read_unsubscribe_secret (self) || s_read_kit (self) || s_read_push_key (self))
        return -1;
    char reason [200];
    int fd = collector_http_listen (address, reason, sizeof reason);
    if (fd < 0)
        return nd_stage_config_error (self->stage, "http", reason);
    self->http = collector_http_new (fd, self->keys, &self->limits,
                                     self->queue, &self->counters,
                                     nd_stage_name (self->stage), self->unsubscribe_secret,
                                     self->kit, *self->push_key ? self->push_key : NULL);
    return self->http ? 0 : -1;
}

//  Requests a second, such as 50 or 0.5; 0 for no limit.
static int s_rate_option (nd_stage_t *stage, const char *name, double *rate)
{
    const char *text = nd_stage_option (stage, name, "0");
    char *end;
    *rate = strtod (text, &end);
    if (end == text || *end || !(*rate >= 0) || *rate > 1e6)
        return nd_stage_config_error (stage, name, "not requests a second, such as 50 or 0.5 (0: no limit)");
    return 0;
}

//  The country of numbers typed without a country code, as the
//  sessionizer's: a code is confirmed for the number the sessionizer
//  made of what the browser gave (usually set once, in [pipeline]).
static int s_phone_region (nd_stage_t *stage, collector_limits_t *limits)
{
    const char *region = nd_stage_option (stage, "phone-region", NULL);
    if (region && !nd_phone_region (region))
        return nd_stage_config_error (stage, "phone-region",
                                      "not an ISO 3166 alpha-2 region such as PL or DE");
    snprintf (limits->phone_region, sizeof limits->phone_region, "%s", region ? region : "");
    return 0;
}

//  A router starting over a sessionizer that ran as one partition takes
//  the people it named (nd-repartition leaves them in the state directory).
static int s_route_seed (nd_stage_t *stage, collector_route_t *route, MDB_txn *txn)
{
    char *path = zsys_sprintf ("%s/route-seed.jsonl", nd_stage_option (stage, "state", "var/state"));
    long taken = collector_route_seed (route, txn, path);
    free (path);
    return taken < 0 ? -1 : 0;
}

//  The person router, on when a consumer of ours is partitioned.
static int s_route_parts (nd_stage_t *stage, int *parts)
{
    collector_args_t *args = (collector_args_t *) nd_stage_args (stage);
    if (collector_route_parts (args->config, nd_stage_name (stage), parts))
        return nd_stage_config_refused (stage);     //  logged as file:line
    return 0;
}

static int s_check (nd_stage_t *stage)
{
    collector_limits_t limits;
    int parts;
    return s_phone_region (stage, &limits) || s_route_parts (stage, &parts) ? -1 : 0;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    collector_t *self = (collector_t *) zmalloc (sizeof *self);
    *self_p = self;             //  torn down by the runtime even if we fail
    self->stage = stage;
    self->args = (collector_args_t *) nd_stage_args (stage);
    self->limits.event_time = nd_clock_is_event (nd_stage_clock (stage));
    int64_t window, connections, per_ip;
    if (s_size_option (stage, "max-event", "32k", &self->limits.max_event)
    ||  s_size_option (stage, "max-batch", "500k", &self->limits.max_batch)
    ||  nd_stage_option_duration (stage, "dedupe-window", "24h", &window)
    ||  nd_stage_option_int (stage, "max-connections", "8192", &connections)
    ||  nd_stage_option_int (stage, "max-connections-per-ip", "256", &per_ip)
    ||  s_phone_region (stage, &self->limits)
    ||  s_read_keys (self))
        return -1;
    if (connections < 1 || connections > 1000000 || per_ip < 1 || per_ip > 1000000)
        return nd_stage_config_error (stage, connections < 1 || connections > 1000000
                                      ? "max-connections" : "max-connections-per-ip",
                                      "out of range (1 to 1000000)");
    self->limits.max_connections = (unsigned int) connections;
    self->limits.per_ip = (unsigned int) per_ip;
    if (s_rate_option (stage, "rate-per-ip", &self->limits.rate_per_ip)
    ||  s_rate_option (stage, "rate-per-key", &self->limits.rate_per_key))
        return -1;
    int parts;
    if (s_route_parts (stage, &parts)
    ||  (parts > 1 && !(self->route = collector_route_new (txn, parts)))
    ||  (self->route && s_route_seed (stage, self->route, txn)))
        return -1;
    if (!(self->seen = collector_seen_new (txn, window))
    ||  !(self->queue = collector_queue_new ())
    ||  s_start_http (self))
        return -1;
    if (self->args->read_stdin
    &&  !(self->input = collector_stdin_new (STDIN_FILENO, &self->limits, self->queue,
                                             &self->counters)))
        return -1;
    return 0;
}

static void s_teardown (void **self_p)
{
    collector_t *self = (collector_t *) *self_p;
    if (self) {
        //  Closing the queue answers every waiting request, so the threads
        //  that wait on it can be joined
        if (self->queue)
            collector_queue_close (self->queue);
        collector_stdin_destroy (&self->input);
        collector_http_destroy (&self->http);
        collector_kit_destroy (&self->kit);
        collector_queue_destroy (&self->queue);
        collector_seen_destroy (&self->seen);
        collector_route_destroy (&self->route);
        for (collector_key_t *key = self->keys; key && key->key; key++) {
            for (char **origin = key->origins; origin && *origin; origin++)
                free (*origin);
            free (key->origins);
            free (key->key);
        }
        free (self->keys);
        free (self->unsubscribe_secret);
        free (self);
        *self_p = NULL;
    }
}

/* ----------------------------------------------------------------- loop */

static int s_source_fd (void *self_)
{
    collector_t *self = (collector_t *) self_;
    return collector_queue_fd (self->queue);
}

//  Who an event is about, for partitioned readers (README "Partitioned
//  stages"): each of its ids, so an event that joins two ids (identify,
//  alias) reaches the partitions of both.
static size_t s_route_keys (const json_t *event, uint32_t *keys)
{
    const char *fields [] = { "userId", "anonymousId", "previousId" };
    size_t count = 0;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *id = json_string_value (json_object_get (event, fields [i]));
        if (id && *id)
            keys [count++] = nd_route_key (id);
    }
    return count;
}

//  A merge of two people from different partitions: the loser's partition
//  hands its state to the survivor's, before the event that merged them.
static int s_emit_move (collector_t *self, MDB_txn *txn, const json_t *event,
                        const collector_merge_t *merge)
{
    const char *topics [] = { "move.out", "move.in" };
    const char *owners [] = { merge->loser, merge->survivor };
    char move [300];
    snprintf (move, sizeof move, "%s:move", json_string_value (json_object_get (event, "id")));
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char id [320];
        snprintf (id, sizeof id, "%s.%s", move, topics [i] + 5);
        json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:O?}", "id", id, "user", merge->loser,
                                  "into", merge->survivor, "move", move,
                                  "time", json_object_get (event, "time"));
        uint32_t key = nd_route_key (owners [i]);
        rc = body ? nd_emit_routed (self->stage, txn, topics [i], body, &key, 1) : -1;
        json_decref (body);
    }
    return rc;
}

//  Who a message is about when the router is on: an event, its visitor,
//  stamped in it; a person.erase, the person's partitions; a click or an
//  unsubscribe, the person its "user" is now. Else (the router off, or
//  nobody in particular) s_route_keys.
static int s_route (collector_t *self, MDB_txn *txn, collector_item_t *item, uint32_t *keys,
                    size_t *count)
{
    if (strncmp (item->topic, "event.", 6) == 0)
        json_object_del (item->body, "visitor");    //  only the router says it
    if (self->route && streq (item->topic, "person.erase"))
        return collector_route_erase (self->route, txn,
                                      json_string_value (json_object_get (item->body, "user")),
                                      keys, count);
    collector_merge_t merge = { "", "" };
    int rc = ND_NOTFOUND;
    if (self->route && strncmp (item->topic, "event.", 6) == 0)
        rc = collector_route_event (self->route, txn, item->topic, item->body, keys, &merge);
    else
    if (self->route)
        rc = collector_route_user (self->route, txn, item->body, keys);
    *count = rc == 0 ? 1 : s_route_keys (item->body, keys);
    if (rc == 0 && collector_route_crosses (self->route, &merge))
        return s_emit_move (self, txn, item->body, &merge);
    return rc < 0 ? -1 : 0;
}

//  One event into the journal, unless its messageId was seen before.
static int s_store (collector_t *self, MDB_txn *txn, collector_item_t *item)
{
    nd_clock_t *clock = nd_stage_clock (self->stage);
    if (item->time == 0) {      //  event time, and the event said nothing
        item->time = nd_clock_now (clock);
        collector_event_stamp (item->body, item->time);
    }
    nd_clock_advance (clock, item->time);
    const char *id = json_string_value (json_object_get (item->body, "id"));
    int seen = collector_seen_check (self->seen, txn, id, nd_clock_now (clock));
    if (seen < 0)
        return -1;
    if (seen) {
        self->inflight_duplicates++;
        return 0;
    }
    uint32_t keys [3];
    size_t count;
    if (s_route (self, txn, item, keys, &count)
    ||  nd_emit_routed (self->stage, txn, item->topic, item->body, keys, count))
        return -1;
    self->inflight_accepted++;
    return 0;
}

//  Every waiting request goes into this one transaction (group commit).
static int s_source_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    collector_t *self = (collector_t *) self_;
    collector_ticket_t *tickets = collector_queue_take (self->queue);
    for (collector_ticket_t *ticket = tickets; ticket && !self->inflight_failed;
         ticket = collector_ticket_next (ticket))
        for (size_t i = 0; i < collector_ticket_size (ticket) && !self->inflight_failed; i++)
            self->inflight_failed = s_store (self, txn, collector_ticket_item (ticket, i)) != 0;
    //  The runtime calls us once a transaction; should that change, the
    //  lists join so that every ticket still hears the outcome
    self->inflight = collector_ticket_join (self->inflight, tickets);
    return self->inflight_failed ? -1 : 0;
}

//  A drain that failed half way may still have committed its first part;
//  its requests hear 503 and retry, and the ids already stored make the
//  retry a duplicate, not a loss.
static void s_source_committed (nd_stage_t *stage, void *self_, int rc)
{
    collector_t *self = (collector_t *) self_;
    bool ok = rc == 0 && !self->inflight_failed;
    if (ok) {
        //  What /confirm checks a link's expiry against (event time)
        atomic_store (&self->counters.now, nd_clock_now (nd_stage_clock (stage)));
        atomic_fetch_add (&self->counters.accepted, self->inflight_accepted);
        atomic_fetch_add (&self->counters.duplicates, self->inflight_duplicates);
    }
    if (self->inflight)
        collector_queue_finish (self->queue, self->inflight, ok ? 0 : -1);
    self->inflight = NULL;
    self->inflight_accepted = self->inflight_duplicates = 0;
    self->inflight_failed = false;
}

static void s_stats (void *self_, json_t *stats)
{
    collector_t *self = (collector_t *) self_;
    collector_counters_t *counters = &self->counters;
    //  "rejected" replaces the runtime's count of bad input messages: the
    //  collector's input is HTTP and stdin, and those are what it rejects
    json_t *ours = json_pack ("{s:I, s:I, s:I, s:I, s:I}",
        "requests", (json_int_t) atomic_load (&counters->requests),
        "accepted", (json_int_t) atomic_load (&counters->accepted),
        "rejected", (json_int_t) atomic_load (&counters->rejected),
        "duplicates", (json_int_t) atomic_load (&counters->duplicates),
        "pending", (json_int_t) collector_queue_pending (self->queue));
    json_object_update (stats, ours);
    json_decref (ours);
    MDB_txn *txn;
    if (self->route && mdb_txn_begin (nd_stage_env (self->stage), NULL, MDB_RDONLY, &txn) == 0) {
        collector_route_stats (self->route, txn, stats);
        mdb_txn_abort (txn);
    }
}

static void s_selftest (bool verbose)
{
    collector_event_test (verbose);
    collector_body_test (verbose);
    collector_rate_test (verbose);
    collector_confirm_test (verbose);
    collector_kit_test (verbose);
    collector_queue_test (verbose);
    collector_route_test (verbose);
}

//  The router asks the pipeline file who reads the collector; the
//  runtime keeps -c to itself, so the file is found here as it finds it.
static const char *s_config_arg (int argc, char **argv)
{
    const char *config = "conf/pipeline.zpl";
    for (int i = 1; i < argc; i++)
        if ((streq (argv [i], "-c") || streq (argv [i], "--config")) && i + 1 < argc)
            config = argv [++i];
        else
        if (strncmp (argv [i], "--config=", 9) == 0)
            config = argv [i] + 9;
        else
        if (strncmp (argv [i], "-c", 2) == 0 && argv [i][2])
            config = argv [i] + 2;
    return config;
}

int main (int argc, char **argv)
{
    collector_args_t args = { false, s_config_arg (argc, argv) };
    const nd_stage_def_t def = {
        .name = "collector",
        .summary = "Takes shop events in over the Segment HTTP Tracking API, durably.",
        .options_help = "      --stdin           also read Segment events, one JSON object a line\n",
        .selftest = s_selftest,
        .parse_arg = s_parse_arg,
        .args = &args,
        .setup = s_setup,
        .check = s_check,
        .source_fd = s_source_fd,
        .source_drain = s_source_drain,
        .source_committed = s_source_committed,
        .stats = s_stats,
        .teardown = s_teardown
    };
    return nd_stage_main (argc, argv, &def);
}
