/*  mail_maildir - delivery into a Maildir, when no relay is configured.

    `make run` has no SMTP relay; the messages still get built in full
    (headers, MIME, DKIM) and land where any mail client can open them:
    each is written to tmp/, synced (unless the stage has sync = 0, as
    nd-backtest's dry runs do), then renamed into new/, so a reader never
    sees half a message (the Maildir protocol). The file name is
    time, the hash of the idempotency key and the attempt, and the host:
    unique without a counter.                                            */
#include <fcntl.h>
#include <sys/stat.h>
#include "mail.h"

typedef struct {
    mail_composer_t *composer;  //  not ours
    char *dir;
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
