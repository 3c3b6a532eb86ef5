/*  nd_stage_options - the stage's options and accessors, and a stage made
    of its options alone (nd_stage_options_new, for tools).

    Layer: runtime, the skeleton's bottom (nd_stage.c): these read the
    struct and the pipeline file and call nothing else of the skeleton, so
    every other part, and every stage, can use them.                       */
#include "nd_private.h"

int nd_stage_partition (nd_stage_t *stage, int *parts)
{
    int part = nd_config_partition (stage->config, parts);
    return part < 0 ? 0 : part;
}

const nd_stage_def_t *nd_stage_def (nd_stage_t *stage)
{
    return stage->def;
}

void *nd_stage_self (nd_stage_t *stage)
{
    return stage->self;
}

nd_config_t *nd_stage_config (nd_stage_t *stage)
{
    return stage->config;
}

const char *nd_stage_name (nd_stage_t *stage) { return stage->name; }
nd_clock_t *nd_stage_clock (nd_stage_t *stage) { return stage->clock; }
int64_t nd_stage_now (nd_stage_t *stage) { return nd_clock_now (stage->clock); }
MDB_env *nd_stage_env (nd_stage_t *stage) { return stage->env; }
void *nd_stage_args (nd_stage_t *stage) { return stage->def->args; }

bool nd_stage_curve_serve (nd_stage_t *stage, void *socket)
{
    nd_curve_serve (stage->curve, socket);
    return stage->curve != NULL;
}

void nd_stage_busy_when (nd_stage_t *stage, bool (*busy) (void *arg), void *arg)
{
    stage->busy = busy;
    stage->busy_arg = arg;
}

void nd_stage_wake (nd_stage_t *stage)
{
    if (write (stage->wake [1], "w", 1) < 0 && errno != EAGAIN)
        nd_log ("cannot wake the loop: %s", strerror (errno));
}

const char *nd_stage_option (nd_stage_t *stage, const char *path, const char *fallback)
{
    return nd_config_get (stage->config, path, fallback);
}

int nd_stage_option_duration (nd_stage_t *stage, const char *path, const char *fallback, int64_t *ms)
{
    if (nd_duration_parse (nd_config_get (stage->config, path, fallback), ms))
        return nd_config_error (stage->config, path, "not a duration such as 30m, 24h or 7d");
    return 0;
}

int nd_stage_option_int (nd_stage_t *stage, const char *path, const char *fallback, int64_t *value)
{
    const char *text = nd_config_get (stage->config, path, fallback);
    char *end;
    errno = 0;
    long long number = text ? strtoll (text, &end, 10) : 0;
    if (!text || end == text || *end || errno)
        return nd_config_error (stage->config, path, "not a whole number");
    *value = number;
    return 0;
}

bool nd_stage_syncs (nd_stage_t *stage)
{
    const char *sync = nd_config_get (stage->config, "sync", "1");
    return !sync || !streq (sync, "0");
}

const char **nd_stage_option_list (nd_stage_t *stage, const char *path, const char *child)
{
    return nd_config_list (stage->config, path, child);
}

int nd_stage_config_error (nd_stage_t *stage, const char *path, const char *reason)
{
    return nd_config_error (stage->config, path, reason);
}

int nd_stage_config_refused (nd_stage_t *stage)
{
    nd_config_refused (stage->config);
    return -1;
}

const char *nd_stage_option_nth (nd_stage_t *stage, const char *path, const char *child,
                                 size_t nth, const char *sub, const char **sub_value)
{
    return nd_config_nth (stage->config, path, child, nth, sub, sub_value);
}

int nd_stage_config_error_nth (nd_stage_t *stage, const char *path, size_t nth,
                               const char *reason)
{
    return nd_config_error_nth (stage->config, path, nth, reason);
}

/* ------------------------------------------------------ options alone -- */

nd_stage_t *nd_stage_options_new (const char *config_file, const char *name)
{
    nd_config_t *config = nd_config_load (config_file, name, false);
    if (!config)
        return NULL;
    nd_stage_t *stage = (nd_stage_t *) zmalloc (sizeof *stage);
    stage->name = strdup (name);
    stage->config_file = strdup (config_file);
    stage->config = config;
    stage->clock = nd_clock_new (false);
    stage->wake [0] = stage->wake [1] = -1;
    return stage;
}

void nd_stage_options_destroy (nd_stage_t **self_p)
{
    nd_stage_t *stage = *self_p;
    if (stage) {
        nd_config_destroy (&stage->config);
        nd_clock_destroy (&stage->clock);
        free (stage->name);
        free (stage->config_file);
        free (stage);
        *self_p = NULL;
    }
}
