/*  nd_state - a stage's LMDB state, opened read-only by a tool.
    See nd_state.h.                                                       */
#include <czmq.h>
#include "nd.h"
#include "nd_pipefile.h"
#include "nd_state.h"

struct _nd_state_t {
    char *dir;
    int clock;                  //  1 event, 0 wall, -1 not said (no pipeline file)
    MDB_env *env;
    MDB_txn *txn;
};

static char *s_dir (const char *config, const char *stage, int *clock, char **error)
{
    nd_pipefile_t *file = nd_pipefile_load (config, error);
    if (!file)
        return NULL;
    char *dir = NULL;
    if (nd_pipefile_has (file, stage)) {
        dir = nd_pipefile_state_dir (file, stage);
        *clock = streq (nd_pipefile_option (file, stage, "clock", "wall"), "event");
    }
    else
        *error = zsys_sprintf ("%s: no stage '%s'", config, stage);
    nd_pipefile_destroy (&file);
    return dir;
}

//  A partition's section is found through the pipeline file's own reader
//  (nd_pipefile_section_name), never by cutting the name at its dot: a
//  stage may be named "a.b" without being partitioned.
zlist_t *nd_state_stages (const char *config, const char *name, char **error)
{
    nd_pipefile_t *file = nd_pipefile_load (config, error);
    if (!file)
        return NULL;
    zlist_t *stages = zlist_new ();
    zlist_autofree (stages);
    if (nd_pipefile_has (file, name))
        zlist_append (stages, (void *) name);
    else
        for (size_t i = 0; i < nd_pipefile_size (file); i++) {
            const char *stage = nd_pipefile_stage (file, i);
            int parts;
            if (nd_pipefile_partition (file, stage, &parts) >= 0
            &&  streq (nd_pipefile_section_name (file, stage), name))
                zlist_append (stages, (void *) stage);
        }
    if (zlist_size (stages) == 0) {
        *error = zsys_sprintf ("%s: no stage or section '%s'", config, name);
        zlist_destroy (&stages);
    }
    nd_pipefile_destroy (&file);
    return stages;
}

nd_state_t *nd_state_open (const char *config, const char *stage, const char *dir,
                           char **error)
{
    nd_state_t *self = (nd_state_t *) zmalloc (sizeof *self);
    self->clock = -1;
    self->dir = dir ? strdup (dir) : s_dir (config, stage, &self->clock, error);
    int rc = self->dir ? mdb_env_create (&self->env) : -1;
    if (rc == 0) {
        mdb_env_set_maxdbs (self->env, 64);
        //  Without write access to lock.mdb a reader cannot register; the
        //  stage is then not running or not ours to disturb: read unlocked.
        rc = mdb_env_open (self->env, self->dir, MDB_RDONLY | MDB_NOTLS, 0644);
        if (rc == EACCES)
            rc = mdb_env_open (self->env, self->dir, MDB_RDONLY | MDB_NOLOCK, 0644);
        if (rc == 0)
            rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &self->txn);
        if (rc)
            *error = zsys_sprintf ("%s: cannot read state: %s", self->dir, mdb_strerror (rc));
    }
    if (rc)
        nd_state_destroy (&self);
    return self;
}

void nd_state_destroy (nd_state_t **self_p)
{
    nd_state_t *self = *self_p;
    if (self) {
        if (self->txn)
            mdb_txn_abort (self->txn);
        if (self->env)
            mdb_env_close (self->env);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

MDB_txn *nd_state_txn (nd_state_t *self)
{
    return self->txn;
}

int nd_state_dbi (nd_state_t *self, const char *name, MDB_dbi *dbi, char **error)
{
    int rc = mdb_dbi_open (self->txn, name, 0, dbi);
    if (rc) {
        *error = zsys_sprintf ("%s: no '%s' database here: %s", self->dir, name,
                               rc == MDB_NOTFOUND ? "is this the right stage?" : mdb_strerror (rc));
        return -1;
    }
    return 0;
}

const char *nd_state_dir (nd_state_t *self)
{
    return self->dir;
}

int64_t nd_state_now (nd_state_t *self, bool *event)
{
    //  The runtime keeps a stage's event time under "clock" in its meta
    MDB_dbi meta;
    nd_key_t key;
    nd_key_init (&key);
    nd_key_str (&key, "clock");
    uint64_t saved = 0;
    bool found = self->clock != 0 && mdb_dbi_open (self->txn, "meta", 0, &meta) == 0
              && nd_db_get_u64 (self->txn, meta, &key, &saved) == 0;
    *event = self->clock == 1 || found;
    return found ? (int64_t) saved : *event ? 0 : nd_wall_ms ();
}
