/*  nd_links.h - every link in a message as a signed click redirect.

    Layer: runtime, used by every sender after it renders a template
    (mail-sender: the text and HTML parts; sms-sender: the text;
    push-sender: the notification's url) and by the collector, which
    answers the redirect (collector_click.c).

    A link to one of the shop's hosts (link-hosts) becomes

        <click-url><token>      e.g. https://nudge.shop.example/c/eyJr...

    where the token is nd_token_sign (secret, "click", payload) and the
    payload names the send order and the link:

        <idempotency key> \n <user> \n <journey> \n <step> \n <variant>
            \n <channel> \n <url>

    The collector opens it with the same secret, answers 302 to url with
    utm_source=nudge, utm_medium=<channel>, utm_campaign=<journey>,
    utm_content=<step>-<variant> added (those the URL does not set
    already), and records the click. Nobody without the secret can make
    a token, so the redirect is never an open one, and a token made for
    one link cannot be turned into another.

    Links the sender must not vouch for are never wrapped: a link to any
    other host (a product URL from a browser's event can be anything) is
    left out of a text and unlinked in HTML (its href removed); in HTML an
    href that is not http(s), mailto: or tel: is unlinked too. Links to
    the collector's own host (unsubscribe, confirm) stay as they are. A
    link whose token would not fit (ND_LINKS_PAYLOAD_MAX) stays as it is:
    it goes to the shop, only its click is not counted.

    Options (a sender's section, or [pipeline] for every sender):
      click-url      the collector's /c/ as people reach it; none: no
                     link is wrapped (and none is checked)
      link-hosts     the shop's hosts, "shop.example, *.shop.example";
                     required with click-url
      unsubscribe-secret   signs the tokens (the collector checks them)
      link-wrap      yes (default) | no: links to link-hosts go out as
                     written, untracked; others are still left out. For
                     SMS: a signed link is about 200 characters, one or two
                     segments more than the shop's own URL            */
#ifndef ND_LINKS_H_INCLUDED
#define ND_LINKS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define ND_LINKS_PURPOSE "click"
#define ND_LINKS_PAYLOAD_MAX 480        //  nd_token_sign's limit

typedef struct _nd_links_t nd_links_t;
typedef struct _nd_stage_t nd_stage_t;

typedef enum {
    ND_LINKS_TEXT,              //  every http(s) URL in plain text
    ND_LINKS_HTML,              //  every href="..." in HTML
    ND_LINKS_URL                //  the whole text is one URL (a push's url)
} nd_links_kind_t;

/*  click_url: "https://host/c/"; hosts: comma-separated, "*.x" for any
    host under x. Returns NULL with a reason when either is not usable.  */
nd_links_t *nd_links_new (const char *click_url, const char *hosts, const char *secret,
                          char *reason, size_t size);
void nd_links_destroy (nd_links_t **self_p);

/*  From the stage's options (above): 0 with *links_p NULL when there is
    no click-url, 0 with the links, or -1 after a config error (file:line).
    check (--check): the secret is only looked at, not read.            */
int nd_links_setup (nd_stage_t *stage, bool check, nd_links_t **links_p);

/*  nd_links_setup, then the links given to templates (which renders
    them: nd_templates_render_order). 0, or -1 after a config error.     */
typedef struct _nd_templates_t nd_templates_t;
int nd_links_attach (nd_stage_t *stage, nd_templates_t *templates);

/*  True when url (http or https) goes to one of the shop's hosts.       */
bool nd_links_host_ok (const nd_links_t *self, const char *url);

/*  text with its links wrapped for the send order (its idempotency_key,
    user, journey, step, variant, channel): a new string, the caller's;
    NULL only for ND_LINKS_URL when the URL may not be sent. With self
    NULL, a copy of text. Thread-safe (self is only read).              */
char *nd_links_wrap (const nd_links_t *self, const json_t *order, nd_links_kind_t kind,
                     const char *text);

/*  What the collector reads from a token.                               */
typedef struct {
    char key [256], user [256], journey [64], step [64], variant [64], channel [16];
    char url [ND_LINKS_PAYLOAD_MAX];
} nd_click_t;

/*  0 and click filled when secret made token for a click, else -1.     */
int nd_click_open (const char *secret, const char *token, nd_click_t *click);

/*  The URL to send the browser to: click->url with the UTM parameters
    added before any #fragment. The caller's.                           */
char *nd_click_target (const nd_click_t *click);

void nd_links_test (bool verbose);

#endif
