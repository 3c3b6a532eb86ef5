/*  retention.c - forgetting anonymous visitors nobody will hear from again.

    Layer: engine: calls the store (visitor.c, due.c, viewed.c, catalogue.c).

    A shop with a million drive-by visitors a month would otherwise keep
    every one of them for ever. A visitor who is still anonymous (no
    userId, no e-mail, phone or push subscription among their traits) and
    whose last activity lies visitor-retention in the past is deleted with
    everything the sessionizer keeps for them: the record, the ids that
    lead to it, the profile, the cart and the products viewed. The next
    event from that anonymousId starts a new visitor. visitor.forgotten
    tells downstream stages to drop what they keep for the visitor too.

    Anonymous visitors sit in a time-ordered index (i64 deadline, visitor
    id), so timers walk only the entries that are due. The deadline is
    the last activity rounded up to the next multiple of a slack (a day,
    or a sixteenth of the retention when that is shorter), plus the
    retention. It is computed from the record's own "last", so the record
    needs no field for it, and the entry moves only when "last" crosses
    into a new slack period: at most one move a day per visitor, not two
    LMDB writes per event. A visitor is forgotten at most one slack after
    the retention ran out, never before.

    Whether the visitor is still anonymous is decided when the entry comes
    due, not when it was written: one identified since is only dropped
    from the index. At most FORGET_BATCH visitors are forgotten per
    transaction so a backlog (the feature just turned on, a long replay)
    never makes one huge commit; the rest follow at the next timers call. */
#include <stdio.h>
#include <string.h>
#include "retention.h"
#include "catalogue.h"
#include "due.h"
#include "move.h"
#include "viewed.h"
#include "visitor.h"

#define FORGET_BATCH 10000

//  A trait that lets the shop reach the person: they are not anonymous.
static bool s_contact (const json_t *profile)
{
    const json_t *traits = json_object_get (profile, "traits");
    const char *names [] = { "email", "phone", "push_subscription", "push", NULL };
    for (int i = 0; names [i]; i++) {
        const json_t *value = json_object_get (traits, names [i]);
        if (json_is_string (value) ? json_string_length (value) > 0 : json_is_object (value))
            return true;
    }
    return json_array_size (json_object_get (profile, "userIds")) > 0;
}

static int s_forget (sessionizer_t *self, MDB_txn *txn, visitor_t *visitor,
                     const json_t *profile, int64_t due)
{
    if (shop_viewed_forget (self, txn, visitor->id) || catalogue_forget (self, txn, visitor->id)
    ||  sessionizer_person_drop (self, txn, visitor->id))
        return -1;
    char id [VISITOR_ID_MAX + 16];
    snprintf (id, sizeof id, "%s:forgotten", visitor->id);
    sessionizer_count (self, COUNT_VISITORS_FORGOTTEN);
    self->forgotten_in_txn++;
    if (visitor->last > self->forgotten_last)
        self->forgotten_last = visitor->last;
    //  Its ids, so a stage that keeps them finds them without a scan
    json_t *body = sessionizer_body (id, visitor->id, due);
    json_object_set (body, "anonymousIds", json_object_get (profile, "anonymousIds"));
    return sessionizer_emit (self, txn, "visitor.forgotten", body);
}

//  One due entry: forget the visitor, re-arm it (retention changed, or a
//  session still open), or drop the entry (merged, identified, gone).
static int s_expire_one (sessionizer_t *self, MDB_txn *txn, const nd_key_t *entry,
                         const char *id, int64_t due, int64_t now)
{
    if (nd_db_del (txn, self->idle, entry) < 0)
        return -1;
    bool moved;
    visitor_t *visitor = visitor_load (self, txn, id, &moved);
    if (!visitor)
        return -1;
    int rc = 0;
    json_t *profile = NULL;
    if (!moved && visitor->last > 0 && !visitor->user_id) {
        int64_t deadline = retention_deadline (self, visitor->last);
        if (deadline > now) {
            visitor->armed_last = 0;
            rc = retention_arm (self, txn, visitor);
        }
        else
        //  Only with a retention shorter than a session (setup refuses
        //  that): look again once the session is over.
        if (visitor->in_session) {
            nd_key_t key;
            due_key (&key, visitor->session.expiry > now ? visitor->session.expiry : now + 1000,
                        visitor->id);
            rc = nd_db_put_raw (txn, self->idle, &key, "", 0);
        }
        else
        if (!(profile = visitor_profile (self, txn, visitor)))
            rc = -1;
        else
        if (!s_contact (profile))
            rc = s_forget (self, txn, visitor, profile, due);
    }
    visitor_destroy (&visitor);
    return rc;
}

int retention_expire (sessionizer_t *self, MDB_txn *txn, int64_t now)
{
    if (self->retention == 0)
        return 0;
    nd_key_t entry;
    char id [VISITOR_ID_MAX];
    int64_t due = 0;
    int rc = 0;
    while (self->forgotten_in_txn < FORGET_BATCH
       &&  (rc = due_first (txn, self->idle, "idle", now, &entry, id, &due)) == 1)
        if (s_expire_one (self, txn, &entry, id, due, now))
            return -1;
    return rc < 0 ? -1 : 0;
}

//  After each commit: one line for what it forgot, no ids.
void retention_committed (sessionizer_t *self, int rc)
{
    if (rc == 0 && self->forgotten_in_txn) {
        char since [32];
        nd_log ("forgot %llu anonymous visitors idle since before %s",
                (unsigned long long) self->forgotten_in_txn,
                nd_time_format (self->forgotten_last, since));
    }
    self->forgotten_in_txn = 0;
    self->forgotten_last = 0;
}
