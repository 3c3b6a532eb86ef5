/*  onsite.h - the onsite stage's classes, shared by its source files.

    Layers, each calling only downward:
      onsite_render  a send order -> the message the page shows: the
                     step's templates, HTML-escaped text, http(s) links
                     only, the products (no LMDB, no threads)
      onsite_store   messages in LMDB: per visitor (anonymous id), their
                     state, their expiry; the feedback the page's reports
                     cause, in the same transaction
      onsite_http    the page's side: long poll and reports, CORS
      onsite.c       the stage: setup, apply, timers, STATS, main

    Threads: only the loop's thread writes LMDB. HTTP threads read it in
    short read transactions (the environment is MDB_NOTLS) and hand the
    page's reports to the loop through the inbox (nd_inbox.h).          */
#ifndef ONSITE_H_INCLUDED
#define ONSITE_H_INCLUDED

#include <czmq.h>
#include "nd.h"
#include "nd_inbox.h"
#include "nd_templates.h"

#define ONSITE_VISITOR_MAX 200      //  bytes of an anonymousId
#define ONSITE_TO_MAX 5             //  anonymous ids one message is addressed to
#define ONSITE_PRODUCTS_MAX 8       //  products on one card
#define ONSITE_ID_SIZE 25           //  24 hex digits and the NUL

/* ----------------------------------------------------------- render */

/*  Renders order (a send.onsite body) into a message: {kind, title, body,
    url, image, products}, the caller's; NULL with reason when the order's
    template does not exist or does not render.                        */
json_t *onsite_render (nd_templates_t *templates, const json_t *order, char *reason,
                       size_t size);
/*  The message id of an idempotency key: 24 hex digits of its SHA-256,
    so a key repeated is the same message and ids reveal no journey.   */
void onsite_message_id (const char *key, char *id);
/*  Whether text is a link a page may follow: http(s), no quote, angle
    bracket, backslash, space or control character.                    */
bool onsite_link_ok (const char *text);
void onsite_render_test (bool verbose);

/* ------------------------------------------------------------ store */

typedef enum { ONSITE_SHOWN, ONSITE_CLICKED, ONSITE_DISMISSED } onsite_action_t;

/*  A report from the page, handed to the loop through the inbox. */
typedef struct {
    char id [ONSITE_ID_SIZE];
    char visitor [ONSITE_VISITOR_MAX + 1];
    onsite_action_t action;
    int status;                     //  the loop's answer: 200, 404
} onsite_report_t;

typedef struct _onsite_store_t onsite_store_t;
onsite_store_t *onsite_store_new (nd_stage_t *stage, MDB_txn *txn, nd_templates_t *templates,
                                  int64_t lifetime);
void onsite_store_destroy (onsite_store_t **self_p);
/*  A send.onsite order: rendered and kept for each anonymous id in its
    "to". 0 / -1.                                                         */
int onsite_store_order (onsite_store_t *self, MDB_txn *txn, const nd_msg_t *msg);
/*  A report (nd_inbox_apply_fn): the message's new state and its
    feedback. An unknown id, or a visitor it was not addressed to: status
    404, and nothing changes.                                            */
int onsite_store_report (void *self, MDB_txn *txn, void *report);
/*  Forgets messages past their expiry (feedback.expired for those never
    shown).                                                               */
int onsite_store_expire (onsite_store_t *self, MDB_txn *txn, int64_t now);
/*  For HTTP threads: the messages visitor may be shown now, as the
    poll's "messages" array (the caller's); NULL if LMDB failed.          */
json_t *onsite_store_messages (onsite_store_t *self, const char *visitor);
/*  After the commit (rc 0) or the abort: the anonymous ids that got new
    messages in that transaction (the caller's; NULL when none).         */
zlistx_t *onsite_store_committed (onsite_store_t *self, int rc);
void onsite_store_stats (onsite_store_t *self, json_t *stats);

/* ------------------------------------------------------------- http */

typedef struct _onsite_http_t onsite_http_t;
/*  Reads http, allow-origin, max-connections, max-connections-per-ip,
    threads; NULL after logging.                                         */
onsite_http_t *onsite_http_new (nd_stage_t *stage, nd_inbox_t *inbox, onsite_store_t *store);
/*  Call after the inbox is closed.                                      */
void onsite_http_destroy (onsite_http_t **self_p);
/*  Long polls waiting on these anonymous ids answer now.               */
void onsite_http_wake (onsite_http_t *self, zlistx_t *visitors);
void onsite_http_stats (onsite_http_t *self, json_t *stats);

/*  onsite_erase.c: person.erased - the person's messages go.          */
int onsite_erase (MDB_txn *txn, const char *user);

#endif
