/*  base.c - the small functions over the words every file shares:
    channels, limits and their parsing, the wake-up of the stage's loop,
    moving a person's rows.

    Layer: base: calls nothing of the scheduler's (base.h).              */
#include "base.h"

static const char *const s_channels [CHANNEL_COUNT] = { "push", "sms", "email", "onsite",
                                                               "whatsapp" };

const char *channel_name (channel_t channel)
{
    return channel < CHANNEL_COUNT ? s_channels [channel] : "?";
}

int channel_parse (const char *name, channel_t *channel)
{
    for (int i = 0; i < CHANNEL_COUNT; i++)
        if (name && streq (name, s_channels [i])) {
            *channel = (channel_t) i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------ parsing -- */

int cap_parse (const char *text, cap_t *cap)
{
    memset (cap, 0, sizeof *cap);
    cap->set = true;
    if (!text || streq (text, "none"))
        return text ? 0 : -1;
    char *copy = strdup (text), *save = NULL;
    int rc = 0;
    for (char *rule = strtok_r (copy, ",", &save); rc == 0 && rule;
         rule = strtok_r (NULL, ",", &save)) {
        char *slash = strchr (rule, '/'), *end;
        long count = strtol (rule, &end, 10);
        if (!slash || count < 1 || cap->size == CAP_RULES_MAX
        ||  strspn (end, " ") != (size_t) (slash - end))
            rc = -1;
        int64_t window;
        if (rc == 0 && nd_duration_parse (slash + 1 + strspn (slash + 1, " "), &window) == 0
        &&  window > 0) {
            cap->rule [cap->size].count = count;
            cap->rule [cap->size++].window = window;
        }
        else
            rc = -1;
    }
    free (copy);
    return rc == 0 && cap->size > 0 ? 0 : -1;
}

int64_t cap_longest (const cap_t *cap)
{
    int64_t longest = 0;
    for (size_t i = 0; i < cap->size; i++)
        if (cap->rule [i].window > longest)
            longest = cap->rule [i].window;
    return longest;
}

int clock_parse (const char *text)
{
    int hours, minutes, used = 0;
    if (!text || sscanf (text, "%2d:%2d%n", &hours, &minutes, &used) != 2 || text [used]
    ||  hours < 0 || hours > 23 || minutes < 0 || minutes > 59)
        return -1;
    return hours * 60 + minutes;
}

int quiet_parse (const char *text, quiet_t *quiet)
{
    memset (quiet, 0, sizeof *quiet);
    quiet->set = true;
    if (text && streq (text, "none"))
        return 0;
    char start [16], end [16];
    if (!text || sscanf (text, "%15[0-9:]-%15[0-9:]", start, end) != 2)
        return -1;
    quiet->start = clock_parse (start);
    quiet->end = clock_parse (end);
    return quiet->start < 0 || quiet->end < 0 ? -1 : 0;
}

void policy_limits (scheduler_t *self, const journey_t *journey, limits_t *limits)
{
    *limits = self->limits;
    const limits_t *own = &journey->limits;
    if (own->cap.set)
        limits->cap = own->cap;
    for (int c = 0; c < CHANNEL_COUNT; c++)
        if (own->channel_cap [c].set)
            limits->channel_cap [c] = own->channel_cap [c];
    if (own->quiet.set)
        limits->quiet = own->quiet;
    if (own->attribution) {
        limits->attribution = own->attribution;
        limits->attribution_clicked = own->attribution_clicked;
    }
}

/* -------------------------------------------------------- the stage -- */

int scheduler_tables_open (scheduler_t *self, MDB_txn *txn)
{
    struct { const char *name; MDB_dbi *dbi; } dbs [] = {
        { "sched-meta", &self->meta }, { "instances", &self->instances },
        { "active", &self->active }, { "owned", &self->owned }, { "reentry", &self->reentry },
        { "people", &self->people }, { "activity", &self->activity },
        { "history", &self->history }, { "touch", &self->touch }, { "orders", &self->orders },
        { "codes", &self->codes }, { "user-codes", &self->user_codes },
        { "counters", &self->counters }, { NULL, NULL } };
    for (int i = 0; dbs [i].name; i++)
        if (nd_db_open (txn, dbs [i].name, dbs [i].dbi))
            return -1;
    return 0;
}

uint64_t scheduler_number (scheduler_t *self, uint64_t last)
{
    uint64_t parts = self->parts > 1 ? (uint64_t) self->parts : 1;
    uint64_t part = self->parts > 1 ? (uint64_t) self->part : 0;
    uint64_t next = last + 1;
    return next + (part + parts - (next - 1) % parts) % parts;
}

static void s_epoch_key (nd_key_t *key, const char *epoch)
{
    nd_key_init (key);
    nd_key_str (key, "epoch-of");
    nd_key_str (key, epoch);
}

bool scheduler_epoch_known (scheduler_t *self, MDB_txn *txn, const char *epoch)
{
    nd_key_t key;
    s_epoch_key (&key, epoch);
    MDB_val k = nd_key_val (&key), data;
    return mdb_get (txn, self->meta, &k, &data) == 0;
}

int scheduler_epoch_note (scheduler_t *self, MDB_txn *txn, const char *epoch)
{
    nd_key_t key;
    s_epoch_key (&key, epoch);
    return streq (epoch, self->epoch) ? 0 : nd_db_put_raw (txn, self->meta, &key, "", 1);
}

void scheduler_wake (scheduler_t *self)
{
    if (write (self->wake [1], "w", 1) < 0 && errno != EAGAIN)
        nd_log ("cannot wake the loop: %s", strerror (errno));
}

static void s_user_key (nd_key_t *key, const char *user)
{
    nd_key_init (key);
    nd_key_str (key, user);
}

//  Moves every row under prefix user in dbi to the survivor, keeping the
//  rest of the key (history: time + idempotency key).
int rows_move (MDB_txn *txn, MDB_dbi dbi, const char *loser, const char *survivor)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        return nd_db_error (rc, "merge cursor");
    nd_key_t prefix;
    s_user_key (&prefix, loser);
    MDB_val key = nd_key_val (&prefix), data;
    for (rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE)) {
        if (key.mv_size < prefix.size || memcmp (key.mv_data, prefix.data, prefix.size))
            break;
        nd_key_t moved;
        s_user_key (&moved, survivor);
        size_t rest = key.mv_size - prefix.size;
        if (moved.size + rest > ND_KEY_MAX)
            break;
        memcpy (moved.data + moved.size, (uint8_t *) key.mv_data + prefix.size, rest);
        moved.size += rest;
        MDB_val target = nd_key_val (&moved);
        if ((rc = mdb_put (txn, dbi, &target, &data, 0)) || (rc = mdb_cursor_del (cursor, 0)))
            break;
        key = nd_key_val (&prefix);
    }
    mdb_cursor_close (cursor);
    return rc && rc != MDB_NOTFOUND ? nd_db_error (rc, "merge") : 0;
}
