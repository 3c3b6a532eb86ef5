/*  mail_suppress - who must not be mailed again, whatever arrives.

    The scheduler stops sending when it hears feedback.bounced or
    feedback.unsubscribed; this list is the mail-sender's own guard, for
    the orders already queued when that happened and for any stage that
    has not caught up yet. Fed by hard bounces (the address), complaints
    (the address, "complained", from mail_intake) and by unsubscribes
    (the person, and the address last queued for them).

    The list keeps no address in the clear when the pipeline has an
    unsubscribe-secret: an address is keyed by its keyed hash
    (nd_token_address_hash), so whoever reads the state learns nothing of
    who is on it, yet an order to the same address is still found. An
    entry from before (kept in the clear) is still honoured. person.erased
    drops the person's entries and their last address, and keeps only the
    hash of that address's suppression (mail_suppress_forget).

    LMDB: "suppressed"  'h' + hex hash of the address | 'a' + lower-cased
                        address (no secret, or from before) | 'u' + user
                        -> {"what": "bounced" | "complained" | "unsubscribed",
                            "time": ms}
          "addresses"   user -> the address last queued for them        */
#include "nd_token.h"
#include "mail.h"

struct _mail_suppress_t {
    MDB_dbi suppressed;
    MDB_dbi addresses;
    char *secret;               //  the unsubscribe-secret, or NULL
};

mail_suppress_t *mail_suppress_new (nd_stage_t *stage, MDB_txn *txn)
{
    mail_suppress_t *self = (mail_suppress_t *) zmalloc (sizeof *self);
    const char *secret = nd_stage_option (stage, "unsubscribe-secret", NULL);
    char reason [200];
    if (secret && !(self->secret = nd_secret_load (secret, true, reason, sizeof reason))) {
        nd_stage_config_error (stage, "unsubscribe-secret", reason);
        mail_suppress_destroy (&self);
    }
    else
    if (nd_db_open (txn, "suppressed", &self->suppressed)
    ||  nd_db_open (txn, "addresses", &self->addresses))
        mail_suppress_destroy (&self);
    return self;
}

void mail_suppress_destroy (mail_suppress_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->secret);
        free (*self_p);
        *self_p = NULL;
    }
}

static void s_hash_key (mail_suppress_t *self, nd_key_t *key, const char *address)
{
    char hex [65];
    nd_token_address_hash (self->secret, address, hex);
    nd_key_init (key);
    nd_key_u8 (key, 'h');
    nd_key_str (key, hex);
}

//  Addresses compare without case: the domain is case-blind, and no
//  shop's customers rely on local parts that differ only in case.
static void s_key (nd_key_t *key, char kind, const char *text)
{
    char lower [256];
    size_t i = 0;
    for (; text [i] && i < sizeof lower - 1; i++)
        lower [i] = kind == 'a' ? (char) tolower ((unsigned char) text [i]) : text [i];
    lower [i] = 0;
    nd_key_init (key);
    nd_key_u8 (key, (uint8_t) kind);
    nd_key_str (key, kind == 'a' ? lower : text);
}

static int s_lookup (mail_suppress_t *self, MDB_txn *txn, char kind, const char *text,
                     char *topic, char *reason, size_t reason_size)
{
    nd_key_t key;
    json_t *entry = NULL;
    int rc = ND_NOTFOUND;
    if (kind == 'a' && self->secret) {
        s_hash_key (self, &key, text);
        rc = nd_db_get_json (txn, self->suppressed, &key, &entry);
    }
    if (rc == ND_NOTFOUND) {
        s_key (&key, kind, text);
        rc = nd_db_get_json (txn, self->suppressed, &key, &entry);
    }
    if (rc)
        return rc == ND_NOTFOUND ? 0 : -1;
    const char *what = json_string_value (json_object_get (entry, "what"));
    char stamp [32];
    snprintf (topic, ND_SEND_TOPIC_MAX, "%s", what && streq (what, "bounced") ? "bounced" : "unsubscribed");
    snprintf (reason, reason_size, "suppressed: %s %s on %s", kind == 'a' ? "the address" : "the person",
              what ? what : topic, nd_time_format (json_integer_value (json_object_get (entry, "time")), stamp));
    json_decref (entry);
    return 1;
}

int mail_suppress_check (mail_suppress_t *self, MDB_txn *txn, const char *user,
                         const char *address, char *topic, char *reason, size_t reason_size)
{
    int rc = user ? s_lookup (self, txn, 'u', user, topic, reason, reason_size) : 0;
    if (rc == 0 && address)
        rc = s_lookup (self, txn, 'a', address, topic, reason, reason_size);
    return rc;
}

static int s_add (mail_suppress_t *self, MDB_txn *txn, char kind, const char *text,
                  const char *what, int64_t time)
{
    nd_key_t key;
    if (kind == 'a' && self->secret)
        s_hash_key (self, &key, text);
    else
        s_key (&key, kind, text);
    json_t *entry = json_pack ("{s:s, s:I}", "what", what, "time", (json_int_t) time);
    int rc = nd_db_put_json (txn, self->suppressed, &key, entry);
    json_decref (entry);
    return rc;
}

int mail_suppress_address (mail_suppress_t *self, MDB_txn *txn, const char *address,
                           const char *what, int64_t time)
{
    return s_add (self, txn, 'a', address, what, time);
}

int mail_suppress_user (mail_suppress_t *self, MDB_txn *txn, const char *user,
                        const char *what, int64_t time)
{
    return s_add (self, txn, 'u', user, what, time);
}

int mail_suppress_remember (mail_suppress_t *self, MDB_txn *txn, const char *user,
                            const char *address)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, user);
    return nd_db_put_raw (txn, self->addresses, &key, address, strlen (address) + 1);
}

int mail_suppress_last_address (mail_suppress_t *self, MDB_txn *txn, const char *user,
                                char *out, size_t size)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, user);
    MDB_val k = nd_key_val (&key), v;
    int rc = mdb_get (txn, self->addresses, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? ND_NOTFOUND : nd_db_error (rc, "addresses");
    snprintf (out, size, "%.*s", (int) v.mv_size, (const char *) v.mv_data);
    return 0;
}

int mail_suppress_forget (mail_suppress_t *self, MDB_txn *txn, const char *user)
{
    char address [512] = "";
    int rc = mail_suppress_last_address (self, txn, user, address, sizeof address);
    if (rc < 0)
        return -1;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, user);
    if (nd_db_del (txn, self->addresses, &key) < 0)
        return -1;
    s_key (&key, 'u', user);
    if (nd_db_del (txn, self->suppressed, &key) < 0)
        return -1;
    if (!*address)
        return 0;
    //  An entry in the clear from before becomes its hash, or goes
    json_t *entry = NULL;
    s_key (&key, 'a', address);
    rc = nd_db_get_json (txn, self->suppressed, &key, &entry);
    if (rc == 0 && (nd_db_del (txn, self->suppressed, &key) < 0
                ||  (self->secret
                     && (s_hash_key (self, &key, address),
                         nd_db_put_json (txn, self->suppressed, &key, entry)))))
        rc = -1;
    json_decref (entry);
    return rc < 0 ? -1 : 0;
}

size_t mail_suppress_size (mail_suppress_t *self, MDB_txn *txn)
{
    MDB_stat stat;
    return mdb_stat (txn, self->suppressed, &stat) ? 0 : stat.ms_entries;
}
