/*  push_bench - what a push costs the push-sender in CPU, per message.

    Times, on one core, the pieces push_service does for every order:
    RFC 8291 encryption of a typical notification (a fresh P-256 key,
    ECDH, three HKDFs, AES-128-GCM), a VAPID token fetched from the
    cache (the usual case) and one signed afresh (once per push service
    every few hours). Prints one JSON line; bench/push_bench.py puts it
    next to the end-to-end rate.

    Usage: push_bench [COUNT]                                          */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "push.h"

static double s_now (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

int main (int argc, char **argv)
{
    int count = argc > 1 ? atoi (argv [1]) : 20000;
    const char *plain = "{\"title\":\"You left something in your cart\",\"body\":\"Ann, your Trail "
        "shoe is still waiting at Example Shop.\",\"url\":\"https://shop.example/cart\",\"tag\":"
        "\"abandoned-cart\",\"key\":\"abandoned-cart/5f1e9a3c2b7d4e60-123456/reminder-1/push\","
        "\"journey\":\"abandoned-cart\",\"step\":\"reminder-1\",\"variant\":\"a\"}";
    EVP_PKEY *browser = nd_p256_generate ();
    uint8_t ua_public [ND_P256_POINT], auth [PUSH_AUTH_SIZE] = { 1, 2, 3 }, out [PUSH_ECE_RECORD];
    nd_p256_public (browser, ua_public);
    push_ece_t *ece = push_ece_new ();
    push_vapid_t *vapid = push_vapid_new (nd_p256_generate (), "mailto:ops@shop.example",
                                          12 * 3600 * 1000LL);
    char reason [128], header [PUSH_VAPID_HEADER_MAX];
    double t0 = s_now ();
    for (int i = 0; i < count; i++)
        if (push_ece_encrypt (ece, ua_public, auth, (const uint8_t *) plain, strlen (plain), NULL,
                              out, reason, sizeof reason) < 0)
            return 1;
    double encrypt = (s_now () - t0) / count * 1e6;
    int64_t now = 1800000000000LL;
    t0 = s_now ();
    for (int i = 0; i < count; i++)
        push_vapid_authorization (vapid, "https://fcm.googleapis.com/fcm/send/x", now, header,
                                  sizeof header);
    double cached = (s_now () - t0) / count * 1e6;
    int signs = count / 10 > 0 ? count / 10 : 1;
    t0 = s_now ();
    for (int i = 0; i < signs; i++)     //  each call a new origin: a fresh signature
        push_vapid_authorization (vapid, "https://fcm.googleapis.com/x", now + i * 43200000LL,
                                  header, sizeof header);
    double signed_ = (s_now () - t0) / signs * 1e6;
    printf ("{\"count\": %d, \"plaintext_bytes\": %zu, \"encrypt_us\": %.1f, "
            "\"vapid_cached_us\": %.2f, \"vapid_sign_us\": %.1f}\n",
            count, strlen (plain), encrypt, cached, signed_);
    push_vapid_destroy (&vapid);
    push_ece_destroy (&ece);
    EVP_PKEY_free (browser);
    return 0;
}
