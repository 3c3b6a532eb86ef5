/*  erase.c - forgetting a person: person.erased and visitor.forgotten.

    Layer: engine (beside people.c and instance.c, over the store). Both messages
    name the visitor in "user". Everything kept under that user goes: the
    person, activity, message history, last touch, orders credited, every
    journey instance with its timers (so no step of theirs fires again),
    the active and re-entry marks. An erasure also drops the discount
    codes issued to them and the double opt-in bounds that hold their
    addresses, and goes on to the senders and the onsite stage, which
    drop what they queued for the person.

    What is kept of an erased person is a keyed hash of each address
    (nd_token_address_hash with the pipeline's unsubscribe-secret, or,
    without one, this state's own secret) in "erased": a profile that
    names the address again gets no marketing on that channel until it
    gives consent again (email_consent or sms_consent true), and then the
    hash goes too. Counters stay: they count, they do not name. A
    partitioned scheduler passes the hashes to its other partitions
    ("erased.hashes", nd_stage_pass_all): the address may come back with
    a visitor of theirs. They match there only under the pipeline's
    unsubscribe-secret (each state's own secret differs).

    State: "erased"  'e' | 'p' + hex hash -> i64 time of the erasure.    */
#include "nd_token.h"
#include "erase.h"
#include "codes.h"
#include "confirm.h"
#include "counters.h"
#include "instance.h"
#include "journeys.h"
#include "people.h"
#include "timers.h"

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

static int s_erased_dbi (MDB_txn *txn, MDB_dbi *dbi)
{
    return nd_db_open (txn, "erased", dbi);
}

static void s_kind_key (nd_key_t *key, char kind, const char *hex)
{
    nd_key_init (key);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, hex);
}

//  The key of address's hash; its kind and hex in *named ("e<hex>").
static void s_hash_key_named (scheduler_t *self, nd_key_t *key, char kind, const char *address,
                              char *named)
{
    char secret [65], hex [65];
    const char *key_secret = self->confirm_secret;
    if (!key_secret) {
        for (size_t i = 0; i < sizeof self->secret; i++)
            snprintf (secret + 2 * i, 3, "%02x", self->secret [i]);
        key_secret = secret;
    }
    nd_token_address_hash (key_secret, address, hex);
    s_kind_key (key, kind, hex);
    snprintf (named, 67, "%c%s", kind, hex);
}

static void s_hash_key (scheduler_t *self, nd_key_t *key, char kind, const char *address)
{
    char named [67];
    s_hash_key_named (self, key, kind, address, named);
}

//  Partitions: the other partitions learn the hashes too, as the address
//  may come back with a visitor of theirs (a new device)
static int s_pass_hashes (scheduler_t *self, MDB_txn *txn, json_t *hashes, int64_t now)
{
    char stamp [32];
    json_t *body = json_array_size (hashes) ? json_pack ("{s:O, s:s}", "hashes", hashes, "time",
                                                         nd_time_format (now, stamp)) : NULL;
    int rc = body ? nd_stage_pass_all (self->stage, txn, "erased.hashes", body) : 0;
    json_decref (body);
    return rc;
}

int erase_hashes (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    MDB_dbi erased;
    json_t *hashes = json_object_get (msg->body, "hashes");
    if (s_erased_dbi (txn, &erased))
        return -1;
    size_t index;
    json_t *hash;
    json_array_foreach (hashes, index, hash) {
        const char *named = json_string_value (hash);
        if (!named || strlen (named) < 2 || (named [0] != 'e' && named [0] != 'p'))
            continue;
        nd_key_t key;
        s_kind_key (&key, named [0], named + 1);
        if (nd_db_put_u64 (txn, erased, &key, (uint64_t) (msg->time ? msg->time : nd_stage_now (self->stage))))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- instances */

//  Cancels whatever timer the instance has pending, then deletes it.
static int s_drop_instance (scheduler_t *self, MDB_txn *txn, uint64_t id)
{
    instance_t *instance = instance_load (self, txn, id);
    if (!instance)
        return 0;
    json_t *record = instance->record;
    const char *state = record_str (record, "state");
    json_t *fallback = json_object_get (record, "fallback");
    int rc = 0;
    if (streq (state, "waiting"))
        rc = timers_cancel (self->timers, txn, record_int (record, "due"), id, TIMER_STEP) < 0;
    if (rc == 0 && fallback)
        rc = timers_cancel (self->timers, txn, record_int (fallback, "due"), id,
                            TIMER_FALLBACK) < 0;
    if (rc == 0 && json_object_get (record, "cleanup"))
        rc = timers_cancel (self->timers, txn, record_int (record, "cleanup"), id,
                            TIMER_CLEANUP) < 0;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u64 (&key, id);
    if (rc == 0)
        rc = nd_db_del (txn, self->instances, &key) < 0;
    instance_destroy (&instance);
    return rc ? -1 : 0;
}

static int s_drop_instances (scheduler_t *self, MDB_txn *txn, const char *user)
{
    nd_key_t prefix;
    s_user_key (&prefix, user);
    zlistx_t *ids = instance_owned (self, txn, user);
    int rc = ids ? 0 : -1;
    for (void *id = ids ? zlistx_first (ids) : NULL; rc == 0 && id; id = zlistx_next (ids))
        rc = s_drop_instance (self, txn, (uint64_t) (uintptr_t) id);
    zlistx_destroy (&ids);
    return rc == 0 && nd_db_drop (txn, self->owned, &prefix, NULL, NULL) >= 0
        && nd_db_drop (txn, self->active, &prefix, NULL, NULL) >= 0 ? 0 : -1;
}

static int s_drop_reentry (scheduler_t *self, MDB_txn *txn, const char *user)
{
    for (size_t i = 0; i < journeys_size (self->journeys); i++) {
        nd_key_t prefix;
        nd_key_init (&prefix);
        nd_key_str (&prefix, journeys_get (self->journeys, i)->name);
        nd_key_str (&prefix, user);
        if (nd_db_drop (txn, self->reentry, &prefix, NULL, NULL) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- erasure */

static int s_code_of (const MDB_val *key, const MDB_val *data, void *user)
{
    (void) key;
    json_t *record = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    int ours = record && streq (record_str (record, "user") ?: "", (const char *) user);
    json_decref (record);
    return ours;
}

typedef struct {
    const char *user, *email, *phone;
} s_person_t;

//  i64 day + 'u' + user, or + 'a' + channel + address.
static int s_confirm_of (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    const s_person_t *person = (const s_person_t *) arg;
    const char *text = (const char *) key->mv_data + 9, *end = (const char *) key->mv_data
                     + key->mv_size;
    if (key->mv_size < 10 || end [-1])
        return 0;
    char kind = ((const char *) key->mv_data) [8];
    if (kind == 'u')
        return streq (text, person->user);
    text += strlen (text) + 1;          //  the channel
    return text < end && ((person->email && strcasecmp (text, person->email) == 0)
                       || (person->phone && streq (text, person->phone)));
}

//  The person's addresses become hashes in "erased", and the rows that
//  hold them (codes, confirmation bounds) go.
static int s_erase_contacts (scheduler_t *self, MDB_txn *txn, const char *user, int64_t now)
{
    person_t *person = person_load (self, txn, user);
    if (!person)
        return -1;
    json_t *traits = json_object_get (person->record, "traits");
    s_person_t who = { user, json_string_value (json_object_get (traits, "email")),
                       json_string_value (json_object_get (traits, "phone")) };
    MDB_dbi erased;
    nd_key_t key, none, mine;
    nd_key_init (&none);
    s_user_key (&mine, user);
    int rc = s_erased_dbi (txn, &erased);
    json_t *hashes = json_array ();
    char named [67];
    if (rc == 0 && who.email && *who.email) {
        s_hash_key_named (self, &key, 'e', who.email, named);
        json_array_append_new (hashes, json_string (named));
        rc = nd_db_put_u64 (txn, erased, &key, (uint64_t) now);
    }
    if (rc == 0 && who.phone && *who.phone) {
        s_hash_key_named (self, &key, 'p', who.phone, named);
        json_array_append_new (hashes, json_string (named));
        rc = nd_db_put_u64 (txn, erased, &key, (uint64_t) now);
    }
    if (rc == 0)
        rc = s_pass_hashes (self, txn, hashes, now);
    json_decref (hashes);
    if (rc == 0
    &&  (nd_db_drop (txn, self->confirms, &none, s_confirm_of, &who) < 0
    ||   nd_db_drop (txn, self->codes, &none, s_code_of, (void *) user) < 0
    ||   nd_db_drop (txn, self->user_codes, &mine, NULL, NULL) < 0))
        rc = -1;
    person_destroy (&person);
    return rc;
}

int erase_person (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg)
{
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    if (!user || !*user || strlen (user) > SCHEDULER_USER_MAX)
        return 0;
    bool erased = streq (msg->topic, "person.erased");
    int64_t now = nd_stage_now (self->stage);
    nd_key_t key;
    s_user_key (&key, user);
    if ((erased && s_erase_contacts (self, txn, user, now))
    ||  s_drop_instances (self, txn, user) || s_drop_reentry (self, txn, user)
    ||  nd_db_del (txn, self->people, &key) < 0 || nd_db_del (txn, self->activity, &key) < 0
    ||  nd_db_del (txn, self->touch, &key) < 0
    ||  nd_db_drop (txn, self->history, &key, NULL, NULL) < 0
    ||  nd_db_drop (txn, self->orders, &key, NULL, NULL) < 0)
        return -1;
    if (!erased)
        return 0;
    nd_log ("erased visitor %s", user);
    json_t *body = json_deep_copy (msg->body);
    int rc = nd_emit (self->stage, txn, "person.erased", body);
    json_decref (body);
    return rc;
}

/* ------------------------------------------------------ consent again */

//  1 when channel's consent trait is true; else blocks the channel (the
//  trait false) and 0.
static int s_recall_one (scheduler_t *self, MDB_txn *txn, MDB_dbi erased, person_t *person,
                         char kind, const char *field, const char *consent)
{
    json_t *traits = json_object_get (person->record, "traits");
    const char *address = json_string_value (json_object_get (traits, field));
    if (!address || !*address)
        return 0;
    nd_key_t key;
    s_hash_key (self, &key, kind, address);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (txn, erased, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return nd_db_error (rc, "erased");
    if (json_is_true (json_object_get (traits, consent)))
        return nd_db_del (txn, erased, &key) < 0 ? -1 : 0;
    json_object_set_new (traits, consent, json_false ());
    person->changed = true;
    return 0;
}

int erase_recall (scheduler_t *self, MDB_txn *txn, const char *user)
{
    MDB_dbi erased;
    MDB_stat stat;
    if (!user || !*user || s_erased_dbi (txn, &erased))
        return user ? -1 : 0;
    if (mdb_stat (txn, erased, &stat) || stat.ms_entries == 0)
        return 0;
    person_t *person = person_load (self, txn, user);
    if (!person)
        return 0;
    int rc = s_recall_one (self, txn, erased, person, 'e', "email", "email_consent");
    if (rc == 0)
        rc = s_recall_one (self, txn, erased, person, 'p', "phone", "sms_consent");
    if (rc == 0 && person->changed)
        rc = person_store (self, txn, person);
    person_destroy (&person);
    return rc;
}
