/*  nd_spool.h - dry-run sinks: what a sender would have sent, on disk.

    When a sender has no provider configured (sms-sender's and
    push-sender's "spool"), each message it would have sent is written
    to the spool instead, so `make run` and nd-backtest see everything
    the pipeline decided without reaching anybody. A spool is either

      a directory (`make run`, the tests): one JSON file per message,
        written to .<name>.tmp then renamed to <name>.json, so a reader
        (ls, jq) never sees half a message; a message sent again after a
        crash replaces its own file, it never makes a second one;
      a file whose name ends in ".jsonl" (nd-backtest): one line per
        message, appended in one write. No file is made per message:
        making an inode per message was most of a dry-run sender's CPU
        time on ext4 (find_inode_bit, recently_deleted). A message sent
        again after a crash adds a line with the same id; the last wins.

    The name (the "id" field) is 24 hex digits of SHA-256 of the
    idempotency key. With sync (the stage's "sync"), the data reaches the
    disk before nd_spool_put returns; without, nothing waits for it.
    Directory and files are private (0700, 0600): they name people's
    numbers and subscriptions.                                           */
#ifndef ND_SPOOL_H_INCLUDED
#define ND_SPOOL_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ND_SPOOL_NAME_MAX 32

/*  mkdir -p dir, mode 0700. Returns 0, or -1 with errno set.            */
int nd_spool_dir (const char *dir);
/*  Whether spool names a file of lines (ends in ".jsonl").              */
bool nd_spool_lines (const char *spool);
/*  At start: makes the spool (the directory, or the file and the
    directory it is in). Returns 0, or -1 with errno set.                */
int nd_spool_open (const char *spool);

/*  Makes file (mode 0600) and the directories it is in, if absent.
    Returns 0, or -1 with errno set.                                     */
int nd_spool_file (const char *file);
/*  Appends size bytes of text to file in one write (O_APPEND: writers
    at once keep theirs whole); with sync, they reach the disk before
    this returns. Returns 0, or -1 with errno set.                       */
int nd_spool_append (const char *file, const char *text, size_t size, bool sync);

/*  Writes record (with "id": the name added) to spool, the name from
    key; remakes the spool if it has gone. Returns 0 and the name, or -1
    with errno set. Safe on several threads at once.                     */
int nd_spool_put (const char *spool, bool sync, const char *key, json_t *record,
                  char name [ND_SPOOL_NAME_MAX]);

void nd_spool_test (bool verbose);

#endif
