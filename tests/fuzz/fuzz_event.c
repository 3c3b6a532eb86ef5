/*  fuzz_event - a Segment event as any client may send it, through the
    collector's checks and normalisation: no input may crash it, and an
    event it accepts has a "time" nudge's own parser reads back (it once
    wrote "-001-12-31T00:01:00.000Z" for year 0000 with an offset).     */
#include <assert.h>
#include <stdint.h>
#include "collector.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_t *event = json_loadb ((const char *) data, size, JSON_DECODE_ANY, NULL);
    if (!event)
        return 0;
    collector_limits_t limits = { .max_event = 32768, .max_batch = 512000 };
    collector_envelope_t envelope = { .limits = &limits, .received = 1795461610000LL };
    char topic [32], reason [COLLECTOR_REASON_MAX];
    int64_t time;
    if (collector_event_normalize (event, NULL, &envelope, topic, sizeof topic, &time, reason) == 0) {
        int64_t again;
        const char *text = json_string_value (json_object_get (event, "time"));
        assert (text && nd_time_parse (text, &again) == 0 && again == time);
        assert (json_string_value (json_object_get (event, "user")));
    }
    json_decref (event);
    return 0;
}
