/*  onsite_erase - person.erased: the person's on-site messages go.

    Layer: store, beside onsite_store (its databases opened by name; one
    environment, the same handles). Every message whose order named the
    person ("user"), with its inbox entries (under each anonymous id it
    went to) and its expiry entry, so no page of theirs shows it and
    nothing of it stays. Counters stay: they count, not name.          */
#include "onsite.h"

typedef struct {
    const char *user;
    zlistx_t *ids;              //  the person's message ids
} s_erase_t;

static int s_collect (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_erase_t *erase = (s_erase_t *) arg;
    json_t *message = json_loadb ((const char *) data->mv_data, data->mv_size, 0, NULL);
    const char *user = json_string_value (json_object_get (message, "user"));
    if (user && streq (user, erase->user) && key->mv_size > 1)
        zlistx_add_end (erase->ids, strndup ((const char *) key->mv_data, key->mv_size - 1));
    json_decref (message);
    return 0;
}

//  inbox and expiry keys both end with the message id and its NUL.
static int s_ends_with_id (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    s_erase_t *erase = (s_erase_t *) arg;
    for (const char *id = zlistx_first (erase->ids); id; id = zlistx_next (erase->ids)) {
        size_t size = strlen (id) + 1;
        if (key->mv_size > size
        &&  memcmp ((const char *) key->mv_data + key->mv_size - size, id, size) == 0)
            return 1;
    }
    return 0;
}

int onsite_erase (MDB_txn *txn, const char *user)
{
    MDB_dbi messages, inbox, expiry;
    if (nd_db_open (txn, "messages", &messages) || nd_db_open (txn, "inbox", &inbox)
    ||  nd_db_open (txn, "expiry", &expiry))
        return -1;
    s_erase_t erase = { user, zlistx_new () };
    zlistx_set_destructor (erase.ids, (zlistx_destructor_fn *) zstr_free);
    nd_key_t none;
    nd_key_init (&none);
    int rc = nd_db_scan (txn, messages, &none, s_collect, &erase) ? -1 : 0;
    for (const char *id = zlistx_first (erase.ids); rc == 0 && id; id = zlistx_next (erase.ids)) {
        nd_key_t key;
        nd_key_init (&key);
        nd_key_str (&key, id);
        rc = nd_db_del (txn, messages, &key) < 0 ? -1 : 0;
    }
    if (rc == 0 && zlistx_size (erase.ids)
    &&  (nd_db_drop (txn, inbox, &none, s_ends_with_id, &erase) < 0
    ||   nd_db_drop (txn, expiry, &none, s_ends_with_id, &erase) < 0))
        rc = -1;
    zlistx_destroy (&erase.ids);
    return rc;
}
