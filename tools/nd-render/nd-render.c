/*  nd-render - a journey step's message, as its sender would send it.

    NAME
        nd-render - show (or send as a test) the message of a journey step

    SYNOPSIS
        nd-render JOURNEY STEP [--person ID | --data FILE] [--locale L]
                  [--channel C] [--variant V] [--send-test ADDRESS] [-c PIPELINE]
        nd-render --mustache TEMPLATE [--data FILE]

    DESCRIPTION
        Renders the send step STEP of journey JOURNEY on each channel the
        step names (or only C) with the senders' own code: the templates
        through nd_templates, the e-mail through the mail-sender's composer
        (headers, subject, text and HTML parts), the SMS through the
        sms-sender's text and segment count, the push payload and the
        on-site message as their senders build them. Nothing needs to run:
        it reads the pipeline file, the journeys and the templates.

        The data is, in order: the "data" of a send order (or that object
        itself) in FILE; the person ID as the stages' state holds them
        (the scheduler's people store, the cart of the instance that waits
        for them); else a sample - two articles in a cart, a name, a code,
        the shop of the pipeline file.

        --send-test ADDRESS composes the e-mail for ADDRESS and hands it to
        the mail-sender's own provider (the relay of the pipeline file, or
        its Maildir without one), marked "X-Nudge-Test: nd-render" and
        under the user "nd-render-test", so its unsubscribe link cannot
        unsubscribe anybody real.

        --mustache TEMPLATE renders the file TEMPLATE with nudge's Mustache
        (nd_mustache) over FILE (default {}): the tests' way to nudge's
        renderer. Names the data lacks are listed on stderr ("missing:
        NAME") and make the exit status 1.

    EXIT STATUS
        0 rendered (and sent); 1 no such journey, step or template, or it
        does not render or send; 64 bad arguments; 78 a pipeline file the
        senders would refuse. See nd-render(1), nudge-templates(5).     */
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <jansson.h>
#include "nd.h"
#include "nd_mustache.h"
#include "nd_templates.h"
#include "mail.h"
#include "onsite.h"
#include "push.h"
#include "sms.h"
#include "nd_pipefile.h"
#include "render.h"

static const char *s_usage =
    "usage: nd-render JOURNEY STEP [--person ID | --data FILE] [--locale L] [--channel C]\n"
    "                 [--variant V] [--send-test ADDRESS] [-c PIPELINE]\n"
    "       nd-render --mustache TEMPLATE [--data FILE]\n"
    "Renders a journey step's message as its sender would send it (nothing needs to run).\n"
    "  -c, --config FILE     pipeline file (default conf/pipeline.zpl)\n"
    "      --data FILE       a send order's data (JSON); default a sample cart\n"
    "      --person ID       the data of this person, from the stages' state\n"
    "      --locale L        the person's locale (default the senders')\n"
    "      --channel C       email, sms, push or onsite (default: every one the step names)\n"
    "      --variant V       an A/B variant's wording (templates STEP.V)\n"
    "      --send-test ADDR  send the e-mail to ADDR through the mail-sender's provider\n"
    "      --mustache FILE   render one template file over --data with nudge's Mustache\n"
    "      --check           check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help            this text\n"
    "Exit status: 0 rendered, 1 not found or not rendered, 64 usage, 78 bad config.\n";

#define s_TEST_USER "nd-render-test"

/* ----------------------------------------------------------- arguments -- */

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int s_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, { "data", required_argument, NULL, 'd' },
        { "person", required_argument, NULL, 'p' }, { "locale", required_argument, NULL, 'l' },
        { "channel", required_argument, NULL, 'C' }, { "variant", required_argument, NULL, 'v' },
        { "send-test", required_argument, NULL, 's' }, { "mustache", required_argument, NULL, 'm' },
        ND_TOOL_HELP, { NULL, 0, NULL, 0 } };
    render_args_t *args = (render_args_t *) args_;
    *args = (render_args_t) { .tool = { "nd-render", s_usage, "conf/pipeline.zpl", NULL, 0 } };
    int option;
    while ((option = getopt_long (argc, argv, "c:h", options, NULL)) != -1)
        switch (option) {
            case 'd': args->data = optarg; break;
            case 'p': args->person = optarg; break;
            case 'l': args->locale = optarg; break;
            case 'C': args->channel = optarg; break;    //  not --cert: nd-render has none
            case 'v': args->variant = optarg; break;
            case 's': args->send_test = optarg; break;
            case 'm': args->mustache = optarg; break;
            default: {
                int rc = nd_tool_option (&args->tool, option, optarg);
                if (rc)
                    return rc;
            }
        }
    const char *problem = NULL;
    if (args->mustache)
        problem = optind != argc ? "--mustache takes no JOURNEY or STEP" : NULL;
    else
    if (optind + 2 != argc)
        problem = "needs JOURNEY and STEP";
    else
    if (args->data && args->person)
        problem = "--data or --person, not both";
    else
    if (args->channel && !streq (args->channel, "email") && !streq (args->channel, "sms")
    &&  !streq (args->channel, "push") && !streq (args->channel, "onsite"))
        problem = "--channel is email, sms, push or onsite";
    else
    if (args->send_test && !mime_address_ok (args->send_test))
        problem = "--send-test wants an e-mail address";
    if (problem) {
        fprintf (stderr, "nd-render: %s (try --help)\n", problem);
        return 2;
    }
    if (!args->mustache) {
        args->journey = argv [optind];
        args->step = argv [optind + 1];
    }
    return 0;
}

/* -------------------------------------------------------- --mustache -- */

static char *s_slurp (const char *path)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    char *text = chunk ? strndup ((char *) zchunk_data (chunk), zchunk_size (chunk)) : NULL;
    zchunk_destroy (&chunk);
    return text;
}

static int s_mustache (const render_args_t *args)
{
    char *template = s_slurp (args->mustache);
    json_error_t error;
    json_t *data = args->data ? json_load_file (args->data, 0, &error) : json_object ();
    if (!template || !data) {
        fprintf (stderr, "nd-render: %s: %s\n", template ? args->data : args->mustache,
                 template ? error.text : "cannot read");
        free (template);
        json_decref (data);
        return 1;
    }
    char *why = NULL;
    json_t *missing = json_array ();
    char *text = nd_mustache_render_missing (template, data, NULL, missing, &why);
    if (text)
        fputs (text, stdout);
    else
        fprintf (stderr, "nd-render: %s: %s\n", args->mustache, why ? why : "does not render");
    size_t index;
    json_t *name;
    json_array_foreach (missing, index, name)
        fprintf (stderr, "missing: %s\n", json_string_value (name));
    int rc = text && json_array_size (missing) == 0 ? 0 : 1;
    free (text);
    free (why);
    free (template);
    json_decref (missing);
    json_decref (data);
    return rc;
}

/* ----------------------------------------------------------- channels -- */

//  A sender's view of the pipeline file: its section, found by program.
static nd_stage_t *s_stage (render_t *self, const char *program)
{
    return nd_stage_options_new (self->args->tool.config, render_stage_of (self->pipefile, program));
}

//  The sender's templates for channel, as it loads them.
static nd_templates_t *s_templates (nd_stage_t *stage, const char *channel)
{
    char reason [400];
    nd_templates_t *templates = nd_templates_new (
        nd_stage_option (stage, "templates", "conf/templates"), channel,
        nd_stage_option (stage, "locale", "en"), reason, sizeof reason);
    if (!templates)
        fprintf (stderr, "nd-render: %s\n", reason);
    return templates;
}

//  The headers as the relay gets them, the parts as the person reads them.
static void s_print_mail (const mail_text_t *message, const mail_parts_t *parts)
{
    const char *end = strstr (message->data, "\r\n\r\n");
    for (const char *p = message->data; p < end; p++)
        if (*p != '\r')
            putchar (*p);
    printf ("\n\n-- subject\n%s\n-- text\n%s\n", parts->subject, parts->text);
    if (parts->html)
        printf ("-- html\n%s\n", parts->html);
}

static int s_send_test (render_t *self, nd_stage_t *stage, mail_composer_t *composer,
                        const json_t *order)
{
    bool relay = nd_stage_option (stage, "relay", NULL) != NULL;
    const nd_send_provider_t *provider = relay ? &mail_smtp_provider : &mail_maildir_provider;
    void *sender = relay ? mail_smtp_new (stage, composer) : mail_maildir_new (stage, composer);
    if (!sender)
        return EX_CONFIG;
    nd_send_job_t job = { order, json_string_value (json_object_get (order, "idempotency_key")),
                          1, { ND_SEND_RETRY, "", "not attempted", 0, NULL }, self->now };
    provider->deliver (sender, &job, 1);
    if (provider->destroy)
        provider->destroy (&sender);
    json_decref (job.result.extra);
    if (job.result.outcome != ND_SEND_DELIVERED) {
        fprintf (stderr, "nd-render: the test message was not sent (%s): %s\n", provider->name,
                 job.result.reason);
        return 1;
    }
    printf ("-- sent to %s through %s\n", self->args->send_test, provider->name);
    return 0;
}

static int s_email (render_t *self, json_t *order)
{
    nd_stage_t *stage = s_stage (self, "mail-sender");
    mail_composer_t *composer = stage ? mail_composer_new (stage) : NULL;
    if (!composer) {
        nd_stage_options_destroy (&stage);
        return EX_CONFIG;
    }
    if (self->args->send_test) {
        json_object_set_new (order, "to", json_string (self->args->send_test));
        json_object_set_new (order, "user", json_string (s_TEST_USER));
        json_object_set_new (order, "test", json_true ());
    }
    char reason [400];
    mail_text_t message = { NULL, 0, 0 };
    mail_parts_t parts;
    int rc = mail_composer_build (composer, order, self->now, &message, reason, sizeof reason)
          || mail_composer_render (composer, order, &parts, reason, sizeof reason) ? 1 : 0;
    if (rc)
        fprintf (stderr, "nd-render: %s: %s\n", self->args->journey, reason);
    else {
        printf ("== email %s, locale %s\n", json_string_value (json_object_get (order, "template")),
                parts.locale);
        s_print_mail (&message, &parts);
        mail_parts_free (&parts);
        if (self->args->send_test)
            rc = s_send_test (self, stage, composer, order);
    }
    mail_text_free (&message);
    mail_composer_destroy (&composer);
    nd_stage_options_destroy (&stage);
    return rc;
}

//  The text as the first marketing text to a number gets it: with the
//  STOP footer when the sms-sender adds one (stop-footer, default yes),
//  and the count of a later text beside it.
static int s_sms (json_t *order, nd_templates_t *templates, bool footer)
{
    char reason [400];
    char *text = sms_render (templates, order, reason, sizeof reason);
    sms_count_t later, count;
    if (!text || sms_count (text, &later)) {
        fprintf (stderr, "nd-render: %s\n", text ? "the rendered text is not UTF-8" : reason);
        free (text);
        return 1;
    }
    footer = footer && !sms_footer_transactional (order);
    if (footer) {
        json_object_set_new (order, "stop_footer", json_true ());
        text = sms_footer_add (templates, order, text, reason, sizeof reason);
        if (!text) {
            fprintf (stderr, "nd-render: %s\n", reason);
            return 1;
        }
    }
    count = later;
    if (footer && sms_count (text, &count)) {
        fprintf (stderr, "nd-render: the STOP footer is not UTF-8\n");
        free (text);
        return 1;
    }
    printf ("== sms %s\n%s\n-- %zu segment%s, %s, %zu %s",
            json_string_value (json_object_get (order, "template")), text, count.segments,
            count.segments == 1 ? "" : "s", sms_encoding_name (count.encoding), count.units,
            count.encoding == SMS_GSM7 ? "septets" : "UTF-16 units");
    if (footer)
        printf (" as the first text to a number, with the STOP footer; later ones %zu segment%s",
                later.segments, later.segments == 1 ? "" : "s");
    printf ("\n");
    free (text);
    return 0;
}

static int s_json (const char *channel, const json_t *order, json_t *message, const char *reason)
{
    if (!message) {
        fprintf (stderr, "nd-render: %s\n", reason);
        return 1;
    }
    char *text = json_dumps (message, JSON_INDENT (2) | JSON_SORT_KEYS);
    printf ("== %s %s\n%s\n", channel, json_string_value (json_object_get (order, "template")), text);
    free (text);
    json_decref (message);
    return 0;
}

static int s_channel (render_t *self, const char *channel)
{
    json_t *order = render_order (self, channel);
    int rc = 0;
    if (streq (channel, "email"))
        rc = s_email (self, order);
    else {
        const char *program = streq (channel, "sms") ? "sms-sender" : streq (channel, "push")
                            ? "push-sender" : "onsite";
        nd_stage_t *stage = s_stage (self, program);
        nd_templates_t *templates = stage ? s_templates (stage, channel) : NULL;
        char reason [400] = "";
        if (!templates)
            rc = EX_CONFIG;
        else
        if (streq (channel, "sms"))
            rc = s_sms (order, templates,
                        !streq (nd_stage_option (stage, "stop-footer", "yes"), "no"));
        else
        if (streq (channel, "push"))
            rc = s_json (channel, order, push_payload (templates, NULL, order, reason, sizeof reason),
                         reason);
        else
            rc = s_json (channel, order, onsite_render (templates, order, reason, sizeof reason),
                         reason);
        nd_templates_destroy (&templates);
        nd_stage_options_destroy (&stage);
    }
    json_decref (order);
    return rc;
}

int main (int argc, char **argv)
{
    nd_log_set_name ("nd-render");
    render_args_t args;
    nd_tool_start (argc, argv, "nd-render", s_args, &args);
    if (args.mustache)
        return s_mustache (&args);
    int rc = 0;
    render_t *self = render_new (&args, &rc);
    if (!self)
        return rc;
    rc = 0;
    if (args.send_test && !render_has_channel (self, "email"))
        fprintf (stderr, "nd-render: --send-test sends e-mail: %s/%s is not sent by e-mail\n",
                 args.journey, args.step), rc = 1;
    for (size_t i = 0; rc == 0 && self->channels [i]; i++)
        if (!args.send_test || streq (self->channels [i], "email"))
            rc = s_channel (self, self->channels [i]);
    render_destroy (&self);
    return rc;
}
