/*  mail_smtp - the SMTP provider: one libesmtp session per batch.

    Each deliver() call is one SMTP connection that carries every message
    of its batch (MAIL, RCPT, DATA for each, one QUIT). Several workers
    ("connections") each run their own session; this object is read-only
    after setup, so they share it without a lock.

    TLS: "starttls" (the default) insists on STARTTLS and a certificate
    that verifies (tls-ca, or the system's trust store) and names the
    relay; "starttls-optional" uses it when offered; "implicit" talks TLS
    from the first byte (SMTPS, port 465) through mail_tunnel, because
    libesmtp cannot; "none" is for a relay on the same host. AUTH (PLAIN,
    LOGIN, CRAM-MD5 via libesmtp's SASL plugins) needs TLS, so that the
    password never crosses a network in clear; the password itself comes
    from the environment or a file and is never logged.

    What an answer means for the order (RFC 5321 reply classes):
      2xx to RCPT and to the end of DATA       delivered
      4xx anywhere, or no answer (timeout,
      dropped connection, TLS failure)         try again later
      5xx to RCPT                              bounced; the address is
                                               suppressed
      5xx to DATA                              bounced (the content, not
                                               the address, was refused)
      any refusal of MAIL FROM                 try again: that is about
                                               our sender or our login
                                               (530 when AUTH failed), and
                                               no recipient's fault       */
#include <signal.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "nd_token.h"
#include "mail.h"
//  After OpenSSL and auth-client: libesmtp declares what uses them only then
#include <auth-client.h>
#include <libesmtp.h>

#define s_TLS_NONE 0
#define s_TLS_OPTIONAL 1
#define s_TLS_REQUIRED 2
#define s_TLS_IMPLICIT 3

typedef struct {
    mail_composer_t *composer;  //  not ours
    mail_verp_t *verp;          //  the envelope sender per message
    char *relay;                //  "host:port"
    char *host;
    char *port;
    int tls;
    bool verify;
    SSL_CTX *ctx;
    char *user;
    char *password;
    long timeout_ms;
    char *helo;
} mail_smtp_t;

//  One session's state, for libesmtp's callbacks.
typedef struct {
    mail_smtp_t *smtp;
    char reason [ND_SEND_REASON_MAX];   //  why the session failed, if known
} s_session_t;

/* --------------------------------------------------------------- setup */

static int s_tls_mode (const char *text)
{
    const char *names [] = { "none", "starttls-optional", "starttls", "implicit", NULL };
    for (int i = 0; names [i]; i++)
        if (streq (text, names [i]))
            return i;
    return -1;
}

static int s_split_relay (mail_smtp_t *self, nd_stage_t *stage, const char *relay)
{
    const char *colon = strrchr (relay, ':');
    bool bracket = relay [0] == '[';
    if (colon && bracket && !strchr (colon, ']') && colon [-1] != ']')
        colon = NULL;           //  "[v6]" with no port
    self->host = colon ? strndup (relay + bracket, (size_t) (colon - relay) - 2 * bracket)
                       : strdup (relay);
    self->port = strdup (colon ? colon + 1 : self->tls == s_TLS_IMPLICIT ? "465" : "587");
    self->relay = zsys_sprintf ("%s:%s", self->host, self->port);
    if (!*self->host || strspn (self->port, "0123456789") != strlen (self->port) || !*self->port)
        return nd_stage_config_error (stage, "relay", "expected host:port, e.g. smtp.example.com:587");
    return 0;
}

static int s_tls_context (mail_smtp_t *self, nd_stage_t *stage)
{
    const char *ca = nd_stage_option (stage, "tls-ca", NULL);
    self->ctx = SSL_CTX_new (TLS_client_method ());
    SSL_CTX_set_min_proto_version (self->ctx, TLS1_2_VERSION);
    //  STARTTLS stays at TLS 1.2: libesmtp (1.1) reads before it writes
    //  when the socket is readable, and the session tickets a TLS 1.3
    //  server sends after the handshake make it wait for an answer to an
    //  EHLO it has not sent yet, until the timeout. Implicit TLS goes
    //  through mail_tunnel and uses TLS 1.3.
    if (self->tls != s_TLS_IMPLICIT)
        SSL_CTX_set_max_proto_version (self->ctx, TLS1_2_VERSION);
    //  No SSL_VERIFY_PEER here: libesmtp reads the verification result
    //  itself and asks us (s_event) what to do about a failure
    SSL_CTX_set_verify (self->ctx, SSL_VERIFY_NONE, NULL);
    int ok = ca ? SSL_CTX_load_verify_locations (self->ctx, ca, NULL)
                : SSL_CTX_set_default_verify_paths (self->ctx);
    if (ok != 1)
        return nd_stage_config_error (stage, "tls-ca", "cannot load the CA certificates");
    return 0;
}

static int s_auth_options (mail_smtp_t *self, nd_stage_t *stage)
{
    const char *user = nd_stage_option (stage, "user", NULL);
    const char *password = nd_stage_option (stage, "password", NULL);
    if (!user && !password)
        return 0;
    if (!user || !password)
        return nd_stage_config_error (stage, user ? "password" : "user",
                                      "user and password go together");
    if (self->tls != s_TLS_REQUIRED && self->tls != s_TLS_IMPLICIT)
        return nd_stage_config_error (stage, "tls", "AUTH needs tls = starttls or implicit");
    char reason [200];
    self->password = nd_secret_load (password, false, reason, sizeof reason);
    if (!self->password)
        return nd_stage_config_error (stage, "password", reason);
    self->user = strdup (user);
    return 0;
}

static int s_options (mail_smtp_t *self, nd_stage_t *stage)
{
    int64_t timeout;
    char host [256] = "localhost";
    gethostname (host, sizeof host);
    self->tls = s_tls_mode (nd_stage_option (stage, "tls", "starttls"));
    const char *verify = nd_stage_option (stage, "tls-verify", "yes");
    self->verify = !streq (verify, "no");
    self->helo = strdup (nd_stage_option (stage, "helo", host));
    if (self->tls < 0)
        return nd_stage_config_error (stage, "tls", "one of starttls, starttls-optional, implicit, none");
    if (!streq (verify, "yes") && !streq (verify, "no"))
        return nd_stage_config_error (stage, "tls-verify", "yes or no");
    if (nd_stage_option_duration (stage, "timeout", "30s", &timeout))
        return -1;
    self->timeout_ms = timeout < 1000 ? 1000 : (long) timeout;
    return s_split_relay (self, stage, nd_stage_option (stage, "relay", ""))
        || s_tls_context (self, stage) || s_auth_options (self, stage) ? -1 : 0;
}

static void s_destroy (void **self_p)
{
    mail_smtp_t *self = (mail_smtp_t *) *self_p;
    if (self) {
        mail_verp_destroy (&self->verp);
        free (self->relay);
        free (self->host);
        free (self->port);
        SSL_CTX_free (self->ctx);
        free (self->user);
        if (self->password)
            OPENSSL_cleanse (self->password, strlen (self->password));
        free (self->password);
        free (self->helo);
        free (self);
        *self_p = NULL;
    }
}

void *mail_smtp_new (nd_stage_t *stage, mail_composer_t *composer)
{
    mail_smtp_t *self = (mail_smtp_t *) zmalloc (sizeof *self);
    self->composer = composer;
    if (!(self->verp = mail_verp_new (stage)) || s_options (self, stage)) {
        s_destroy ((void **) &self);
        return NULL;
    }
    //  A relay that hangs up mid-write must cost a retry, not the process
    signal (SIGPIPE, SIG_IGN);
    auth_client_init ();
    nd_log ("relay %s, tls %s%s%s", self->relay,
            (const char *[]) { "none", "starttls-optional", "starttls", "implicit" } [self->tls],
            self->user ? ", auth as " : "", self->user ? self->user : "");
    return self;
}

/* ------------------------------------------------------------ callbacks */

//  libesmtp found the relay's certificate wanting (its own checks use
//  the system's trust store): check the chain against ours.
static bool s_chain_ok (mail_smtp_t *self, SSL *ssl)
{
    X509 *cert = SSL_get1_peer_certificate (ssl);
    X509_STORE_CTX *check = X509_STORE_CTX_new ();
    bool ok = cert && check
           && X509_STORE_CTX_init (check, SSL_CTX_get_cert_store (self->ctx), cert,
                                   SSL_get_peer_cert_chain (ssl)) == 1
           && X509_verify_cert (check) == 1;
    X509_STORE_CTX_free (check);
    X509_free (cert);
    return ok;
}

static void s_event (smtp_session_t session, int event, void *arg, ...)
{
    (void) session;
    s_session_t *state = (s_session_t *) arg;
    mail_smtp_t *self = state->smtp;
    va_list args;
    va_start (args, arg);
    if (event == SMTP_EV_INVALID_PEER_CERTIFICATE) {
        long result = va_arg (args, long);
        int *ok = va_arg (args, int *);
        SSL *ssl = va_arg (args, SSL *);
        *ok = !self->verify || s_chain_ok (self, ssl);
        if (!*ok)
            snprintf (state->reason, sizeof state->reason, "TLS: relay certificate not trusted: %s",
                      X509_verify_cert_error_string (result));
    }
    else
    if (event == SMTP_EV_NO_PEER_CERTIFICATE || event == SMTP_EV_WRONG_PEER_CERTIFICATE) {
        int *ok = va_arg (args, int *);
        *ok = !self->verify;
        if (!*ok)
            snprintf (state->reason, sizeof state->reason, "TLS: the certificate does not name %s",
                      self->host);
    }
    else
    if (event == SMTP_EV_WEAK_CIPHER || event == SMTP_EV_NO_CLIENT_CERTIFICATE) {
        if (event == SMTP_EV_WEAK_CIPHER)
            (void) va_arg (args, int);
        int *ok = va_arg (args, int *);
        *ok = event == SMTP_EV_NO_CLIENT_CERTIFICATE;
    }
    else
    if (event == SMTP_EV_EXTNA_STARTTLS)
        snprintf (state->reason, sizeof state->reason, "the relay does not offer STARTTLS");
    va_end (args);
}

static int s_interact (auth_client_request_t request, char **result, int fields, void *arg)
{
    mail_smtp_t *self = (mail_smtp_t *) arg;
    for (int i = 0; i < fields; i++)
        result [i] = request [i].flags & AUTH_PASS ? self->password
                   : request [i].flags & AUTH_USER ? self->user : (char *) "";
    return 1;
}

/* -------------------------------------------------------------- session */

static smtp_session_t s_session (mail_smtp_t *self, s_session_t *state, const char *server,
                                 auth_context_t *auth)
{
    smtp_session_t session = smtp_create_session ();
    smtp_set_server (session, server);
    smtp_set_hostname (session, self->helo);
    smtp_set_eventcb (session, s_event, state);
    if (self->tls == s_TLS_OPTIONAL || self->tls == s_TLS_REQUIRED) {
        smtp_starttls_set_ctx (session, self->ctx);
        smtp_starttls_enable (session, self->tls == s_TLS_REQUIRED ? Starttls_REQUIRED
                                                                   : Starttls_ENABLED);
    }
    int which [] = { Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA, Timeout_TRANSFER,
                     Timeout_DATA2 };
    for (size_t i = 0; i < sizeof which / sizeof which [0]; i++)
        smtp_set_timeout (session, which [i] | Timeout_OVERRIDE_RFC2822_MINIMUM, self->timeout_ms);
    *auth = NULL;
    if (self->user) {
        *auth = auth_create_context ();
        //  Plain-text mechanisms are fine here: TLS is required (setup)
        auth_set_mechanism_flags (*auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb (*auth, s_interact, self);
        smtp_auth_set_context (session, *auth);
    }
    return session;
}

//  Fills a job's result from the answers its message got.
static void s_outcome (smtp_message_t message, smtp_recipient_t recipient,
                       const char *session_reason, nd_send_result_t *result)
{
    const smtp_status_t *mail = smtp_reverse_path_status (message);
    const smtp_status_t *rcpt = smtp_recipient_status (recipient);
    const smtp_status_t *data = smtp_message_transfer_status (message);
    const smtp_status_t *failed = mail->code >= 400 ? mail : rcpt->code >= 400 ? rcpt
                                : data->code >= 400 ? data : NULL;
    if (!failed && rcpt->code / 100 == 2 && data->code / 100 == 2) {
        result->outcome = ND_SEND_DELIVERED;
        *result->reason = 0;
        return;
    }
    if (!failed) {
        result->outcome = ND_SEND_RETRY;
        snprintf (result->reason, sizeof result->reason, "%s",
                  *session_reason ? session_reason : "the connection ended before an answer");
        return;
    }
    bool permanent = failed->code / 100 == 5 && failed != mail;
    result->outcome = permanent ? ND_SEND_PERMANENT : ND_SEND_RETRY;
    snprintf (result->reason, sizeof result->reason, "%s %d %s", failed == mail ? "MAIL FROM"
              : failed == rcpt ? "RCPT TO" : "DATA", failed->code, failed->text ? failed->text : "");
    result->reason [strcspn (result->reason, "\r\n")] = 0;
    result->extra = json_pack ("{s:i}", "smtp_code", failed->code);
    if (permanent && failed == rcpt)
        json_object_set_new (result->extra, "suppressed", json_true ());
}

//  Builds every message of the batch; those that cannot be built settle
//  at once, the rest join the session.
static size_t s_add_messages (mail_smtp_t *self, smtp_session_t session, nd_send_job_t *jobs,
                              size_t count, mail_text_t *texts, smtp_message_t *messages,
                              smtp_recipient_t *recipients)
{
    size_t added = 0;
    for (size_t i = 0; i < count; i++) {
        messages [i] = NULL;
        nd_send_result_t *result = &jobs [i].result;
        if (mail_composer_build (self->composer, jobs [i].order, jobs [i].time, &texts [i], result->reason,
                                 sizeof result->reason)) {
            result->outcome = ND_SEND_PERMANENT;
            result->extra = json_pack ("{s:b}", "suppressed",
                                       !mime_address_ok (json_string_value (json_object_get (jobs [i].order, "to"))));
            continue;
        }
        messages [i] = smtp_add_message (session);
        char sender [ND_TOKEN_MAX + 320];
        mail_verp_sender (self->verp, jobs [i].order, mail_composer_return_path (self->composer),
                          sender, sizeof sender);
        smtp_set_reverse_path (messages [i], sender);
        recipients [i] = smtp_add_recipient (messages [i],
                                             json_string_value (json_object_get (jobs [i].order, "to")));
        smtp_set_message_str (messages [i], texts [i].data);
        added++;
    }
    return added;
}

static void s_deliver (void *self_, nd_send_job_t *jobs, size_t count)
{
    mail_smtp_t *self = (mail_smtp_t *) self_;
    s_session_t state = { self, "" };
    mail_text_t *texts = (mail_text_t *) calloc (count, sizeof *texts);
    smtp_message_t *messages = (smtp_message_t *) calloc (count, sizeof *messages);
    smtp_recipient_t *recipients = (smtp_recipient_t *) calloc (count, sizeof *recipients);
    mail_tunnel_t *tunnel = NULL;
    if (self->tls == s_TLS_IMPLICIT)
        tunnel = mail_tunnel_new (self->host, self->port, self->ctx, self->verify,
                                  (int) self->timeout_ms, state.reason, sizeof state.reason);
    auth_context_t auth;
    smtp_session_t session = s_session (self, &state, tunnel ? mail_tunnel_address (tunnel)
                                                             : self->relay, &auth);
    bool started = false;
    if (s_add_messages (self, session, jobs, count, texts, messages, recipients)
    &&  (self->tls != s_TLS_IMPLICIT || tunnel))
        started = smtp_start_session (session) != 0;
    int error = smtp_errno ();
    //  The tunnel's reason (a failed handshake) says more than libesmtp's
    mail_tunnel_close (tunnel, state.reason, sizeof state.reason);
    mail_tunnel_destroy (&tunnel);
    if (!started && !*state.reason) {
        char text [128];
        snprintf (state.reason, sizeof state.reason, "SMTP: %s",
                  smtp_strerror (error, text, sizeof text));
    }
    for (size_t i = 0; i < count; i++)
        if (messages [i])
            s_outcome (messages [i], recipients [i], state.reason, &jobs [i].result);
    smtp_destroy_session (session);
    if (auth)
        auth_destroy_context (auth);
    for (size_t i = 0; i < count; i++)
        mail_text_free (&texts [i]);
    free (texts);
    free (messages);
    free (recipients);
}

const nd_send_provider_t mail_smtp_provider = {
    .name = "smtp",
    .deliver = s_deliver,
    .destroy = s_destroy
};
