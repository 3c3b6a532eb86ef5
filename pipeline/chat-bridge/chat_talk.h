/*  chat_talk.h - the talk's insides, shared by its files only: the
    chat_talk_t class of chat.h is these files, in layers that only call
    downward.

    Layer: base (types, and what each layer offers the ones above it).

      store   chat_record.c        conversation records, counters,
                                   transcript lines, the messages emitted
              chat_notes.c         notes for the operators (calls
                                   chat_record.c)
              chat_conversation.c  a conversation begins, stays open,
                                   ends (calls chat_notes.c, chat_record.c)
      rules   chat_presence.c      who answers now: presence and hours
              chat_mail.c          questions to support-mailbox by e-mail,
                                   and their digest
      engine  chat_shopper.c       what a shopper's message does
              chat_operator.c      what an operator's command does
              chat_texts.c         what a text message does (sms.received,
                                   feedback on an answer by SMS)
              chat_talk.c          the class: options, the inbox's events
                                   to the files above, timers, stats

    Private to the talk: the rest of the stage knows chat_talk_t by chat.h
    only.

    Databases, in the stage's LMDB:
        conversations   id -> {id, user, anonymousId, userId, token, state,
                        started, lines, idle_due, email, name}
        open            id -> "" while a conversation is open
        lines           id, u64 seq -> {seq, from, name, text, time}
        seen            id, client id -> "" (a widget's retry is not a new line)
        idle            i64 due, id -> "": the idle timers
        notes           channel, u64 number -> {conversation, text}: not yet
                        confirmed by a durable channel
        presence        operator -> {state, since}
        digest          u64 number -> {conversation, reply_to, reply_to_name,
                        about, said, summary}: questions over max-support-mails
        counters        "conversation", "note", "cursor/<channel>",
                        "digest", "digest-due" (ms; 0: none waits) -> u64  */
#ifndef CHAT_TALK_H_INCLUDED
#define CHAT_TALK_H_INCLUDED

#include "chat.h"

#define TALK_CHANNELS_MAX 4

typedef struct {
    const chat_channel_t *channel;
    void *instance;
} talk_channel_t;

typedef struct {
    uint64_t number;
    char *conversation;
    char *text;
    const chat_channel_t *only;     //  NULL: every channel
} talk_note_t;

struct _chat_talk_t {
    nd_stage_t *stage;
    chat_people_t *people;
    chat_limits_t *limits;
    chat_hours_t *hours;
    chat_sms_t *sms;            //  which conversation a phone number has
    MDB_dbi conversations, open, lines, seen, idle, notes, presence, counters, digest;
    char *support;              //  the support mailbox
    int64_t idle_timeout;
    int64_t sms_idle_timeout;   //  a conversation by SMS: people answer later
    char *identity_secret;      //  NULL: every conversation is unverified
    char *text_email;           //  what the shopper is told
    char *text_email_known;
    char *text_ask;
    char *text_ended;
    talk_channel_t channels [TALK_CHANNELS_MAX];
    size_t channel_count;
    zlist_t *pending;           //  notes made in the open transaction
    bool fresh;                 //  lines added in the open transaction
    uint64_t started, emailed, digested, messages, verified, unverified_hash, texts;
};

/* ---------------------------------------------- store: chat_record.c */

json_t *talk_parse (const MDB_val *data);
/*  A counter's value (0 if none yet), set, and the next one, stored.    */
int talk_counter (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value);
int talk_counter_set (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t value);
int talk_next (chat_talk_t *self, MDB_txn *txn, const char *name, uint64_t *value);
/*  A conversation's key, for its record and the start of its lines.     */
void talk_id_key (nd_key_t *key, const char *conversation);
/*  The conversation's record (the caller's), or NULL.                   */
json_t *talk_load (chat_talk_t *self, MDB_txn *txn, const char *conversation);
int talk_store (chat_talk_t *self, MDB_txn *txn, json_t *record);
const char *talk_str (const json_t *record, const char *field);
bool talk_token_ok (const json_t *record, const char *token);
bool talk_is_verified (const json_t *record);
/*  The event's answer: JSON with an HTTP status (takes answer), or a
    text for an operator.                                                */
void talk_answer (chat_event_t *event, int status, json_t *answer);
void talk_reply (chat_event_t *event, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
/*  Appends a line to the transcript; returns its seq, or 0 on error.    */
uint64_t talk_line (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *from,
                    const char *name, const char *text);
/*  Emits topic with body (taken) about the conversation in record.      */
int talk_emit (chat_talk_t *self, MDB_txn *txn, const char *topic, const json_t *record,
               json_t *body);

/* ----------------------------------------------- store: chat_notes.c */

/*  A note for the operators about conversation, in the open transaction. */
int talk_note (chat_talk_t *self, MDB_txn *txn, const char *conversation, const char *text);
void talk_note_free (talk_note_t **note_p);
/*  The operators' first note of a conversation: who, then what they said. */
int talk_note_new (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text);
/*  Who the conversation's visitor is, for operators (the caller's).     */
char *talk_summary (const json_t *record, const json_t *person);
/*  A durable channel confirmed a note (CHAT_NOTE_SENT).                 */
int talk_note_sent (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);

/* ---------------------------------------- store: chat_conversation.c */

/*  A new conversation's record (the caller's), from the widget (event)
    or a text (sms, else NULL); NULL on error.                           */
json_t *talk_start (chat_talk_t *self, MDB_txn *txn, chat_event_t *event,
                    const chat_sms_in_t *sms);
/*  The conversation was active: its idle timer moves.                   */
int talk_touch (chat_talk_t *self, MDB_txn *txn, json_t *record);
/*  Ends the conversation for reason, text (or NULL) its last line.      */
int talk_end (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *reason,
              const char *text);

/* -------------------------------------------- rules: chat_presence.c */

/*  Whether someone answers now.                                         */
bool talk_available (chat_talk_t *self, MDB_txn *txn);
/*  CHAT_OPERATOR_PRESENCE.                                              */
int talk_presence (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);

/* ------------------------------------------------ rules: chat_mail.c */

/*  Nobody answers: the question goes to support and the conversation
    ends. typed: the shopper gave email in this conversation.            */
int talk_email (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *email, bool typed);
/*  Nobody answers a new text: support hears of it by e-mail.            */
int talk_sms_mail (chat_talk_t *self, MDB_txn *txn, json_t *record, const char *text);
/*  Sends the digest if its time has come.                               */
int talk_digest_send (chat_talk_t *self, MDB_txn *txn, int64_t now);

/* --------------------------------------------- engine: chat_shopper.c */

/*  Over a rate: the event has its 429, and nothing else is done.        */
bool talk_limited (chat_talk_t *self, chat_event_t *event);
int talk_shopper_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);
int talk_shopper_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);

/* -------------------------------------------- engine: chat_operator.c */

int talk_operator_say (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);
int talk_operator_end (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);
int talk_operator_list (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);
int talk_operator_show (chat_talk_t *self, MDB_txn *txn, chat_event_t *event);

#endif
