/*  zmq_baseline - raw libzmq PUSH/PULL throughput, the bar nudge's durable
    links are compared against in `make bench`.

    SYNOPSIS
        zmq_baseline [-n MESSAGES] [-s BODY-BYTES] [-e ENDPOINT]

    Sends two-frame messages (topic + body of the given size) from one
    thread to another over ENDPOINT (default ipc:///tmp/nd-bench-zmq) and
    prints one JSON line: messages, bytes, seconds, messages_per_s. No
    persistence, no acknowledgement: this is the ceiling, not a peer.    */
#include <czmq.h>

typedef struct {
    const char *endpoint;
    long count;
    size_t size;
} s_args_t;

static void *s_sender (void *arg)
{
    s_args_t *args = (s_args_t *) arg;
    zsock_t *push = zsock_new_push (args->endpoint);
    char *body = (char *) malloc (args->size);
    memset (body, 'x', args->size);
    void *socket = zsock_resolve (push);
    for (long i = 0; i < args->count; i++) {
        zmq_send (socket, "event.track", 11, ZMQ_SNDMORE);
        zmq_send (socket, body, args->size, 0);
    }
    free (body);
    zclock_sleep (200);
    zsock_destroy (&push);
    return NULL;
}

int main (int argc, char **argv)
{
    s_args_t args = { "ipc:///tmp/nd-bench-zmq", 1000000, 400 };
    int option;
    while ((option = getopt (argc, argv, "n:s:e:")) != -1) {
        if (option == 'n') args.count = atol (optarg);
        else if (option == 's') args.size = (size_t) atol (optarg);
        else if (option == 'e') args.endpoint = optarg;
        else { fprintf (stderr, "usage: zmq_baseline [-n N] [-s BYTES] [-e ENDPOINT]\n"); return 1; }
    }
    zsock_t *pull = zsock_new_pull (NULL);
    zsock_set_rcvhwm (pull, 100000);
    if (zsock_bind (pull, "%s", args.endpoint) < 0) {
        fprintf (stderr, "zmq_baseline: cannot bind %s\n", args.endpoint);
        return 1;
    }
    pthread_t thread;
    pthread_create (&thread, NULL, s_sender, &args);
    void *socket = zsock_resolve (pull);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int64_t start = 0;
    for (long i = 0; i < args.count * 2; i++) {
        zmq_msg_recv (&msg, socket, 0);
        if (i == 0)
            start = zclock_usecs ();
    }
    double seconds = (zclock_usecs () - start) / 1e6;
    zmq_msg_close (&msg);
    pthread_join (thread, NULL);
    zsock_destroy (&pull);
    printf ("{\"messages\":%ld,\"body_bytes\":%zu,\"seconds\":%.3f,\"messages_per_s\":%.0f}\n",
            args.count, args.size, seconds, args.count / seconds);
    return 0;
}
