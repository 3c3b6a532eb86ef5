/*  chat_presence - who answers now.

    Each operator says online, offline or auto (answer in business hours,
    every channel's default); presence keeps the last word of each.
    Someone answers when an operator is online, or in auto while the
    hours (chat_hours.c) are open.

    Layer: rules: calls chat_record.c and chat_hours.c.                  */
#include "chat_talk.h"

typedef struct {
    bool hours_open;
    bool available;
    size_t durable_seen;        //  durable channels with an entry of their own
    chat_talk_t *self;
} s_presence_t;

static int s_presence_one (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_presence_t *presence = (s_presence_t *) arg;
    json_t *entry = talk_parse (data);
    const char *state = talk_str (entry, "state") ?: "auto";
    if (streq (state, "online") || (streq (state, "auto") && presence->hours_open))
        presence->available = true;
    for (size_t i = 0; i < presence->self->channel_count; i++)
        if (presence->self->channels [i].channel->durable
        &&  key->mv_size == strlen (presence->self->channels [i].channel->name) + 1
        &&  memcmp (key->mv_data, presence->self->channels [i].channel->name, key->mv_size) == 0)
            presence->durable_seen++;
    json_decref (entry);
    return 0;
}

//  Someone answers now: an operator who said online, or one in auto
//  (every channel's default) while the hours are open.
bool talk_available (chat_talk_t *self, MDB_txn *txn)
{
    s_presence_t presence = { chat_hours_open (self->hours, nd_stage_now (self->stage)),
                              false, 0, self };
    nd_key_t all;
    nd_key_init (&all);
    nd_db_scan (txn, self->presence, &all, s_presence_one, &presence);
    size_t durable = 0;
    for (size_t i = 0; i < self->channel_count; i++)
        durable += self->channels [i].channel->durable;
    //  A remote desk (Telegram) that never said anything is in auto
    if (presence.hours_open && presence.durable_seen < durable)
        presence.available = true;
    return presence.available;
}

int talk_presence (chat_talk_t *self, MDB_txn *txn, chat_event_t *event)
{
    const char *state = event->text ? event->text : "";
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, event->operator ? event->operator : "");
    if (!event->operator || key.overflow)
        return 0;
    int rc = 0;
    if (streq (state, "gone"))
        rc = nd_db_del (txn, self->presence, &key) < 0 ? -1 : 0;
    else
    if (streq (state, "online") || streq (state, "offline") || streq (state, "auto")
    ||  streq (state, "here")) {
        json_t *known = NULL;
        bool exists = nd_db_get_json (txn, self->presence, &key, &known) == 0;
        json_decref (known);
        if (!streq (state, "here") || !exists) {
            char stamp [32];
            json_t *entry = json_pack ("{s:s, s:s}", "state", streq (state, "here") ? "auto" : state,
                "since", nd_time_format (nd_stage_now (self->stage), stamp));
            rc = nd_db_put_json (txn, self->presence, &key, entry);
            json_decref (entry);
            nd_log ("operator %s: %s", event->operator, streq (state, "here") ? "connected" : state);
        }
    }
    else {
        talk_reply (event, "say online, offline or auto");
        return 0;
    }
    bool open = chat_hours_open (self->hours, nd_stage_now (self->stage));
    if (rc == 0 && !streq (state, "gone"))
        talk_reply (event, "%s; business hours are %s now; chats %s answered",
                    streq (state, "online") ? "you are online"
                    : streq (state, "offline") ? "you are offline"
                    : "you answer in business hours", open ? "open" : "closed",
                    talk_available (self, txn) ? "are" : "are not (they go to e-mail)");
    return rc;
}
