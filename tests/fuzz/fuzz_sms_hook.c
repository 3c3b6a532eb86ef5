/*  fuzz_sms_hook - what an SMS provider (or anyone) posts to the
    sms-sender's webhooks, as Twilio's form and as Infobip's JSON: no body
    may crash the parsers, and every event they return is well formed.  */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sms.h"

static void s_parse (const sms_provider_t *provider, const char *url, const char *type,
                     const char *body, size_t size)
{
    sms_account_t account = { .base = "https://api.example", .account = "AC0123",
                              .secret = "s3cret", .from = "+15550001234",
                              .status_url = "https://hooks.example/sms/status" };
    sms_hook_t hook = { .url = url, .content_type = type, .body = body, .size = size,
                        .signature = NULL };
    sms_event_t events [16];
    memset (events, 0, sizeof events);
    char reason [200];
    int count = provider->parse (&account, "https://hooks.example", &hook, events, 16,
                                 reason, sizeof reason);
    assert (count <= 16);
    for (int i = 0; i < count; i++) {
        assert (memchr (events [i].phone, 0, sizeof events [i].phone));
        free (events [i].text);
    }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *body = (char *) malloc (size + 1);
    memcpy (body, data, size);
    body [size] = 0;
    s_parse (&sms_infobip, "/sms/inbound", "application/json", body, size);
    s_parse (&sms_infobip, "/sms/status", "application/json", body, size);
    s_parse (&sms_spool, "/sms/inbound", "application/x-www-form-urlencoded", body, size);
    char value [200];
    sms_form_value (body, "Body", value, sizeof value);
    sms_keyword (body);
    sms_count_t count;
    sms_count (body, &count);
    free (body);
    return 0;
}
