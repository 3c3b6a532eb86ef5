/*  nd_stage - the server skeleton every stage runs in.

    Like Postfix's single_server_main: the stage's main() hands its
    nd_stage_def_t to nd_stage_main(), which parses arguments, loads the
    pipeline file, opens the stage's LMDB environment, binds the output
    journal (ROUTER), the tap (PUB) and the control socket (REP), connects
    to each upstream's journal, says it is ready, and loops:

      read up to ND_BATCH_MAX messages from the inputs, and whatever the
      stage's own source has; apply each inside ONE write transaction
      together with the outputs it causes and the new input positions;
      commit; then ack upstream, publish on the tap, and send downstream.

    It stops on SIGINT or SIGTERM (czmq's zsys_interrupted). SIGHUP, or
    RELOAD on the control socket, has the stage read its files again
    (the def's reload) between two batches, never inside one. It never
    daemonizes and logs to stderr: the supervisor owns restarts and logs.

    Layer: runtime, the skeleton's top. This file is the loop itself:
    nd_stage_main, the signals, the poll and what wakes it, readiness and
    teardown. The skeleton's other files each hold one idea, and call only
    downward, in this order from the top (they share struct _nd_stage_t,
    nd_private.h):
      nd_stage_setup.c    arguments, the pipeline file, state, links and
                          sockets, up to ready; --check and --repartition-from
      nd_stage_control.c  the control socket (STATS, HEALTH, PAUSE, RELOAD)
      nd_stage_batch.c    the batch transaction and the event clock's stops
      nd_stage_emit.c     what a stage emits: the journal, then the tap
      nd_stage_options.c  the stage's options and accessors                 */
#define _GNU_SOURCE
#include <signal.h>
#include <sysexits.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "nd_private.h"

//  SIGHUP asks for a reload. A signal handler reaches only statics: the
//  flag, and the wake pipe's write end, so a loop asleep in zmq_poll sees
//  the signal at once.
static volatile sig_atomic_t s_hangup;
static volatile sig_atomic_t s_hangup_wake = -1;

static void s_on_hangup (int signum)
{
    (void) signum;
    int saved = errno;
    s_hangup = 1;
    //  A full pipe (EAGAIN) is fine: the loop wakes for what is in it
    ssize_t written = s_hangup_wake >= 0 ? write (s_hangup_wake, "h", 1) : 0;
    (void) written;
    errno = saved;
}

/* -------------------------------------------------------------- loop -- */

static void s_drain_wake (nd_stage_t *stage)
{
    char buffer [256];
    while (read (stage->wake [0], buffer, sizeof buffer) > 0)
        ;
}

static void s_loop (nd_stage_t *stage)
{
    zmq_pollitem_t items [ND_INPUTS_MAX + 5];
    int source_fd = stage->def->source_fd ? stage->def->source_fd (stage->self) : -1;
    while (!zsys_interrupted) {
        size_t count = 0;
        items [count++] = (zmq_pollitem_t) { zsock_resolve (stage->control), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { nd_outbox_socket (stage->outbox), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { NULL, stage->wake [0], ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { zsock_resolve (stage->pub), 0, ZMQ_POLLIN, 0 };
        if (source_fd >= 0)
            items [count++] = (zmq_pollitem_t) { NULL, source_fd, ZMQ_POLLIN, 0 };
        for (size_t i = 0; i < nd_inputs_count (stage->inputs) && !stage->paused; i++) {
            void *socket = nd_inputs_socket (stage->inputs, i);
            if (socket)
                items [count++] = (zmq_pollitem_t) { socket, 0, ZMQ_POLLIN, 0 };
        }
        int64_t timeout = 1000;
        if (stage->def->timers && !nd_clock_is_event (stage->clock)) {
            int64_t until = stage->next_wall_timer - zclock_mono ();
            timeout = until < 0 ? 0 : until < timeout ? until : timeout;
        }
        if (zmq_poll (items, (int) count, (long) timeout) < 0 && zmq_errno () != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            nd_stage_control (stage);
        if (items [1].revents & ZMQ_POLLIN)
            nd_outbox_handle (stage->outbox);
        if (!stage->paused)
            nd_stage_read_inputs (stage);
        if (items [3].revents & ZMQ_POLLIN)
            nd_stage_taps (stage);
        bool source_ready = (items [2].revents & ZMQ_POLLIN)
                         || (source_fd >= 0 && (items [4].revents & ZMQ_POLLIN));
        if (items [2].revents & ZMQ_POLLIN)
            s_drain_wake (stage);
        if (source_ready && stage->def->source_drain && nd_stage_begin (stage) == 0)
            stage->def->source_drain (stage, stage->self, stage->txn);
        if (stage->def->timers && !nd_clock_is_event (stage->clock)
        &&  zclock_mono () >= stage->next_wall_timer) {
            stage->next_wall_timer = zclock_mono () + stage->timer_interval;
            nd_stage_run_timers (stage);
        }
        if (nd_outbox_trim_due (stage->outbox) && nd_stage_begin (stage) == 0)
            nd_outbox_trim (stage->outbox, stage->txn);
        if (nd_stage_commit (stage))
            zclock_sleep (500);     //  e.g. state full: back off, upstream holds the data
        if (s_hangup) {
            s_hangup = 0;
            char what [512];
            nd_stage_reload (stage, "SIGHUP", what, sizeof what);
        }
        nd_outbox_pump (stage->outbox);
        int64_t now = zclock_mono ();
        if (now - stage->last_watch >= 1000) {
            stage->last_watch = now;
            nd_inputs_watch (stage->inputs, nd_wall_ms (), nd_clock_now (stage->clock),
                             nd_stage_busy (stage), stage->paused);
        }
        for (size_t i = 0; i < nd_inputs_count (stage->inputs) && !stage->paused; i++)
            nd_inlink_heartbeat (nd_inputs_link (stage->inputs, i), now);
    }
}

//  systemd's readiness (sd_notify(3)'s protocol, without libsystemd): one
//  datagram to the socket $NOTIFY_SOCKET names ('@': abstract).
static void s_sd_notify (const char *state)
{
    const char *path = getenv ("NOTIFY_SOCKET");
    if (!path || (*path != '/' && *path != '@') || strlen (path) >= sizeof ((struct sockaddr_un *) 0)->sun_path)
        return;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    memcpy (address.sun_path, path, strlen (path));
    if (*path == '@')
        address.sun_path [0] = 0;
    socklen_t size = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path));
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto (fd, state, strlen (state), MSG_NOSIGNAL,
                          (struct sockaddr *) &address, size) < 0)
        nd_log ("cannot tell systemd %s: %s", state, strerror (errno));
    if (fd >= 0)
        close (fd);
}

static void s_notify_ready (nd_stage_t *stage)
{
    s_sd_notify ("READY=1");
    size_t count = nd_inputs_count (stage->inputs);
    nd_log ("ready (%s clock, %zu input%s)", nd_clock_is_event (stage->clock) ? "event" : "wall",
            count, count == 1 ? "" : "s");
    if (stage->notify_fd > 0) {
        if (write (stage->notify_fd, "\n", 1) < 0)
            nd_log ("cannot write to notify fd %d: %s", stage->notify_fd, strerror (errno));
        close (stage->notify_fd);
    }
}

static void s_destroy (nd_stage_t *stage)
{
    if (stage->def->teardown && stage->self)
        stage->def->teardown (&stage->self);
    if (stage->txn)
        mdb_txn_abort (stage->txn);
    nd_stage_publish_all (stage, false);
    zlist_destroy (&stage->publications);
    nd_inputs_destroy (&stage->inputs);
    nd_moves_destroy (&stage->moves);
    nd_outbox_destroy (&stage->outbox);
    zsock_destroy (&stage->pub);
    zsock_destroy (&stage->control);
    nd_curve_destroy (&stage->curve);
    if (stage->env)
        mdb_env_close (stage->env);
    if (stage->wake [1] > 0) {
        close (stage->wake [0]);
        close (stage->wake [1]);
    }
    nd_clock_destroy (&stage->clock);
    nd_config_destroy (&stage->config);
    free (stage->name);
    free (stage->config_file);
    free (stage->clock_mode);
}

int nd_stage_main (int argc, char **argv, const nd_stage_def_t *def)
{
    //  Everything a stage makes (state, spools, sockets, mail) is its
    //  user's alone, whatever the shell or supervisor left as umask
    umask (077);
    if (def->selftest && argc >= 2 && streq (argv [1], "--selftest")) {
        def->selftest (argc >= 3 && streq (argv [2], "-v"));
        printf ("%s selftest: OK\n", def->name);
        return 0;
    }
    nd_stage_t stage = { .def = def, .notify_fd = -1 };
    stage.name = strdup (def->name);
    stage.config_file = strdup ("conf/pipeline.zpl");
    stage.publications = zlist_new ();
    stage.started = zclock_mono ();
    //  SIGHUP reloads rather than kills. It is blocked while setup starts
    //  the stage's threads (senders' workers, HTTP servers, ZeroMQ's),
    //  which inherit the mask: only the loop's thread takes it, so no
    //  worker's system call is cut short by it. One that came during
    //  setup is taken once the loop runs.
    sigset_t hangup, previous;
    sigemptyset (&hangup);
    sigaddset (&hangup, SIGHUP);
    struct sigaction action = { .sa_handler = s_on_hangup, .sa_flags = SA_RESTART };
    sigemptyset (&action.sa_mask);
    sigaction (SIGHUP, &action, NULL);
    pthread_sigmask (SIG_BLOCK, &hangup, &previous);
    zsys_init ();
    zsys_set_linger (0);
    //  sysexits: a supervisor need not restart what a restart can't mend
    int rc = nd_stage_parse_args (&stage, argc, argv) ? EX_USAGE : 0;
    if (rc == 0 && stage.repartition_from)
        rc = nd_stage_repartition (&stage);
    else
    if (rc == 0 && stage.checking) {
        rc = nd_stage_check (&stage) ? EX_CONFIG : 0;
        if (rc == 0)
            printf ("%s: %s: configuration ok\n", stage.name, stage.config_file);
    }
    else
    if (rc == 0)
        rc = nd_stage_setup (&stage) == 0 ? 0
           : !stage.config || nd_config_errors (stage.config) ? EX_CONFIG : 1;
    if (rc == 0 && !stage.checking && !stage.repartition_from) {
        s_hangup_wake = stage.wake [1];
        pthread_sigmask (SIG_SETMASK, &previous, NULL);
        s_notify_ready (&stage);
        s_loop (&stage);
        nd_log ("stopping");
        s_sd_notify ("STOPPING=1");
        //  The readers' last acknowledgements written down (the trim's
        //  rows): nd-repartition reads them to know the journal drained
        if (nd_stage_begin (&stage) == 0)
            nd_outbox_trim (stage.outbox, stage.txn);
        nd_stage_commit (&stage);
    }
    s_hangup_wake = -1;
    s_destroy (&stage);
    return rc;
}
