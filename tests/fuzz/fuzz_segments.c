/*  fuzz_segments - the segmenter's rule file (conf/segments.zpl): no file
    may crash seg_rules_load, and the rules it takes are matched against a
    profile without crashing either.                                     */
#define _GNU_SOURCE
#include "fuzz_file.h"
#include "segmenter.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char path [64];
    int fd = fuzz_file (data, size, path, sizeof path);
    char *error = NULL;
    seg_rules_t *rules = seg_rules_load (path, &error);
    free (error);
    if (rules) {
        int64_t now = 1772539200000;        //  2026-03-03T12:00:00Z
        json_t *profile = json_pack ("{s:f, s:i, s:I, s:I, s:{s:s, s:s, s:{s:s}}, s:{s:i}}",
            "spend", 120.5, "orders", 3, "last_order", (json_int_t) (now - 86400000),
            "first_seen", (json_int_t) (now - 40 * 86400000LL),
            "traits", "birthday", "1990-03-03", "email", "a@example.com", "address", "city", "Oslo",
            "categories", "shoes", 3);
        json_t *members = json_pack ("[s]", "customer");
        seg_rules_match (rules, profile, now, members);
        seg_rules_next_change (rules, profile, now);
        json_decref (members);
        json_decref (profile);
        seg_rules_destroy (&rules);
    }
    close (fd);
    return 0;
}
