/*  nd_spool - dry-run sinks: a directory of files, or one file of lines
    (nd_spool.h).                                                        */
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

bool nd_spool_lines (const char *spool)
{
    size_t length = strlen (spool);
    return length > 6 && streq (spool + length - 6, ".jsonl");
}

//  The directory a file of lines is in; made as nd_spool_dir does.
static int s_parent (const char *spool)
{
    char *dir = strdup (spool), *slash = strrchr (dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = 0;
        rc = nd_spool_dir (dir);
    }
    free (dir);
    return rc;
}

int nd_spool_file (const char *file)
{
    if (s_parent (file))
        return -1;
    int fd = open (file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    close (fd);
    return 0;
}

int nd_spool_open (const char *spool)
{
    return nd_spool_lines (spool) ? nd_spool_file (spool) : nd_spool_dir (spool);
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

//  Writes size bytes of text to a file opened with flags; with sync, the
//  data reaches the disk before this returns.
static int s_write (const char *path, int flags, const char *text, size_t size, bool sync)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = write (fd, text + done, size - done);
        if (wrote <= 0)
            break;
        done += (size_t) wrote;
    }
    int rc = done == size && (!sync || fdatasync (fd) == 0) ? 0 : -1;
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

int nd_spool_append (const char *file, const char *text, size_t size, bool sync)
{
    return s_write (file, O_APPEND, text, size, sync);
}

//  A file of its own, made whole in .<name>.tmp then renamed.
static int s_put_file (const char *dir, const char *name, json_t *record, bool sync)
{
    char *text = json_dumps (record, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    if (!text) {
        errno = EINVAL;
        return -1;
    }
    char *tmp = zsys_sprintf ("%s/.%s.tmp", dir, name);
    char *path = zsys_sprintf ("%s/%s.json", dir, name);
    size_t size = strlen (text);
    //  Made again if someone cleared var/ while the stage ran
    int rc = s_write (tmp, O_TRUNC, text, size, sync) == 0
          || (errno == ENOENT && nd_spool_dir (dir) == 0
              && s_write (tmp, O_TRUNC, text, size, sync) == 0) ? 0 : -1;
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

//  One line at the end of the file, in one write: O_APPEND keeps lines
//  from two workers whole, and no inode is made per message.
static int s_put_line (const char *spool, json_t *record, bool sync)
{
    char *text = json_dumps (record, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        errno = EINVAL;
        return -1;
    }
    size_t size = strlen (text);
    char *line = (char *) realloc (text, size + 2);
    assert (line);
    line [size++] = '\n';
    line [size] = 0;
    int rc = s_write (spool, O_APPEND, line, size, sync) == 0
          || (errno == ENOENT && s_parent (spool) == 0
              && s_write (spool, O_APPEND, line, size, sync) == 0) ? 0 : -1;
    free (line);
    return rc;
}

int nd_spool_put (const char *spool, bool sync, const char *key, json_t *record,
                  char name [ND_SPOOL_NAME_MAX])
{
    s_name (key, name);
    json_object_set_new (record, "id", json_string (name));
    return nd_spool_lines (spool) ? s_put_line (spool, record, sync)
                                  : s_put_file (spool, name, record, sync);
}

/* ----------------------------------------------------------- self-test -- */

void nd_spool_test (bool verbose)
{
    if (verbose)
        printf (" * nd_spool: ");
    char base [] = "/tmp/nd-spool-test-XXXXXX";
    assert (mkdtemp (base));
    char *dir = zsys_sprintf ("%s/a/b", base);
    assert (!nd_spool_lines (dir) && nd_spool_open (dir) == 0 && nd_spool_open (dir) == 0);
    json_t *record = json_pack ("{s:s}", "to", "+48600100200");
    char name [ND_SPOOL_NAME_MAX], again [ND_SPOOL_NAME_MAX];
    assert (nd_spool_put (dir, true, "j/1/s/sms", record, name) == 0 && strlen (name) == 24);
    assert (nd_spool_put (dir, false, "j/1/s/sms", record, again) == 0 && streq (name, again));
    char *path = zsys_sprintf ("%s/%s.json", dir, name);
    json_t *read = json_load_file (path, 0, NULL);
    assert (read && streq (json_string_value (json_object_get (read, "id")), name));
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    assert (stat (dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    //  A cleared directory is made again
    unlink (path);
    rmdir (dir);
    assert (nd_spool_put (dir, false, "j/1/s/sms", record, name) == 0 && access (path, F_OK) == 0);
    unlink (path);
    rmdir (dir);

    //  A file of lines: one per message, a try again adds a line with
    //  the same id, and the file is made again if it goes
    char *lines = zsys_sprintf ("%s/c/sms.jsonl", base);
    assert (nd_spool_lines (lines) && nd_spool_open (lines) == 0);
    assert (stat (lines, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 0);
    assert (nd_spool_put (lines, false, "j/1/s/sms", record, name) == 0);
    assert (nd_spool_put (lines, true, "j/2/s/sms", record, again) == 0 && !streq (name, again));
    assert (nd_spool_put (lines, false, "j/1/s/sms", record, again) == 0 && streq (name, again));
    FILE *file = fopen (lines, "r");
    assert (file);
    char line [256];
    size_t count = 0;
    while (fgets (line, sizeof line, file)) {
        json_t *one = json_loads (line, 0, NULL);
        assert (one && strchr (line, '\n') == line + strlen (line) - 1);
        assert (streq (json_string_value (json_object_get (one, "to")), "+48600100200"));
        count += streq (json_string_value (json_object_get (one, "id")), name);
        json_decref (one);
    }
    fclose (file);
    assert (count == 2);
    unlink (lines);
    char *middle = zsys_sprintf ("%s/c", base);
    rmdir (middle);
    assert (nd_spool_put (lines, false, "j/3/s/sms", record, name) == 0 && access (lines, F_OK) == 0);
    unlink (lines);
    rmdir (middle);
    zstr_free (&middle);
    middle = zsys_sprintf ("%s/a", base);
    rmdir (middle);
    rmdir (base);
    zstr_free (&middle);
    zstr_free (&lines);
    zstr_free (&path);
    zstr_free (&dir);
    json_decref (read);
    json_decref (record);
    if (verbose)
        printf ("OK\n");
}
