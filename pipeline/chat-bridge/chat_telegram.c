/*  chat_telegram - operators in a Telegram chat, through the Bot API.

    Options, in the chat-bridge's section (telegram-token turns it on):
        telegram-token      env:NAME or file:PATH: the bot's token (never
                            logged; it is part of every request's URL)
        telegram-chat       the operators' chat id (a group, or one person's)
        telegram-api        the Bot API's base URL [https://api.telegram.org]
        telegram-operators  Telegram user ids allowed to answer, "111, 222"
                            [anyone in the chat]
        telegram-poll       getUpdates long-poll time [25s]
        telegram-timeout    most any request may take [poll + 10s]

    Notes go out with sendMessage, one at a time and in order, from a
    sender thread; one that fails is tried again (1 s, 2 s ... 30 s) and
    only a 200 with "ok" takes it off the durable queue (CHAT_NOTE_SENT).
    A poller thread long-polls getUpdates from the stored cursor; the
    messages it gets are applied and the new cursor committed in one
    transaction before it asks again, so after kill -9 Telegram hands
    the same updates again and none is lost or applied twice.

    In the chat, an operator replies to a conversation's message (or
    starts with "#c7"); commands: /online, /offline, /auto (answer in
    business hours), /list, /show c7, /end (as a reply, or /end c7).
    The chat is one desk: its presence is the last command said there. */
#include <pthread.h>
#include <ctype.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "nd_json.h"
#include "nd_token.h"
#include "chat.h"

#define s_BATCH 50

typedef struct _s_out_t {
    uint64_t number;            //  0: an answer, not a durable note
    char *text;
    struct _s_out_t *next;
} s_out_t;

typedef struct {
    nd_stage_t *stage;
    nd_inbox_t *inbox;
    int64_t timeout_ms;
    char *base;                 //  <api>/bot<token>
    char *chat;
    char **operators;           //  NULL-ended, or NULL: anyone
    int64_t poll_s;
    uint64_t cursor;
    pthread_t sender, poller;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    s_out_t *head, *tail;
    atomic_bool stopping;       //  also read by curl's progress callback
    bool started;
} s_telegram_t;

/* ------------------------------------------------------------- sending */

static void s_queue (s_telegram_t *self, uint64_t number, const char *text)
{
    s_out_t *out = (s_out_t *) zmalloc (sizeof *out);
    out->number = number;
    out->text = strdup (text);
    pthread_mutex_lock (&self->lock);
    if (self->tail)
        self->tail->next = out;
    else
        self->head = out;
    self->tail = out;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

//  A stop must not wait for a long poll to time out.
static int s_progress (void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void) a; (void) b; (void) c; (void) d;
    return atomic_load (&((s_telegram_t *) arg)->stopping) ? 1 : 0;
}

static size_t s_collect (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend ((zchunk_t *) arg, data, size * count);
    return size * count;
}

//  One Bot API call: the answer's JSON if Telegram said "ok", else NULL
//  (logged, without the URL: it holds the token).
static json_t *s_call (s_telegram_t *self, const char *method, const char *query, const char *body)
{
    char *url = zsys_sprintf ("%s/%s%s", self->base, method, query ? query : "");
    zchunk_t *answer = zchunk_new (NULL, 1024);
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, self);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    }
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    OPENSSL_cleanse (url, strlen (url));
    zstr_free (&url);
    json_t *doc = code == CURLE_OK && status == 200
                ? nd_json_parse ((char *) zchunk_data (answer), zchunk_size (answer), NULL, 0) : NULL;
    zchunk_destroy (&answer);
    if (!json_is_true (json_object_get (doc, "ok"))) {
        if (!atomic_load (&self->stopping))
            nd_log ("telegram: %s failed: %s", method,
                    code != CURLE_OK ? curl_easy_strerror (code) : status != 200 ? "HTTP error" : "not ok");
        json_decref (doc);
        doc = NULL;
    }
    return doc;
}

static int s_send_message (s_telegram_t *self, const char *text)
{
    json_t *doc = json_pack ("{s:s, s:s}", "chat_id", self->chat, "text", text);
    char *body = nd_json_dump (doc, NULL);
    json_decref (doc);
    json_t *answer = body ? s_call (self, "sendMessage", NULL, body) : NULL;
    free (body);
    int rc = answer ? 0 : -1;
    json_decref (answer);
    return rc;
}

//  Waits up to ms, or less when stopping; true if stopping.
static bool s_pause (s_telegram_t *self, int64_t ms)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (!self->stopping && rc == 0)
        rc = pthread_cond_timedwait (&self->wake, &self->lock, &until);
    bool stopping = self->stopping;
    pthread_mutex_unlock (&self->lock);
    return stopping;
}

static void *s_sender (void *arg)
{
    s_telegram_t *self = (s_telegram_t *) arg;
    int64_t backoff = 1000;
    while (true) {
        pthread_mutex_lock (&self->lock);
        while (!self->head && !self->stopping)
            pthread_cond_wait (&self->wake, &self->lock);
        s_out_t *out = self->head;
        bool stopping = self->stopping;
        pthread_mutex_unlock (&self->lock);
        if (stopping)
            break;
        if (s_send_message (self, out->text)) {
            //  Answers to commands are not worth waiting for
            if (out->number && s_pause (self, backoff))
                break;
            backoff = backoff < 30000 ? backoff * 2 : 30000;
            if (out->number)
                continue;
        }
        else
            backoff = 1000;
        pthread_mutex_lock (&self->lock);
        self->head = out->next;
        if (!self->head)
            self->tail = NULL;
        pthread_mutex_unlock (&self->lock);
        if (out->number) {
            chat_event_t event = { .kind = CHAT_NOTE_SENT, .channel = strdup ("telegram"),
                                   .number = out->number };
            nd_inbox_post (self->inbox, &event);
        }
        free (out->text);
        free (out);
    }
    return NULL;
}

/* ------------------------------------------------------------- polling */

//  "#c7" anywhere in text, into id ("c7").
static bool s_tag (const char *text, char *id, size_t size)
{
    for (const char *p = text ? strstr (text, "#c") : NULL; p; p = strstr (p + 1, "#c"))
        if (isdigit ((unsigned char) p [2])) {
            size_t digits = strspn (p + 2, "0123456789");
            snprintf (id, size, "c%.*s", (int) digits, p + 2);
            return true;
        }
    return false;
}

static bool s_allowed (s_telegram_t *self, const char *from)
{
    if (!self->operators)
        return true;
    for (char **op = self->operators; *op; op++)
        if (streq (*op, from))
            return true;
    return false;
}

//  One operator's message into an event; false to ignore it.
static bool s_event (s_telegram_t *self, json_t *message, chat_event_t *event)
{
    json_t *from = json_object_get (message, "from");
    json_t *chat = json_object_get (json_object_get (message, "chat"), "id");
    const char *text = json_string_value (json_object_get (message, "text"));
    char chat_id [32], from_id [32], id [32];
    snprintf (chat_id, sizeof chat_id, "%lld", (long long) json_integer_value (chat));
    snprintf (from_id, sizeof from_id, "%lld",
              (long long) json_integer_value (json_object_get (from, "id")));
    if (!text || !json_is_integer (chat) || !streq (chat_id, self->chat)) {
        nd_log ("telegram: ignored an update from another chat or without text");
        return false;
    }
    if (!s_allowed (self, from_id)) {
        nd_log ("telegram: ignored user %s, not in operators", from_id);
        return false;
    }
    const char *quoted = json_string_value (json_object_get (
        json_object_get (message, "reply_to_message"), "text"));
    bool tagged = s_tag (quoted, id, sizeof id) || s_tag (text, id, sizeof id);
    char command [16] = "";
    if (text [0] == '/')
        sscanf (text + 1, "%15[a-z]", command);
    event->operator = strdup ("telegram");
    const char *first = json_string_value (json_object_get (from, "first_name"));
    event->operator_name = strdup (first ? first : "Shop");
    event->conversation = tagged ? strdup (id) : NULL;
    if (streq (command, "online") || streq (command, "offline") || streq (command, "auto")) {
        event->kind = CHAT_OPERATOR_PRESENCE;
        event->text = strdup (command);
    }
    else
    if (streq (command, "list"))
        event->kind = CHAT_OPERATOR_LIST;
    else
    if (streq (command, "show") || streq (command, "end")) {
        event->kind = streq (command, "show") ? CHAT_OPERATOR_SHOW : CHAT_OPERATOR_END;
        const char *arg = text + 1 + strlen (command);
        arg += strspn (arg, " #");
        if (*arg == 'c' && isdigit ((unsigned char) arg [1])) {
            free (event->conversation);
            event->conversation = strndup (arg, 1 + strspn (arg + 1, "0123456789"));
        }
    }
    else {
        event->kind = CHAT_OPERATOR_SAY;
        //  "#c7 text": the tag is not part of what the shopper reads
        if (text [0] == '#' && text [1] == 'c' && isdigit ((unsigned char) text [2])) {
            text += 2 + strspn (text + 2, "0123456789");
            text += strspn (text, " :");
        }
        event->text = strdup (text);
    }
    if (!event->conversation && event->kind != CHAT_OPERATOR_PRESENCE
    &&  event->kind != CHAT_OPERATOR_LIST) {
        chat_event_clear (event);
        s_queue (self, 0, "Reply to a conversation's message, or start with its tag (#c7 ...)");
        return false;
    }
    return true;
}

//  One getUpdates round; -1 if the request failed.
static int s_poll_once (s_telegram_t *self)
{
    char query [128];
    snprintf (query, sizeof query, "?offset=%llu&timeout=%lld", (unsigned long long) self->cursor,
              (long long) self->poll_s);
    json_t *doc = s_call (self, "getUpdates", query, NULL);
    if (!doc)
        return -1;
    json_t *updates = json_object_get (doc, "result");
    size_t count = json_array_size (updates), used = 0, index;
    chat_event_t *events = (chat_event_t *) zmalloc ((count + 1) * sizeof *events);
    uint64_t cursor = self->cursor;
    json_t *update;
    json_array_foreach (updates, index, update) {
        uint64_t id = (uint64_t) json_integer_value (json_object_get (update, "update_id"));
        cursor = id + 1 > cursor ? id + 1 : cursor;
        json_t *message = json_object_get (update, "message");
        if (message && s_event (self, message, &events [used]))
            used++;
    }
    json_decref (doc);
    int rc = 0;
    if (cursor != self->cursor) {
        //  The cursor commits with what it moved past
        events [used++] = (chat_event_t) { .kind = CHAT_CURSOR, .channel = strdup ("telegram"),
                                           .number = cursor };
        rc = nd_inbox_submit (self->inbox, events, used);
        if (rc == 0) {
            self->cursor = cursor;
            for (size_t i = 0; i < used; i++)
                if (events [i].answer && *events [i].answer)
                    s_queue (self, 0, events [i].answer);
        }
    }
    for (size_t i = 0; i < used; i++)
        chat_event_clear (&events [i]);
    free (events);
    return rc;
}

static void *s_poller (void *arg)
{
    s_telegram_t *self = (s_telegram_t *) arg;
    while (!atomic_load (&self->stopping))
        if (s_poll_once (self) && s_pause (self, 2000))
            break;
    return NULL;
}

/* --------------------------------------------------------------- class */

static void s_destroy (void **self_p)
{
    s_telegram_t *self = (s_telegram_t *) *self_p;
    if (!self)
        return;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_broadcast (&self->wake);
        pthread_mutex_unlock (&self->lock);
        //  A long poll in flight ends by its timeout at the latest
        pthread_join (self->sender, NULL);
        pthread_join (self->poller, NULL);
    }
    while (self->head) {
        s_out_t *next = self->head->next;
        free (self->head->text);
        free (self->head);
        self->head = next;
    }
    if (self->base)
        OPENSSL_cleanse (self->base, strlen (self->base));
    free (self->base);
    free (self->chat);
    if (self->operators)
        for (char **op = self->operators; *op; op++)
            free (*op);
    free (self->operators);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static int s_options (s_telegram_t *self, nd_stage_t *stage)
{
    const char *token = nd_stage_option (stage, "telegram-token", NULL);
    const char *chat = nd_stage_option (stage, "telegram-chat", NULL);
    const char *api = nd_stage_option (stage, "telegram-api", "https://api.telegram.org");
    const char *operators = nd_stage_option (stage, "telegram-operators", NULL);
    int64_t poll, timeout;
    char reason [200];
    if (nd_stage_option_duration (stage, "telegram-poll", "25s", &poll))
        return -1;
    if (poll < 1000 || poll > 60000)
        return nd_stage_config_error (stage, "telegram-poll", "between 1s and 60s");
    char fallback [32];
    snprintf (fallback, sizeof fallback, "%llds", (long long) (poll / 1000 + 10));
    if (nd_stage_option_duration (stage, "telegram-timeout", fallback, &timeout))
        return -1;
    if (!chat || !*chat || strspn (chat + (chat [0] == '-'), "0123456789") != strlen (chat + (chat [0] == '-')))
        return nd_stage_config_error (stage, "telegram-chat", "want the operators' chat id (a number)");
    if (strncmp (api, "https://", 8) && strncmp (api, "http://", 7))
        return nd_stage_config_error (stage, "telegram-api", "not an http(s):// URL");
    char *secret = token ? nd_secret_load (token, false, reason, sizeof reason) : NULL;
    if (!secret)
        return nd_stage_config_error (stage, "telegram-token", token ? reason : "want env:NAME or file:PATH");
    self->base = zsys_sprintf ("%s%sbot%s", api, api [strlen (api) - 1] == '/' ? "" : "/", secret);
    OPENSSL_cleanse (secret, strlen (secret));
    free (secret);
    self->chat = strdup (chat);
    self->poll_s = poll / 1000;
    self->timeout_ms = timeout;
    if (operators) {
        char *copy = strdup (operators), *save = NULL;
        size_t count = 0;
        self->operators = (char **) zmalloc ((strlen (operators) / 2 + 2) * sizeof (char *));
        for (char *op = strtok_r (copy, ", ", &save); op; op = strtok_r (NULL, ", ", &save))
            self->operators [count++] = strdup (op);
        free (copy);
    }
    return 0;
}

static void *s_create (nd_stage_t *stage, nd_inbox_t *inbox, uint64_t cursor)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    s_telegram_t *self = (s_telegram_t *) zmalloc (sizeof *self);
    self->stage = stage;
    self->inbox = inbox;
    self->cursor = cursor;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (s_options (self, stage)) {
        void *gone = self;
        s_destroy (&gone);
        return NULL;
    }
    pthread_create (&self->sender, NULL, s_sender, self);
    pthread_create (&self->poller, NULL, s_poller, self);
    self->started = true;
    nd_log ("telegram: operators' chat %s, long polls of %llds", self->chat,
            (long long) self->poll_s);
    return self;
}

static void s_deliver (void *self_, uint64_t number, const char *conversation, const char *text)
{
    (void) conversation;
    s_queue ((s_telegram_t *) self_, number, text);
}

const chat_channel_t chat_telegram_channel = {
    .name = "telegram",
    .durable = true,
    .create = s_create,
    .deliver = s_deliver,
    .destroy = s_destroy
};
