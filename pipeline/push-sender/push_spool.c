/*  push_spool - notifications written to a local directory instead of a
    push service: the push-sender's dry run (option "spool", used by
    nd-backtest and for trying journeys by hand).

    Each order is rendered exactly as push_service would render it, then
    lands as one JSON file, or one line of the spool's file of lines
    (nd_spool.h: written whole or not at all, named by a hash of the
    idempotency key), instead of being encrypted and POSTed:

        {"title": "...", "body": "...", "url": "...", "tag": "...",
         "key": "...", "journey": "...", "step": "...", "variant": "...",
         "user": "v-12", "endpoint": "https://...", "idempotency_key": "...",
         "sent": "<the stage's clock when it went>",
         "id": "<file name without .json>"}

    The scheduler hears feedback.delivered with "provider": "spool" and
    the file's id. No VAPID key is needed and nothing leaves the host.
    A template that is missing or does not render fails the order, as it
    would live; a directory that cannot be written is retried.         */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>
#include "nd_spool.h"
#include "nd_token.h"
#include "push.h"

struct _push_spool_t {
    nd_templates_t *templates;
    char *dir;
    bool sync;
};

push_spool_t *push_spool_new (nd_templates_t *templates, const char *dir, bool sync,
                              char *reason, size_t size)
{
    push_spool_t *self = (push_spool_t *) calloc (1, sizeof *self);
    assert (self);
    self->templates = templates;
    self->dir = strdup (dir);
    self->sync = sync;
    if (nd_spool_open (dir)) {
        snprintf (reason, size, "cannot make the spool directory %s: %s", dir, strerror (errno));
        push_spool_destroy (&self);
    }
    return self;
}

void push_spool_destroy (push_spool_t **self_p)
{
    push_spool_t *self = *self_p;
    if (self) {
        nd_templates_destroy (&self->templates);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

static void s_spool_one (push_spool_t *self, nd_send_job_t *job)
{
    nd_send_result_t *result = &job->result;
    json_t *record = push_payload (self->templates, NULL, job->order, result->reason,
                                   sizeof result->reason);
    if (!record) {
        result->outcome = ND_SEND_PERMANENT;
        snprintf (result->topic, sizeof result->topic, "failed");
        return;
    }
    json_object_set (record, "user", json_object_get (job->order, "user"));
    json_object_set (record, "endpoint",
                     json_object_get (push_subscription (job->order), "endpoint"));
    json_object_set_new (record, "idempotency_key", json_string (job->key));
    char name [ND_SPOOL_NAME_MAX], sent [32];
    json_object_set_new (record, "sent", json_string (nd_time_format (job->time, sent)));
    if (nd_spool_put (self->dir, self->sync, job->key, record, name) == 0) {
        result->outcome = ND_SEND_DELIVERED;
        *result->reason = 0;
        result->extra = json_pack ("{s:s, s:s}", "provider", "spool", "provider_id", name);
    }
    else
        snprintf (result->reason, sizeof result->reason, "spool %s: %s", self->dir,
                  strerror (errno));
    json_decref (record);
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        s_spool_one ((push_spool_t *) self_, &jobs [i]);
}

static void s_destroy (void **self_p)
{
    push_spool_destroy ((push_spool_t **) self_p);
}

const nd_send_provider_t push_spool_provider = { "spool", s_deliver, s_destroy };

/* ----------------------------------------------------------- self-test -- */

static void s_file (const char *dir, const char *name, const char *text)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    zstr_free (&path);
}

void push_spool_test (bool verbose)
{
    if (verbose)
        printf (" * push_spool: ");
    char root [] = "/tmp/push-spool-test-XXXXXX", reason [200];
    assert (mkdtemp (root));
    char *templates = zsys_sprintf ("%s/t/j/s/en", root);
    char *spool = zsys_sprintf ("%s/spool", root);
    assert (nd_spool_dir (templates) == 0);
    s_file (templates, "push.title.mustache", "Hi {{name}}");
    s_file (templates, "push.body.mustache", "Your cart");
    s_file (templates, "push.url.mustache", "{{link}}");
    s_file (templates, "push.image.mustache", "https://shop.example/i/{{name}}.jpg");
    char *base = zsys_sprintf ("%s/t", root);
    nd_templates_t *loaded = nd_templates_new (base, "push", "en", reason, sizeof reason);
    assert (loaded);
    push_spool_t *self = push_spool_new (loaded, spool, false, reason, sizeof reason);
    assert (self);
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s}}",
        "user", "v-1", "journey", "j", "step", "s", "variant", "a", "template", "j/s",
        "data", "name", "Ann", "link", "javascript:alert(1)",
        "to", "endpoint", "https://fcm.googleapis.com/fcm/send/x");
    nd_send_result_t untried = { .outcome = ND_SEND_RETRY, .reason = "not attempted" };
    nd_send_job_t jobs [2] = { { .order = order, .key = "j/1/s/push", .attempt = 1, .result = untried },
                               { .order = order, .key = "j/2/s/push", .attempt = 1, .result = untried } };
    s_deliver (self, jobs, 1);
    assert (jobs [0].result.outcome == ND_SEND_DELIVERED && jobs [0].result.extra);
    const char *id = json_string_value (json_object_get (jobs [0].result.extra, "provider_id"));
    char *path = zsys_sprintf ("%s/%s.json", spool, id);
    json_t *written = json_load_file (path, 0, NULL);
    assert (written);
    assert (streq (json_string_value (json_object_get (written, "title")), "Hi Ann"));
    assert (streq (json_string_value (json_object_get (written, "user")), "v-1"));
    assert (streq (json_string_value (json_object_get (written, "step")), "s"));
    assert (streq (json_string_value (json_object_get (written, "idempotency_key")), "j/1/s/push"));
    //  Only http(s) links and pictures; no report in a dry run
    assert (!json_object_get (written, "url") && !json_object_get (written, "icon")
            && !json_object_get (written, "report"));
    assert (streq (json_string_value (json_object_get (written, "image")),
                   "https://shop.example/i/Ann.jpg"));
    //  A report URL whose token names the order's key and person
    push_report_t report = { (char *) "https://shop.example/nudge/v1/push/event",
                             (char *) "a secret" };
    json_object_set_new (order, "idempotency_key", json_string ("j/1/s/push"));
    json_t *payload = push_payload (loaded, &report, order, reason, sizeof reason);
    const char *url = json_string_value (json_object_get (payload, "report"));
    assert (url && strncmp (url, "https://shop.example/nudge/v1/push/event?t=", 43) == 0);
    char opened [200];
    assert (nd_token_open ("a secret", PUSH_REPORT_PURPOSE, url + 43, opened, sizeof opened) > 0
            && streq (opened, "j/1/s/push\nv-1"));
    assert (nd_token_open ("a secret", "confirm", url + 43, opened, sizeof opened) < 0);
    json_decref (payload);
    json_object_del (order, "idempotency_key");
    //  An order whose template does not exist fails, as it would live
    json_object_set_new (order, "template", json_string ("j/missing"));
    s_deliver (self, jobs + 1, 1);
    assert (jobs [1].result.outcome == ND_SEND_PERMANENT && streq (jobs [1].result.topic, "failed"));
    json_decref (jobs [0].result.extra);
    json_decref (written);
    json_decref (order);
    unlink (path);
    push_spool_destroy (&self);
    push_spool_destroy (&self);
    zstr_free (&path);
    zstr_free (&base);
    zstr_free (&spool);
    zstr_free (&templates);
    zdir_t *made = zdir_new (root, NULL);
    zdir_remove (made, true);
    zdir_destroy (&made);
    if (verbose)
        printf ("OK\n");
}
