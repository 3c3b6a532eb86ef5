/*  sms_footer - "Reply STOP to opt out" on the first text to a number.

    Layer: store (sms.footer, the numbers that were given the footer) and
    text (the footer added to a rendered message).

    Carriers and the rules of most countries want the first marketing
    text to a number to say how to stop them. Which text is the first is
    decided when the outbox accepts the send order, in the transaction
    that accepts it: the order gets "stop_footer": true and sms.footer
    the number's keyed hash (nd_token_address_hash with the pipeline's
    unsubscribe-secret: no number in the clear), so a restart, even after
    kill -9, neither forgets it nor adds it to a second order. An order so
    marked that ends in anything but "delivered" gives the mark back, so
    the next order to the number carries the footer; an order accepted
    while that one was still queued does not (it was not the first).

    The footer is the template "_footer/sms", part sms.stop, in the order's
    locale (falling back as every template does), rendered with the
    order's data, and added after a newline before the text is counted:
    it counts in the segments and in the journey's maximum.
    Transactional texts (the double opt-in's "confirm/..." codes, and the
    chat's "_chat/sms" answers to a person who wrote) carry none: they are
    not marketing.
    Without an unsubscribe-secret nothing can be remembered by hash, so
    every marketing text carries the footer (said at start).             */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "nd_token.h"
#include "sms.h"

static const char *const s_footer_part [] = { "stop", NULL };

static void s_hash_key (nd_key_t *key, const char *secret, const char *phone)
{
    char hex [65];
    nd_token_address_hash (secret, phone, hex);
    nd_key_init (key);
    nd_key_str (key, hex);
}

bool sms_footer_transactional (const json_t *order)
{
    const char *id = json_string_value (json_object_get (order, "template"));
    return id && (strncmp (id, "confirm/", 8) == 0 || strncmp (id, "_chat/", 6) == 0);
}

int sms_footer_mark (MDB_txn *txn, MDB_dbi footers, const char *secret, json_t *order,
                     int64_t now)
{
    const char *phone = json_string_value (json_object_get (order, "to"));
    if (!sms_phone_valid (phone) || sms_footer_transactional (order))
        return 0;
    if (!secret)
        return json_object_set_new (order, "stop_footer", json_true ()) ? -1 : 0;
    nd_key_t key;
    uint64_t since;
    s_hash_key (&key, secret, phone);
    int rc = nd_db_get_u64 (txn, footers, &key, &since);
    if (rc != ND_NOTFOUND)
        return rc < 0 ? -1 : 0;             //  had it already
    return nd_db_put_u64 (txn, footers, &key, (uint64_t) now)
        || json_object_set_new (order, "stop_footer", json_true ()) ? -1 : 0;
}

int sms_footer_unmark (MDB_txn *txn, MDB_dbi footers, const char *secret, const json_t *order)
{
    const char *phone = json_string_value (json_object_get (order, "to"));
    if (!secret || !json_is_true (json_object_get (order, "stop_footer")) || !sms_phone_valid (phone))
        return 0;
    nd_key_t key;
    s_hash_key (&key, secret, phone);
    return nd_db_del (txn, footers, &key) < 0 ? -1 : 0;
}

char *sms_footer_add (nd_templates_t *held, const json_t *order, char *text, char *reason,
                      size_t size)
{
    if (!text || !json_is_true (json_object_get (order, "stop_footer")))
        return text;
    const char *wanted = json_string_value (json_object_get (order, "locale"));
    char locale [64];
    char *footer = NULL;
    if (nd_templates_locale (held, "_footer/sms", wanted, s_footer_part, locale, sizeof locale))
        snprintf (reason, size, "no sms.stop template \"_footer/sms\" (the STOP footer)");
    else
        footer = nd_templates_render (held, "_footer/sms", locale, "stop",
                                      json_object_get (order, "data"), reason, size);
    char *whole = footer ? zsys_sprintf ("%s\n%s", text, footer) : NULL;
    zstr_free (&footer);
    zstr_free (&text);
    return whole;
}

int sms_footer_check (nd_templates_t *templates, char *reason, size_t size)
{
    char locale [64];
    if (nd_templates_locale (templates, "_footer/sms", NULL, s_footer_part, locale, sizeof locale) == 0)
        return 0;
    snprintf (reason, size, "no _footer/sms/<locale>/sms.stop.mustache in the templates "
              "(or stop-footer = no)");
    return -1;
}

/* ----------------------------------------------------------- self-test -- */

void sms_footer_test (bool verbose)
{
    if (verbose)
        printf (" * sms_footer: ");
    json_t *order = json_pack ("{s:s, s:s}", "to", "+48600100200", "template",
                               "abandoned-cart/reminder-1");
    assert (!sms_footer_transactional (order));
    json_object_set_new (order, "template", json_string ("confirm/sms"));
    assert (sms_footer_transactional (order));
    //  Not marked: the text comes back as it was
    char reason [200];
    char *text = sms_footer_add (NULL, order, strdup ("hello"), reason, sizeof reason);
    assert (text && streq (text, "hello"));
    free (text);
    json_decref (order);
    if (verbose)
        printf ("OK\n");
}
