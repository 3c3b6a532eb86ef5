/*  collector_body - one request's body, kept as it streams in, within a limit.

    Layer: the collector's HTTP intake: collector_http.c feeds it the
    bytes libmicrohttpd hands over, and the endpoint (collector_segment.c)
    asks for the whole body at the end.

    The limit is on what the body means, not on what travels: a body sent
    with Content-Encoding gzip or deflate (RudderStack's SDKs compress by
    default) is inflated as it arrives, and the inflated bytes count. So a
    small body that inflates to a gigabyte costs no more memory than the
    limit, and no more work than inflating up to it: past the limit the
    rest is only counted, never inflated.                                 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include "collector.h"

struct _collector_body_t {
    char *data;
    size_t size;
    size_t capacity;
    size_t limit;
    size_t received;            //  bytes as they came over the wire
    bool over;                  //  the body went past the limit
    z_stream *inflate;          //  for a compressed body
    bool ended;                 //  the compressed stream is complete
    char error [96];            //  why the compressed body is unreadable
};

collector_body_t *collector_body_new (size_t limit, const char *encoding, char *reason,
                                      size_t reason_size)
{
    bool compressed = encoding && strcasecmp (encoding, "identity");
    if (compressed && strcasecmp (encoding, "gzip") && strcasecmp (encoding, "x-gzip")
    &&  strcasecmp (encoding, "deflate")) {
        snprintf (reason, reason_size, "Content-Encoding %.40s is not accepted: send gzip, "
                  "deflate or plain JSON", encoding);
        return NULL;
    }
    collector_body_t *self = (collector_body_t *) calloc (1, sizeof *self);
    assert (self);
    self->limit = limit;
    if (compressed) {
        self->inflate = (z_stream *) calloc (1, sizeof *self->inflate);
        assert (self->inflate);
        //  32 + MAX_WBITS: a gzip or a zlib header, whichever comes
        if (inflateInit2 (self->inflate, 32 + MAX_WBITS) != Z_OK)
            assert (false);
    }
    return self;
}

void collector_body_destroy (collector_body_t **self_p)
{
    collector_body_t *self = *self_p;
    if (self) {
        if (self->inflate) {
            inflateEnd (self->inflate);
            free (self->inflate);
        }
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

//  Room for size more bytes, or false (and the body dropped) past the limit.
static bool s_room (collector_body_t *self, size_t size)
{
    if (self->size + size > self->limit) {
        self->over = true;
        free (self->data);
        self->data = NULL;
        return false;
    }
    if (self->size + size > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 4096;
        while (capacity < self->size + size)
            capacity *= 2;
        self->capacity = capacity < self->limit ? capacity : self->limit;
        self->data = (char *) realloc (self->data, self->capacity);
        assert (self->data);
    }
    return true;
}

static void s_inflate (collector_body_t *self, const char *data, size_t size)
{
    z_stream *z = self->inflate;
    z->next_in = (Bytef *) data;
    z->avail_in = (uInt) size;
    while (z->avail_in && !self->ended && !self->over && !*self->error) {
        char out [16384];
        z->next_out = (Bytef *) out;
        z->avail_out = sizeof out;
        int rc = inflate (z, Z_NO_FLUSH);
        size_t made = sizeof out - z->avail_out;
        if (made && s_room (self, made)) {
            memcpy (self->data + self->size, out, made);
            self->size += made;
        }
        if (rc == Z_STREAM_END)
            self->ended = true;
        else
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            snprintf (self->error, sizeof self->error, "%s", z->msg ? z->msg : "inflate failed");
        else
        if (rc == Z_BUF_ERROR && made == 0)
            break;
    }
}

void collector_body_add (collector_body_t *self, const char *data, size_t size)
{
    self->received += size;
    if (self->over || *self->error)
        return;
    if (self->inflate)
        s_inflate (self, data, size);
    else
    if (s_room (self, size)) {
        memcpy (self->data + self->size, data, size);
        self->size += size;
    }
}

bool collector_body_hopeless (collector_body_t *self, size_t factor)
{
    return self->over && self->received > factor * self->limit;
}

int collector_body_get (collector_body_t *self, const char **data, size_t *size,
                        char *reason, size_t reason_size)
{
    if (self->over) {
        if (self->inflate)
            snprintf (reason, reason_size, "request inflates to more than the limit of %zu bytes",
                      self->limit);
        else
            snprintf (reason, reason_size, "request is %zu bytes, more than the limit of %zu",
                      self->received, self->limit);
        return 413;
    }
    if (self->inflate && (*self->error || !self->ended)) {
        snprintf (reason, reason_size, "compressed body is not valid: %s",
                  *self->error ? self->error : "it ends early");
        return 400;
    }
    *data = self->data ? self->data : "";
    *size = self->size;
    return 0;
}

size_t collector_body_size (collector_body_t *self)
{
    return self->size;
}

void collector_body_test (bool verbose)
{
    if (verbose)
        printf (" * collector_body: ");
    char reason [160];
    const char *data;
    size_t size;
    assert (!collector_body_new (100, "br", reason, sizeof reason));
    collector_body_t *body = collector_body_new (10, NULL, reason, sizeof reason);
    collector_body_add (body, "{\"a\":", 5);
    collector_body_add (body, "1}", 2);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 0);
    assert (size == 7 && memcmp (data, "{\"a\":1}", 7) == 0);
    collector_body_add (body, "12345", 5);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 413);
    collector_body_destroy (&body);
    collector_body_destroy (&body);

    //  A gzip body inflates within the limit; one that inflates past it
    //  is refused, however small it travelled
    char plain [4000], packed [4200];
    memset (plain, ' ', sizeof plain);
    memcpy (plain, "{\"a\":1}", 7);
    z_stream z = { 0 };
    assert (deflateInit2 (&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = (Bytef *) plain;
    z.avail_in = sizeof plain;
    z.next_out = (Bytef *) packed;
    z.avail_out = sizeof packed;
    assert (deflate (&z, Z_FINISH) == Z_STREAM_END);
    size_t packed_size = sizeof packed - z.avail_out;
    deflateEnd (&z);
    assert (packed_size < 100);
    body = collector_body_new (sizeof plain, "gzip", reason, sizeof reason);
    for (size_t i = 0; i < packed_size; i++)      //  a byte at a time, as slowly as it may come
        collector_body_add (body, (const char *) packed + i, 1);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 0);
    assert (size == sizeof plain && memcmp (data, plain, sizeof plain) == 0);
    collector_body_destroy (&body);
    body = collector_body_new (sizeof plain - 1, "GZIP", reason, sizeof reason);
    collector_body_add (body, (const char *) packed, packed_size);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 413);
    collector_body_destroy (&body);
    body = collector_body_new (sizeof plain, "gzip", reason, sizeof reason);
    collector_body_add (body, (const char *) packed, packed_size / 2);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 400);
    collector_body_destroy (&body);
    body = collector_body_new (sizeof plain, "deflate", reason, sizeof reason);
    collector_body_add (body, "not compressed", 14);
    assert (collector_body_get (body, &data, &size, reason, sizeof reason) == 400);
    assert (strstr (reason, "compressed body is not valid"));
    collector_body_destroy (&body);
    if (verbose)
        printf ("OK\n");
}
