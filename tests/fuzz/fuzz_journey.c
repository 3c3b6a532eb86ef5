/*  fuzz_journey - the scheduler's journeys (the files in conf/journeys) as an
    operator writes them: no file may crash journeys_load, and one it
    refuses gets a reason (or "" once the ZPL reader has logged its
    syntax error as file:line: reason). The file is the only *.zpl in a directory of
    its own; send steps are checked against the shipped templates
    (conf/templates, found from the program's own path).                 */
#define _GNU_SOURCE
#include <assert.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "journey.h"
#include "journeys.h"

static char s_dir [PATH_MAX], s_file [PATH_MAX + 16];
static templates_t *s_templates;

static void s_clean (void)
{
    unlink (s_file);
    rmdir (s_dir);
    templates_destroy (&s_templates);
}

//  build-fuzz/bin/fuzz_journey: the repository is two levels up.
int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    char self [PATH_MAX], templates [PATH_MAX + 32];
    ssize_t size = readlink ("/proc/self/exe", self, sizeof self - 1);
    assert (size > 0);
    self [size] = 0;
    char *root = dirname (dirname (dirname (self)));
    snprintf (templates, sizeof templates, "%s/conf/templates", root);
    s_templates = templates_new (templates, "en");
    snprintf (s_dir, sizeof s_dir, "/tmp/nd-fuzz-journey-XXXXXX");
    assert (mkdtemp (s_dir));
    snprintf (s_file, sizeof s_file, "%s/journey.zpl", s_dir);
    atexit (s_clean);
    return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FILE *file = fopen (s_file, "wb");
    assert (file && fwrite (data, 1, size, file) == size && fclose (file) == 0);
    char *error = NULL;
    journeys_t *journeys = journeys_load (s_dir, s_templates, &error);
    assert (journeys || error);
    for (size_t i = 0; journeys && i < journeys_size (journeys); i++) {
        const journey_t *journey = journeys_get (journeys, i);
        journey_exits_on (journey, "order.completed");
        journey_assign (journey, "visitor-1");
    }
    journeys_destroy (&journeys);
    free (error);
    return 0;
}
