/*  feedback.c - what the senders say about the send orders.

    Layer: engine: calls send.c, confirm.c and the store (counters.c,
    instance.c, people.c).

    Topics feedback.<kind>, bodies {"id", "user", "time",
    "idempotency_key", "channel", "reason"}:

      delivered      counted; the instance is "reached", and orders that
                     waited for this delivery are credited (attribution.c
                     credits delivered messages only; a failure settles
                     what waited for it too)
      clicked        counted once per message (the first click: unique
                     clicks; the total is STATS' feedback.clicked); the
                     instance remembers it ("clicked" in checks, and when,
                     for attribution = "clicked 3d"); as delivered too, if
                     that was not heard. Clicks come from the collector's
                     /c/ redirects (nd_links.h) and push reports
      failed         the provider gave up: the step falls back to its next
                     reachable channel, once
      bounced        e-mail: the address is suppressed, then as failed; a
                     soft one ("kind": "soft", a late 4.x.x DSN from
                     nd-bounce) is only counted, as "soft-bounced"
      complained     e-mail: a spam complaint (ARF, via nd-bounce): the
                     person is opted out of e-mail, as by an unsubscribe
      unreachable    push: every address is gone, then as failed; "gone"
                     lists them ([{"fcm" | "apns" | "web": address}]),
                     and a delivered push may list the app tokens it
                     found gone on its way to the browser: none is tried
                     again (people.c)
      unsubscribed   the person opted out of channel ("all": of everything);
                     an SMS STOP may come with no idempotency key
      resubscribed   the person opted in again on channel (an SMS START):
                     that channel's opt-out is lifted; one of "all" stands

    The key names the instance ("<journey>/<epoch>-<n>/<step>/<channel>");
    one from another epoch (a state wiped since) only counts for the
    person, not for an instance; but one from the epoch of a partition
    that a person moved here from (move.c keeps it) finds the instance
    that moved with them: partitions number instances apart. A confirmation's ("confirm/<channel>/
    ...", confirm.c) went to an address the person only claimed: its
    bounce suppresses nothing of theirs (the mail-sender suppresses that
    address itself); an unsubscribe from it still counts.               */
#include "feedback.h"
#include "attribution.h"
#include "confirm.h"
#include "counters.h"
#include "instance.h"
#include "people.h"
#include "send.h"

int feedback_parse_key (scheduler_t *self, MDB_txn *txn, const char *key, uint64_t *instance,
                        char *step, channel_t *channel)
{
    char journey [NAME_MAX_LEN], epoch [17], step_name [NAME_MAX_LEN], channel_text [16];
    unsigned long long n;
    int used = 0;
    if (!key || sscanf (key, "%63[^/]/%16[0-9a-f]-%llu/%63[^/]/%15[a-z]%n", journey, epoch, &n,
                        step_name, channel_text, &used) != 5 || key [used]
    ||  !(streq (epoch, self->epoch) || scheduler_epoch_known (self, txn, epoch))
    ||  channel_parse (channel_text, channel))
        return -1;
    *instance = n;
    snprintf (step, NAME_MAX_LEN, "%s", step_name);
    return 0;
}

//  The person-level effect of feedback: opt-out, suppression, dead push.
static int s_person (scheduler_t *self, MDB_txn *txn, const char *user, const char *kind,
                     const char *channel, const json_t *gone, int64_t time)
{
    if (!json_array_size (gone) || !channel || !streq (channel, "push"))
        gone = NULL;
    const char *what = streq (kind, "unsubscribed") || streq (kind, "complained") ? "optout"
                     : streq (kind, "resubscribed") ? "optin"
                     : streq (kind, "bounced") ? "bounced"
                     : streq (kind, "unreachable") ? "unreachable" : NULL;
    if ((!what && !gone) || !user || !channel)
        return 0;
    person_t *person = person_load (self, txn, user);
    if (!person)
        return 0;
    if (gone)
        person_push_gone (person, gone);
    else
        person_block (person, what, channel, time);
    int rc = person_store (self, txn, person);
    person_destroy (&person);
    if (rc == 0 && what && streq (what, "optout"))
        nd_log ("%s opted out of %s", user, channel);
    if (rc == 0 && what && streq (what, "optin"))
        nd_log ("%s opted in to %s again", user, channel);
    return rc;
}

//  at: the feedback's own event time (the sender's clock), which a replay
//  reproduces; time: the scheduler's now, when it is heard.
static int s_instance (scheduler_t *self, MDB_txn *txn, instance_t *instance, const char *kind,
                       const char *key, channel_t channel, const char *step, int64_t time,
                       int64_t at)
{
    json_t *record = instance->record;
    //  A message's clicks count once (unique clicks): a person who opens
    //  the link twice, or a push reported by the service worker and its
    //  wrapped link both, is one click of that message
    bool again = streq (kind, "clicked")
              && json_object_get (json_object_get (record, "clicks"), key);
    int rc = again ? 0 : counter_add (self, txn, record_str (record, "journey"),
                                      record_str (record, "variant"), step,
                                      channel_name (channel), kind, 1);
    //  Orders credited only to delivered messages wait for this (a click
    //  implies the message arrived, whether or not that was heard first)
    if (rc == 0)
        rc = attribution_feedback (self, txn, instance, kind, step, channel, key, at);
    if (streq (kind, "clicked"))
        json_object_set_new (record, "clicked", json_true ());
    if (rc == 0)
        rc = instance_store (self, txn, instance);
    if (rc == 0 && (streq (kind, "failed") || streq (kind, "bounced") || streq (kind, "unreachable")))
        rc = send_fallback (self, txn, instance, key, channel, time);
    return rc;
}

int feedback_apply (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *kind = msg->topic + strlen ("feedback.");
    const char *key = json_string_value (json_object_get (msg->body, "idempotency_key"));
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    const char *channel = json_string_value (json_object_get (msg->body, "channel"));
    int64_t time = nd_stage_now (self->stage);
    uint64_t id = 0;
    char step [NAME_MAX_LEN];
    channel_t sent_on;
    instance_t *instance = NULL;
    const char *bounce = json_string_value (json_object_get (msg->body, "kind"));
    if (streq (kind, "bounced") && bounce && streq (bounce, "soft"))
        kind = "soft-bounced";
    if (confirm_key (key) && streq (kind, "bounced"))
        user = NULL;
    if (key && feedback_parse_key (self, txn, key, &id, step, &sent_on) == 0) {
        instance = instance_load (self, txn, id);
        user = instance ? record_str (instance->record, "user") : user;
        channel = channel_name (sent_on);
    }
    int rc = s_person (self, txn, user, kind, channel, json_object_get (msg->body, "gone"), time)
          || counter_add (self, txn, "", "", "", "", msg->topic, 1) ? -1 : 0;
    if (rc == 0 && instance)
        rc = s_instance (self, txn, instance, kind, key, sent_on, step, time,
                         msg->time ? msg->time : time);
    instance_destroy (&instance);
    return rc;
}
