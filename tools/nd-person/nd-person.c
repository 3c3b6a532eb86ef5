/*  nd-person - one person's record across the pipeline: look, export, erase.

    NAME
        nd-person - everything nudge holds about a person; their export;
        their erasure

    SYNOPSIS
        nd-person [-c CONFIG] [--json] ID|EMAIL|PHONE
        nd-person [-c CONFIG] --export ID|EMAIL|PHONE
        nd-person [-c CONFIG] --erase ID|EMAIL|PHONE

    DESCRIPTION
        Finds the person in the sessionizer's state (read-only, while the
        stages run): by visitor id ("v-12"), userId, anonymousId, or the
        e-mail address or phone number of their profile. Then reads every
        stage's state named in the pipeline file and prints each record
        that names the person (the visitor id, one of their ids, their
        address or phone, as a whole word), stage by stage and database by
        database: identities, profile and cart (sessionizer), segments
        (segmenter), journeys with their next step and its time, messages
        and codes (scheduler), queued and settled messages (senders),
        chats (chat-bridge), on-site messages (onsite), and events still
        on their way in a link's journal.

        --json and --export print the same as one JSON document (GDPR
        art. 15 and 20): {"person": {"visitor", "ids", "email", "phone",
        "phone_invalid"? ({"reason", "given"}: a number the sessionizer
        could not make E.164; the text output prints it as "phone
        invalid: REASON")},
        "stages": {STAGE: {DATABASE: [{"key", "value"}]}}}; a value that
        is JSON is given as JSON, other bytes as text with \xNN escapes.

        --erase asks the collector (its /v1/erase, with the first of its
        write-keys) to erase the person: person.erase goes into the
        pipeline like any event, and every stage deletes what it keeps for
        them as it arrives (README "Privacy").

        Partitioned stages (README "Partitioned stages"): the person is
        looked up in every partition of the sessionizer; a stage
        partitioned as the sessionizer is read in the partition that holds
        them (segmenter.1 reads sessionizer.1), and is shown under that
        partition's name; another partitioned stage is read in each
        partition, and each that names the person is shown. person.erase
        names a visitor id and reaches the partition that owns it; as a
        safeguard, --erase is refused while that id is held in more than
        one partition (state from before the collector's router made the
        ids one pipeline's): each would erase its own person.

    EXIT STATUS
        0 found (or erasure accepted), 1 no such person, 2 state error or
        erasure refused, 64 usage.                                                          */
#include <ctype.h>
#include <czmq.h>
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include "nd.h"
#include "nd_token.h"
#include "nd_pipefile.h"
#include "nd_state.h"
#include "nd_tool.h"

typedef struct {
    nd_tool_args_t tool;        //  -c
    const char *who;
    bool json, erase;
} person_args_t;

//  What identifies the person in a record: each as a whole word.
typedef struct {
    char visitor [64];
    json_t *words;              //  array of strings
    json_t *profile;            //  the sessionizer's, or NULL
    int part, parts;            //  the sessionizer's partition holding them, -1 none; of parts
} person_t;

static const char *s_usage =
    "usage: nd-person [-c CONFIG] [--json | --export | --erase] ID|EMAIL|PHONE\n"
    "Prints everything the pipeline holds about one person, exports it as JSON,\n"
    "or asks for its erasure.\n"
    "  -c, --config FILE   pipeline file (default conf/pipeline.zpl)\n"
    "      --json          one JSON document (as --export)\n"
    "      --export        the person's data as JSON (GDPR art. 15/20)\n"
    "      --erase         erase the person from every stage\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "Exit status: 0 found, 1 no such person, 2 error, 64 usage. See nd-person(1).\n";

/* ------------------------------------------------------------- finding */

static bool s_word_char (char c)
{
    return isalnum ((unsigned char) c) || c == '-' || c == '_' || c == '.' || c == '@' || c == '+';
}

//  Whether word occurs in data with no word character either side.
static bool s_names (const char *data, size_t size, const char *word)
{
    size_t length = strlen (word);
    for (size_t at = 0; length && at + length <= size; at++)
        if (strncasecmp (data + at, word, length) == 0
        &&  (at == 0 || !s_word_char (data [at - 1]))
        &&  (at + length == size || !s_word_char (data [at + length])))
            return true;
    return false;
}

static bool s_names_any (const MDB_val *val, const json_t *words)
{
    size_t index;
    json_t *word;
    json_array_foreach (words, index, word)
        if (s_names ((const char *) val->mv_data, val->mv_size, json_string_value (word)))
            return true;
    return false;
}

static void s_add_word (json_t *words, const char *word)
{
    if (!word || strlen (word) < 2)
        return;
    size_t index;
    json_t *have;
    json_array_foreach (words, index, have)
        if (strcasecmp (json_string_value (have), word) == 0)
            return;
    json_array_append_new (words, json_string (word));
}

static bool s_id_lookup (MDB_txn *txn, MDB_dbi ids, char kind, const char *id, char *visitor)
{
    nd_key_t key;
    nd_key_init (&key);
    nd_key_u8 (&key, (uint8_t) kind);
    nd_key_str (&key, id);
    MDB_val k = nd_key_val (&key), v;
    if (mdb_get (txn, ids, &k, &v) || v.mv_size == 0 || v.mv_size > 63)
        return false;
    memcpy (visitor, v.mv_data, v.mv_size);
    visitor [v.mv_size - 1] = 0;
    return true;
}

static bool s_trait_is (const json_t *profile, const char *name, const char *value)
{
    const char *have = json_string_value (json_object_get (json_object_get (profile, "traits"),
                                                           name));
    return have && strcasecmp (have, value) == 0;
}

//  Finds who (an id, an address or a phone) among the sessionizer's
//  visitors: 0, or 1 when nobody is.
static int s_find (nd_state_t *state, const char *who, person_t *person, char **error)
{
    MDB_txn *txn = nd_state_txn (state);
    MDB_dbi ids, profiles;
    if (nd_state_dbi (state, "ids", &ids, error) || nd_state_dbi (state, "profiles", &profiles, error))
        return -1;
    char visitor [64] = "";
    if (!s_id_lookup (txn, ids, 'u', who, visitor) && !s_id_lookup (txn, ids, 'a', who, visitor)) {
        MDB_cursor *cursor;
        MDB_val k, v;
        if (mdb_cursor_open (txn, profiles, &cursor))
            return -1;
        for (int rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0 && !*visitor;
             rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
            bool visitor_id = k.mv_size == strlen (who) + 1 && memcmp (k.mv_data, who, k.mv_size) == 0;
            json_t *profile = visitor_id ? NULL : json_loadb (v.mv_data, v.mv_size, 0, NULL);
            if (visitor_id || s_trait_is (profile, "email", who) || s_trait_is (profile, "phone", who))
                snprintf (visitor, sizeof visitor, "%.*s", (int) k.mv_size, (const char *) k.mv_data);
            json_decref (profile);
        }
        mdb_cursor_close (cursor);
    }
    if (!*visitor)
        return 1;
    snprintf (person->visitor, sizeof person->visitor, "%s", visitor);
    person->words = json_array ();
    s_add_word (person->words, visitor);
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, visitor);
    MDB_val k = nd_key_val (&key), v;
    if (mdb_get (txn, profiles, &k, &v) == 0)
        person->profile = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    const char *lists [] = { "userIds", "anonymousIds", NULL };
    for (int i = 0; lists [i]; i++) {
        size_t index;
        json_t *id;
        json_array_foreach (json_object_get (person->profile, lists [i]), index, id)
            s_add_word (person->words, json_string_value (id));
    }
    json_t *traits = json_object_get (person->profile, "traits");
    s_add_word (person->words, json_string_value (json_object_get (traits, "email")));
    s_add_word (person->words, json_string_value (json_object_get (traits, "phone")));
    return 0;
}

static void s_person_free (person_t *person)
{
    json_decref (person->words);
    json_decref (person->profile);
    person->words = person->profile = NULL;
}

//  Finds who in each of the sessionizer's partitions (or in the one
//  sessionizer): the first that knows them into person, and every
//  sessionizer stage that does into where. 0, 1 when none, -1 on error.
static int s_locate (const char *config, nd_pipefile_t *file, const char *who, person_t *person,
                     zlist_t *where, char **error)
{
    zlist_autofree (where);     //  the names outlive stages
    zlist_t *stages = nd_state_stages (config, "sessionizer", error);
    int rc = stages ? 1 : -1;
    for (const char *stage = stages ? (const char *) zlist_first (stages) : NULL; stage && rc >= 0;
         stage = (const char *) zlist_next (stages)) {
        nd_state_t *state = nd_state_open (config, stage, NULL, error);
        person_t found = { "", NULL, NULL, -1, 1 };
        int here = state ? s_find (state, who, &found, error) : -1;
        nd_state_destroy (&state);
        if (here == 0 && rc == 1) {
            found.part = nd_pipefile_partition (file, stage, &found.parts);
            *person = found;
            rc = 0;
        }
        else
            s_person_free (&found);
        if (here == 0)
            zlist_append (where, (void *) stage);
        if (here < 0)
            rc = -1;
    }
    zlist_destroy (&stages);
    return rc;
}

/* ------------------------------------------------------------ reading */

//  A stored value as JSON when it is, else as text with \xNN escapes.
static json_t *s_value (const MDB_val *val)
{
    json_t *json = json_loadb ((const char *) val->mv_data, val->mv_size, JSON_DECODE_ANY, NULL);
    if (json)
        return json;
    const unsigned char *data = (const unsigned char *) val->mv_data;
    char *text = (char *) malloc (val->mv_size * 4 + 1), *out = text;
    for (size_t i = 0; i < val->mv_size; i++)
        if (data [i] >= 0x20 && data [i] < 0x7f && data [i] != '\\')
            *out++ = (char) data [i];
        else
        if (data [i] == 0 && i + 1 == val->mv_size)
            ;                   //  a key's trailing NUL says nothing
        else
            out += sprintf (out, "\\x%02x", data [i]);
    *out = 0;
    json = json_string (text);
    free (text);
    return json ? json : json_string ("");
}

//  Every record of every database of stage that names one of words.
static json_t *s_stage_scan (const char *config, const char *stage, const json_t *words)
{
    char *error = NULL;
    nd_state_t *state = nd_state_open (config, stage, NULL, &error);
    if (!state) {
        zstr_free (&error);
        return NULL;
    }
    MDB_txn *txn = nd_state_txn (state);
    json_t *found = json_object ();
    MDB_dbi main;
    MDB_cursor *names;
    MDB_val name, unused;
    if (mdb_dbi_open (txn, NULL, 0, &main) == 0 && mdb_cursor_open (txn, main, &names) == 0) {
        for (int rc = mdb_cursor_get (names, &name, &unused, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get (names, &name, &unused, MDB_NEXT)) {
            char db [128];
            snprintf (db, sizeof db, "%.*s", (int) name.mv_size, (const char *) name.mv_data);
            MDB_dbi dbi;
            MDB_cursor *cursor;
            if (mdb_dbi_open (txn, db, 0, &dbi) || mdb_cursor_open (txn, dbi, &cursor))
                continue;
            json_t *rows = json_array ();
            MDB_val k, v;
            for (int get = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); get == 0;
                 get = mdb_cursor_get (cursor, &k, &v, MDB_NEXT))
                if (s_names_any (&k, words) || s_names_any (&v, words))
                    json_array_append_new (rows, json_pack ("{s:o, s:o}", "key", s_value (&k),
                                                            "value", s_value (&v)));
            mdb_cursor_close (cursor);
            if (json_array_size (rows))
                json_object_set_new (found, db, rows);
            else
                json_decref (rows);
        }
        mdb_cursor_close (names);
    }
    nd_state_destroy (&state);
    return found;
}

//  The waiting journey instances among rows (the scheduler's
//  "instances") into journeys.
static void s_instances (json_t *journeys, const json_t *rows)
{
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row) {
        const json_t *record = json_object_get (row, "value");
        const char *state = json_string_value (json_object_get (record, "state"));
        if (!state || strcmp (state, "waiting"))
            continue;
        char due [32];
        nd_time_format (json_integer_value (json_object_get (record, "due")), due);
        json_array_append_new (journeys, json_pack ("{s:O?, s:O?, s:s, s:O?, s:s}",
            "journey", json_object_get (record, "journey"),
            "variant", json_object_get (record, "variant"), "state", state,
            "next_step", json_object_get (record, "step_name"), "due", due));
    }
}

//  The journeys in progress, from the scheduler's instances (in each
//  partition shown): each with its next step and when it is due.
static json_t *s_journeys (nd_pipefile_t *file, json_t *stages)
{
    json_t *journeys = json_array ();
    const char *stage;
    json_t *records;
    json_object_foreach (stages, stage, records)
        if (streq (nd_pipefile_section_name (file, stage), "scheduler"))
            s_instances (journeys, json_object_get (records, "instances"));
    return journeys;
}

//  What names the person, and what names their conversations (a chat's
//  transcript lines are keyed by the conversation alone).
static json_t *s_stage_records (const char *config, const char *stage, const person_t *person)
{
    json_t *found = s_stage_scan (config, stage, person->words);
    json_t *conversations = json_object_get (found, "conversations");
    if (!json_array_size (conversations))
        return found;
    json_t *words = json_deep_copy (person->words);
    size_t index;
    json_t *row;
    json_array_foreach (conversations, index, row)
        s_add_word (words, json_string_value (json_object_get (row, "key")));
    json_decref (found);
    found = s_stage_scan (config, stage, words);
    json_decref (words);
    return found;
}

//  Whether partition part (of parts) is not the person's: a stage
//  partitioned as the sessionizer holds them in the partition of the
//  same number (segmenter.1 reads sessionizer.1, and moves go along).
static bool s_other_partition (const person_t *person, int part, int parts)
{
    return part >= 0 && person->part >= 0 && parts == person->parts && part != person->part;
}

static json_t *s_report (const char *config, nd_pipefile_t *file, const person_t *person)
{
    json_t *traits = json_object_get (person->profile, "traits");
    json_t *report = json_pack ("{s:{s:s, s:O, s:O*, s:O*}, s:{}}",
        "person", "visitor", person->visitor, "ids", person->words,
        "email", json_object_get (traits, "email"), "phone", json_object_get (traits, "phone"),
        "stages");
    //  A number the sessionizer could not make E.164, and why
    json_t *invalid = json_object_get (traits, "phone_invalid");
    if (json_is_object (invalid))
        json_object_set (json_object_get (report, "person"), "phone_invalid", invalid);
    json_t *stages = json_object_get (report, "stages");
    for (size_t i = 0; i < nd_pipefile_size (file); i++) {
        const char *stage = nd_pipefile_stage (file, i);
        int parts, part = nd_pipefile_partition (file, stage, &parts);
        if (s_other_partition (person, part, parts))
            continue;
        json_t *records = s_stage_records (config, stage, person);
        //  A partition read on the chance it holds them shows only if it does
        if (records && part >= 0 && (person->part < 0 || parts != person->parts)
        &&  json_object_size (records) == 0)
            json_decref (records);
        else
        if (records)
            json_object_set_new (stages, stage, records);
    }
    json_object_set_new (json_object_get (report, "person"), "journeys", s_journeys (file, stages));
    return report;
}

static void s_print_text (const json_t *report)
{
    const json_t *who = json_object_get (report, "person");
    printf ("person %s\n", json_string_value (json_object_get (who, "visitor")));
    const json_t *invalid = json_object_get (who, "phone_invalid");
    if (invalid)
        printf ("  phone invalid: %s (given as \"%s\"); no SMS or WhatsApp until the shop sends a good one\n",
                json_string_value (json_object_get (invalid, "reason")) ?: "?",
                json_string_value (json_object_get (invalid, "given")) ?: "");
    size_t index;
    json_t *journey;
    json_array_foreach (json_object_get (who, "journeys"), index, journey)
        printf ("  journey %s (%s): next step %s at %s\n",
                json_string_value (json_object_get (journey, "journey")),
                json_string_value (json_object_get (journey, "variant")) ?: "",
                json_string_value (json_object_get (journey, "next_step")) ?: "?",
                json_string_value (json_object_get (journey, "due")));
    const char *stage, *db;
    json_t *dbs, *rows;
    json_object_foreach ((json_t *) json_object_get (report, "stages"), stage, dbs) {
        printf ("\n%s\n", stage);
        json_object_foreach (dbs, db, rows) {
            size_t index;
            json_t *row;
            json_array_foreach (rows, index, row) {
                const json_t *key = json_object_get (row, "key");
                const json_t *value = json_object_get (row, "value");
                char *text = json_is_string (value) ? NULL
                           : json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
                printf ("  %s [%s] %s\n", db, json_string_value (key) ?: "",
                        text ? text : json_string_value (value));
                free (text);
            }
        }
    }
}

/* ------------------------------------------------------------- erasing */

static size_t s_discard (char *data, size_t size, size_t count, void *arg)
{
    (void) data;
    (void) arg;
    return size * count;
}

//  POST /v1/erase {"visitor"} to the collector, with its server key.
static int s_erase (nd_pipefile_t *file, const char *visitor)
{
    const char *http = nd_pipefile_option (file, "collector", "http", "127.0.0.1:8080");
    const char *key_option = nd_pipefile_option (file, "collector", "write-keys/key", NULL);
    char reason [200] = "";
    //  As the collector reads it: env:NAME, file:PATH, or the key itself
    bool named = key_option && (strncmp (key_option, "env:", 4) == 0
                             || strncmp (key_option, "file:", 5) == 0);
    char *key = named ? nd_secret_load (key_option, false, reason, sizeof reason)
              : key_option ? strdup (key_option) : NULL;
    if (!key) {
        fprintf (stderr, "nd-person: the collector has no usable write key%s%s\n",
                 *reason ? ": " : "", reason);
        return 2;
    }
    char url [300], body [200];
    snprintf (url, sizeof url, "http://%s/v1/erase", http);
    snprintf (body, sizeof body, "{\"visitor\": \"%s\"}", visitor);
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_USERNAME, key);
    curl_easy_setopt (curl, CURLOPT_PASSWORD, "");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    free (key);
    if (rc != CURLE_OK || status != 200) {
        fprintf (stderr, "nd-person: the collector at %s did not accept the erasure: %s\n", http,
                 rc != CURLE_OK ? curl_easy_strerror (rc) : "HTTP status not 200");
        return 2;
    }
    printf ("erasure of %s accepted: every stage deletes it as it arrives\n", visitor);
    return 0;
}

//  person.erase names a visitor id, and reaches the partition that owns
//  it; ids are the router's, one pipeline's, but state kept from before
//  the router may hold the same id in two partitions, and each would
//  erase its own: refused then. 0, or 2 with the reason on stderr.
static int s_erase_unique (const char *config, nd_pipefile_t *file, const char *visitor)
{
    char *error = NULL;
    person_t other = { "", NULL, NULL, -1, 1 };
    zlist_t *where = zlist_new ();
    int rc = s_locate (config, file, visitor, &other, where, &error);
    s_person_free (&other);
    if (rc < 0)
        fprintf (stderr, "nd-person: %s\n", error ? error : "cannot read the sessionizer's state");
    else
    if (zlist_size (where) > 1) {
        const char *first = (const char *) zlist_first (where);
        const char *second = (const char *) zlist_next (where);
        fprintf (stderr, "nd-person: visitor id %s is held in %zu partitions (%s, %s...): an erasure "
                 "by that id would erase each; refused\n", visitor, zlist_size (where), first, second);
        rc = -1;
    }
    zstr_free (&error);
    zlist_destroy (&where);
    return rc < 0 ? 2 : 0;
}

/* ---------------------------------------------------------------- main */

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int s_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        ND_TOOL_CONFIG, { "json", no_argument, NULL, 'j' }, { "export", no_argument, NULL, 'j' },
        { "erase", no_argument, NULL, 'e' }, ND_TOOL_HELP, { NULL, 0, NULL, 0 } };
    person_args_t *args = (person_args_t *) args_;
    *args = (person_args_t) { { "nd-person", s_usage, "conf/pipeline.zpl", NULL, 0 }, NULL, false,
                              false };
    int option;
    while ((option = getopt_long (argc, argv, "c:h", options, NULL)) != -1) {
        int rc = nd_tool_option (&args->tool, option, optarg);
        if (rc > 0)
            return rc;
        if (option == 'j')
            args->json = true;
        else
        if (option == 'e')
            args->erase = true;
    }
    if (optind != argc - 1 || (args->json && args->erase))
        return nd_tool_usage_error (&args->tool);
    args->who = argv [optind];
    return 0;
}

//  What was asked for the person found: the erasure, or the records.
static int s_act (const person_args_t *args, nd_pipefile_t *file, const person_t *person)
{
    if (args->erase)
        return s_erase_unique (args->tool.config, file, person->visitor)
            ?: s_erase (file, person->visitor);
    json_t *report = s_report (args->tool.config, file, person);
    if (args->json) {
        json_dumpf (report, stdout, JSON_INDENT (2) | JSON_SORT_KEYS);
        putchar ('\n');
    }
    else
        s_print_text (report);
    json_decref (report);
    return 0;
}

int main (int argc, char **argv)
{
    person_args_t args;
    nd_tool_start (argc, argv, "nd-person", s_args, &args);
    char *error = NULL;
    nd_pipefile_t *file = nd_pipefile_load (args.tool.config, &error);
    person_t person = { "", NULL, NULL, -1, 1 };
    zlist_t *where = zlist_new ();
    int rc = file ? s_locate (args.tool.config, file, args.who, &person, where, &error) : -1;
    if (rc < 0)
        fprintf (stderr, "nd-person: %s\n", error ? error : "cannot read the sessionizer's state");
    else
    if (rc == 1)
        fprintf (stderr, "nd-person: no visitor is known as %s\n", args.who);
    else
    if (zlist_size (where) > 1)
        fprintf (stderr, "nd-person: %s is known in %zu partitions of the sessionizer; this is %s's\n",
                 args.who, zlist_size (where), (const char *) zlist_first (where));
    zlist_destroy (&where);
    if (rc == 0)
        rc = s_act (&args, file, &person);
    zstr_free (&error);
    s_person_free (&person);
    nd_pipefile_destroy (&file);
    return rc < 0 ? 2 : rc;
}
