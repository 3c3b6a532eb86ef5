/*  nd-chat - answer the shop's chat from a terminal.

    NAME
        nd-chat - an operator's console for the chat-bridge

    SYNOPSIS
        nd-chat [-c CONFIG] [-o NAME] [-t MS] [STAGE-OR-ENDPOINT]
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

    OPTIONS
        -c, --config FILE     pipeline file (default conf/pipeline.zpl)
        -o, --operator NAME   the name shoppers see (default $USER)
        -t, --timeout MS      wait for answers at the end (default 5000)
        -h, --help            this text

    EXIT STATUS
        0 after /quit or end of input; 1 when the bridge cannot be reached
        or did not answer; 2 on usage errors.
*/
#include <czmq.h>
#include <getopt.h>
#include "../common/nd_pipefile.h"

#define s_PING_MS 10000

typedef struct {
    const char *config;
    const char *target;
    const char *operator;
    long timeout;
} chat_args_t;

typedef struct {
    zsock_t *dealer;
    char current [32];          //  the conversation plain text answers
    int waiting;                //  answers not yet received
    bool printed_prompt;
} chat_console_t;

static const char *s_usage =
    "usage: nd-chat [-c CONFIG] [-o NAME] [-t MS] [STAGE-OR-ENDPOINT]\n"
    "Answers the shop's chat from a terminal, through the chat-bridge.\n"
    "  -c, --config FILE     pipeline file (default conf/pipeline.zpl)\n"
    "  -o, --operator NAME   the name shoppers see (default $USER)\n"
    "  -t, --timeout MS      wait this long for answers at the end (default 5000)\n"
    "  -h, --help            this text\n"
    "Type TEXT to answer the last conversation, '#c7 TEXT' for another;\n"
    "/list, /show c7, /end [c7], /online, /offline, /auto, /quit. See nd-chat(1).\n";

static int s_parse_args (int argc, char **argv, chat_args_t *args)
{
    static const struct option options [] = {
        { "config",   required_argument, NULL, 'c' },
        { "operator", required_argument, NULL, 'o' },
        { "timeout",  required_argument, NULL, 't' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *user = getenv ("USER");
    *args = (chat_args_t) { "conf/pipeline.zpl", "chat-bridge", user && *user ? user : "operator", 5000 };
    int option;
    while ((option = getopt_long (argc, argv, "c:o:t:h", options, NULL)) != -1) {
        char *end = NULL;
        if (option == 'h')
            return fputs (s_usage, stdout), 1;
        else
        if (option == 'c')
            args->config = optarg;
        else
        if (option == 'o')
            args->operator = optarg;
        else
        if (option == 't' && ((args->timeout = strtol (optarg, &end, 10)) <= 0 || *end))
            return fprintf (stderr, "nd-chat: --timeout wants milliseconds, not '%s'\n", optarg), 2;
        else
        if (option == '?')
            return fprintf (stderr, "nd-chat: try 'nd-chat --help'\n"), 2;
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
    zmsg_send (&msg, self->dealer);
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

int main (int argc, char **argv)
{
    chat_args_t args;
    int rc = s_parse_args (argc, argv, &args);
    if (rc)
        return rc == 1 ? 0 : 2;
    char *error = NULL;
    char *endpoint = nd_pipefile_target (args.config, args.target, "console", &error);
    if (!endpoint) {
        fprintf (stderr, "nd-chat: %s\n", error);
        free (error);
        return 1;
    }
    if (nd_pipefile_ipc_absent (endpoint)) {
        fprintf (stderr, "nd-chat: nothing at %s: is the chat-bridge running?\n", endpoint);
        free (endpoint);
        return 1;
    }
    zsys_init ();
    chat_console_t self = { zsock_new (ZMQ_DEALER), "", 0, false };
    zsock_set_linger (self.dealer, 1000);
    if (zsock_connect (self.dealer, "%s", endpoint) < 0) {
        fprintf (stderr, "nd-chat: cannot connect to %s\n", endpoint);
        zsock_destroy (&self.dealer);
        free (endpoint);
        return 1;
    }
    free (endpoint);
    s_send (&self, "HELLO", args.operator, NULL);
    self.waiting++;             //  HELLO is answered twice: presence and the list
    bool input = true, quit = false;
    int64_t next_ping = zclock_mono () + s_PING_MS, deadline = 0;
    char *line = NULL;
    size_t capacity = 0;
    while (!zsys_interrupted && !quit) {
        zmq_pollitem_t items [] = { { zsock_resolve (self.dealer), 0, ZMQ_POLLIN, 0 },
                                    { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, input ? 2 : 1, 1000) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            s_receive (&self);
        if (input && (items [1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if (getline (&line, &capacity, stdin) < 0 || !s_line (&self, line)) {
                input = false;
                deadline = zclock_mono () + args.timeout;
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
    s_send (&self, "BYE", NULL, NULL);
    bool answered = self.waiting <= 0;
    zsock_destroy (&self.dealer);
    if (!answered)
        fprintf (stderr, "nd-chat: the chat-bridge did not answer everything in time\n");
    return answered || zsys_interrupted ? 0 : 1;
}
