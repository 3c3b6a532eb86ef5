/*  templates.h - which templates exist, per channel and locale.

    Layer: rules; templates.c calls only the base.                      */
#ifndef TEMPLATES_H_INCLUDED
#define TEMPLATES_H_INCLUDED

#include "base.h"

templates_t *templates_new (const char *dir, const char *default_locale);
void templates_destroy (templates_t **self_p);
/*  Checks that id has every part of channel in the default locale and
    that every locale's parts compile. -1 with *error set.               */
int templates_check (templates_t *self, const char *id, channel_t channel, char **error);
/*  Checks "<id>.<variant>" too, when that directory exists.             */
int templates_check_variant (templates_t *self, const char *id, const char *variant,
                             channel_t channel, char **error);
/*  The template to use: "<id>.<variant>" if that exists for channel,
    else id (into template, 160 bytes); and the best locale for wanted
    (a BCP 47 tag or NULL) into locale (32 bytes).                        */
void templates_resolve (templates_t *self, const char *id, const char *variant,
                        channel_t channel, const char *wanted, char *template, char *locale);

#endif
