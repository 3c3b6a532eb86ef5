/*  mail.h - the mail-sender's classes, shared by its source files.

    Threads: the loop (mail_sender.c) alone touches LMDB: the outbox
    (nd_sender) and the suppression list (mail_suppress). The outbox's
    worker threads run a provider - SMTP (mail_smtp) or, with no relay
    configured, a Maildir (mail_maildir) - which asks the composer
    (mail_compose, read-only after setup) for each message's text. The
    encoders (mail_mime) and DKIM (mail_dkim) are pure functions.
*/
#ifndef MAIL_H_INCLUDED
#define MAIL_H_INCLUDED

#include <czmq.h>
#include <openssl/ssl.h>
#include "nd.h"
#include "nd_sender.h"
#include "nd_token.h"

/* ------------------------------------------------------------ text */

/*  A growing byte string: a message, a header, a body.                  */
typedef struct {
    char *data;                 //  NUL-terminated while non-NULL
    size_t size;
    size_t capacity;
} mail_text_t;

void mail_text_add (mail_text_t *text, const char *data, size_t size);
void mail_text_printf (mail_text_t *text, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void mail_text_free (mail_text_t *text);

/* ------------------------------------------------------------ mime */

#define MIME_LINE_MAX 76        //  RFC 2047's limit for a line with encoded-words

/*  Makes text safe for one header: every control character (CR and LF
    above all, so no value can start a header of its own) becomes a space,
    runs of spaces become one, bytes that are not UTF-8 become '?', the
    ends are trimmed; at most size - 1 bytes, cut on a character.        */
void mime_clean (const char *text, char *out, size_t size);
/*  An addr-spec nudge will send to: ASCII, one '@', a dot-atom local part
    of at most 64 bytes and a host name; nothing that could leave the
    angle brackets.                                                       */
bool mime_address_ok (const char *address);
/*  "Name: value" for unstructured text (Subject): folded at spaces, or as
    RFC 2047 UTF-8 encoded-words when it is not plain ASCII; CRLF at end. */
void mime_header_text (mail_text_t *text, const char *name, const char *value);
/*  "Name: display <address>" (From, To, Reply-To), the display name as a
    phrase: atoms, a quoted-string, or encoded-words.                    */
void mime_header_mailbox (mail_text_t *text, const char *name, const char *display,
                          const char *address);
/*  "Name: token, token" folded between tokens (List-Unsubscribe).       */
void mime_header_list (mail_text_t *text, const char *name, const char **tokens);
/*  The body in quoted-printable, lines of at most 76, CRLF line ends.   */
void mime_quoted_printable (mail_text_t *text, const char *body);
/*  Lower-case hex of SHA-256 (data), 64 characters and a NUL.           */
void mime_sha256_hex (const char *data, char *hex);
void mime_test (bool verbose);

/* ------------------------------------------------------------ dkim */

typedef struct _mail_dkim_t mail_dkim_t;
/*  Loads an RSA private key (PEM) to sign for domain with selector.     */
mail_dkim_t *mail_dkim_new (const char *key_file, const char *domain, const char *selector,
                            char *reason, size_t reason_size);
void mail_dkim_destroy (mail_dkim_t **self_p);
/*  Puts a DKIM-Signature header (rsa-sha256, relaxed/relaxed) in front
    of message, a complete RFC 5322 message with CRLF line ends. 0 / -1. */
int mail_dkim_sign (mail_dkim_t *self, mail_text_t *message);
void mail_dkim_test (bool verbose);

/* --------------------------------------------------------- compose */

typedef struct _mail_composer_t mail_composer_t;
/*  Reads the message options (from, reply-to, templates, locale,
    unsubscribe-*, dkim-*) and loads every e-mail template. NULL after
    logging the reason.                                                   */
mail_composer_t *mail_composer_new (nd_stage_t *stage);
void mail_composer_destroy (mail_composer_t **self_p);
/*  The complete message for a send order, into message, dated when (the
    stage's clock when it was due: event time in a replay). Thread-safe.
    Returns 0, or -1 with reason: the order can never be sent as it is
    (no template, an address nudge will not send to).                   */
int mail_composer_build (mail_composer_t *self, const json_t *order, int64_t when,
                         mail_text_t *message, char *reason, size_t reason_size);
/*  A send order's message before it is encoded: what the person reads.  */
typedef struct {
    char *subject, *text;
    char *html;                 //  NULL: the template has no HTML part
    char locale [32];           //  the templates' locale it was written in
    char token [ND_TOKEN_MAX];  //  the signed unsubscribe token, "" if none
} mail_parts_t;
/*  Renders the order's parts as mail_composer_build sends them (nd-render
    shows them). 0, or -1 with reason as mail_composer_build; the parts
    are the caller's, freed with mail_parts_free. Thread-safe.           */
int mail_composer_render (mail_composer_t *self, const json_t *order, mail_parts_t *parts,
                          char *reason, size_t reason_size);
void mail_parts_free (mail_parts_t *parts);
/*  Reads the templates again (SIGHUP), on the loop's thread. If all of
    them compile they replace the old ones at once, and a message being
    built meanwhile finishes with the old; said tells what was read. Else
    nothing changes and said is why. 0 / -1.                            */
int mail_composer_reload (mail_composer_t *self, char *said, size_t size);
/*  --check: the templates (option "templates") compile; else -1 after
    logging the reason. Makes nothing (no secret, no composer).           */
/*  The envelope sender, for MAIL FROM.                                   */
const char *mail_composer_return_path (mail_composer_t *self);

/* ------------------------------------------------------------ verp */

/*  The envelope sender per message, local+TOKEN@domain (mail_verp.c).   */
typedef struct _mail_verp_t mail_verp_t;
/*  Reads return-path (none: VERP off) and unsubscribe-secret. NULL after
    "file:line: reason".                                                  */
mail_verp_t *mail_verp_new (nd_stage_t *stage);
void mail_verp_destroy (mail_verp_t **self_p);
bool mail_verp_on (mail_verp_t *self);
/*  The order's "time" in ms, 0 when it has none.                         */
int64_t mail_verp_order_time (const json_t *order);
/*  What a token names a message by: the order's time and the first 8
    bytes of SHA-256 of its idempotency key (mail_intake keys its record
    of the message so).                                                   */
uint64_t mail_verp_id (const char *idempotency_key);
/*  The envelope sender for order into out; fallback (and -1) when VERP
    is off or the order has no key. Thread-safe.                          */
int mail_verp_sender (mail_verp_t *self, const json_t *order, const char *fallback,
                      char *out, size_t size);
/*  The order's time and id from a token this mail-sender made, in either
    case; -1 for any other (forged, altered, another purpose).           */
int mail_verp_open (mail_verp_t *self, const char *token, int64_t *time, uint64_t *id);
void mail_verp_test (bool verbose);

/* ------------------------------------------------------- providers */

/*  SMTP through libesmtp: one session a batch, every message of the
    batch over that one connection. Reads relay, tls, tls-ca, tls-verify,
    user, password, timeout, helo.                                        */
extern const nd_send_provider_t mail_smtp_provider;
void *mail_smtp_new (nd_stage_t *stage, mail_composer_t *composer);

/*  A Maildir (the default without a relay): each message a file in new/. */
extern const nd_send_provider_t mail_maildir_provider;
void *mail_maildir_new (nd_stage_t *stage, mail_composer_t *composer);
/*  An mbox (option "mbox", for dry runs): each batch appended in one
    write, as mboxrd. Its self is the Maildir's kind.                     */
extern const nd_send_provider_t mail_mbox_provider;
void *mail_mbox_new (nd_stage_t *stage, mail_composer_t *composer);
/*  Appends message to mbox as one mboxrd entry dated time (ms).         */
void mail_mbox_add (mail_text_t *mbox, const mail_text_t *message, int64_t time);
void mail_maildir_test (bool verbose);

/*  Implicit TLS (SMTPS, port 465), which libesmtp does not speak: a
    loopback listener whose one connection is relayed over TLS to host.  */
typedef struct _mail_tunnel_t mail_tunnel_t;
mail_tunnel_t *mail_tunnel_new (const char *host, const char *port, SSL_CTX *ctx,
                                bool verify, int timeout_ms, char *reason, size_t reason_size);
void mail_tunnel_destroy (mail_tunnel_t **self_p);
/*  Ends the tunnel and waits for its thread; -1 with the reason it
    failed (into reason, unless reason already holds one), else 0.       */
int mail_tunnel_close (mail_tunnel_t *self, char *reason, size_t reason_size);
/*  "127.0.0.1:<port>" for libesmtp to connect to.                       */
const char *mail_tunnel_address (mail_tunnel_t *self);

/* -------------------------------------------------------- suppress */

/*  Addresses that bounced and people who unsubscribed: never mailed
    again, whatever the scheduler says.                                   */
typedef struct _mail_suppress_t mail_suppress_t;
mail_suppress_t *mail_suppress_new (nd_stage_t *stage, MDB_txn *txn);
void mail_suppress_destroy (mail_suppress_t **self_p);
/*  1 if the person or the address is suppressed, with topic
    ("unsubscribed" or "bounced") and a one-line reason; 0 if not; -1.  */
int mail_suppress_check (mail_suppress_t *self, MDB_txn *txn, const char *user,
                         const char *address, char *topic, char *reason, size_t reason_size);
/*  what: "bounced", "complained" or "unsubscribed".                      */
int mail_suppress_address (mail_suppress_t *self, MDB_txn *txn, const char *address,
                           const char *what, int64_t time);
int mail_suppress_user (mail_suppress_t *self, MDB_txn *txn, const char *user,
                        const char *what, int64_t time);
/*  Remembers the address last queued for user, so that an unsubscribe
    that names only the person suppresses the address too.               */
int mail_suppress_remember (mail_suppress_t *self, MDB_txn *txn, const char *user,
                            const char *address);
/*  The address remembered for user into out; 0, ND_NOTFOUND or -1.      */
int mail_suppress_last_address (mail_suppress_t *self, MDB_txn *txn, const char *user,
                                char *out, size_t size);
/*  Entries in the list (people and addresses).                          */
/*  person.erased: the person's entries and last address go; a
    suppression of that address stays as its keyed hash only.           */
int mail_suppress_forget (mail_suppress_t *self, MDB_txn *txn, const char *user);
size_t mail_suppress_size (mail_suppress_t *self, MDB_txn *txn);

/* ---------------------------------------------------------- intake */

/*  Bounces and complaints after the SMTP session, from nd-bounce
    (mail_intake.c): an HTTP endpoint on "bounce-intake", answered once
    the suppression and the feedback are committed.                     */
typedef struct _mail_intake_t mail_intake_t;
/*  NULL after a logged reason. Without bounce-intake it takes nothing
    but still remembers what was sent, if VERP is on.                     */
mail_intake_t *mail_intake_new (nd_stage_t *stage, MDB_txn *txn, mail_suppress_t *suppress);
void mail_intake_destroy (mail_intake_t **self_p);
/*  The loop, for each send order: who it went to, for a later bounce.   */
int mail_intake_remember (mail_intake_t *self, MDB_txn *txn, const json_t *order);
/*  Drops what was remembered of the user's messages (person.erased).     */
int mail_intake_forget (mail_intake_t *self, MDB_txn *txn, const char *user);
int mail_intake_drain (mail_intake_t *self, MDB_txn *txn);
void mail_intake_committed (mail_intake_t *self, int rc);
/*  Adds "bounces": {hard, soft, complaints, refused, unknown}.           */
void mail_intake_stats (mail_intake_t *self, json_t *stats);

#endif
