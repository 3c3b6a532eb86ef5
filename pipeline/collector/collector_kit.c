/*  collector_kit - the browser kit's files, served from memory.

    Layer: read at setup (collector.c), served by the HTTP intake
    (collector_http.c). The shop's pages load nudge.js from the collector
    and their service worker imports nudge-sw.js from it, so every page
    view of every shopper asks for them: they are read once at start, with
    a gzip copy made then, and answered with a validator (ETag) and five
    minutes of caching, so a browser that has them asks again only rarely
    and gets a 304 with no body when it does. A new kit is served after a
    restart of the collector.                                             */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/sha.h>
#include <zlib.h>
#include "collector.h"

#define KIT_FILE_MAX (1024 * 1024)

typedef struct {
    const char *path;           //  as requested: "/nudge.js"
    char *data;                 //  NULL: the file was not there
    size_t size;
    char *gzip;
    size_t gzip_size;
    char etag [40];             //  "<hash>", quotes included
    char etag_gzip [40];        //  "<hash>-gz": a representation of its own
} s_file_t;

static const char *s_names [] = { "nudge.js", "nudge-sw.js", NULL };
#define KIT_FILES 2

struct _collector_kit_t {
    s_file_t files [KIT_FILES];
};

static int s_gzip (s_file_t *file)
{
    z_stream z = { 0 };
    //  15 + 16: a gzip header, as Content-Encoding gzip wants
    if (deflateInit2 (&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound (&z, (uLong) file->size);
    file->gzip = (char *) malloc (bound);
    assert (file->gzip);
    z.next_in = (Bytef *) file->data;
    z.avail_in = (uInt) file->size;
    z.next_out = (Bytef *) file->gzip;
    z.avail_out = (uInt) bound;
    int rc = deflate (&z, Z_FINISH);
    file->gzip_size = z.total_out;
    deflateEnd (&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

static int s_load (s_file_t *file, const char *dir, const char *name, char *reason,
                   size_t reason_size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *in = fopen (path, "rb");
    if (!in)
        return 0;               //  not (yet) there: 404, logged at start
    file->data = (char *) malloc (KIT_FILE_MAX);
    assert (file->data);
    file->size = fread (file->data, 1, KIT_FILE_MAX, in);
    bool whole = feof (in) && !ferror (in);
    fclose (in);
    if (!whole) {
        snprintf (reason, reason_size, "cannot read %s (or it is over 1 MB)", path);
        return -1;
    }
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) file->data, file->size, digest);
    char hex [33];
    for (int i = 0; i < 16; i++)
        snprintf (hex + 2 * i, 3, "%02x", digest [i]);
    snprintf (file->etag, sizeof file->etag, "\"%s\"", hex);
    snprintf (file->etag_gzip, sizeof file->etag_gzip, "\"%s-gz\"", hex);
    if (s_gzip (file)) {
        snprintf (reason, reason_size, "cannot compress %s", path);
        return -1;
    }
    return 0;
}

collector_kit_t *collector_kit_new (const char *dir, char *reason, size_t reason_size)
{
    collector_kit_t *self = (collector_kit_t *) calloc (1, sizeof *self);
    assert (self);
    for (int i = 0; i < KIT_FILES; i++) {
        s_file_t *file = &self->files [i];
        file->path = s_names [i];
        if (s_load (file, dir, s_names [i], reason, reason_size)) {
            collector_kit_destroy (&self);
            return NULL;
        }
        if (!file->data)
            nd_log ("kit: no %s/%s: GET /%s answers 404", dir, s_names [i], s_names [i]);
    }
    return self;
}

void collector_kit_destroy (collector_kit_t **self_p)
{
    collector_kit_t *self = *self_p;
    if (self) {
        for (int i = 0; i < KIT_FILES; i++) {
            free (self->files [i].data);
            free (self->files [i].gzip);
        }
        free (self);
        *self_p = NULL;
    }
}

//  "gzip" among Accept-Encoding's codings, and not refused with q=0.
static bool s_accepts_gzip (const char *accept)
{
    for (const char *at = accept; at && (at = strstr (at, "gzip")); at += 4) {
        bool start = at == accept || strchr (" ,", at [-1]);
        const char *end = at + 4 + strspn (at + 4, " ");
        if (!start || (*end && *end != ',' && *end != ';'))
            continue;
        if (*end == ';') {
            const char *q = strstr (end, "q=");
            const char *next = strchr (end, ',');
            if (q && (!next || q < next) && strtod (q + 2, NULL) == 0)
                return false;
        }
        return true;
    }
    return false;
}

bool collector_kit_find (collector_kit_t *self, const char *url, const char *accept_encoding,
                         collector_kit_answer_t *answer)
{
    for (int i = 0; self && i < KIT_FILES; i++) {
        s_file_t *file = &self->files [i];
        if (url [0] != '/' || strcmp (url + 1, file->path) || !file->data)
            continue;
        bool gzip = s_accepts_gzip (accept_encoding);
        answer->data = gzip ? file->gzip : file->data;
        answer->size = gzip ? file->gzip_size : file->size;
        answer->gzip = gzip;
        answer->etag = gzip ? file->etag_gzip : file->etag;
        answer->etags [0] = file->etag;
        answer->etags [1] = file->etag_gzip;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------ self-test */

void collector_kit_test (bool verbose)
{
    if (verbose)
        printf (" * collector_kit: ");
    assert (s_accepts_gzip ("gzip, deflate, br"));
    assert (s_accepts_gzip ("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert (!s_accepts_gzip ("gzip;q=0"));
    assert (!s_accepts_gzip ("x-gzipped"));
    assert (!s_accepts_gzip (NULL));
    assert (!s_accepts_gzip ("identity"));

    char dir [] = "/tmp/nd-kit-XXXXXX", path [64], reason [200];
    assert (mkdtemp (dir));
    snprintf (path, sizeof path, "%s/nudge.js", dir);
    FILE *out = fopen (path, "w");
    assert (out);
    for (int i = 0; i < 200; i++)
        fprintf (out, "nudge.track(\"Product Viewed\", {n: %d});\n", i);
    fclose (out);
    collector_kit_t *kit = collector_kit_new (dir, reason, sizeof reason);
    assert (kit);
    collector_kit_answer_t plain, packed;
    assert (collector_kit_find (kit, "/nudge.js", NULL, &plain) && !plain.gzip);
    assert (collector_kit_find (kit, "/nudge.js", "gzip", &packed) && packed.gzip);
    assert (packed.size < plain.size / 4 && strcmp (plain.etag, packed.etag));
    //  What it sends inflates to the file
    char inflated [16384];
    uLongf size = sizeof inflated;
    z_stream z = { 0 };
    assert (inflateInit2 (&z, 15 + 16) == Z_OK);
    z.next_in = (Bytef *) packed.data;
    z.avail_in = (uInt) packed.size;
    z.next_out = (Bytef *) inflated;
    z.avail_out = (uInt) size;
    assert (inflate (&z, Z_FINISH) == Z_STREAM_END && z.total_out == plain.size
            && memcmp (inflated, plain.data, plain.size) == 0);
    inflateEnd (&z);
    assert (!collector_kit_find (kit, "/nudge-sw.js", NULL, &plain));     //  not there
    assert (!collector_kit_find (kit, "/nudge.jsx", NULL, &plain));
    collector_kit_destroy (&kit);
    collector_kit_destroy (&kit);
    unlink (path);
    rmdir (dir);
    if (verbose)
        printf ("OK\n");
}
