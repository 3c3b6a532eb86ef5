/*  fuzz_mustache - templates, as an operator writes them, rendered with
    data, as shoppers' events fill it: no template may crash the renderer,
    and {{name}} never lets markup from the data through.               */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "nd_mustache.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *template = (char *) malloc (size + 1);
    memcpy (template, data, size);
    template [size] = 0;
    json_t *context = json_pack ("{s:s, s:{s:f, s:[{s:s, s:i, s:s}, {s:s, s:i}]}, s:b, s:n}",
                                 "name", "<b>Pia</b> & \"co\"",
                                 "cart", "value", 44.5, "items",
                                     "name", "<script>x</script>", "quantity", 2, "url", "https://a.example/?q=1&r=2",
                                     "name", "Beanie", "quantity", 1,
                                 "consent", 1, "nothing");
    char *error = NULL;
    nd_mustache_t *compiled = nd_mustache_new (template, &error);
    free (error);
    if (compiled) {
        char *out = nd_mustache_render_with (compiled, context, NULL, &error);
        free (error);
        //  With no unescaped tag ({{{ }}}, {{& }}) and no delimiter change
        //  (=), and no markup of its own, the output holds none: the data's
        //  is escaped
        if (out && !strstr (template, "{{{") && !strchr (template, '&')
        &&  !strchr (template, '=') && !strchr (template, '<'))
            assert (!strchr (out, '<'));
        free (out);
        nd_mustache_destroy (&compiled);
    }
    json_decref (context);
    free (template);
    return 0;
}
