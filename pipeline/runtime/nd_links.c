/*  nd_links - links in messages as signed click redirects; see nd_links.h.

    Layer: runtime: calls nd_token and the stage's options.             */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <czmq.h>
#include "nd.h"
#include "nd_links.h"
#include "nd_templates.h"
#include "nd_token.h"

#define s_HOSTS_MAX 16
#define s_HOST_MAX 256

struct _nd_links_t {
    char *click_url;            //  ends in '/' or '=' : the token follows
    char click_host [s_HOST_MAX];
    char *hosts [s_HOSTS_MAX + 1];
    char *secret;
    bool wrap;                  //  false: links are only checked (link-wrap = no)
};

/* ------------------------------------------------------------- a buffer */

typedef struct {
    char *text;
    size_t size, room;
} s_buf_t;

static void s_add (s_buf_t *buf, const char *text, size_t size)
{
    if (buf->size + size + 1 > buf->room) {
        buf->room = (buf->size + size + 1) * 2;
        buf->text = (char *) realloc (buf->text, buf->room);
        assert (buf->text);
    }
    memcpy (buf->text + buf->size, text, size);
    buf->size += size;
    buf->text [buf->size] = 0;
}

static void s_adds (s_buf_t *buf, const char *text)
{
    s_add (buf, text, strlen (text));
}

/* ---------------------------------------------------------------- hosts */

//  The host of an http(s) URL, lower case, into host; false when url is
//  not http(s) or names a user ("https://shop.example@evil.example/"
//  goes to evil.example, and no link of ours needs one).
static bool s_url_host (const char *url, char *host, size_t size)
{
    size_t skip = strncasecmp (url, "https://", 8) == 0 ? 8
                : strncasecmp (url, "http://", 7) == 0 ? 7 : 0;
    if (!skip)
        return false;
    const char *start = url + skip;
    size_t length = strcspn (start, "/?#\\");
    if (memchr (start, '@', length))
        return false;
    const char *colon = memchr (start, ':', length);
    size_t name = colon ? (size_t) (colon - start) : length;
    if (name == 0 || name >= size)
        return false;
    for (size_t i = 0; i < name; i++)
        host [i] = (char) tolower ((unsigned char) start [i]);
    host [name] = 0;
    return true;
}

static bool s_host_matches (const char *pattern, const char *host)
{
    if (strncmp (pattern, "*.", 2) == 0) {
        size_t suffix = strlen (pattern + 1), length = strlen (host);
        return length > suffix && strcmp (host + length - suffix, pattern + 1) == 0;
    }
    return strcmp (pattern, host) == 0;
}

bool nd_links_host_ok (const nd_links_t *self, const char *url)
{
    char host [s_HOST_MAX];
    if (!s_url_host (url, host, sizeof host))
        return false;
    for (size_t i = 0; self->hosts [i]; i++)
        if (s_host_matches (self->hosts [i], host))
            return true;
    return false;
}

static bool s_to_collector (const nd_links_t *self, const char *url)
{
    char host [s_HOST_MAX];
    return s_url_host (url, host, sizeof host) && strcmp (host, self->click_host) == 0;
}

/* ---------------------------------------------------------------- class */

nd_links_t *nd_links_new (const char *click_url, const char *hosts, const char *secret,
                          char *reason, size_t size)
{
    nd_links_t *self = (nd_links_t *) calloc (1, sizeof *self);
    assert (self);
    if (!click_url || !s_url_host (click_url, self->click_host, sizeof self->click_host)) {
        snprintf (reason, size, "click-url: not an http(s):// URL");
        nd_links_destroy (&self);
        return NULL;
    }
    char *list = strdup (hosts ? hosts : ""), *save = NULL;
    size_t count = 0;
    for (char *host = strtok_r (list, ", ", &save); host; host = strtok_r (NULL, ", ", &save)) {
        if (count == s_HOSTS_MAX || strlen (host) >= s_HOST_MAX || strchr (host, '/')) {
            snprintf (reason, size, "link-hosts: at most %d host names, without scheme or path",
                      s_HOSTS_MAX);
            count = 0;
            break;
        }
        self->hosts [count] = strdup (host);
        for (char *c = self->hosts [count++]; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
    }
    free (list);
    if (count == 0) {
        if (!*reason || !strstr (reason, "link-hosts"))
            snprintf (reason, size, "link-hosts: name the shop's hosts, which links may go to");
        nd_links_destroy (&self);
        return NULL;
    }
    size_t length = strlen (click_url);
    bool ends = click_url [length - 1] == '/' || click_url [length - 1] == '=';
    self->click_url = zsys_sprintf ("%s%s", click_url, ends ? "" : "/");
    self->secret = strdup (secret);
    self->wrap = true;
    return self;
}

void nd_links_destroy (nd_links_t **self_p)
{
    nd_links_t *self = *self_p;
    if (self) {
        free (self->click_url);
        for (size_t i = 0; self->hosts [i]; i++)
            free (self->hosts [i]);
        free (self->secret);
        free (self);
        *self_p = NULL;
    }
}

int nd_links_setup (nd_stage_t *stage, bool check, nd_links_t **links_p)
{
    *links_p = NULL;
    const char *url = nd_stage_option (stage, "click-url", NULL);
    //  Read whether used or not: a stage refuses options it never reads
    const char *wrap = nd_stage_option (stage, "link-wrap", "yes");
    const char *hosts = nd_stage_option (stage, "link-hosts", NULL);
    if (!url || streq (url, "none"))
        return 0;
    char reason [200] = "";
    const char *name = nd_stage_option (stage, "unsubscribe-secret", NULL);
    bool named = name && (strncmp (name, "env:", 4) == 0 || strncmp (name, "file:", 5) == 0);
    //  --check reads no secret (a first start makes the file): it is named
    char *secret = check && named ? strdup ("check")
                 : name ? nd_secret_load (name, true, reason, sizeof reason) : NULL;
    if (check && name && !named)
        snprintf (reason, sizeof reason, "name the secret as env:NAME or file:PATH");
    if (!secret)
        return nd_stage_config_error (stage, "unsubscribe-secret",
                                      name ? reason : "needed with click-url");
    *links_p = nd_links_new (url, hosts, secret, reason, sizeof reason);
    free (secret);
    if (*links_p && !streq (wrap, "yes") && !streq (wrap, "no")) {
        nd_links_destroy (links_p);
        return nd_stage_config_error (stage, "link-wrap", "yes or no");
    }
    if (*links_p) {
        (*links_p)->wrap = streq (wrap, "yes");
        return 0;
    }
    bool url_wrong = strncmp (reason, "click-url", 9) == 0;
    const char *why = strchr (reason, ':') ? strchr (reason, ':') + 2 : reason;
    return nd_stage_config_error (stage, url_wrong ? "click-url" : "link-hosts", why);
}

int nd_links_attach (nd_stage_t *stage, nd_templates_t *templates)
{
    nd_links_t *links;
    if (nd_links_setup (stage, false, &links))
        return -1;
    if (links)
        nd_templates_set_links (templates, links);
    return 0;
}

/* ------------------------------------------------------------- wrapping */

//  The redirect for url, or NULL when its token would not fit.
static char *s_redirect (const nd_links_t *self, const json_t *order, const char *url)
{
    const char *fields [] = { "idempotency_key", "user", "journey", "step", "variant",
                              "channel", NULL };
    char payload [ND_LINKS_PAYLOAD_MAX + 1], token [ND_TOKEN_MAX];
    size_t used = 0;
    for (size_t i = 0; fields [i]; i++) {
        const char *value = json_string_value (json_object_get (order, fields [i]));
        value = value ? value : "";
        if (strchr (value, '\n') || (i < 2 && !*value))
            return NULL;
        int n = snprintf (payload + used, sizeof payload - used, "%s\n", value);
        if (n < 0 || (size_t) n >= sizeof payload - used)
            return NULL;
        used += (size_t) n;
    }
    int n = snprintf (payload + used, sizeof payload - used, "%s", url);
    if (n < 0 || (size_t) n >= sizeof payload - used || strchr (url, '\n')
    ||  nd_token_sign (self->secret, ND_LINKS_PURPOSE, payload, token, sizeof token))
        return NULL;
    return zsys_sprintf ("%s%s", self->click_url, token);
}

//  What a link becomes: its redirect (the caller's), the link itself
//  (NULL with *keep), or nothing (NULL, *keep false).
static char *s_link (const nd_links_t *self, const json_t *order, const char *url, bool *keep)
{
    *keep = false;
    if (s_to_collector (self, url)) {
        *keep = true;
        return NULL;
    }
    if (!nd_links_host_ok (self, url))
        return NULL;
    char *redirect = self->wrap ? s_redirect (self, order, url) : NULL;
    *keep = !redirect;
    return redirect;
}

//  The end of a URL in text: at a space or a character no URL of ours
//  holds unescaped, less punctuation that ends a sentence.
static size_t s_url_length (const char *text)
{
    size_t length = strcspn (text, " \t\r\n<>\"'`{}|^");
    while (length && strchr (".,;:!?)]", text [length - 1]))
        length--;
    return length;
}

static bool s_starts_url (const char *text)
{
    return strncasecmp (text, "https://", 8) == 0 || strncasecmp (text, "http://", 7) == 0;
}

static void s_wrap_text (const nd_links_t *self, const json_t *order, const char *text,
                         s_buf_t *out)
{
    const char *at = text;
    while (*at) {
        const char *next = at;
        while (*next && !(s_starts_url (next) && (next == text || !isalnum ((unsigned char) next [-1]))))
            next++;
        s_add (out, at, (size_t) (next - at));
        if (!*next)
            break;
        size_t length = s_url_length (next);
        char *url = strndup (next, length);
        bool keep;
        char *redirect = s_link (self, order, url, &keep);
        if (redirect || keep)
            s_adds (out, redirect ? redirect : url);
        free (redirect);
        free (url);
        at = next + length;
    }
}

//  An attribute's value as text: the entities Mustache writes undone.
static char *s_unescape (const char *value, size_t length)
{
    static const struct { const char *entity; char c; } entities [] = {
        { "&amp;", '&' }, { "&quot;", '"' }, { "&#39;", '\'' }, { "&#x27;", '\'' },
        { "&lt;", '<' }, { "&gt;", '>' }, { "&#x2F;", '/' }, { "&#47;", '/' }, { NULL, 0 }
    };
    char *out = (char *) malloc (length + 1);
    assert (out);
    size_t used = 0;
    for (size_t i = 0; i < length; ) {
        size_t j = 0;
        while (entities [j].entity && (value [i] != '&'
               || strncasecmp (value + i, entities [j].entity, strlen (entities [j].entity))
               || i + strlen (entities [j].entity) > length))
            j++;
        if (entities [j].entity) {
            out [used++] = entities [j].c;
            i += strlen (entities [j].entity);
        }
        else
            out [used++] = value [i++];
    }
    out [used] = 0;
    return out;
}

static void s_add_escaped (s_buf_t *out, const char *text)
{
    for (; *text; text++)
        s_adds (out, *text == '&' ? "&amp;" : *text == '"' ? "&quot;" : (char [2]) { *text, 0 });
}

//  An href's value: the scheme it names, as a page would read it.
static bool s_safe_other (const char *url)
{
    return strncasecmp (url, "mailto:", 7) == 0 || strncasecmp (url, "tel:", 4) == 0;
}

static void s_wrap_html (const nd_links_t *self, const json_t *order, const char *text,
                         s_buf_t *out)
{
    const char *at = text;
    const char *href;
    while ((href = strcasestr (at, "href")) != NULL) {
        //  href, spaces, '=', spaces, a quote: an attribute, not a word of the text
        const char *p = href + 4;
        while (*p == ' ')
            p++;
        bool attribute = *p == '=' && href > text && isspace ((unsigned char) href [-1]);
        if (attribute)
            for (p++; *p == ' '; p++);
        char quote = attribute && (*p == '"' || *p == '\'') ? *p : 0;
        const char *end = quote ? strchr (p + 1, quote) : NULL;
        if (!end) {
            s_add (out, at, (size_t) (href + 4 - at));
            at = href + 4;
            continue;
        }
        char *url = s_unescape (p + 1, (size_t) (end - p - 1));
        bool keep = false;
        char *redirect = s_starts_url (url) ? s_link (self, order, url, &keep) : NULL;
        if (!s_starts_url (url))
            keep = s_safe_other (url) || *url == '#';
        if (redirect || keep) {
            s_add (out, at, (size_t) (p + 1 - at));
            if (redirect)
                s_add_escaped (out, redirect);
            else
                s_add (out, p + 1, (size_t) (end - p - 1));
            s_add (out, end, 1);
        }
        else                    //  unlinked: the attribute goes, whole
            s_add (out, at, (size_t) (href - 1 - at));
        free (redirect);
        free (url);
        at = end + 1;
    }
    s_adds (out, at);
}

char *nd_links_wrap (const nd_links_t *self, const json_t *order, nd_links_kind_t kind,
                     const char *text)
{
    if (!self)
        return strdup (text);
    if (kind == ND_LINKS_URL) {
        bool keep;
        char *redirect = s_link (self, order, text, &keep);
        return redirect ? redirect : keep ? strdup (text) : NULL;
    }
    s_buf_t out = { NULL, 0, 0 };
    s_add (&out, "", 0);
    if (kind == ND_LINKS_HTML)
        s_wrap_html (self, order, text, &out);
    else
        s_wrap_text (self, order, text, &out);
    return out.text;
}

/* ------------------------------------------------------------ the click */

int nd_click_open (const char *secret, const char *token, nd_click_t *click)
{
    char payload [ND_LINKS_PAYLOAD_MAX + 1];
    if (!token || strlen (token) >= ND_TOKEN_MAX
    ||  nd_token_open (secret, ND_LINKS_PURPOSE, token, payload, sizeof payload) < 0)
        return -1;
    struct { char *into; size_t size; } fields [] = {
        { click->key, sizeof click->key }, { click->user, sizeof click->user },
        { click->journey, sizeof click->journey }, { click->step, sizeof click->step },
        { click->variant, sizeof click->variant }, { click->channel, sizeof click->channel },
        { click->url, sizeof click->url }
    };
    char *at = payload;
    for (size_t i = 0; i < 7; i++) {
        char *end = i < 6 ? strchr (at, '\n') : at + strlen (at);
        if (!end || (size_t) (end - at) >= fields [i].size)
            return -1;
        memcpy (fields [i].into, at, (size_t) (end - at));
        fields [i].into [end - at] = 0;
        at = end + (i < 6);
    }
    return s_starts_url (click->url) && *click->key && *click->user ? 0 : -1;
}

//  Percent-encodes value into a query parameter.
static void s_add_param (s_buf_t *out, const char *name, const char *value)
{
    s_adds (out, name);
    s_adds (out, "=");
    for (const unsigned char *c = (const unsigned char *) value; *c; c++) {
        char hex [4];
        if (isalnum (*c) || strchr ("-._~", *c))
            s_add (out, (const char *) c, 1);
        else {
            snprintf (hex, sizeof hex, "%%%02X", *c);
            s_adds (out, hex);
        }
    }
}

//  True when the query part (up to the fragment) already sets name.
static bool s_has_param (const char *url, size_t length, const char *name)
{
    const char *query = memchr (url, '?', length);
    size_t name_length = strlen (name);
    for (const char *p = query; p && p < url + length; p = memchr (p + 1, '&', (size_t) (url + length - p - 1)))
        if ((size_t) (url + length - p - 1) > name_length
        &&  strncmp (p + 1, name, name_length) == 0 && p [1 + name_length] == '=')
            return true;
    return false;
}

char *nd_click_target (const nd_click_t *click)
{
    const char *url = click->url;
    size_t length = strcspn (url, "#");
    char content [160];
    snprintf (content, sizeof content, "%s%s%s", click->step, *click->variant ? "-" : "",
              click->variant);
    const char *params [][2] = {
        { "utm_source", "nudge" }, { "utm_medium", click->channel },
        { "utm_campaign", click->journey }, { "utm_content", content }, { NULL, NULL }
    };
    s_buf_t out = { NULL, 0, 0 };
    s_add (&out, url, length);
    bool query = memchr (url, '?', length) != NULL;
    for (size_t i = 0; params [i][0]; i++) {
        if (!*params [i][1] || s_has_param (url, length, params [i][0]))
            continue;
        bool bare = query && out.size && (out.text [out.size - 1] == '?' || out.text [out.size - 1] == '&');
        s_adds (&out, bare ? "" : query ? "&" : "?");
        query = true;
        s_add_param (&out, params [i][0], params [i][1]);
    }
    s_adds (&out, url + length);
    return out.text;
}

/* ------------------------------------------------------------ self-test */

void nd_links_test (bool verbose)
{
    if (verbose)
        printf (" * nd_links: ");
    char reason [200] = "";
    assert (!nd_links_new ("ftp://x/c/", "shop.example", "s", reason, sizeof reason));
    assert (!nd_links_new ("https://c.example/c/", "", "s", reason, sizeof reason));
    assert (strstr (reason, "link-hosts"));
    nd_links_t *links = nd_links_new ("https://c.example/c", "shop.example, *.cdn.example",
                                      "s3cret", reason, sizeof reason);
    assert (links);
    assert (nd_links_host_ok (links, "https://SHOP.example/cart"));
    assert (nd_links_host_ok (links, "http://img.cdn.example:8080/x"));
    assert (!nd_links_host_ok (links, "https://cdn.example/x"));
    assert (!nd_links_host_ok (links, "https://shop.example@evil.example/"));
    assert (!nd_links_host_ok (links, "https://shop.example.evil.example/"));
    assert (!nd_links_host_ok (links, "javascript:alert(1)"));
    json_t *order = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}",
        "idempotency_key", "abandoned-cart/00ab-1/reminder-1/email", "user", "u-1",
        "journey", "abandoned-cart", "step", "reminder-1", "variant", "b", "channel", "email");

    //  Text: the shop's link wrapped, another host's left out, the
    //  collector's (unsubscribe) kept, punctuation after a link kept
    char *out = nd_links_wrap (links, order, ND_LINKS_TEXT,
        "See https://shop.example/cart. Or https://evil.example/x now. "
        "Stop: https://c.example/unsubscribe?token=t");
    assert (strncmp (out, "See https://c.example/c/", 24) == 0);
    assert (strstr (out, ". Or  now. Stop: https://c.example/unsubscribe?token=t"));
    assert (!strstr (out, "evil"));
    char token [ND_TOKEN_MAX];
    snprintf (token, sizeof token, "%.*s", (int) strcspn (out + 24, " ") - 1, out + 24);
    free (out);
    nd_click_t click;
    assert (nd_click_open ("s3cret", token, &click) == 0);
    assert (streq (click.url, "https://shop.example/cart") && streq (click.user, "u-1"));
    assert (streq (click.journey, "abandoned-cart") && streq (click.channel, "email"));
    char *target = nd_click_target (&click);
    assert (streq (target, "https://shop.example/cart?utm_source=nudge&utm_medium=email"
                           "&utm_campaign=abandoned-cart&utm_content=reminder-1-b"));
    free (target);
    //  A token is the secret's and the purpose's alone, and not to be changed
    assert (nd_click_open ("other", token, &click) == -1);
    token [5] ^= 1;
    assert (nd_click_open ("s3cret", token, &click) == -1);

    //  The shop's UTM wins; a fragment stays last
    snprintf (click.url, sizeof click.url, "https://shop.example/p?utm_source=x&a=1#top");
    target = nd_click_target (&click);
    assert (streq (target, "https://shop.example/p?utm_source=x&a=1&utm_medium=email"
                           "&utm_campaign=abandoned-cart&utm_content=reminder-1-b#top"));
    free (target);

    //  HTML: escaped hrefs read back; foreign and script links unlinked
    out = nd_links_wrap (links, order, ND_LINKS_HTML,
        "<a href=\"https://shop.example/p?a=1&amp;b=2\">P</a> <a class=x href='https://evil.example/'>E</a>"
        " <a href=\"javascript:alert(1)\">J</a> <a href=\"mailto:care@shop.example\">M</a>"
        " <img src=\"https://evil.example/i.png\"> hrefs");
    assert (strstr (out, "<a href=\"https://c.example/c/"));
    assert (strstr (out, "<a class=x>E</a>") && strstr (out, "<a>J</a>"));
    assert (strstr (out, "href=\"mailto:care@shop.example\"") && strstr (out, "i.png\"> hrefs"));
    const char *start = strstr (out, "/c/") + 3;
    snprintf (token, sizeof token, "%.*s", (int) strcspn (start, "\""), start);
    assert (nd_click_open ("s3cret", token, &click) == 0);
    assert (streq (click.url, "https://shop.example/p?a=1&b=2"));
    free (out);

    //  A push's url: wrapped, or refused
    out = nd_links_wrap (links, order, ND_LINKS_URL, "https://shop.example/cart");
    assert (out && strncmp (out, "https://c.example/c/", 20) == 0);
    free (out);
    assert (!nd_links_wrap (links, order, ND_LINKS_URL, "https://evil.example/"));
    //  link-wrap = no: the shop's links as written, others still left out
    links->wrap = false;
    out = nd_links_wrap (links, order, ND_LINKS_TEXT,
                         "https://shop.example/cart and https://evil.example/x");
    assert (streq (out, "https://shop.example/cart and "));
    free (out);
    links->wrap = true;
    //  No links object: nothing changes
    out = nd_links_wrap (NULL, order, ND_LINKS_TEXT, "https://evil.example/");
    assert (streq (out, "https://evil.example/"));
    free (out);
    json_decref (order);
    nd_links_destroy (&links);
    nd_links_destroy (&links);
    if (verbose)
        printf ("OK\n");
}
