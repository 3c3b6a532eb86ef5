/*  nd_mustache_test.c - nd_mustache's self-test (nd_mustache_test), which
    doubles as its usage example; nd-selftest also runs the official
    Mustache spec (tests/unit/mustache_spec.c). Apart from the parser
    (nd_mustache_parse.c) and the renderer (nd_mustache.c) so that each of
    those reads as what runs.

    Layer: runtime, above nd_mustache: it uses only the public API.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_mustache_private.h"

static void
s_expect (const char *template, const char *data, const char *expected)
{
    json_t *json = json_loads (data, JSON_DECODE_ANY, NULL);
    assert (json);
    char *error = NULL;
    char *text = nd_mustache_render (template, json, NULL, &error);
    assert (text);
    assert (streq (text, expected));
    free (text);
    json_decref (json);
}

static void
s_expect_error (const char *template, const char *expected)
{
    char *error = NULL;
    nd_mustache_t *self = nd_mustache_new (template, &error);
    assert (self == NULL);
    assert (error && streq (error, expected));
    free (error);
}

void
nd_mustache_test (bool verbose)
{
    if (verbose)
        printf (" * nd_mustache: ");

    s_expect ("Hi {{name}}!", "{\"name\": \"<Ann & 'Bo'>\"}",
              "Hi &lt;Ann &amp; &#39;Bo&#39;&gt;!");
    //  What prints nothing is named, once, wherever it is
    json_t *missing = json_array ();
    json_t *sample = json_pack ("{s:s, s:n, s:{}, s:[{s:i}, {}]}", "name", "Ann", "gone", "shop",
                              "items", "qty", 2);
    char *shown = nd_mustache_render_missing ("{{name}} {{gone}} {{shop}} {{shop.url}}"
                                             "{{#items}}{{qty}}{{sku}}{{/items}}{{^none}}{{/none}}",
                                             sample, NULL, missing, NULL);
    assert (shown && streq (shown, "Ann  {} 2"));
    char *names = json_dumps (missing, JSON_COMPACT);
    assert (names && streq (names, "[\"gone\",\"shop\",\"shop.url\",\"sku\",\"qty\"]"));
    free (names);
    free (shown);
    json_decref (missing);
    json_decref (sample);
    s_expect ("{{{name}}}/{{& name}}", "{\"name\": \"<b>\"}", "<b>/<b>");
    s_expect ("{{n}} {{r}} {{s}} {{t}}", "{\"n\": 3, \"r\": 1.5, \"s\": 0.1, \"t\": true}",
              "3 1.5 0.1 true");
    s_expect ("{{#cart.items}}{{sku}}x{{qty}},{{/cart.items}}{{^cart.items}}empty{{/cart.items}}",
              "{\"cart\": {\"items\": [{\"sku\": \"A\", \"qty\": 2}, {\"sku\": \"B\", \"qty\": 1}]}}",
              "Ax2,Bx1,");
    s_expect ("{{#unread}}{{.}} new{{/unread}}{{^unread}}none{{/unread}}",
              "{\"unread\": 0}", "none");
    s_expect ("{{=<% %>=}}<% user.name %> {{kept}}", "{\"user\": {\"name\": \"Jo\"}}",
              "Jo {{kept}}");

    //  A compiled template renders many times; partials are compiled once
    //  and again only when their source changes.
    char *error = NULL;
    nd_mustache_t *self = nd_mustache_new ("<ul>\n  {{>item}}\n</ul>\n", &error);
    assert (self);
    json_t *data = json_pack ("{s:[s,s]}", "items", "a", "b");
    json_t *partials = json_pack ("{s:s}", "item", "{{#items}}\n<li>{{.}}</li>\n{{/items}}\n");
    for (int round = 0; round < 2; round++) {
        char *text = nd_mustache_render_with (self, data, partials, &error);
        assert (text);
        assert (streq (text, "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n"));
        free (text);
    }
    json_object_set_new (partials, "item", json_string ("{{#items}}\n{{.}}\n\n{{/items}}\n"));
    char *text = nd_mustache_render_with (self, data, partials, &error);
    assert (text && streq (text, "<ul>\n  a\n\n  b\n\n</ul>\n"));
    free (text);
    json_object_set_new (partials, "item", json_string ("{{#items}}{{/oops}}"));
    assert (nd_mustache_render_with (self, data, partials, &error) == NULL);
    assert (streq (error, "partial 'item': line 1: section 'items' (line 1) closed by 'oops'"));
    free (error);
    json_object_set_new (partials, "item", json_string ("{{>item}}"));
    assert (nd_mustache_render_with (self, data, partials, &error) == NULL);
    assert (streq (error, "partials nested deeper than 100 at 'item'"));
    free (error);
    json_decref (partials);
    json_decref (data);
    nd_mustache_destroy (&self);
    nd_mustache_destroy (&self);
    assert (self == NULL);

    s_expect_error ("a\n{{#items}}\nb", "line 2: unclosed section 'items'");
    s_expect_error ("{{/items}}", "line 1: closing tag 'items' without an open section");
    s_expect_error ("a\n{{name", "line 2: unclosed tag");
    s_expect_error ("{{= | =}}", "line 1: set-delimiter tag needs two delimiters without spaces or '='");
    s_expect_error ("{{<base}}{{/base}}", "line 1: template inheritance is not supported");
    s_expect_error ("{{ }}", "line 1: empty tag name");

    if (verbose)
        printf ("OK\n");
}
