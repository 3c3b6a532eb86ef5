/*  nd_spool.h - dry-run sinks: one JSON file per message in a directory.

    When a sender has no provider configured (sms-sender's and
    push-sender's "spool"), each message it would have sent is written as
    one file instead, so `make run` and nd-backtest see everything the
    pipeline decided without reaching anybody. Files are written to
    .<name>.tmp, synced, then renamed to <name>.json, so a reader (ls,
    jq) never sees half a message. The name is 24 hex digits of SHA-256
    of the idempotency key: a message sent again after a crash replaces
    its own file, it never makes a second one. Directory and files are
    private (0700, 0600): they name people's numbers and subscriptions. */
#ifndef ND_SPOOL_H_INCLUDED
#define ND_SPOOL_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ND_SPOOL_NAME_MAX 32

/*  mkdir -p dir, mode 0700. Returns 0, or -1 with errno set.            */
int nd_spool_dir (const char *dir);

/*  Writes record (with "id": the file's name added) as dir/<name>.json,
    the name from key; remakes dir if it has gone. Returns 0 and the
    name, or -1 with errno set.                                          */
int nd_spool_put (const char *dir, const char *key, json_t *record,
                  char name [ND_SPOOL_NAME_MAX]);

void nd_spool_test (bool verbose);

#endif
