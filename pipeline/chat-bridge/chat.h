/*  chat.h - the chat-bridge's classes, shared by its source files.

    the inbox      requests from other threads (the shoppers' HTTP
                   requests, the operator channels) to the loop, each
                   answered after the transaction that applied it commits;
                   and a "something new was committed" version for long
                   polls and event streams: the runtime's nd_inbox of
                   chat_event_t
    chat_people    who a visitor is to the shop: ids, cart, views,
                   segments, orders, earlier chats, read from the
                   pipeline; the summary an operator sees
    chat_limits    how often: requests per client address and per
                   visitor (in memory), conversations and support mails
                   per period across the shop (in LMDB)
    chat_sms       conversations by text message: which one a number
                   has open, the sms-sender's messages both ways
    chat_talk      conversations and transcripts in LMDB, and what
                   happens on each shopper and operator message; its
                   insides are several files in layers (chat_talk.h
                   names them): chat_talk.c is the class
    chat_hours     business hours in the shop's time zone
    chat_http      the shoppers' HTTP server and the widget
    chat_channel   one small interface per operator channel:
                   chat_telegram.c (Bot API), chat_console.c (nd-chat
                   over ZeroMQ); a new channel is one new file

    Threads: only the loop's thread writes LMDB. HTTP request threads
    read it (short read transactions; the environment is MDB_NOTLS) to
    answer long polls; everything that changes state goes through the
    inbox.                                                               */
#ifndef CHAT_H_INCLUDED
#define CHAT_H_INCLUDED

#include <czmq.h>
#include "nd.h"
#include "nd_inbox.h"

#define CHAT_TEXT_MAX 4000          //  bytes of one message
#define CHAT_ID_MAX 200             //  bytes of an anonymousId or userId

/* ---------------------------------------------------------- events */

typedef enum {
    CHAT_SHOPPER_SAY,           //  a shopper's message (and e-mail address, if given)
    CHAT_SHOPPER_END,           //  the shopper closed the chat
    CHAT_OPERATOR_SAY,          //  an operator's reply to a conversation
    CHAT_OPERATOR_END,          //  an operator closes a conversation
    CHAT_OPERATOR_PRESENCE,     //  text: online | offline | auto | here | gone
    CHAT_OPERATOR_LIST,         //  open conversations, as an answer
    CHAT_OPERATOR_SHOW,         //  one conversation's summary and transcript
    CHAT_NOTE_SENT,             //  a channel delivered durable note number
    CHAT_CURSOR                 //  a channel read its updates up to number
} chat_kind_t;

/*  One thing another thread asks of the loop. The strings are the
    event's (chat_event_clear frees them); the loop fills in the answer. */
typedef struct {
    chat_kind_t kind;
    char *conversation;         //  "c7"
    char *token;                //  the conversation's secret, from the shopper
    char *anonymous_id;
    char *user_id;
    char *user_hash;            //  the shop's HMAC-SHA256 (identity-secret, userId), hex
    char *client;               //  the shopper's address (for its rate), not logged
    char *text;
    char *email;
    char *client_id;            //  the widget's id for a message: a retry is not a second message
    char *channel;              //  "telegram", "console"
    char *operator;             //  "telegram", "console:anna"
    char *operator_name;        //  shown to the shopper: "Anna"
    uint64_t number;            //  note number, cursor
    //  The loop's answer
    int status;                 //  HTTP status for a shopper's request
    int64_t retry_after;        //  seconds, with a 429 or 503
    char *answer;               //  JSON for HTTP, one text for an operator
} chat_event_t;

void chat_event_clear (chat_event_t *event);
/*  strdup that keeps NULL.                                              */
char *chat_strdup (const char *text);

/* ---------------------------------------------------------- people */

typedef struct _chat_people_t chat_people_t;
chat_people_t *chat_people_new (MDB_txn *txn);
void chat_people_destroy (chat_people_t **self_p);
/*  Learns from one pipeline message (segmenter output). 0 / -1.         */
int chat_people_observe (chat_people_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Drops what it keeps of the last visitor (chat_people.c): after each
    commit or abort, and before anything else writes their rows.         */
void chat_people_forget (chat_people_t *self);

/*  chat_erase: person.erased, visitor.forgotten - everything kept for the
    visitor (summary, ids, conversations and transcripts) goes. body is
    the message's: its "anonymousIds" and "userIds" find the ids. erased:
    person.erased (conversations are looked for even if the summary
    counts none).                                                        */
int chat_erase (MDB_txn *txn, const char *visitor, const json_t *body, bool erased);
/*  The visitor id the sessionizer gave these ids, into visitor; or the
    anonymousId (or userId) itself when the pipeline has not seen them. */
void chat_people_resolve (chat_people_t *self, MDB_txn *txn, const char *anonymous_id,
                          const char *user_id, char *visitor, size_t size);
/*  The stored summary (JSON, the caller's), or an empty object.         */
json_t *chat_people_get (chat_people_t *self, MDB_txn *txn, const char *visitor);
/*  Remembers a finished conversation and an address the shopper gave.  */
int chat_people_note_chat (chat_people_t *self, MDB_txn *txn, const char *visitor,
                           const char *started, const char *first_line, const char *email);
/*  The operators' view: several lines, the caller's. Unless verified
    (the widget proved the userId), it says the visitor is unverified:
    anyone can send another shopper's ids.                               */
char *chat_people_summary (const json_t *person, const char *visitor, bool verified);
size_t chat_people_count (chat_people_t *self, MDB_txn *txn);

/* ------------------------------------------------------------- sms */

typedef struct _chat_sms_t chat_sms_t;
/*  An inbound text, as sms.received brought it (the body's strings).   */
typedef struct {
    const char *phone;          //  E.164
    const char *text;
    const char *user;           //  the person the shop texts there, or NULL
    const char *message_id;     //  the provider's, or NULL
} chat_sms_in_t;

chat_sms_t *chat_sms_new (MDB_txn *txn);
void chat_sms_destroy (chat_sms_t **self_p);
/*  sms.received's body into in: 0, or -1 with reason.                   */
int chat_sms_read (const json_t *body, chat_sms_in_t *in, char *reason, size_t size);
/*  The conversation last opened for phone, into id: 0, ND_NOTFOUND, -1. */
int chat_sms_find (chat_sms_t *self, MDB_txn *txn, const char *phone, char *id, size_t size);
int chat_sms_bind (chat_sms_t *self, MDB_txn *txn, const char *phone, const char *conversation);
/*  Whether a conversation record is by SMS; its label for operators
    ("SMS from +4860*****00"), or "".                                    */
bool chat_sms_is (const json_t *record);
const char *chat_sms_label (const json_t *record, char *out, size_t size);
/*  The send.sms order of an operator's answer (line seq) in record.      */
int chat_sms_order (nd_stage_t *stage, MDB_txn *txn, const json_t *record, uint64_t seq,
                    const char *text);
/*  Feedback about such an order: its conversation, and whether it was
    delivered. False for any other message.                              */
bool chat_sms_feedback (const nd_msg_t *msg, char *conversation, size_t size, bool *delivered);
void chat_sms_test (bool verbose);

/* ---------------------------------------------------------- limits */

typedef struct _chat_limits_t chat_limits_t;
/*  Reads rate-per-ip, rate-per-visitor, max-conversations and
    max-support-mails ("N/PERIOD", or "none") and opens the caps'
    database. NULL after logging.                                         */
chat_limits_t *chat_limits_new (nd_stage_t *stage, MDB_txn *txn);
void chat_limits_destroy (chat_limits_t **self_p);
/*  One request of the widget's, from a client address and a visitor
    (either may be NULL), at now: 0, or the ms to wait (nothing taken).  */
int64_t chat_limits_request (chat_limits_t *self, const char *client, const char *visitor,
                             int64_t now);
typedef enum { CHAT_CAP_CONVERSATIONS, CHAT_CAP_MAILS } chat_cap_t;
/*  Counts one against a cap for the period now falls in: 0, or 1 when
    the period's cap is reached (nothing counted), -1 on error. *ends is
    when the period ends (0: the cap is "none").                         */
int chat_limits_take (chat_limits_t *self, MDB_txn *txn, chat_cap_t cap, int64_t now,
                      int64_t *ends);
/*  A cap's period in ms (0: none).                                      */
int64_t chat_limits_period (chat_limits_t *self, chat_cap_t cap);
void chat_limits_stats (chat_limits_t *self, json_t *stats);
void chat_limits_test (bool verbose);

/* ----------------------------------------------------------- hours */

typedef struct _chat_hours_t chat_hours_t;
/*  "always", "never", or "mon-fri 09:00-18:00, sat 10:00-14:00" in zone
    (an IANA name). NULL with a reason.                                  */
chat_hours_t *chat_hours_new (const char *spec, const char *zone, char *reason, size_t size);
void chat_hours_destroy (chat_hours_t **self_p);
bool chat_hours_open (chat_hours_t *self, int64_t utc_ms);
void chat_hours_test (bool verbose);

/* --------------------------------------------------------- channel */

/*  An operator channel. new() reads its options (under its own name in
    the stage's section), starts what threads it needs and submits what
    operators say through the inbox; deliver() is called by the loop
    after a commit and must not block.                                    */
typedef struct {
    const char *name;           //  "telegram", "console"; the option section
    /*  Notes kept in LMDB until the channel says CHAT_NOTE_SENT (a remote
        service); else notes go to whoever is connected, once.          */
    bool durable;
    void *(*create) (nd_stage_t *stage, nd_inbox_t *inbox, uint64_t cursor);
    void (*deliver) (void *self, uint64_t number, const char *conversation, const char *text);
    void (*destroy) (void **self_p);
} chat_channel_t;

extern const chat_channel_t chat_telegram_channel;
extern const chat_channel_t chat_console_channel;

/* ------------------------------------------------------------ talk */

typedef struct _chat_talk_t chat_talk_t;
/*  Reads the talk options (hours, timezone, support-mailbox, idle-timeout,
    identity-secret, texts) and opens the conversations' databases. NULL
    after logging.                                                        */
chat_talk_t *chat_talk_new (nd_stage_t *stage, MDB_txn *txn, chat_people_t *people,
                            chat_limits_t *limits);
void chat_talk_destroy (chat_talk_t **self_p);
/*  Reads sms-idle-timeout (setup and --check): 0, or -1 after logging.  */
int chat_talk_check_sms (nd_stage_t *stage, int64_t *timeout);
/*  Registers a channel's running instance: notes go to it.              */
void chat_talk_add_channel (chat_talk_t *self, const chat_channel_t *channel, void *instance);
/*  The stored cursor of a channel (0 if none).                          */
uint64_t chat_talk_cursor (chat_talk_t *self, MDB_txn *txn, const char *channel);
/*  Hands the durable notes still undelivered to their channels.         */
int chat_talk_resend (chat_talk_t *self, MDB_txn *txn);
/*  From the sms-sender: sms.received opens or continues the number's
    conversation; feedback about an operator's SMS answer that did not go
    out is told to the operators. Returns 1 when msg is neither (for the
    caller to pass on), else 0 / -1.                                      */
int chat_talk_sms (chat_talk_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  Applies one chat_event_t from the inbox (nd_inbox_apply_fn).         */
int chat_talk_apply (void *self, MDB_txn *txn, void *event);
/*  Ends conversations idle for longer than idle-timeout; sends the
    digest of questions over max-support-mails when its period is over.  */
int chat_talk_timers (chat_talk_t *self, MDB_txn *txn, int64_t now);
/*  After the commit: delivers the notes it made (rc 0) or drops them;
    returns whether transcripts changed.                                  */
bool chat_talk_committed (chat_talk_t *self, int rc);
/*  For HTTP threads: the lines of conversation after seq, as a JSON
    array (the caller's), if token is the conversation's; NULL if not
    (status 403 or 404 in *status).                                       */
json_t *chat_talk_lines (chat_talk_t *self, const char *conversation, const char *token,
                         uint64_t after, int *status);
void chat_talk_stats (chat_talk_t *self, json_t *stats);

/* ------------------------------------------------------------ http */

typedef struct _chat_http_t chat_http_t;
chat_http_t *chat_http_new (nd_stage_t *stage, nd_inbox_t *inbox, chat_talk_t *talk);
void chat_http_destroy (chat_http_t **self_p);
void chat_http_stats (chat_http_t *self, json_t *stats);

/* ------------------------------------------------------------ misc */

/*  For logs: "e***@example.com".                                       */
const char *chat_mask_email (const char *address, char *out, size_t size);
/*  A plausible e-mail address: one '@', a dot in the domain, no spaces
    or controls, at most 254 bytes.                                      */
bool chat_email_ok (const char *address);

#endif
