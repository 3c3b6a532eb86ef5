/*  render.h - what nd-render renders: the step, its channels, the data.

    render_new finds the journey in the scheduler's journeys directory
    (the pipeline file's "journeys"), its send step and the template id
    and channels the step names, and the data a send order of that step
    would carry; render_order makes the send order for one channel.     */
#ifndef RENDER_H_INCLUDED
#define RENDER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "nd_pipefile.h"
#include "nd_tool.h"

typedef struct {
    nd_tool_args_t tool;        //  -c
    const char *journey, *step;
    const char *data;           //  FILE
    const char *person;         //  ID
    const char *locale;
    const char *channel;
    const char *variant;
    const char *send_test;      //  ADDRESS
    const char *mustache;       //  TEMPLATE
} render_args_t;

#define RENDER_CHANNELS_MAX 8

typedef struct {
    const render_args_t *args;
    nd_pipefile_t *pipefile;
    char *template;             //  the step's template id, with the variant
    const char *channels [RENDER_CHANNELS_MAX + 1];     //  NULL-terminated
    char *channel_list;         //  what channels [] points into
    json_t *data;               //  the order's "data"
    char *locale;               //  the person's, or NULL: the senders' default
    char *user;
    json_t *traits;             //  --person: theirs (email, phone), else NULL
    json_t *order;              //  --data with a whole send order: it, else NULL
    int64_t now;
} render_t;

/*  The section the pipeline file runs program in ("mail-sender" unless
    another section names it as its program).                            */
const char *render_stage_of (nd_pipefile_t *pipefile, const char *program);
/*  NULL after printing "nd-render: reason" on stderr, with *status the
    exit status: EX_CONFIG for a pipeline file that does not load, else 1. */
render_t *render_new (const render_args_t *args, int *status);
void render_destroy (render_t **self_p);
bool render_has_channel (render_t *self, const char *channel);
/*  The send order of channel, as the scheduler would emit it. Caller's. */
json_t *render_order (render_t *self, const char *channel);

#endif
