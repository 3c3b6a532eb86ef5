/*  codes.c - unique, expiring discount codes, issued by send steps.

    Layer: store: calls instance.c and counters.c.

    A code is PREFIX-XXXX-XXXX: 40 bits of HMAC-SHA256 over a counter,
    keyed by a secret this state drew at its creation, in Crockford's
    base32 (no I, L, O or U to misread). Nobody can guess the next code
    from the last, and the counter makes each one new; a code that
    collides with one issued before is skipped. Each is stored (the
    "codes" database, read by nd-codes) and published on topic
    "code.issued" for the shop to load, in the same transaction as the
    send order that carries it: a code that exists was sent, and the
    reverse. An order that names it (Segment's "coupon") redeems it.

    A code valid three days or more gets a timer (TIMER_CODE, named by
    the code's number, found again through "code-due" in meta) a day
    before it expires: then, if it is still unused, lifecycle.c offers it
    to the journeys triggered by code.expiring ("expires tomorrow").

    "user-codes" finds a person's codes (a move, move.c): user + code ->
    u64 the reminder's number (0: none), written with the code. A state
    from before it is indexed once, at start (codes_index).             */
#include <assert.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "nd_json.h"
#include "codes.h"
#include "counters.h"
#include "instance.h"
#include "timers.h"

#define CODE_TRIES 16
#define CODE_REMINDER_MS (24 * 3600 * 1000LL)    //  "expires tomorrow"
//  A code valid less than this gets no reminder: the message that gave
//  it said when it ends, a day or two before (the cart's 48 h codes)
#define CODE_REMINDER_MIN_VALID (72 * 3600 * 1000LL)

const char *codes_make (const uint8_t *secret, uint64_t n, int part, int parts,
                        const char *prefix, char *buf)
{
    static const char alphabet [] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t counter [8], mac [EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    for (int i = 7; i >= 0; i--, n >>= 8)
        counter [i] = (uint8_t) n;
    HMAC (EVP_sha256 (), secret, 32, counter, sizeof counter, mac, &size);
    uint64_t bits = 0;
    for (int i = 0; i < 5; i++)
        bits = (bits << 8) | mac [i];
    //  Partition K of N gives codes whose value is K modulo N: two
    //  partitions never give the same code, whatever their secrets
    if (parts > 1)
        bits = bits - bits % (uint64_t) parts + (uint64_t) part;
    char body [9];
    for (int i = 7; i >= 0; i--, bits >>= 5)
        body [i] = alphabet [bits & 31];
    body [8] = 0;
    snprintf (buf, 32, "%.12s-%.4s-%.4s", prefix, body, body + 4);
    return buf;
}

static void s_code_key (nd_key_t *key, const char *code)
{
    nd_key_init (key);
    nd_key_str (key, code);
}

//  The next counter whose code was never issued; the code into buf.
static int s_fresh (scheduler_t *self, MDB_txn *txn, const char *prefix, char *buf)
{
    for (int tries = 0; tries < CODE_TRIES; tries++) {
        self->next_code = scheduler_number (self, self->next_code);
        codes_make (self->secret, self->next_code, self->part, self->parts, prefix, buf);
        nd_key_t key;
        s_code_key (&key, buf);
        MDB_val k = nd_key_val (&key), data;
        int rc = mdb_get (txn, self->codes, &k, &data);
        if (rc == MDB_NOTFOUND) {
            nd_key_init (&key);
            nd_key_str (&key, "next-code");
            return nd_db_put_u64 (txn, self->meta, &key, self->next_code);
        }
        if (rc)
            return nd_db_error (rc, "codes");
    }
    nd_log ("no fresh discount code after %d tries: use a longer prefix", CODE_TRIES);
    return -1;
}

//  meta: "code-due" + the code's number -> {"code"}: the code a
//  TIMER_CODE names.
void codes_due_key (nd_key_t *key, uint64_t n)
{
    nd_key_init (key);
    nd_key_str (key, "code-due");
    nd_key_u64 (key, n);
}

void codes_user_key (nd_key_t *key, const char *user, const char *code)
{
    nd_key_init (key);
    nd_key_str (key, user);
    nd_key_str (key, code);
}

//  The reminder's timer, a day before the code expires, and the person's
//  index row, which names it.
static int s_remind (scheduler_t *self, MDB_txn *txn, const char *user, const char *code,
                     int64_t now, int64_t until)
{
    nd_key_t key;
    codes_user_key (&key, user, code);
    bool remind = until - now >= CODE_REMINDER_MIN_VALID;
    if (nd_db_put_u64 (txn, self->user_codes, &key, remind ? self->next_code : 0))
        return -1;
    if (!remind)
        return 0;
    codes_due_key (&key, self->next_code);
    json_t *record = json_pack ("{s:s}", "code", code);
    int rc = record_put (txn, self->meta, &key, record)
          || timers_add (self->timers, txn, codes_reminder_due (until), self->next_code,
                         TIMER_CODE) ? -1 : 0;
    json_decref (record);
    return rc;
}

int64_t codes_reminder_due (int64_t expires)
{
    return expires - CODE_REMINDER_MS;
}

int codes_expiring (scheduler_t *self, MDB_txn *txn, uint64_t n, json_t **code)
{
    *code = NULL;
    nd_key_t key;
    codes_due_key (&key, n);
    json_t *due = NULL;
    int rc = record_get (txn, self->meta, &key, &due);
    if (rc)
        return rc == ND_NOTFOUND ? 0 : -1;
    if (nd_db_del (txn, self->meta, &key) < 0) {
        json_decref (due);
        return -1;
    }
    s_code_key (&key, record_str (due, "code"));
    json_decref (due);
    rc = record_get (txn, self->codes, &key, code);
    if (rc == 0 && json_object_get (*code, "redeemed")) {
        json_decref (*code);
        *code = NULL;
    }
    return rc == 0 || rc == ND_NOTFOUND ? 0 : -1;
}

json_t *codes_issue (scheduler_t *self, MDB_txn *txn, const instance_t *instance,
                     const step_t *step, int64_t now)
{
    char code [32], issued [32], expires [32], id [48];
    if (s_fresh (self, txn, step->code_prefix, code))
        return NULL;
    int64_t until = now + step->code_valid;
    json_t *record = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}",
        "code", code, "user", record_str (instance->record, "user"),
        "journey", instance->journey->name, "instance", instance_name (self, instance, id),
        "step", step->name, "variant", record_str (instance->record, "variant"),
        "percent", (json_int_t) step->code_percent,
        "issued", nd_time_format (now, issued), "expires", nd_time_format (until, expires),
        "issued_ms", (json_int_t) now, "expires_ms", (json_int_t) until);
    nd_key_t key;
    s_code_key (&key, code);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:I, s:s, s:b, s:s, s:s, s:s}",
        "user", record_str (instance->record, "user"), "code", code, "kind", "percent",
        "percent", (json_int_t) step->code_percent, "expires", expires, "single_use", 1,
        "journey", instance->journey->name, "instance", id, "step", step->name);
    int rc = record_put (txn, self->codes, &key, record)
          || s_remind (self, txn, record_str (instance->record, "user"), code, now, until)
          || nd_emit (self->stage, txn, "code.issued", body)
          || counter_add (self, txn, "", "", "", "", "codes-issued", 1) ? -1 : 0;
    json_decref (body);
    json_decref (record);
    if (rc)
        return NULL;
    return json_pack ("{s:s, s:I, s:s, s:I}", "code", code, "percent",
                      (json_int_t) step->code_percent, "expires", expires,
                      "valid_hours", (json_int_t) (step->code_valid / 3600000));
}

int codes_redeem (scheduler_t *self, MDB_txn *txn, const char *code, const char *order,
                  int64_t time)
{
    nd_key_t key;
    s_code_key (&key, code);
    json_t *record = NULL;
    int rc = record_get (txn, self->codes, &key, &record);
    if (rc)
        return rc == ND_NOTFOUND ? 0 : -1;      //  not one of ours
    if (!json_object_get (record, "redeemed")) {
        char stamp [32];
        json_object_set_new (record, "redeemed", json_pack ("{s:s, s:s}", "order_id",
                             order ? order : "", "time", nd_time_format (time, stamp)));
        rc = record_put (txn, self->codes, &key, record)
          || counter_add (self, txn, record_str (record, "journey"), record_str (record, "variant"),
                          record_str (record, "step"), "", "codes-redeemed", 1) ? -1 : 0;
    }
    json_decref (record);
    return rc;
}

//  meta's code-due rows: code -> its reminder's number.
static int s_reminder_of (const MDB_val *key, const MDB_val *data, void *reminders)
{
    json_t *record = nd_json_parse ((const char *) data->mv_data, data->mv_size, NULL, 0);
    const char *code = record_str (record, "code");
    if (code && key->mv_size >= 8)
        json_object_set_new ((json_t *) reminders, code,
                             json_integer ((json_int_t) nd_key_get_u64 (key, key->mv_size - 8)));
    json_decref (record);
    return 0;
}

typedef struct {
    scheduler_t *self;
    MDB_txn *txn;
    json_t *reminders;
} s_index_t;

static int s_index_one (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_index_t *index = (s_index_t *) arg;
    json_t *record = nd_json_parse ((const char *) data->mv_data, data->mv_size, NULL, 0);
    const char *user = record_str (record, "user"), *code = record_str (record, "code");
    nd_key_t row;
    int rc = 0;
    if (user && code && key->mv_size == strlen (code) + 1) {
        codes_user_key (&row, user, code);
        json_int_t n = json_integer_value (json_object_get (index->reminders, code));
        rc = row.overflow ? 0 : nd_db_put_u64 (index->txn, index->self->user_codes, &row,
                                               (uint64_t) n);
    }
    json_decref (record);
    return rc;
}

int codes_index (scheduler_t *self, MDB_txn *txn)
{
    MDB_stat indexed, codes;
    if (mdb_stat (txn, self->user_codes, &indexed) || mdb_stat (txn, self->codes, &codes))
        return nd_db_error (MDB_BAD_DBI, "user-codes");
    if (indexed.ms_entries || !codes.ms_entries)
        return 0;
    s_index_t index = { self, txn, json_object () };
    nd_key_t prefix, none;
    codes_due_key (&prefix, 0);
    prefix.size -= 8;                           //  "code-due", without n
    nd_key_init (&none);
    int rc = nd_db_scan (txn, self->meta, &prefix, s_reminder_of, index.reminders)
          || nd_db_scan (txn, self->codes, &none, s_index_one, &index) ? -1 : 0;
    json_decref (index.reminders);
    if (rc == 0)
        nd_log ("indexed %zu discount codes by person", (size_t) codes.ms_entries);
    return rc;
}

void codes_test (bool verbose)
{
    if (verbose)
        printf (" * codes: ");
    uint8_t secret [32] = { 1, 2, 3 };
    char a [32], b [32], c [32];
    codes_make (secret, 1, 0, 1, "CART", a);
    codes_make (secret, 2, 0, 1, "CART", b);
    codes_make (secret, 1, 0, 1, "CART", c);
    assert (strlen (a) == 14 && strncmp (a, "CART-", 5) == 0 && a [9] == '-');
    assert (!streq (a, b) && streq (a, c));
    assert (strpbrk (a + 5, "ILOU") == NULL);
    secret [0] = 9;
    codes_make (secret, 1, 0, 1, "CART", c);
    assert (!streq (a, c));             //  another secret, other codes
    //  Unpartitioned codes are as they always were; partition K of N's
    //  are K modulo N (their value in base 32), so no two partitions'
    //  codes meet, even with one secret
    codes_make (secret, 7, 0, 0, "CART", b);
    codes_make (secret, 7, 0, 1, "CART", c);
    assert (streq (b, c));
    for (uint64_t n = 1; n < 50; n++)
        for (int part = 0; part < 3; part++) {
            codes_make (secret, n, part, 3, "CART", c);
            static const char alphabet [] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
            uint64_t value = 0;
            for (const char *d = c + 5; *d; d++)
                if (*d != '-')
                    value = value * 32 + (uint64_t) (strchr (alphabet, *d) - alphabet);
            assert (value % 3 == (uint64_t) part);
        }
    //  Numbers: partitions count apart, past whatever an import brought
    scheduler_t numbers = { .part = 1, .parts = 3 };
    assert (scheduler_number (&numbers, 0) == 2 && scheduler_number (&numbers, 2) == 5);
    assert (scheduler_number (&numbers, 3) == 5 && scheduler_number (&numbers, 4) == 5);
    numbers.part = 0;
    assert (scheduler_number (&numbers, 0) == 1 && scheduler_number (&numbers, 1) == 4);
    numbers.parts = 0;
    assert (scheduler_number (&numbers, 0) == 1 && scheduler_number (&numbers, 41) == 42);
    if (verbose)
        printf ("OK\n");
}
