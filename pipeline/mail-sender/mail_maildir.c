/*  mail_maildir - delivery into a local mailbox, when no relay is
    configured: a Maildir, or an mbox for dry runs.

    `make run` has no SMTP relay; the messages still get built in full
    (headers, MIME, DKIM) and land where any mail client can open them:
    each is written to tmp/, synced (unless the stage has sync = 0, as
    nd-backtest's dry runs do), then renamed into new/, so a reader never
    sees half a message (the Maildir protocol). The file name is
    time, the hash of the idempotency key and the attempt, and the host:
    unique without a counter.

    With "mbox = FILE" instead (nd-backtest sets it), each batch is
    appended to FILE in one write, as mboxrd: a "From " line, the message
    with LF line ends and every line that starts with ">*From " quoted
    with one more '>', then an empty line. A file per message made a
    dry-run mail-sender spend most of its CPU time in ext4 making inodes
    (find_inode_bit, recently_deleted) and looking names up; one append
    per batch makes none. An mbox is not crash-proof the way a Maildir is
    (a kill -9 in the middle of the write leaves part of a batch, and the
    retry writes it again): it is for dry runs, whose state is thrown away.
*/
#include <fcntl.h>
#include <sys/stat.h>
#include "mail.h"
#include "nd_spool.h"

typedef struct {
    mail_composer_t *composer;  //  not ours
    char *dir;                  //  the Maildir, or the mbox file
    bool sync;                  //  fsync each message ("sync")
    char host [64];
} mail_maildir_t;

static int s_mkdir (const char *path)
{
    return mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

void *mail_maildir_new (nd_stage_t *stage, mail_composer_t *composer)
{
    const char *dir = nd_stage_option (stage, "maildir", "var/mail");
    char *sub [3] = { zsys_sprintf ("%s/tmp", dir), zsys_sprintf ("%s/new", dir),
                      zsys_sprintf ("%s/cur", dir) };
    //  The parent too: var/ may not exist on a fresh checkout
    char *parent = strdup (dir), *slash = strrchr (parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        s_mkdir (parent);
    }
    free (parent);
    int rc = s_mkdir (dir);
    for (int i = 0; i < 3; i++) {
        rc |= s_mkdir (sub [i]);
        zstr_free (&sub [i]);
    }
    if (rc) {
        nd_stage_config_error (stage, "maildir", strerror (errno));
        return NULL;
    }
    mail_maildir_t *self = (mail_maildir_t *) zmalloc (sizeof *self);
    self->composer = composer;
    self->dir = strdup (dir);
    self->sync = nd_stage_syncs (stage);
    if (gethostname (self->host, sizeof self->host))
        strcpy (self->host, "localhost");
    self->host [strcspn (self->host, "/:")] = 0;
    nd_log ("no relay configured: messages go to the Maildir %s/new", dir);
    return self;
}

static void s_destroy (void **self_p)
{
    mail_maildir_t *self = (mail_maildir_t *) *self_p;
    if (self) {
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

static int s_write (const char *path, const mail_text_t *message, bool sync)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < message->size) {
        ssize_t size = write (fd, message->data + done, message->size - done);
        if (size <= 0)
            break;
        done += (size_t) size;
    }
    int rc = done == message->size && (!sync || fsync (fd) == 0) ? 0 : -1;
    close (fd);
    return rc;
}

static void s_deliver_one (mail_maildir_t *self, nd_send_job_t *job)
{
    nd_send_result_t *result = &job->result;
    mail_text_t message = { 0 };
    if (mail_composer_build (self->composer, job->order, job->time, &message, result->reason,
                             sizeof result->reason)) {
        result->outcome = ND_SEND_PERMANENT;
        mail_text_free (&message);
        return;
    }
    char hash [65], name [256], *tmp, *new;
    mime_sha256_hex (job->key, hash);
    snprintf (name, sizeof name, "%lld.%.16s_%d.%s", (long long) time (NULL), hash,
              job->attempt, self->host);
    tmp = zsys_sprintf ("%s/tmp/%s", self->dir, name);
    new = zsys_sprintf ("%s/new/%s", self->dir, name);
    unlink (tmp);               //  left by a crash during an earlier try
    if (s_write (tmp, &message, self->sync) == 0 && rename (tmp, new) == 0) {
        result->outcome = ND_SEND_DELIVERED;
        *result->reason = 0;
    }
    else {
        result->outcome = ND_SEND_RETRY;
        snprintf (result->reason, sizeof result->reason, "maildir: %s", strerror (errno));
        unlink (tmp);
    }
    zstr_free (&tmp);
    zstr_free (&new);
    mail_text_free (&message);
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        s_deliver_one ((mail_maildir_t *) self_, &jobs [i]);
}

const nd_send_provider_t mail_maildir_provider = {
    .name = "maildir",
    .deliver = s_deliver,
    .destroy = s_destroy
};

/* ---------------------------------------------------------------- mbox -- */

void *mail_mbox_new (nd_stage_t *stage, mail_composer_t *composer)
{
    const char *file = nd_stage_option (stage, "mbox", NULL);
    if (nd_spool_file (file)) {
        nd_stage_config_error (stage, "mbox", strerror (errno));
        return NULL;
    }
    mail_maildir_t *self = (mail_maildir_t *) zmalloc (sizeof *self);
    self->composer = composer;
    self->dir = strdup (file);
    self->sync = nd_stage_syncs (stage);
    nd_log ("no relay configured: messages go to the mbox %s", file);
    return self;
}

//  One message as mboxrd: "From " line, LF line ends, >*From quoted.
void mail_mbox_add (mail_text_t *mbox, const mail_text_t *message, int64_t time)
{
    char stamp [64];
    time_t seconds = (time_t) (time / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (stamp, sizeof stamp, "From MAILER-DAEMON %a %b %e %H:%M:%S %Y\n", &tm);
    mail_text_add (mbox, stamp, strlen (stamp));
    const char *line = message->data, *end = message->data + message->size;
    while (line < end) {
        const char *next = memchr (line, '\n', (size_t) (end - line));
        size_t length = next ? (size_t) (next - line) : (size_t) (end - line);
        size_t quotes = strspn (line, ">");
        if (quotes < length && length - quotes >= 5 && memcmp (line + quotes, "From ", 5) == 0)
            mail_text_add (mbox, ">", 1);
        mail_text_add (mbox, line, length > 0 && line [length - 1] == '\r' ? length - 1 : length);
        mail_text_add (mbox, "\n", 1);
        line += length + 1;
    }
    mail_text_add (mbox, "\n", 1);
}

static void s_mbox_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    mail_maildir_t *self = (mail_maildir_t *) self_;
    mail_text_t mbox = { 0 };
    bool *built = (bool *) calloc (count, sizeof *built);
    assert (built);
    for (size_t i = 0; i < count; i++) {
        nd_send_result_t *result = &jobs [i].result;
        mail_text_t message = { 0 };
        if (mail_composer_build (self->composer, jobs [i].order, jobs [i].time, &message,
                                 result->reason, sizeof result->reason))
            result->outcome = ND_SEND_PERMANENT;
        else {
            mail_mbox_add (&mbox, &message, jobs [i].time);
            built [i] = true;
        }
        mail_text_free (&message);
    }
    int rc = mbox.size ? nd_spool_append (self->dir, mbox.data, mbox.size, self->sync) : 0;
    for (size_t i = 0; i < count; i++) {
        if (!built [i])
            continue;
        nd_send_result_t *result = &jobs [i].result;
        result->outcome = rc == 0 ? ND_SEND_DELIVERED : ND_SEND_RETRY;
        if (rc == 0)
            *result->reason = 0;
        else
            snprintf (result->reason, sizeof result->reason, "mbox: %s", strerror (errno));
    }
    free (built);
    mail_text_free (&mbox);
}

const nd_send_provider_t mail_mbox_provider = {
    .name = "mbox",
    .deliver = s_mbox_deliver,
    .destroy = s_destroy
};

void mail_maildir_test (bool verbose)
{
    if (verbose)
        printf (" * mail_maildir: ");
    const char *text = "From: a@b\r\nSubject: x\r\n\r\nFrom here\r\n>From there\r\n"
                       ">>From: kept\r\nFromage\r\n>\r\nend";
    mail_text_t message = { (char *) text, strlen (text), 0 };
    mail_text_t mbox = { 0 };
    mail_mbox_add (&mbox, &message, 1796237503000);
    assert (streq (mbox.data, "From MAILER-DAEMON Wed Dec  2 18:51:43 2026\n"
                              "From: a@b\nSubject: x\n\n>From here\n>>From there\n"
                              ">>From: kept\nFromage\n>\nend\n\n"));
    mail_text_free (&mbox);
    if (verbose)
        printf ("OK\n");
}
