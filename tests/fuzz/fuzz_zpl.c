/*  fuzz_zpl - the pipeline file, journeys and segments are ZPL read by
    nd_zpl_parse (czmq's zconfig with nudge's checks): no file may crash
    it, and a file it refuses gets a reason.                             */
#define _GNU_SOURCE
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <czmq.h>
#include "nd.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int fd = memfd_create ("pipeline.zpl", 0);
    assert (fd >= 0);
    assert (write (fd, data, size) == (ssize_t) size);
    char path [64];
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    char *error = NULL;
    zconfig_t *root = nd_zpl_parse (path, &error);
    assert (root || (error && *error));
    zconfig_destroy (&root);
    free (error);
    close (fd);
    return 0;
}
