/*  nd-chat - answer the shop's chat from a terminal.

    NAME
        nd-chat - an operator's console for the chat-bridge

    SYNOPSIS
        nd-chat [-c CONFIG] [--cert FILE] [-o NAME] [-t MS] [STAGE-OR-ENDPOINT]
        nd-chat --help

    DESCRIPTION
        Connects to the chat-bridge's console socket (a ZeroMQ ROUTER; the
        stage's "console" option, default ipc://<run>/chat-bridge.console)
        and says HELLO as operator NAME: from then on the operator counts
        as present (in business hours; /online for any time) and sees every
        new conversation, with the visitor's summary, and every message.
        The open conversations are listed at the start.

        Lines typed on standard input:
            TEXT            a reply to the conversation spoken of last
            #c7 TEXT        a reply to conversation c7 (also "c7 TEXT")
            /show c7        summary and transcript of c7 (and c7 becomes
                            the one TEXT answers)
            /end [c7]       close c7 (default: the current one)
            /list           open conversations
            /online, /offline, /auto    presence; auto: in business hours
            /quit           leave (so does end of input)

        Everything the bridge says is printed on standard output, one
        "[c7] ..." block per note. At the end of input nd-chat waits for
        the answers to what it sent (at most --timeout), says BYE and
        exits, so it can be scripted: printf '/list\n' | nd-chat.

        A chat-bridge with option "curve" serves its console over CURVE,
        like its other sockets: nd-chat then needs --cert, and the
        operator's public certificate must be in the stage's
        curve-clients. A key the bridge does not trust is refused at the
        handshake; nd-chat says so in one line and exits 1.

    OPTIONS
        -c, --config FILE     pipeline file (default conf/pipeline.zpl)
            --cert FILE       the operator's CURVE keypair (nd-cert's
                              NAME.secret), for a chat-bridge with "curve"
        -o, --operator NAME   the name shoppers see (default $USER)
        -t, --timeout MS      wait for answers at the end (default 5000)
            --check           check the pipeline file (-c) and exit
        -h, --help            this text

    EXIT STATUS
        0 after /quit or end of input; 1 when the bridge cannot be reached,
        refused the key or did not answer; 64 (EX_USAGE) on usage errors.
*/
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include "nd_pipefile.h"
#include "nd_tool.h"
#include "nd.h"

#define s_PING_MS 10000
#define s_MONITOR "inproc://nd-chat.monitor"

typedef struct {
    nd_tool_args_t tool;        //  -c, --cert, -t (ms)
    const char *target;
    const char *operator;
} chat_args_t;

typedef struct {
    zsock_t *dealer;
    zsock_t *monitor;           //  the dealer's handshake failures
    char current [32];          //  the conversation plain text answers
    int waiting;                //  answers not yet received
    bool printed_prompt;
} chat_console_t;

static const char *s_usage =
    "usage: nd-chat [-c CONFIG] [--cert FILE] [-o NAME] [-t MS] [STAGE-OR-ENDPOINT]\n"
    "Answers the shop's chat from a terminal, through the chat-bridge.\n"
    "  -c, --config FILE     pipeline file (default conf/pipeline.zpl)\n"
    "      --cert FILE       your CURVE keypair (nd-cert), for a chat-bridge with \"curve\"\n"
    "  -o, --operator NAME   the name shoppers see (default $USER)\n"
    "  -t, --timeout MS      wait this long for answers at the end (default 5000)\n"
    "      --check           check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help            this text\n"
    "Type TEXT to answer the last conversation, '#c7 TEXT' for another;\n"
    "/list, /show c7, /end [c7], /online, /offline, /auto, /quit. See nd-chat(1).\n";

static int s_parse_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, ND_TOOL_CERT,
        { "operator", required_argument, NULL, 'o' },
        ND_TOOL_TIMEOUT, ND_TOOL_HELP,
        { NULL, 0, NULL, 0 }
    };
    chat_args_t *args = (chat_args_t *) args_;
    const char *user = getenv ("USER");
    *args = (chat_args_t) { { "nd-chat", s_usage, "conf/pipeline.zpl", NULL, 5000 }, "chat-bridge",
                            user && *user ? user : "operator" };
    int option;
    while ((option = getopt_long (argc, argv, "c:o:t:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        if (option == 'o')
            args->operator = optarg;
    }
    if (argc - optind > 1)
        return fprintf (stderr, "nd-chat: want at most one STAGE-OR-ENDPOINT; try 'nd-chat --help'\n"), 2;
    if (optind < argc)
        args->target = argv [optind];
    return 0;
}

static void s_send (chat_console_t *self, const char *command, const char *a, const char *b)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    if (a)
        zmsg_addstr (msg, a);
    if (b)
        zmsg_addstr (msg, b);
    //  Never blocks (send timeout 0): a DEALER whose handshake was refused
    //  has no session left to queue on, and would hold the terminal.
    if (zmsg_send (&msg, self->dealer)) {
        zmsg_destroy (&msg);
        if (!streq (command, "PING") && !streq (command, "BYE"))
            printf ("not sent: no connection to the chat-bridge\n");
    }
    else
    if (!streq (command, "PING") && !streq (command, "BYE"))
        self->waiting++;
}

//  "c7" or "#c7" at the start of text: into id, returns what follows.
static const char *s_conversation (const char *text, char *id, size_t size)
{
    const char *p = text + (text [0] == '#');
    if (p [0] != 'c' || !isdigit ((unsigned char) p [1]))
        return NULL;
    size_t digits = strspn (p + 1, "0123456789");
    if (p [1 + digits] && p [1 + digits] != ' ' && p [1 + digits] != ':')
        return NULL;
    snprintf (id, size, "c%.*s", (int) digits, p + 1);
    p += 1 + digits;
    return p + strspn (p, " :");
}

//  One line typed; false to quit.
static bool s_line (chat_console_t *self, char *line)
{
    line [strcspn (line, "\r\n")] = 0;
    char id [32];
    const char *rest;
    if (!*line)
        return true;
    if (streq (line, "/quit"))
        return false;
    if (streq (line, "/online") || streq (line, "/offline") || streq (line, "/auto")
    ||  streq (line, "/list")) {
        char command [16];
        snprintf (command, sizeof command, "%s", line + 1);
        for (char *p = command; *p; p++)
            *p = (char) toupper ((unsigned char) *p);
        s_send (self, command, NULL, NULL);
    }
    else
    if (strncmp (line, "/show", 5) == 0 || strncmp (line, "/end", 4) == 0) {
        bool show = line [1] == 's';
        const char *arg = line + (show ? 5 : 4);
        arg += strspn (arg, " ");
        if (*arg && s_conversation (arg, id, sizeof id))
            snprintf (self->current, sizeof self->current, "%s", id);
        if (!*self->current)
            printf ("which conversation? (/%s c7)\n", show ? "show" : "end");
        else
            s_send (self, show ? "SHOW" : "END", self->current, NULL);
    }
    else
    if (line [0] == '/')
        printf ("commands: /list /show c7 /end [c7] /online /offline /auto /quit\n");
    else
    if ((rest = s_conversation (line, id, sizeof id)) && *rest) {
        snprintf (self->current, sizeof self->current, "%s", id);
        s_send (self, "SAY", id, rest);
    }
    else
    if (*self->current)
        s_send (self, "SAY", self->current, line);
    else
        printf ("no conversation yet: start with its tag, \"#c7 ...\"\n");
    fflush (stdout);
    return true;
}

static void s_receive (chat_console_t *self)
{
    zmsg_t *msg = zmsg_recv (self->dealer);
    char *kind = msg ? zmsg_popstr (msg) : NULL;
    char *a = msg ? zmsg_popstr (msg) : NULL;
    char *b = msg ? zmsg_popstr (msg) : NULL;
    if (kind && streq (kind, "NOTE") && a && b) {
        printf ("[%s] %s\n", a, b);
        if (*a)
            snprintf (self->current, sizeof self->current, "%s", a);
    }
    else
    if (kind && streq (kind, "ANSWER") && a) {
        printf ("%s\n", a);
        self->waiting--;
    }
    fflush (stdout);
    zstr_free (&kind);
    zstr_free (&a);
    zstr_free (&b);
    zmsg_destroy (&msg);
}

//  A failed handshake, from the dealer's monitor: the reason, or NULL
//  for an event that is not one. A refusal is final (libzmq does not try
//  that connection again), so nd-chat stops rather than wait in silence.
static const char *s_handshake_failed (chat_console_t *self)
{
    zmsg_t *msg = zmsg_recv (self->monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    uint16_t event = 0;
    if (frame && zframe_size (frame) >= sizeof event)
        memcpy (&event, zframe_data (frame), sizeof event);
    zmsg_destroy (&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return "the chat-bridge refuses this key (is its .pub in the stage's curve-clients?)";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        return "the handshake with the chat-bridge failed (CURVE on one side only, "
               "or not the stage's public key)";
    return NULL;
}

//  The dealer, secured (CURVE when the stage uses it), watched and
//  connected; -1 after saying why.
static int s_connect (chat_console_t *self, const chat_args_t *args, const char *endpoint,
                      const char *curve_public)
{
    self->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (self->dealer, 1000);
    zsock_set_sndtimeo (self->dealer, 0);
    if (nd_tool_secure (&args->tool, zsock_resolve (self->dealer), args->target, curve_public))
        return -1;
    zmq_socket_monitor (zsock_resolve (self->dealer), s_MONITOR, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                        | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    self->monitor = zsock_new_pair (">" s_MONITOR);
    if (zsock_connect (self->dealer, "%s", endpoint) < 0) {
        fprintf (stderr, "nd-chat: cannot connect to %s\n", endpoint);
        return -1;
    }
    return 0;
}

static void s_disconnect (chat_console_t *self)
{
    if (self->dealer)
        zmq_socket_monitor (zsock_resolve (self->dealer), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
}

int main (int argc, char **argv)
{
    chat_args_t args;
    nd_tool_start (argc, argv, "nd-chat", s_parse_args, &args);
    char *curve_public = NULL;
    char *endpoint = nd_tool_endpoint (&args.tool, args.target, "console", &curve_public);
    if (!endpoint)
        return 1;
    if (nd_pipefile_ipc_absent (endpoint)) {
        fprintf (stderr, "nd-chat: nothing at %s: is the chat-bridge running?\n", endpoint);
        free (curve_public);
        free (endpoint);
        return 1;
    }
    zsys_init ();
    chat_console_t self = { NULL, NULL, "", 0, false };
    int rc = s_connect (&self, &args, endpoint, curve_public);
    free (curve_public);
    free (endpoint);
    if (rc) {
        s_disconnect (&self);
        return 1;
    }
    s_send (&self, "HELLO", args.operator, NULL);
    self.waiting++;             //  HELLO is answered twice: presence and the list
    bool input = true, quit = false;
    const char *refused = NULL;
    int64_t next_ping = zclock_mono () + s_PING_MS, deadline = 0;
    char *line = NULL;
    size_t capacity = 0;
    while (!zsys_interrupted && !quit && !refused) {
        zmq_pollitem_t items [] = { { zsock_resolve (self.dealer), 0, ZMQ_POLLIN, 0 },
                                    { zsock_resolve (self.monitor), 0, ZMQ_POLLIN, 0 },
                                    { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, input ? 3 : 2, 1000) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            s_receive (&self);
        if ((items [1].revents & ZMQ_POLLIN) && (refused = s_handshake_failed (&self)))
            break;
        if (input && (items [2].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if (getline (&line, &capacity, stdin) < 0 || !s_line (&self, line)) {
                input = false;
                deadline = zclock_mono () + args.tool.timeout;
            }
        }
        if (!input && (self.waiting <= 0 || zclock_mono () >= deadline))
            quit = true;
        if (zclock_mono () >= next_ping) {
            s_send (&self, "PING", NULL, NULL);
            next_ping = zclock_mono () + s_PING_MS;
        }
    }
    free (line);
    if (!refused)
        s_send (&self, "BYE", NULL, NULL);
    bool answered = self.waiting <= 0;
    s_disconnect (&self);
    if (refused)
        fprintf (stderr, "nd-chat: %s\n", refused);
    else
    if (!answered)
        fprintf (stderr, "nd-chat: the chat-bridge did not answer everything in time\n");
    return !refused && (answered || zsys_interrupted) ? 0 : 1;
}
