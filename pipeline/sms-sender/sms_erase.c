/*  sms_erase - forgetting a person's number: person.erased.

    Layer: store, over the sms-sender's databases (opened by name; one
    environment, the same handles). The person's rows in sms.users (the
    numbers they were texted at) and the receipts of their texts
    (sms.sent) go. A STOP of one of those numbers must keep holding, yet
    the number may not stay in the clear: the opt-out moves to the
    number's keyed hash ("#" + nd_token_address_hash with the pipeline's
    unsubscribe-secret), which sms_erase_opted_out finds for a later
    order to the same number. Without a secret the opt-out goes with the
    rest (the scheduler still sends no SMS without sms_consent).        */
#include <string.h>
#include <czmq.h>
#include "nd_token.h"
#include "sms.h"

static void s_hash_key (nd_key_t *key, const char *secret, const char *phone)
{
    char hex [66] = "#";
    nd_token_address_hash (secret, phone, hex + 1);
    nd_key_init (key);
    nd_key_str (key, hex);
}

int sms_erase_opted_out (MDB_txn *txn, MDB_dbi optout, const char *secret, const char *phone,
                         uint64_t *since)
{
    if (!secret)
        return ND_NOTFOUND;
    nd_key_t key;
    s_hash_key (&key, secret, phone);
    return nd_db_get_u64 (txn, optout, &key, since);
}

//  sms.users: phone, user -> time.
static int s_users_of (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    void **args = (void **) arg;
    const char *phone = (const char *) key->mv_data;
    size_t length = strnlen (phone, key->mv_size);
    if (length + 1 >= key->mv_size || strcmp (phone + length + 1, (const char *) args [1]))
        return 0;
    zlistx_add_end ((zlistx_t *) args [0], strndup (phone, length));
    return 1;
}

static int s_sent_of (const MDB_val *key, const MDB_val *data, void *user)
{
    (void) key;
    json_t *record = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *owner = json_string_value (json_object_get (record, "user"));
    int ours = owner && strcmp (owner, (const char *) user) == 0;
    json_decref (record);
    return ours;
}

int sms_erase (MDB_txn *txn, const char *secret, const char *user)
{
    MDB_dbi users, sent, optout;
    if (nd_db_open (txn, "sms.users", &users) || nd_db_open (txn, "sms.sent", &sent)
    ||  nd_db_open (txn, "sms.optout", &optout))
        return -1;
    zlistx_t *phones = zlistx_new ();
    zlistx_set_destructor (phones, (zlistx_destructor_fn *) zstr_free);
    void *args [2] = { phones, (void *) user };
    nd_key_t none;
    nd_key_init (&none);
    int rc = nd_db_drop (txn, users, &none, s_users_of, args) < 0
          || nd_db_drop (txn, sent, &none, s_sent_of, (void *) user) < 0 ? -1 : 0;
    for (const char *phone = zlistx_first (phones); rc == 0 && phone;
         phone = zlistx_next (phones)) {
        nd_key_t key;
        nd_key_init (&key);
        nd_key_str (&key, phone);
        uint64_t since;
        int found = nd_db_get_u64 (txn, optout, &key, &since);
        if (found < 0 || (found == 0 && nd_db_del (txn, optout, &key) < 0))
            rc = -1;
        if (rc == 0 && found == 0 && secret) {
            s_hash_key (&key, secret, phone);
            rc = nd_db_put_u64 (txn, optout, &key, since);
        }
    }
    zlistx_destroy (&phones);
    return rc;
}
