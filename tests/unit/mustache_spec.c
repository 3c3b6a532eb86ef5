/*  mustache_spec.c - runs the official Mustache spec against nd_mustache.

    The spec (github.com/mustache/spec, specs/NAME.json) is a list of cases per
    file, each with data, an optional partials object, a template and the
    expected text. Only the six core files are required; the optional
    ~lambdas, ~inheritance and ~dynamic-names files are not run, as
    nd_mustache does not support those features.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "nd_mustache.h"
#include "tests.h"

/*  Runs one case; returns true if it passed, else says why on stdout.    */
static bool
s_case_run (const char *file, const json_t *test, bool verbose)
{
    const char *name = json_string_value (json_object_get (test, "name"));
    const char *template = json_string_value (json_object_get (test, "template"));
    const char *expected = json_string_value (json_object_get (test, "expected"));
    if (!name || !template || !expected) {
        printf ("FAIL %s: a case lacks name, template or expected\n", file);
        return false;
    }
    char *error = NULL;
    char *text = nd_mustache_render (template, json_object_get (test, "data"),
                                     json_object_get (test, "partials"), &error);
    bool passed = text && strcmp (text, expected) == 0;
    if (!passed) {
        printf ("FAIL %s: %s\n", file, name);
        if (verbose && text)
            printf ("  expected: \"%s\"\n  rendered: \"%s\"\n", expected, text);
        if (verbose && !text)
            printf ("  error: %s\n", error);
    }
    free (text);
    free (error);
    return passed;
}

int
mustache_spec_run (const char *dir, bool verbose)
{
    const char *files [] = {
        "comments", "delimiters", "interpolation", "inverted", "partials", "sections"
    };
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof (files) / sizeof (files [0]); i++) {
        char path [4096];
        snprintf (path, sizeof (path), "%s/%s.json", dir, files [i]);
        json_error_t reason;
        json_t *spec = json_load_file (path, 0, &reason);
        json_t *tests = json_object_get (spec, "tests");
        //  A file that loads but holds no case would otherwise pass unseen
        if (!json_is_array (tests) || json_array_size (tests) == 0) {
            printf ("FAIL %s: cannot load: %s\n", path,
                    !spec ? reason.text : tests ? "no cases in \"tests\"" : "no tests");
            failed++;
        }
        size_t index;
        json_t *test;
        json_array_foreach (tests, index, test) {
            if (s_case_run (files [i], test, verbose))
                passed++;
            else
                failed++;
        }
        json_decref (spec);
    }
    printf ("mustache spec: %d passed, %d failed\n", passed, failed);
    return failed;
}
