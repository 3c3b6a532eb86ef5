/*  seed.c - the identity graph for the collector's router (README
    "Partitioned stages"): when a shop goes from one sessionizer to
    several, the router that starts then must resolve and name people as
    this sessionizer did, or it would give a new visitor an old one's id.
    nd-repartition (--repartition-from 1) writes it; the collector takes
    it when its router starts (collector_route_seed).

    Layer: store: calls visitor.c and the base.                           */
#include <inttypes.h>
#include <string.h>
#include "seed.h"
#include "nd_json.h"
#include "visitor.h"

static int s_line (FILE *out, json_t *line)
{
    int rc = line && json_dumpf (line, out, JSON_COMPACT) == 0 && fputc ('\n', out) != EOF ? 0 : -1;
    json_decref (line);
    return rc;
}

static int s_visitor (const MDB_val *key, const MDB_val *data, void *arg)
{
    (void) data;
    void **args = (void **) arg;
    const char *id = (const char *) key->mv_data;
    if (key->mv_size == 0 || key->mv_size > VISITOR_ID_MAX || id [key->mv_size - 1])
        return 0;
    visitor_t *visitor = visitor_load_one ((sessionizer_t *) args [0], (MDB_txn *) args [1], id);
    if (!visitor)
        return -1;
    int rc = s_line ((FILE *) args [2], json_pack ("{s:s, s:s, s:s}", "visitor", id,
                     "userId", visitor->user_id ? visitor->user_id : "",
                     "mergedInto", visitor->merged_into ? visitor->merged_into : ""));
    visitor_destroy (&visitor);
    return rc;
}

static int s_id (const MDB_val *key, const MDB_val *data, void *out)
{
    const char *id = (const char *) key->mv_data + 1;
    const char *visitor = (const char *) data->mv_data;
    if (key->mv_size < 3 || id [key->mv_size - 2] || data->mv_size < 2
    ||  visitor [data->mv_size - 1])
        return 0;
    char kind [2] = { *(const char *) key->mv_data, 0 };
    return s_line ((FILE *) out, json_pack ("{s:s, s:s, s:s}", "kind", kind, "id", id,
                                           "visitor", visitor));
}

int sessionizer_seed_write (sessionizer_t *self, MDB_txn *txn, FILE *out)
{
    nd_key_t key, all;
    nd_key_init (&key);
    nd_key_str (&key, "next-visitor");
    nd_key_init (&all);
    uint64_t next = 0;
    void *args [3] = { self, txn, out };
    if (nd_db_get_u64 (txn, self->counters, &key, &next) < 0
    ||  s_line (out, json_pack ("{s:I}", "next", (json_int_t) next))
    ||  nd_db_scan (txn, self->visitors, &all, s_visitor, args)
    ||  nd_db_scan (txn, self->ids, &all, s_id, out))
        return -1;
    return fflush (out) == 0 ? 0 : -1;
}
