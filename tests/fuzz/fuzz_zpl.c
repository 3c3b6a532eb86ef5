/*  fuzz_zpl - the pipeline file, journeys and segments are ZPL read by
    nd_zpl_parse (czmq's zconfig with nudge's checks): no file may crash
    it, and a file it refuses gets a reason.                             */
#define _GNU_SOURCE
#include "fuzz_file.h"
#include <stdlib.h>
#include <czmq.h>
#include "nd.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char path [64];
    int fd = fuzz_file (data, size, path, sizeof path);
    char *error = NULL;
    zconfig_t *root = nd_zpl_parse (path, &error);
    assert (root || (error && *error));
    zconfig_destroy (&root);
    free (error);
    close (fd);
    return 0;
}
