/*  sms_inbound - a person's text that is no keyword, passed on to the chat.

    Layer: store (reads sms.users) and output, beside the keyword
    handling in sms_sender.c; called by the loop for each inbound event.

    STOP, START and HELP are the sms-sender's own. Any other text a
    person sends to the shop's number is a question or an answer for the
    shop's people: it goes out on this stage's journal as

        sms.received  {"id", "time", "user", "users", "phone", "text",
                       "provider", "message_id"}

    for the chat-bridge (which reads this stage as an input), in the same
    transaction as the rest of the webhook's events, so it is on disk
    before the provider hears 200 and a provider's retry of it carries the
    same id. Who wrote is looked up here, where it is known for certain:
    sms.users holds the people the shop has sent texts to at that number
    (send orders from the scheduler, which sends only to numbers with
    consent), newest order first. "user" is the person of the newest
    order, "users" all of them; both are empty for a number the shop never
    texted. A profile's phone trait is only a claim (anyone with the
    write key can set it), so it is not used to say who wrote.

    The log names the masked number and the text's length, never the
    number or the text.                                                  */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include "sms.h"

typedef struct {
    size_t phone_size;          //  the key's phone part, with its NUL
    json_t *users;              //  every user of the number
    char newest [256];          //  the user of the newest order
    uint64_t newest_at;
} s_owners_t;

//  sms.users: phone, user -> u64 time of the last order to them.
static int s_owner (const MDB_val *key, const MDB_val *data, void *arg)
{
    s_owners_t *owners = (s_owners_t *) arg;
    if (key->mv_size <= owners->phone_size)
        return 0;
    const char *user = (const char *) key->mv_data + owners->phone_size;
    size_t size = strnlen (user, key->mv_size - owners->phone_size);
    if (size == 0 || size >= sizeof owners->newest)
        return 0;
    json_array_append_new (owners->users, json_stringn (user, size));
    uint64_t at = data->mv_size == 8 ? nd_key_get_u64 (data, 0) : 0;
    if (!*owners->newest || at >= owners->newest_at) {
        snprintf (owners->newest, sizeof owners->newest, "%.*s", (int) size, user);
        owners->newest_at = at;
    }
    return 0;
}

int sms_inbound_emit (nd_stage_t *stage, MDB_txn *txn, MDB_dbi users, const char *provider,
                      const sms_event_t *event)
{
    char masked [32];
    sms_phone_mask (event->phone, masked, sizeof masked);
    const char *text = event->text ? event->text : "";
    if (!sms_phone_valid (event->phone) || !*text) {
        nd_log ("webhook: a text from %s %s: not passed to the chat", masked,
                *text ? "(not an E.164 number)" : "with nothing in it");
        return 0;
    }
    s_owners_t owners = { strlen (event->phone) + 1, json_array (), "", 0 };
    nd_key_t prefix;
    nd_key_init (&prefix);
    nd_key_str (&prefix, event->phone);
    if (nd_db_scan (txn, users, &prefix, s_owner, &owners) < 0) {
        json_decref (owners.users);
        return -1;
    }
    json_t *body = json_pack ("{s:s, s:o, s:s, s:s, s:s, s:s}", "user", owners.newest,
        "users", owners.users, "phone", event->phone, "text", text, "provider", provider,
        "message_id", event->message_id);
    //  The provider's id makes a retried webhook the same message
    if (body && *event->message_id)
        json_object_set_new (body, "id", json_sprintf ("sms-in/%s/%s", provider,
                                                       event->message_id));
    int rc = body ? nd_emit (stage, txn, "sms.received", body) : -1;
    if (rc == 0)
        nd_log ("webhook: a text from %s (%zu bytes) goes to the chat: %s%s", masked,
                strlen (text), *owners.newest ? "person " : "a number never texted",
                owners.newest);
    json_decref (body);
    return rc;
}
