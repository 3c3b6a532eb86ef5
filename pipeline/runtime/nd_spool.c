/*  nd_spool - dry-run sinks: one JSON file per message (nd_spool.h).   */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <czmq.h>
#include <openssl/evp.h>
#include "nd_spool.h"

int nd_spool_dir (const char *dir)
{
    char *path = strdup (dir);
    assert (path);
    int rc = 0;
    for (char *slash = strchr (path + 1, '/'); slash && rc == 0; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        rc = mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
        *slash = '/';
    }
    if (rc == 0)
        rc = mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
    free (path);
    return rc;
}

//  The same on every try of the same message.
static void s_name (const char *key, char name [ND_SPOOL_NAME_MAX])
{
    uint8_t digest [EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest (key, strlen (key), digest, &length, EVP_sha256 (), NULL);
    for (unsigned int i = 0; i < 12; i++)
        snprintf (name + i * 2, 3, "%02x", digest [i]);
}

static int s_write (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0, size = strlen (text);
    while (done < size) {
        ssize_t wrote = write (fd, text + done, size - done);
        if (wrote <= 0)
            break;
        done += (size_t) wrote;
    }
    int rc = done == size && fsync (fd) == 0 ? 0 : -1;
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

int nd_spool_put (const char *dir, const char *key, json_t *record,
                  char name [ND_SPOOL_NAME_MAX])
{
    s_name (key, name);
    json_object_set_new (record, "id", json_string (name));
    char *text = json_dumps (record, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    if (!text) {
        errno = EINVAL;
        return -1;
    }
    char *tmp = zsys_sprintf ("%s/.%s.tmp", dir, name);
    char *path = zsys_sprintf ("%s/%s.json", dir, name);
    //  Made again if someone cleared var/ while the stage ran
    int rc = s_write (tmp, text) == 0
          || (errno == ENOENT && nd_spool_dir (dir) == 0 && s_write (tmp, text) == 0) ? 0 : -1;
    if (rc == 0)
        rc = rename (tmp, path);
    if (rc) {
        int saved = errno;
        unlink (tmp);
        errno = saved;
    }
    free (text);
    zstr_free (&tmp);
    zstr_free (&path);
    return rc;
}

void nd_spool_test (bool verbose)
{
    if (verbose)
        printf (" * nd_spool: ");
    char base [] = "/tmp/nd-spool-test-XXXXXX";
    assert (mkdtemp (base));
    char *dir = zsys_sprintf ("%s/a/b", base);
    assert (nd_spool_dir (dir) == 0 && nd_spool_dir (dir) == 0);
    json_t *record = json_pack ("{s:s}", "to", "+48600100200");
    char name [ND_SPOOL_NAME_MAX], again [ND_SPOOL_NAME_MAX];
    assert (nd_spool_put (dir, "j/1/s/sms", record, name) == 0 && strlen (name) == 24);
    assert (nd_spool_put (dir, "j/1/s/sms", record, again) == 0 && streq (name, again));
    char *path = zsys_sprintf ("%s/%s.json", dir, name);
    json_t *read = json_load_file (path, 0, NULL);
    assert (read && streq (json_string_value (json_object_get (read, "id")), name));
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    assert (stat (dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    //  A cleared directory is made again
    unlink (path);
    rmdir (dir);
    assert (nd_spool_put (dir, "j/1/s/sms", record, name) == 0 && access (path, F_OK) == 0);
    unlink (path);
    rmdir (dir);
    char *middle = zsys_sprintf ("%s/a", base);
    rmdir (middle);
    rmdir (base);
    zstr_free (&middle);
    zstr_free (&path);
    zstr_free (&dir);
    json_decref (read);
    json_decref (record);
    if (verbose)
        printf ("OK\n");
}
