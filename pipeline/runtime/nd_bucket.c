/*  nd_bucket - a token bucket: the one rate limit of the runtime and the
    stages (a sender's provider rate, in wall or event time; the
    collector's requests per address and per key). See nd.h.           */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include "nd.h"

int64_t nd_bucket_refill (nd_bucket_t *bucket, double rate, double burst, int64_t now)
{
    if (now > bucket->refilled) {
        bucket->tokens += (double) (now - bucket->refilled) * rate / 1000.0;
        bucket->refilled = now;
    }
    if (bucket->tokens > burst)
        bucket->tokens = burst;
    return bucket->tokens >= 1 ? 0 : (int64_t) ceil ((1 - bucket->tokens) * 1000.0 / rate);
}

int64_t nd_bucket_take (nd_bucket_t *bucket, double rate, double burst, int64_t now)
{
    int64_t wait = nd_bucket_refill (bucket, rate, burst, now);
    if (wait == 0)
        bucket->tokens -= 1;
    return wait;
}

void nd_bucket_test (bool verbose)
{
    if (verbose)
        printf (" * nd_bucket: ");
    //  10 a second, a burst of 20
    nd_bucket_t bucket = { 20, 1000 };
    for (int i = 0; i < 20; i++)
        assert (nd_bucket_take (&bucket, 10, 20, 1000) == 0);
    assert (nd_bucket_take (&bucket, 10, 20, 1000) == 100);
    assert (nd_bucket_take (&bucket, 10, 20, 1050) == 50);
    assert (nd_bucket_take (&bucket, 10, 20, 1100) == 0);
    //  Time that runs backwards (another thread's clock reading) adds nothing
    assert (nd_bucket_refill (&bucket, 10, 20, 900) == 100);
    //  A long pause fills it to the burst, no further
    assert (nd_bucket_refill (&bucket, 10, 20, 100000) == 0 && bucket.tokens == 20);
    if (verbose)
        printf ("OK\n");
}
