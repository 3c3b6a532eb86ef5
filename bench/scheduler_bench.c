/*  scheduler_bench - how fast the scheduler's durable timers go, and what
    they cost in memory, with a million (and ten million) pending.

    NAME
        scheduler_bench - scheduling and firing rates of the timer index

    SYNOPSIS
        scheduler_bench [-n PENDING] [-m LARGE] [-b BATCH] [--nosync] [-d DIR]

    DESCRIPTION
        Runs the scheduler's own timer code (pipeline/scheduler/timers.c)
        on an LMDB environment opened as the runtime opens a stage's, in
        write transactions of BATCH (default 10000) operations, the way
        the stage commits a batch:

          1. schedule PENDING timers (default 1 000 000) at random times
             over the next 30 days: timers/s;
          2. schedule 100 000 more with PENDING already waiting;
          3. fire the 200 000 earliest while about a million wait, then
             all the rest: timers/s (each pop is a cursor to the first
             key and a delete, as the stage fires them);
          4. the same with what a timer stands for in the stage: a
             256-byte instance record written when it is scheduled, read
             and rewritten when it fires;
          5. schedule LARGE timers (default 10 000 000; 0 skips it) and
             report the process's memory: VmRSS, split into RssAnon (the
             heap: what the scheduler itself holds) and RssFile (LMDB
             pages mapped from the page cache, which the kernel reclaims
             under pressure), and the data file's size.

        For comparison it prints the BullMQ + Redis figures nudge was asked
        to beat (about 20 000 jobs/s added, 14 000 processed).

    OPTIONS
        -n N        pending timers for the rates (default 1000000)
        -m N        pending timers for the memory figure (default 10000000)
        -b N        operations per transaction (default 10000)
        --nosync    MDB_NOSYNC, as "sync = 0" in the pipeline file
        -d DIR      where to put the LMDB files (default a new /tmp dir) */
#define _GNU_SOURCE
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>
#include "timers.h"

typedef struct {
    int64_t pending;
    int64_t large;
    int64_t batch;
    bool nosync;
    char dir [256];
} bench_args_t;

typedef struct {
    MDB_env *env;
    timers_t *timers;
    MDB_dbi instances;
    uint64_t seed;
    uint64_t next_id;
    int64_t now;
    bool random;                //  due anywhere in 30 days, else arrival + 1 h
    double released;            //  when mapped pages were last dropped
} bench_t;

static double s_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t s_random (bench_t *self)
{
    self->seed = self->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return self->seed >> 17;
}

static MDB_txn *s_begin (bench_t *self)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc) {
        fprintf (stderr, "begin: %s\n", mdb_strerror (rc));
        exit (1);
    }
    return txn;
}

//  Commits; then, as the stage does after a commit (release-pages, 10 s
//  by default, here every second), drops the mapped pages.
static void s_commit (bench_t *self, MDB_txn *txn)
{
    int rc = mdb_txn_commit (txn);
    if (rc) {
        fprintf (stderr, "commit: %s (raise the map size?)\n", mdb_strerror (rc));
        exit (1);
    }
    if (s_seconds () - self->released >= 1.0) {
        timers_release (self->env);
        self->released = s_seconds ();
    }
}

static void s_record (nd_key_t *key, uint64_t id)
{
    nd_key_init (key);
    nd_key_u64 (key, id);
}

//  The due time of the next timer. Arrival order is how journeys schedule:
//  events come in time order and each waits about as long ("1 h after
//  they left"), so due times mostly grow and inserts land at the end of
//  the index; 1 M timers arrive over a day, with 10 min of jitter. Random
//  over 30 days is the worst case: every insert lands on a random page.
static int64_t s_due (bench_t *self)
{
    if (self->random)
        return self->now + (int64_t) (s_random (self) % (30 * 86400000ULL));
    self->now += 86;
    return self->now + 3600000 + (int64_t) (s_random (self) % 600000);
}

//  count new timers; with_records also writes the 256-byte instance each
//  stands for. Returns timers/s.
static double s_schedule (bench_t *self, int64_t count, int64_t batch, bool with_records)
{
    char record [256];
    memset (record, 'r', sizeof record);
    double start = s_seconds ();
    for (int64_t done = 0; done < count; ) {
        MDB_txn *txn = s_begin (self);
        for (int64_t i = 0; i < batch && done < count; i++, done++) {
            uint64_t id = ++self->next_id;
            int64_t due = s_due (self);
            nd_key_t key;
            s_record (&key, id);
            if (timers_add (self->timers, txn, due, id, TIMER_STEP)
            ||  (with_records && nd_db_put_raw (txn, self->instances, &key, record, sizeof record)))
                exit (1);
        }
        s_commit (self, txn);
    }
    return count / (s_seconds () - start);
}

//  Fires up to count timers due by the end of time; with_records reads
//  and rewrites each one's instance, as the stage does. Returns timers/s.
static double s_fire (bench_t *self, int64_t count, int64_t batch, bool with_records)
{
    double start = s_seconds ();
    int64_t done = 0;
    for (bool more = true; more && done < count; ) {
        MDB_txn *txn = s_begin (self);
        for (int64_t i = 0; i < batch && done < count; i++, done++) {
            int64_t due;
            uint64_t id;
            timer_kind_t kind;
            int rc = timers_pop (self->timers, txn, INT64_MAX - 1, &due, &id, &kind);
            if (rc <= 0) {
                more = false;
                break;
            }
            if (with_records) {
                nd_key_t key;
                s_record (&key, id);
                MDB_val k = nd_key_val (&key), data;
                char copy [256];
                if (mdb_get (txn, self->instances, &k, &data) || data.mv_size != sizeof copy)
                    exit (1);
                memcpy (copy, data.mv_data, sizeof copy);
                copy [0] = 'f';
                if (nd_db_put_raw (txn, self->instances, &key, copy, sizeof copy))
                    exit (1);
            }
        }
        s_commit (self, txn);
    }
    return done / (s_seconds () - start);
}

static size_t s_pending (bench_t *self)
{
    MDB_txn *txn = s_begin (self);
    size_t pending = timers_pending (self->timers, txn);
    mdb_txn_abort (txn);
    return pending;
}

/* ------------------------------------------------------------ setup -- */

static void s_open (bench_t *self, const char *dir, bool nosync, bool random)
{
    *self = (bench_t) { .random = random };
    mkdir (dir, 0755);
    int rc = mdb_env_create (&self->env);
    mdb_env_set_maxdbs (self->env, 64);
    mdb_env_set_mapsize (self->env, 16ULL << 30);
    //  As nd_stage_setup.c opens a stage's environment.
    if (rc == 0)
        rc = mdb_env_open (self->env, dir, MDB_NOTLS | (nosync ? MDB_NOSYNC : 0), 0644);
    MDB_txn *txn = rc ? NULL : s_begin (self);
    if (rc || !(self->timers = timers_new (txn)) || nd_db_open (txn, "instances", &self->instances)) {
        fprintf (stderr, "cannot open %s: %s\n", dir, mdb_strerror (rc));
        exit (1);
    }
    s_commit (self, txn);
    self->seed = 42;
    self->next_id = 0;
    self->now = 1772452800000LL;            //  2026-03-02T12:00:00Z
}

static void s_close (bench_t *self, const char *dir)
{
    timers_destroy (&self->timers);
    mdb_env_close (self->env);
    char path [300];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", dir);
    unlink (path);
    rmdir (dir);
}

//  "VmRSS", "RssAnon", "RssFile", "VmHWM" from /proc/self/status, in MB.
static double s_status_mb (const char *field)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    double kb = -1;
    size_t length = strlen (field);
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, field, length) == 0 && line [length] == ':')
            kb = atof (line + length + 1);
    if (file)
        fclose (file);
    return kb / 1024;
}

static void s_memory_line (const char *dir, const char *when);

//  RSS as it is, then as the stage's next release-pages leaves it.
static void s_memory (bench_t *self, const char *dir, const char *when)
{
    s_memory_line (dir, when);
    timers_release (self->env);
    self->released = s_seconds ();
    s_memory_line (dir, "and once mapped pages are dropped (release-pages)");
}

static void s_memory_line (const char *dir, const char *when)
{
    char path [300];
    struct stat st;
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    double disk = stat (path, &st) == 0 ? st.st_blocks * 512.0 / 1048576 : -1;
    printf ("  memory %s: VmRSS %.0f MB = RssAnon %.0f MB (heap) + RssFile %.0f MB (mapped LMDB"
            " pages); data.mdb %.0f MB on disk\n", when, s_status_mb ("VmRSS"),
            s_status_mb ("RssAnon"), s_status_mb ("RssFile"), disk);
}

static int s_args (int argc, char **argv, bench_args_t *args)
{
    static const struct option options [] = { { "nosync", no_argument, NULL, 's' },
                                              { NULL, 0, NULL, 0 } };
    *args = (bench_args_t) { 1000000, 10000000, 10000, false, "" };
    int option;
    while ((option = getopt_long (argc, argv, "n:m:b:d:", options, NULL)) != -1)
        switch (option) {
            case 'n': args->pending = atoll (optarg); break;
            case 'm': args->large = atoll (optarg); break;
            case 'b': args->batch = atoll (optarg); break;
            case 'd': snprintf (args->dir, sizeof args->dir, "%s", optarg); break;
            case 's': args->nosync = true; break;
            default:
                fprintf (stderr, "usage: scheduler_bench [-n PENDING] [-m LARGE] [-b BATCH]"
                         " [--nosync] [-d DIR]\n");
                return -1;
        }
    if (!*args->dir) {
        snprintf (args->dir, sizeof args->dir, "/tmp/nd-scheduler-bench-XXXXXX");
        if (!mkdtemp (args->dir))
            return -1;
    }
    return args->pending > 0 && args->batch > 0 ? 0 : -1;
}

/* ------------------------------------------------------------- runs -- */

static void s_rates (const bench_args_t *args, bool random, bool records)
{
    bench_t bench;
    char dir [300];
    snprintf (dir, sizeof dir, "%s/rates", args->dir);
    s_open (&bench, dir, args->nosync, random);
    printf ("%s, %s:\n", records ? "timer + 256-byte instance record" : "timer index alone",
            random ? "due at random over 30 days (worst case)" : "due 1 h after arrival (journeys)");
    double fill = s_schedule (&bench, args->pending, args->batch, records);
    printf ("  schedule %lld (empty -> full):          %10.0f timers/s\n",
            (long long) args->pending, fill);
    double more = s_schedule (&bench, 100000, args->batch, records);
    printf ("  schedule 100000 more, %lld pending: %10.0f timers/s\n",
            (long long) args->pending, more);
    if (!records)
        s_memory (&bench, dir, "with them pending");
    double early = s_fire (&bench, 200000, args->batch, records);
    printf ("  fire the 200000 earliest, %zu left:  %10.0f timers/s\n", s_pending (&bench), early);
    double rest = s_fire (&bench, INT64_MAX, args->batch, records);
    printf ("  fire all the rest:                      %10.0f timers/s\n", rest);
    s_close (&bench, dir);
}

static void s_large (const bench_args_t *args, bool random)
{
    bench_t bench;
    char dir [300];
    snprintf (dir, sizeof dir, "%s/large", args->dir);
    s_open (&bench, dir, args->nosync, random);
    double rate = s_schedule (&bench, args->large, args->batch, false);
    printf ("%lld timers pending, %s (scheduled at %.0f timers/s):\n", (long long) args->large,
            random ? "due at random over 30 days" : "due 1 h after arrival", rate);
    s_memory (&bench, dir, "with them pending");
    double fire = s_fire (&bench, 1000000, args->batch, false);
    printf ("  fire the 1000000 earliest of them:      %10.0f timers/s\n", fire);
    s_memory (&bench, dir, "after");
    s_close (&bench, dir);
}

int main (int argc, char **argv)
{
    bench_args_t args;
    if (s_args (argc, argv, &args))
        return 2;
    printf ("scheduler timers in LMDB (%s, %lld per transaction), state in %s\n",
            args.nosync ? "MDB_NOSYNC" : "fsync per commit", (long long) args.batch, args.dir);
    for (int random = 0; random < 2; random++) {
        s_rates (&args, random, false);
        s_rates (&args, random, true);
    }
    for (int random = 0; random < 2 && args.large > 0; random++)
        s_large (&args, random);
    printf ("baseline, BullMQ + Redis (as given): ~20000 jobs/s added, ~14000 jobs/s processed\n");
    rmdir (args.dir);
    return 0;
}
