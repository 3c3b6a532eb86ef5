/*  render - the step, its channels and the data nd-render renders with;
    see render.h. Reads the pipeline file, the journey's file and, for
    --person, the scheduler's state (read-only, as nd-codes does).     */
#include <dirent.h>
#include <sysexits.h>
#include <czmq.h>
#include "nd.h"
#include "nd_templates.h"
#include "nd_state.h"
#include "render.h"

//  The sample a step renders with when no data is given: a trigger's
//  data as the scheduler gets it (an abandoned cart of two articles, two
//  products, a code, a product back in stock or cheaper, and two that go
//  with them as the sessionizer recommends) and a person, made into a send order's data as the
//  scheduler makes it (nd_templates_context). The shop comes from the
//  pipeline file.
static const char *s_sample =
    "{\"cart\": {\"currency\": \"EUR\", \"value\": 59.8, \"items\": ["
    "   {\"product_id\": \"sku-1\", \"name\": \"Trail running shoes\", \"quantity\": 1, \"price\": 49.9,"
    "    \"url\": \"https://shop.example/p/sku-1\", \"image_url\": \"https://shop.example/i/sku-1.jpg\"},"
    "   {\"product_id\": \"sku-2\", \"name\": \"Merino socks\", \"quantity\": 2, \"price\": 4.95,"
    "    \"url\": \"https://shop.example/p/sku-2\", \"image_url\": \"https://shop.example/i/sku-2.jpg\"}]},"
    " \"products\": ["
    "   {\"product_id\": \"sku-3\", \"name\": \"Rain jacket\", \"price\": 89,"
    "    \"url\": \"https://shop.example/p/sku-3\", \"image_url\": \"https://shop.example/i/sku-3.jpg\"},"
    "   {\"product_id\": \"sku-4\", \"name\": \"Running cap\", \"price\": 15,"
    "    \"url\": \"https://shop.example/p/sku-4\", \"image_url\": \"https://shop.example/i/sku-4.jpg\"}],"
    " \"currency\": \"EUR\","
    " \"code\": {\"code\": \"CART-7K2Q-9XWD\", \"percent\": 10, \"valid_hours\": 48,"
    "  \"expires\": \"2026-03-05T13:06:00.000Z\", \"expires_local\": \"2026-03-05 13:06\","
    "  \"expires_date\": \"2026-03-05\"},"
    " \"product\": {\"product_id\": \"sku-3\", \"name\": \"Rain jacket\", \"price\": 71.2,"
    "  \"previous_price\": 89, \"currency\": \"EUR\", \"stock\": 4,"
    "  \"url\": \"https://shop.example/p/sku-3\", \"image_url\": \"https://shop.example/i/sku-3.jpg\"},"
    " \"drop_percent\": 20,"
    " \"recommended\": ["
    "   {\"product_id\": \"sku-5\", \"name\": \"Trail gaiters\", \"price\": 24, \"currency\": \"EUR\","
    "    \"url\": \"https://shop.example/p/sku-5\", \"image_url\": \"https://shop.example/i/sku-5.jpg\"},"
    "   {\"product_id\": \"sku-6\", \"name\": \"Insoles\", \"price\": 19.5, \"currency\": \"EUR\","
    "    \"url\": \"https://shop.example/p/sku-6\", \"image_url\": \"https://shop.example/i/sku-6.jpg\"}],"
    " \"order_id\": \"1001\", \"confirm_url\": \"https://shop.example/confirm?t=sample\"}";
static const char *s_sample_traits = "{\"firstName\": \"Anna\", \"lastName\": \"Nowak\"}";

static const char *s_sample_to [][2] = {
    { "email", "\"anna.nowak@example.com\"" }, { "sms", "\"+48600100200\"" },
    { "push", "{\"endpoint\": \"https://push.example/sample\", \"keys\": {}}" },
    { "onsite", "[\"anon-sample\"]" }, { NULL, NULL }
};

/* ------------------------------------------------------------ journey -- */

const char *render_stage_of (nd_pipefile_t *pipefile, const char *program)
{
    for (size_t i = 0; i < nd_pipefile_size (pipefile); i++)
        if (streq (nd_pipefile_program (pipefile, nd_pipefile_stage (pipefile, i)), program))
            return nd_pipefile_stage (pipefile, i);
    return program;
}

//  The journey file whose journey/name is name, loaded; NULL if none.
static zconfig_t *s_journey (const char *dir, const char *name)
{
    DIR *listing = opendir (dir);
    struct dirent *entry;
    zconfig_t *found = NULL;
    while (listing && !found && (entry = readdir (listing))) {
        size_t length = strlen (entry->d_name);
        if (length < 5 || !streq (entry->d_name + length - 4, ".zpl"))
            continue;
        char *path = zsys_sprintf ("%s/%s", dir, entry->d_name), *error = NULL;
        zconfig_t *root = nd_zpl_parse (path, &error);
        const char *value = root ? zconfig_get (root, "journey/name", NULL) : NULL;
        if (value && streq (value, name))
            found = root;
        else
            zconfig_destroy (&root);
        zstr_free (&path);
        free (error);
    }
    if (listing)
        closedir (listing);
    return found;
}

//  The send step named step anywhere under node (a split's variants hold
//  steps of their own). A branch's arm names its steps "<step>.<arm>"
//  (nudge-journey(5)); an unnamed default's keep their names.
static zconfig_t *s_send_step (zconfig_t *node, const char *step)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        const char *arm = zconfig_value (child);
        bool named = (streq (zconfig_name (child), "arm") || streq (zconfig_name (child), "default"))
                  && arm && *arm;
        if (named) {
            size_t length = strlen (step), suffix = strlen (arm);
            if (length <= suffix + 1 || step [length - suffix - 1] != '.'
            ||  !streq (step + length - suffix, arm))
                continue;
            char *send = strndup (step, length - suffix - 1);
            zconfig_t *found = NULL;
            for (zconfig_t *c = zconfig_child (child); c && !found; c = zconfig_next (c))
                if (streq (zconfig_name (c), "send") && zconfig_value (c)
                &&  streq (zconfig_value (c), send))
                    found = c;
            free (send);
            if (found)
                return found;
            continue;
        }
        if (streq (zconfig_name (child), "send") && zconfig_value (child)
        &&  streq (zconfig_value (child), step))
            return child;
        zconfig_t *inner = s_send_step (child, step);
        if (inner)
            return inner;
    }
    return NULL;
}

static int s_step (render_t *self)
{
    const render_args_t *args = self->args;
    const char *scheduler = render_stage_of (self->pipefile, "scheduler");
    const char *dir = nd_pipefile_option (self->pipefile, scheduler, "journeys", "conf/journeys");
    zconfig_t *journey = s_journey (dir, args->journey);
    zconfig_t *send = journey ? s_send_step (zconfig_locate (journey, "journey/steps"), args->step)
                              : NULL;
    if (!send) {
        if (journey)
            fprintf (stderr, "nd-render: journey %s has no send step \"%s\"\n", args->journey,
                     args->step);
        else
            fprintf (stderr, "nd-render: no journey \"%s\" in %s\n", args->journey, dir);
        zconfig_destroy (&journey);
        return -1;
    }
    const char *template = zconfig_get (send, "template", NULL);
    char *id = template ? strdup (template) : zsys_sprintf ("%s/%s", args->journey, args->step);
    self->template = args->variant ? zsys_sprintf ("%s.%s", id, args->variant) : strdup (id);
    free (id);
    self->channel_list = strdup (args->channel ? args->channel
                                 : zconfig_get (send, "channels", "email"));
    size_t count = 0;
    for (char *save = NULL, *name = strtok_r (self->channel_list, ", ", &save);
         name && count < RENDER_CHANNELS_MAX; name = strtok_r (NULL, ", ", &save))
        self->channels [count++] = name;
    self->channels [count] = NULL;
    zconfig_destroy (&journey);
    return 0;
}

/* --------------------------------------------------------------- data -- */

static int s_data_file (render_t *self, const char *path)
{
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    if (!json_is_object (root)) {
        fprintf (stderr, "nd-render: %s:%d: %s\n", path, error.line,
                 root ? "not a JSON object" : error.text);
        json_decref (root);
        return -1;
    }
    //  A line of tap's: the send order is its body
    if (json_is_string (json_object_get (root, "topic")) && json_is_object (json_object_get (root, "body"))) {
        json_t *body = json_incref (json_object_get (root, "body"));
        json_decref (root);
        root = body;
    }
    //  A whole send order: its data, and the locale it was for
    json_t *data = json_object_get (root, "data");
    if (json_is_object (data) && json_object_get (root, "template")) {
        const char *locale = json_string_value (json_object_get (root, "locale"));
        const char *user = json_string_value (json_object_get (root, "user"));
        if (locale && *locale && !self->locale)
            self->locale = strdup (locale);
        if (user && *user)
            self->user = strdup (user);
        self->data = json_incref (data);
        self->order = root;
    }
    else
        self->data = root;
    return 0;
}

//  The person as the scheduler knows them (name, locale, contacts) and
//  the data of their latest instance of the journey (the cart).
static int s_data_person (render_t *self, const char *user)
{
    const char *scheduler = render_stage_of (self->pipefile, "scheduler");
    char *error = NULL;
    nd_state_t *state = nd_state_open (self->args->tool.config, scheduler, NULL, &error);
    MDB_dbi people, instances;
    if (!state || nd_state_dbi (state, "people", &people, &error)
    ||  nd_state_dbi (state, "instances", &instances, &error)) {
        fprintf (stderr, "nd-render: %s\n", error ? error : "cannot read the scheduler's state");
        free (error);
        nd_state_destroy (&state);
        return -1;
    }
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, user);
    json_t *person = NULL;
    if (nd_db_get_json (nd_state_txn (state), people, &key, &person)) {
        fprintf (stderr, "nd-render: the scheduler knows no person \"%s\"\n", user);
        nd_state_destroy (&state);
        return -1;
    }
    //  The newest instance of this journey for them (a scan: a tool's
    //  pace, not the stage's)
    json_t *latest = NULL;
    MDB_cursor *cursor;
    MDB_val k, v;
    if (mdb_cursor_open (nd_state_txn (state), instances, &cursor) == 0) {
        for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
            json_t *record = json_loadb (v.mv_data, v.mv_size, 0, NULL);
            const char *of = json_string_value (json_object_get (record, "user"));
            const char *journey = json_string_value (json_object_get (record, "journey"));
            if (of && journey && streq (of, user) && streq (journey, self->args->journey)
            &&  (!latest || json_integer_value (json_object_get (record, "entered"))
                            >= json_integer_value (json_object_get (latest, "entered")))) {
                json_decref (latest);
                latest = json_incref (record);
            }
            json_decref (record);
        }
        mdb_cursor_close (cursor);
    }
    json_t *traits = json_object_get (person, "traits");
    self->data = json_deep_copy (json_object_get (latest, "data"));
    if (!json_is_object (self->data)) {
        json_decref (self->data);
        self->data = json_object ();
    }
    const char *locale = json_string_value (json_object_get (traits, "locale"));
    nd_templates_context (NULL, self->data, traits, self->locale ? self->locale : locale);
    //  The code this step gave them, if it has run
    json_t *sent = json_object_get (json_object_get (latest, "sends"), self->args->step);
    if (json_object_get (sent, "code"))
        json_object_set (self->data, "code", json_object_get (sent, "code"));
    nd_templates_dates (NULL, self->data, self->locale ? self->locale : locale,
                        json_string_value (json_object_get (traits, "timezone")));
    if (locale && !self->locale)
        self->locale = strdup (locale);
    self->user = strdup (user);
    self->traits = json_incref (traits);
    json_decref (latest);
    json_decref (person);
    nd_state_destroy (&state);
    return 0;
}

static void s_shop (render_t *self)
{
    const char *scheduler = render_stage_of (self->pipefile, "scheduler");
    json_object_set_new (self->data, "shop", json_pack ("{s:s, s:s}",
        "name", nd_pipefile_option (self->pipefile, scheduler, "shop-name", ""),
        "url", nd_pipefile_option (self->pipefile, scheduler, "shop-url", "")));
}

/* ------------------------------------------------------------- render -- */

render_t *render_new (const render_args_t *args, int *status)
{
    *status = 1;
    render_t *self = (render_t *) zmalloc (sizeof *self);
    self->args = args;
    self->now = zclock_time ();
    self->locale = args->locale ? strdup (args->locale) : NULL;
    char *error = NULL;
    self->pipefile = nd_pipefile_load (args->tool.config, &error);
    int rc = self->pipefile ? s_step (self) : -1;
    if (!self->pipefile) {
        fprintf (stderr, "nd-render: %s\n", error);
        *status = EX_CONFIG;
    }
    free (error);
    if (rc == 0 && args->data)
        rc = s_data_file (self, args->data);
    else
    if (rc == 0 && args->person)
        rc = s_data_person (self, args->person);
    else
    if (rc == 0) {
        self->data = json_loads (s_sample, 0, NULL);
        json_t *traits = json_loads (s_sample_traits, 0, NULL);
        nd_templates_context (NULL, self->data, traits, self->locale);
        nd_templates_dates (NULL, self->data, self->locale, NULL);
        json_decref (traits);
    }
    if (rc == 0 && !json_object_get (self->data, "shop"))
        s_shop (self);

    if (rc)
        render_destroy (&self);
    return self;
}

void render_destroy (render_t **self_p)
{
    render_t *self = *self_p;
    if (self) {
        nd_pipefile_destroy (&self->pipefile);
        free (self->template);
        free (self->channel_list);
        json_decref (self->data);
        json_decref (self->traits);
        json_decref (self->order);
        free (self->locale);
        free (self->user);
        free (self);
        *self_p = NULL;
    }
}

bool render_has_channel (render_t *self, const char *channel)
{
    for (size_t i = 0; self->channels [i]; i++)
        if (streq (self->channels [i], channel))
            return true;
    return false;
}

json_t *render_order (render_t *self, const char *channel)
{
    char key [300];
    snprintf (key, sizeof key, "nd-render/%s/%s/%s", self->args->journey, self->args->step, channel);
    //  The person's own address, else a sample's
    const char *own = streq (channel, "email") ? "email" : streq (channel, "sms") ? "phone"
                    : streq (channel, "push") ? "push_subscription" : NULL;
    json_t *to = own ? json_incref (json_object_get (self->traits, own)) : NULL;
    const char *ordered = json_string_value (json_object_get (self->order, "channel"));
    if (!to && ordered && streq (ordered, channel))
        to = json_incref (json_object_get (self->order, "to"));
    for (int i = 0; !to && s_sample_to [i][0]; i++)
        if (streq (s_sample_to [i][0], channel))
            to = json_loads (s_sample_to [i][1], JSON_DECODE_ANY, NULL);
    if (!to)
        to = json_string ("");
    const char *name = json_string_value (json_object_get (self->data, "name"));
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:O, s:s}",
        "user", self->user ? self->user : "nd-render", "idempotency_key", key,
        "journey", self->args->journey, "step", self->args->step, "channel", channel,
        "template", self->template, "to", to, "data", self->data, "name", name ? name : "");
    if (self->args->variant)
        json_object_set_new (order, "variant", json_string (self->args->variant));
    if (self->locale)
        json_object_set_new (order, "locale", json_string (self->locale));
    return order;
}
