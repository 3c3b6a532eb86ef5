/*  nd-selftest - runs every runtime class's self-test.
    Usage: nd-selftest [-v]. Exit 0 when all pass.
    nd-selftest --mustache-spec DIR runs only the Mustache spec files in DIR
    (tests/integration/test_mustache_spec.py proves the runner can fail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd.h"
#include "nd_cond.h"
#include "nd_http.h"
#include "nd_httpd.h"
#include "nd_inbox.h"
#include "nd_jcache.h"
#include "nd_listen.h"
#include "nd_mustache.h"
#include "nd_p256.h"
#include "nd_pipefile.h"
#include "nd_sender.h"
#include "nd_templates.h"
#include "nd_feed.h"
#include "nd_spool.h"
#include "nd_stats.h"
#include "nd_token.h"
#include "nd_links.h"
#include "nd_tz.h"
#include "nd_formats.h"
#include "nd_json.h"
#include "nd_codec.h"
#include "nd_phone.h"
#include "tests.h"

int main (int argc, char **argv)
{
    nd_version_arg (argc, argv, "nd-selftest");
    if (argc == 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)) {
        printf ("Usage: nd-selftest [-v] | --mustache-spec DIR | --version\n"
                "Runs the self-tests of the runtime's classes (-v: name each), the\n"
                "differential test of nd_json against jansson and the Mustache spec\n"
                "suite; with --mustache-spec, only that suite from DIR. Exit 0 when\n"
                "all pass; a failed check aborts with its assertion.\n");
        return 0;
    }
    if (argc == 3 && strcmp (argv [1], "--mustache-spec") == 0)
        return mustache_spec_run (argv [2], false) ? 1 : 0;
    if (argc > 2 || (argc == 2 && strcmp (argv [1], "-v"))) {
        fprintf (stderr, "nd-selftest: unknown arguments (try --help)\n");
        return 64;              //  EX_USAGE
    }
    bool verbose = argc > 1 && strcmp (argv [1], "-v") == 0;
    nd_time_test (verbose);
    nd_key_test (verbose);
    nd_db_test (verbose);
    nd_jcache_test (verbose);
    nd_clock_test (verbose);
    nd_bucket_test (verbose);
    nd_curve_test (verbose);
    nd_mustache_test (verbose);
    nd_sender_test (verbose);
    nd_codec_test (verbose);
    nd_phone_test (verbose);
    nd_token_test (verbose);
    nd_links_test (verbose);
    nd_moves_test (verbose);
    nd_p256_test (verbose);
    nd_spool_test (verbose);
    nd_http_test (verbose);
    nd_httpd_test (verbose);
    nd_formats_test (verbose);
    nd_templates_test (verbose);
    nd_feed_test (verbose);
    nd_tz_test (verbose);
    nd_inbox_test (verbose);
    nd_listen_test (verbose);
    nd_json_test (verbose);
    nd_stats_test (verbose);
    nd_cond_test (verbose);
    nd_pipefile_test (verbose);
    printf ("selftest: runtime classes ok\n");
    //  nd_json against jansson, on hand-written, random and mutated texts
    int json_failures = json_diff_run (verbose);
    //  base64url and E.164 against OpenSSL and the RFC's vectors
    int codec_failures = codecs_run (verbose);
    //  The official Mustache spec suite, every case of the six core files
    const char *spec = getenv ("ND_MUSTACHE_SPEC");
    int failures = mustache_spec_run (spec ? spec : "../shared/data/mustache-spec", verbose);
    return failures || json_failures || codec_failures ? 1 : 0;
}
