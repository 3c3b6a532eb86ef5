/*  people.h - what the scheduler knows of a person: contacts,
    consent, opt-outs, activity, identity merges.

    Layer: store; people.c calls instance.c and the base.               */
#ifndef PEOPLE_H_INCLUDED
#define PEOPLE_H_INCLUDED

#include "base.h"
#include "instance.h"

/*  What the scheduler knows of a person while handling one message.     */
typedef struct {
    char user [SCHEDULER_USER_MAX + 1];
    json_t *record;             //  {traits, segments, optout, suppressed, dead_push, dead_app}
    json_t *push_to;            //  person_contact's last push address, owned
    bool changed;
    int64_t last_event, session_ended, chat_since, last_order;
    bool activity_changed;
} person_t;

person_t *person_load (scheduler_t *self, MDB_txn *txn, const char *user);
int person_store (scheduler_t *self, MDB_txn *txn, person_t *person);
void person_destroy (person_t **self_p);
/*  The contact for channel ("to" of a send order, borrowed until the next
    call), or NULL if the person cannot be reached there. For push, the
    addresses the push-sender tries in turn: {"fcm": token, "apns": token}
    (traits.push's app tokens) and the browser's push_subscription's own
    fields (endpoint, keys), each unless found gone.                      */
json_t *person_contact (person_t *person, channel_t channel);
/*  Whether the person opted out of channel (or of all), or address (an
    e-mail address) bounced.                                              */
bool person_blocked (person_t *person, channel_t channel, const char *address);
const char *person_timezone (scheduler_t *self, person_t *person);
const char *person_locale (person_t *person);
/*  Updates what the person's messages tell (activity, profile, chat,
    orders, merges); before journeys see the message.                    */
int people_observe (scheduler_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  what: "optout" (channel: a channel's name or "all"), "optin" (lifts
    the opt-out of that channel), "bounced" (the e-mail address is
    suppressed) or "unreachable" (the push subscription is gone).        */
int person_block (person_t *person, const char *what, const char *channel, int64_t time);
/*  The push-sender found these addresses gone: feedback's "gone",
    [{"fcm" | "apns" | "web": token or endpoint}]. They are not tried again
    until the profile names new ones.                                    */
void person_push_gone (person_t *person, const json_t *gone);
/*  A view of the person for check conditions.                           */
json_t *person_view (person_t *person);

#endif
