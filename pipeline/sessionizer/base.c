/*  base.c - how the sessionizer's outputs are made and counted, and the
    key every visitor's records share.

    Layer: base: calls nothing of the sessionizer's (base.h).            */
#include <stdio.h>
#include "base.h"

void visitor_key (nd_key_t *key, const char *id)
{
    nd_key_init (key);
    nd_key_str (key, id);
}
json_t *sessionizer_body (const char *id, const char *visitor, int64_t time)
{
    char text [32];
    json_t *body = json_object ();
    if (id)
        json_object_set_new (body, "id", json_string (id));
    json_object_set_new (body, "user", json_string (visitor));
    json_object_set_new (body, "time", json_string (nd_time_format (time, text)));
    json_object_set_new (body, "visitor", json_string (visitor));
    return body;
}

//  Takes body; an id left out is made by nd_emit from the journal's seq.
int sessionizer_emit (sessionizer_t *self, MDB_txn *txn, const char *topic, json_t *body)
{
    int rc = body ? nd_emit (self->stage, txn, topic, body) : -1;
    json_decref (body);
    return rc;
}

void sessionizer_count (sessionizer_t *self, counter_t counter)
{
    self->delta [counter]++;
}

int64_t record_int (const json_t *record, const char *field)
{
    return json_integer_value (json_object_get (record, field));
}
void record_add (json_t *record, const char *field, int64_t delta)
{
    json_object_set_new (record, field, json_integer (record_int (record, field) + delta));
}
