/*  chat-bridge - a shopper's question reaches a person, or an e-mail answer.

NAME
    chat-bridge - live chat between shoppers and the shop's operators,
    with the visitor's history, and e-mail when nobody is online

SYNOPSIS
    chat-bridge [--config FILE] [--name NAME] [--clock wall|event]
                [--notify-fd N]
    chat-bridge --selftest

DESCRIPTION
    Shoppers talk through a small widget (GET /chat/widget.js, one script
    tag) that posts their messages to this stage's HTTP server and reads
    the answers by long poll or Server-Sent Events (chat_http.c). Each
    message is on disk before the widget hears 200.

    Operators answer from a Telegram chat through the Bot API
    (chat_telegram.c) or from a terminal with nd-chat over ZeroMQ
    (chat_console.c): each operator channel is one file behind one small
    interface (chat_channel_t in chat.h). A new conversation shows them
    the visitor's summary - cart and its value, products viewed,
    segments, orders, earlier conversations - which this stage keeps
    from the pipeline's events (input: the segmenter) in its own LMDB
    (chat_people.c).

    A text a person sends to the shop's number reaches the operators as
    well: with the sms-sender among its inputs, its sms.received opens or
    continues that number's conversation, marked as SMS, with the summary
    of the person the shop texts there; an operator's answer goes back as
    a send.sms order the sms-sender reads from this stage (chat_sms.c).

    Business hours ("hours", "timezone") and the operators' own
    online / offline / auto say whether anyone answers. When nobody
    does, the shopper is told the answer comes by e-mail (and asked for
    an address), and the question goes to "support-mailbox" as a
    send.email order for the mail-sender, with Reply-To set to the
    shopper (chat_mail.c). The profile's address is used only for a
    visitor the widget proves (a userId with the shop's HMAC of it,
    "identity-secret"), and never shown to the browser. Rates per client
    and visitor, and caps on conversations and on support mails (the rest
    in one digest mail a period) keep a flood small (chat_limits.c).

    Output, on this stage's durable journal: chat.started, chat.message,
    chat.ended (the scheduler holds reminders while a chat is open),
    send.email and send.sms; every body has "id", "user" (the visitor id), "time" and
    "conversation". Transcripts stay in LMDB. Logs carry visitor ids,
    conversation ids and masked addresses, never message text, an
    address or a token.

    Options: http, allow-origin, max-connections, widget, hours,
    timezone, support-mailbox, idle-timeout, sms-idle-timeout, identity-secret,
    rate-per-ip, rate-per-visitor, max-conversations, max-support-mails,
    text-email, text-email-known, text-ask-email, text-ended, console, telegram-{token, chat, api, operators, poll,
    timeout}. See chat-bridge(1).                                        */
#include "chat.h"

typedef struct {
    nd_stage_t *stage;
    nd_inbox_t *inbox;
    chat_people_t *people;
    chat_limits_t *limits;
    chat_talk_t *talk;
    chat_http_t *http;
    const chat_channel_t *channels [2];
    void *instances [2];
    size_t channel_count;
} chat_bridge_t;

//  What the inbox frees of an event the loop never answered (a post).
static void s_event_clear (void *event)
{
    chat_event_clear ((chat_event_t *) event);
}

static void s_teardown (void **self_p)
{
    chat_bridge_t *self = (chat_bridge_t *) *self_p;
    if (!self)
        return;
    //  Waiting requests and streams give up first, then their threads end
    if (self->inbox)
        nd_inbox_close (self->inbox);
    chat_http_destroy (&self->http);
    for (size_t i = 0; i < self->channel_count; i++)
        self->channels [i]->destroy (&self->instances [i]);
    chat_talk_destroy (&self->talk);
    chat_limits_destroy (&self->limits);
    chat_people_destroy (&self->people);
    nd_inbox_destroy (&self->inbox);
    free (self);
    *self_p = NULL;
}

static int s_channel (chat_bridge_t *self, MDB_txn *txn, const chat_channel_t *channel)
{
    void *instance = channel->create (self->stage, self->inbox,
                                      chat_talk_cursor (self->talk, txn, channel->name));
    if (!instance)
        return -1;
    self->channels [self->channel_count] = channel;
    self->instances [self->channel_count++] = instance;
    chat_talk_add_channel (self->talk, channel, instance);
    return 0;
}

static int s_setup (nd_stage_t *stage, MDB_txn *txn, void **self_p)
{
    chat_bridge_t *self = (chat_bridge_t *) zmalloc (sizeof *self);
    *self_p = self;             //  torn down by the runtime even if we fail
    self->stage = stage;
    self->inbox = nd_inbox_new (stage, sizeof (chat_event_t), s_event_clear);
    if (!(self->people = chat_people_new (txn))
    ||  !(self->limits = chat_limits_new (stage, txn))
    ||  !(self->talk = chat_talk_new (stage, txn, self->people, self->limits)))
        return -1;
    //  Every telegram option is known, so a misspelt one stops the start
    const char *telegram [] = { "telegram-token", "telegram-chat", "telegram-api",
                                "telegram-operators", "telegram-poll", "telegram-timeout", NULL };
    bool with_telegram = false;
    for (int i = 0; telegram [i]; i++)
        with_telegram = nd_stage_option (stage, telegram [i], NULL) || with_telegram;
    const char *console = nd_stage_option (stage, "console", NULL);
    if ((with_telegram && s_channel (self, txn, &chat_telegram_channel))
    ||  ((!console || !streq (console, "none")) && s_channel (self, txn, &chat_console_channel))
    ||  chat_talk_resend (self->talk, txn))
        return -1;
    self->http = chat_http_new (stage, self->inbox, self->talk);
    return self->http ? 0 : -1;
}

static int s_apply (nd_stage_t *stage, void *self_, MDB_txn *txn, const nd_msg_t *msg)
{
    (void) stage;
    const char *user = json_string_value (json_object_get (msg->body, "user"));
    chat_bridge_t *self = (chat_bridge_t *) self_;
    bool erased = streq (msg->topic, "person.erased");
    if ((erased || streq (msg->topic, "visitor.forgotten")) && user && *user) {
        chat_people_forget (self->people);
        return chat_erase (txn, user, msg->body, erased);
    }
    //  The sms-sender's texts and feedback (chat_sms.c)
    int rc = chat_talk_sms (self->talk, txn, msg);
    return rc != 1 ? rc : chat_people_observe (self->people, txn, msg);
}

static int s_drain (nd_stage_t *stage, void *self_, MDB_txn *txn)
{
    (void) stage;
    chat_bridge_t *self = (chat_bridge_t *) self_;
    return nd_inbox_drain (self->inbox, txn, chat_talk_apply, self->talk);
}

static void s_committed (nd_stage_t *stage, void *self_, int rc)
{
    (void) stage;
    chat_bridge_t *self = (chat_bridge_t *) self_;
    chat_people_forget (self->people);
    bool fresh = chat_talk_committed (self->talk, rc);
    nd_inbox_committed (self->inbox, rc, fresh);
}

static int s_timers (nd_stage_t *stage, void *self_, MDB_txn *txn, int64_t now)
{
    (void) stage;
    return chat_talk_timers (((chat_bridge_t *) self_)->talk, txn, now);
}

static void s_stats (void *self_, json_t *stats)
{
    chat_bridge_t *self = (chat_bridge_t *) self_;
    chat_talk_stats (self->talk, stats);
    chat_limits_stats (self->limits, stats);
    chat_http_stats (self->http, stats);
}

static void s_selftest (bool verbose)
{
    chat_hours_test (verbose);
    chat_limits_test (verbose);
    chat_sms_test (verbose);
}

//  --check: the options setup reads beyond the runtime's.
static int s_check (nd_stage_t *stage)
{
    int64_t timeout;
    return chat_talk_check_sms (stage, &timeout);
}

int main (int argc, char **argv)
{
    const nd_stage_def_t def = {
        .name = "chat-bridge",
        .summary = "Live chat between shoppers and operators (Telegram, nd-chat), "
                   "with e-mail when nobody is online.",
        .selftest = s_selftest,
        .setup = s_setup,
        .apply = s_apply,
        .timers = s_timers,
        .source_drain = s_drain,
        .source_committed = s_committed,
        .stats = s_stats,
        .check = s_check,
        .teardown = s_teardown
    };
    return nd_stage_main (argc, argv, &def);
}
