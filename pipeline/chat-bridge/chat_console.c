/*  chat_console - operators at a terminal: nd-chat over ZeroMQ.

    For a shop with no chat service. The chat-bridge binds a ROUTER at
    "console" (default ipc://<run>/<stage>.console; "none" turns it off);
    each nd-chat connects a DEALER. With "curve" the ROUTER is a CURVE
    server like the stage's other sockets: only the keys in curve-clients
    get in (nd-chat --cert). Frames, nd-chat to the bridge:

        HELLO <name>        an operator is here (presence "auto" until said
                            otherwise); the answer lists open conversations
        SAY <conv> <text>   a reply to conversation <conv> ("c7")
        END <conv>          close it
        ONLINE | OFFLINE | AUTO     presence
        LIST | SHOW <conv>  open conversations; one with summary and transcript
        PING                every 10 s; an operator silent for 30 s is gone
        BYE                 gone now

    and the bridge to nd-chat: "NOTE <conv> <text>" for every note (a new
    conversation with the visitor's summary, a shopper's message, an end),
    "ANSWER <text>" for every command. Notes go to the operators connected
    at that moment; one who connects later sees open conversations with
    LIST and SHOW, read from the transcripts.

    The ROUTER lives on a czmq actor's thread; the loop hands it notes
    over the actor's pipe; commands go to the loop through the inbox.     */
#include "chat.h"

#define s_GONE_MS 30000

typedef struct {
    nd_stage_t *stage;
    nd_inbox_t *inbox;
    char *endpoint;
    zsock_t *router;            //  bound here, then the actor's alone
    zactor_t *actor;
} s_console_t;

typedef struct {
    char *name;                 //  "console:anna"
    char *display;              //  "anna"
    int64_t seen;               //  zclock_mono
} s_operator_t;

typedef struct {
    s_console_t *console;
    zsock_t *router;
    zhashx_t *operators;        //  routing id (hex) -> s_operator_t
} s_actor_t;

static void s_operator_free (void **item)
{
    s_operator_t *op = (s_operator_t *) *item;
    if (op) {
        free (op->name);
        free (op->display);
        free (op);
        *item = NULL;
    }
}

static void s_send (s_actor_t *self, zframe_t *identity, const char *kind, const char *a,
                    const char *b)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, kind);
    zmsg_addstr (msg, a);
    if (b)
        zmsg_addstr (msg, b);
    zmsg_send (&msg, self->router);
}

//  Hands one command to the loop and answers with what it said.
static void s_submit (s_actor_t *self, zframe_t *identity, s_operator_t *op, chat_kind_t kind,
                      const char *conversation, const char *text)
{
    chat_event_t event = { .kind = kind, .operator = strdup (op->name),
                           .operator_name = strdup (op->display),
                           .channel = strdup ("console"),
                           .conversation = chat_strdup (conversation), .text = chat_strdup (text) };
    int rc = nd_inbox_submit (self->console->inbox, &event, 1);
    const char *answer = rc ? "not stored: try again" : event.answer ? event.answer : "ok";
    s_send (self, identity, "ANSWER", answer, NULL);
    chat_event_clear (&event);
}

static void s_gone (s_actor_t *self, const char *key)
{
    s_operator_t *op = (s_operator_t *) zhashx_lookup (self->operators, key);
    if (op) {
        chat_event_t event = { .kind = CHAT_OPERATOR_PRESENCE, .operator = strdup (op->name),
                               .text = strdup ("gone") };
        nd_inbox_submit (self->console->inbox, &event, 1);
        chat_event_clear (&event);
        zhashx_delete (self->operators, key);
    }
}

static void s_command (s_actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    zframe_t *identity = msg ? zmsg_pop (msg) : NULL;
    char *command = msg ? zmsg_popstr (msg) : NULL;
    char *a = msg ? zmsg_popstr (msg) : NULL;
    char *b = msg ? zmsg_popstr (msg) : NULL;
    char *key = identity ? zframe_strhex (identity) : NULL;
    s_operator_t *op = key ? (s_operator_t *) zhashx_lookup (self->operators, key) : NULL;
    if (!command)
        ;
    else
    if (streq (command, "HELLO")) {
        const char *display = a && *a ? a : "operator";
        if (!op) {
            op = (s_operator_t *) zmalloc (sizeof *op);
            zhashx_insert (self->operators, key, op);
        }
        free (op->name);
        free (op->display);
        op->name = zsys_sprintf ("console:%s", display);
        op->display = strdup (display);
        op->seen = zclock_mono ();
        s_submit (self, identity, op, CHAT_OPERATOR_PRESENCE, NULL, "here");
        s_submit (self, identity, op, CHAT_OPERATOR_LIST, NULL, NULL);
    }
    else
    if (!op)
        s_send (self, identity, "ANSWER", "say HELLO <name> first", NULL);
    else {
        op->seen = zclock_mono ();
        if (streq (command, "SAY"))
            s_submit (self, identity, op, CHAT_OPERATOR_SAY, a, b);
        else
        if (streq (command, "END"))
            s_submit (self, identity, op, CHAT_OPERATOR_END, a, NULL);
        else
        if (streq (command, "SHOW"))
            s_submit (self, identity, op, CHAT_OPERATOR_SHOW, a, NULL);
        else
        if (streq (command, "LIST"))
            s_submit (self, identity, op, CHAT_OPERATOR_LIST, NULL, NULL);
        else
        if (streq (command, "ONLINE") || streq (command, "OFFLINE") || streq (command, "AUTO")) {
            char state [8];
            snprintf (state, sizeof state, "%s", command);
            for (char *p = state; *p; p++)
                *p = (char) (*p - 'A' + 'a');
            s_submit (self, identity, op, CHAT_OPERATOR_PRESENCE, NULL, state);
        }
        else
        if (streq (command, "BYE"))
            s_gone (self, key);
        else
        if (!streq (command, "PING"))
            s_send (self, identity, "ANSWER", "unknown command (SAY, END, LIST, SHOW, ONLINE, "
                                              "OFFLINE, AUTO, PING, BYE)", NULL);
    }
    zstr_free (&key);
    zstr_free (&command);
    zstr_free (&a);
    zstr_free (&b);
    zframe_destroy (&identity);
    zmsg_destroy (&msg);
}

//  A note from the loop, to every operator connected.
static void s_note (s_actor_t *self, zmsg_t *msg)
{
    char *conversation = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    for (void *op = zhashx_first (self->operators); op; op = zhashx_next (self->operators)) {
        const char *key = (const char *) zhashx_cursor (self->operators);
        zframe_t *identity = zframe_new (NULL, strlen (key) / 2);
        for (size_t i = 0; i < zframe_size (identity); i++) {
            unsigned int byte;
            sscanf (key + 2 * i, "%2x", &byte);
            zframe_data (identity) [i] = (unsigned char) byte;
        }
        s_send (self, identity, "NOTE", conversation ? conversation : "", text ? text : "");
        zframe_destroy (&identity);
    }
    zstr_free (&conversation);
    zstr_free (&text);
}

static void s_expire (s_actor_t *self)
{
    zlist_t *gone = zlist_new ();
    zlist_autofree (gone);
    for (s_operator_t *op = (s_operator_t *) zhashx_first (self->operators); op;
         op = (s_operator_t *) zhashx_next (self->operators))
        if (zclock_mono () - op->seen > s_GONE_MS)
            zlist_append (gone, (void *) zhashx_cursor (self->operators));
    for (const char *key = (const char *) zlist_first (gone); key;
         key = (const char *) zlist_next (gone))
        s_gone (self, key);
    zlist_destroy (&gone);
}

static void s_actor (zsock_t *pipe, void *arg)
{
    s_console_t *console = (s_console_t *) arg;
    s_actor_t self = { console, console->router, zhashx_new () };
    console->router = NULL;
    zhashx_set_destructor (self.operators, s_operator_free);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self.router, NULL);
    while (poller) {
        void *which = zpoller_wait (poller, 1000);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg ? zmsg_popstr (msg) : NULL;
            bool stop = !command || streq (command, "$TERM");
            if (!stop && streq (command, "NOTE"))
                s_note (&self, msg);
            zstr_free (&command);
            zmsg_destroy (&msg);
            if (stop)
                break;
        }
        else
        if (which == self.router)
            s_command (&self);
        else
        if (zpoller_terminated (poller))
            break;
        s_expire (&self);
    }
    zpoller_destroy (&poller);
    zhashx_destroy (&self.operators);
    zsock_destroy (&self.router);
}

/* --------------------------------------------------------------- class */

static void s_destroy (void **self_p)
{
    s_console_t *self = (s_console_t *) *self_p;
    if (self) {
        zactor_destroy (&self->actor);
        zsock_destroy (&self->router);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

static void *s_create (nd_stage_t *stage, nd_inbox_t *inbox, uint64_t cursor)
{
    (void) cursor;
    const char *endpoint = nd_stage_option (stage, "console", NULL);
    s_console_t *self = (s_console_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->inbox = inbox;
    self->endpoint = endpoint ? strdup (endpoint)
                   : zsys_sprintf ("ipc://%s/%s.console", nd_stage_option (stage, "run", "var/run"),
                                   nd_stage_name (stage));
    //  Bound here, so that a bad endpoint stops the start
    self->router = zsock_new (ZMQ_ROUTER);
    //  Operators may be on other hosts: with "curve" the console is
    //  guarded like out, pub and ctl (same keypair, same curve-clients)
    bool curve = nd_stage_curve_serve (stage, zsock_resolve (self->router));
    if (nd_stage_check_exposure (stage, "console", self->endpoint)) {
        void *gone = self;
        s_destroy (&gone);
        return NULL;
    }
    if (strncmp (self->endpoint, "ipc://", 6) == 0) {
        char *dir = strdup (self->endpoint + 6), *slash = strrchr (dir, '/');
        if (slash) {
            *slash = 0;
            zsys_dir_create ("%s", dir);
        }
        free (dir);
    }
    if (zsock_bind (self->router, "%s", self->endpoint) < 0) {
        nd_stage_config_error (stage, "console", "cannot bind this endpoint");
        void *gone = self;
        s_destroy (&gone);
        return NULL;
    }
    self->actor = zactor_new (s_actor, self);
    nd_log ("console: operators connect with nd-chat to %s%s", self->endpoint,
            curve ? " (CURVE: nd-chat --cert)" : "");
    return self;
}

static void s_deliver (void *self_, uint64_t number, const char *conversation, const char *text)
{
    (void) number;
    s_console_t *self = (s_console_t *) self_;
    zstr_sendm (self->actor, "NOTE");
    zstr_sendm (self->actor, conversation);
    zstr_send (self->actor, text);
}

const chat_channel_t chat_console_channel = {
    .name = "console",
    .durable = false,
    .create = s_create,
    .deliver = s_deliver,
    .destroy = s_destroy
};
