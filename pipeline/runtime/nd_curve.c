/*  nd_curve - CURVE encryption and authentication for stages on several
    hosts (ZeroMQ's zmq_curve(7), czmq's zcert, zauth and zcertstore).

    A stage with option "curve" (its keypair: a czmq certificate file that
    holds both keys, as nd-cert writes NAME.secret) makes every socket it
    binds - out, pub and ctl, and any a stage binds itself through
    nd_stage_curve_serve (the chat-bridge's console) - a CURVE server, and
    runs a zauth actor (the process's ZAP handler) that admits only the
    public keys found in the directory "curve-clients" (re-read when it
    changes). A stage reading an
    upstream that has "curve" connects as a CURVE client with its own
    keypair and the upstream's public key, read from the upstream's public
    certificate: option "curve-public" of that stage, else its "curve" file
    with ".secret" replaced by ".pub". A stage without "curve" is unchanged.

    zauth gives each connection it admits the client's public key as its
    ZAP User-Id, which every message from it carries ("User-Id"): the
    durable links use it to check that the peer reading the journal as
    consumer NAME holds the key in curve-clients/NAME.pub (nd_curve_holds),
    so a key admitted for tapping cannot acknowledge another stage's entries.

    The secret key is never logged; a bad or missing file stops the stage
    at start with "<pipeline file>:<line>: <stage>/curve: <file>: reason". */
#define _GNU_SOURCE
#include <string.h>
#include <sys/stat.h>
#include "nd_private.h"

struct _nd_curve_t {
    char public_key [ND_CURVE_KEY];
    char secret_key [ND_CURVE_KEY];
    zactor_t *auth;             //  the ZAP handler: zauth on curve-clients
    char *clients;              //  that directory
};

/* ----------------------------------------------------- key files (public) */

static const char *s_path (const char *value)
{
    return value && strncmp (value, "file:", 5) == 0 ? value + 5 : value;
}

char *nd_curve_public_file (const char *curve, const char *curve_public)
{
    if (curve_public && *curve_public)
        return strdup (s_path (curve_public));
    const char *secret = s_path (curve);
    size_t size = secret ? strlen (secret) : 0;
    if (size <= 7 || !streq (secret + size - 7, ".secret"))
        return NULL;
    return zsys_sprintf ("%.*s.pub", (int) (size - 7), secret);
}

//  A key as czmq writes it: 40 characters of Z85 for 32 bytes.
static bool s_key_valid (const char *text)
{
    uint8_t binary [32];
    return text && strlen (text) == 40 && zmq_z85_decode (binary, text) != NULL;
}

int nd_curve_read (const char *file, char *public_key, char *secret_key, char **error)
{
    *error = NULL;
    zconfig_t *root = nd_zpl_parse (s_path (file), error);
    if (!root)
        return -1;
    const char *public_text = zconfig_get (root, "curve/public-key", NULL);
    const char *secret_text = zconfig_get (root, "curve/secret-key", NULL);
    char derived [ND_CURVE_KEY];
    if (!s_key_valid (public_text))
        *error = zsys_sprintf ("%s: not a CURVE certificate (no valid curve/public-key; make one with nd-cert)",
                               s_path (file));
    else
    if (secret_key && !s_key_valid (secret_text))
        *error = zsys_sprintf ("%s: no valid curve/secret-key: a public certificate where the "
                               "secret one (NAME.secret) belongs?", s_path (file));
    else
    if (secret_key && (zmq_curve_public (derived, secret_text) || !streq (derived, public_text)))
        *error = zsys_sprintf ("%s: the public key does not belong to the secret key", s_path (file));
    else {
        memcpy (public_key, public_text, ND_CURVE_KEY);
        if (secret_key)
            memcpy (secret_key, secret_text, ND_CURVE_KEY);
    }
    //  The tree holds the secret text: wipe it before it goes back to malloc
    if (secret_text)
        explicit_bzero ((char *) secret_text, strlen (secret_text));
    zconfig_destroy (&root);
    return *error ? -1 : 0;
}

static void s_client_keys (void *socket, const char *public_key, const char *secret_key,
                           const char *server_key)
{
    zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, server_key, 40);
    zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, public_key, 40);
    zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, secret_key, 40);
}

int nd_curve_client_files (void *socket, const char *cert_file, const char *server_file, char **error)
{
    char public_key [ND_CURVE_KEY], secret_key [ND_CURVE_KEY], server_key [ND_CURVE_KEY];
    int rc = nd_curve_read (cert_file, public_key, secret_key, error) == 0
          && nd_curve_read (server_file, server_key, NULL, error) == 0 ? 0 : -1;
    if (rc == 0)
        s_client_keys (socket, public_key, secret_key, server_key);
    explicit_bzero (secret_key, sizeof secret_key);
    return rc;
}

/* ------------------------------------------------- the stage's (private) */

//  Reads the clients' directory as zcertstore will (every regular file
//  below it that zcert_load takes). czmq 4.2 asserts on two certificates
//  with one key - as a NAME.secret beside its NAME.pub would be - so that,
//  and secret keys lying where public ones belong, stop the start here
//  with a reason instead of an abort in the ZAP handler later.
static char *s_check_clients (const char *clients, size_t *count)
{
    zdir_t *dir = zdir_new (clients, NULL);
    zfile_t **files = dir ? zdir_flatten (dir) : NULL;
    zhashx_t *seen = zhashx_new ();
    char *error = NULL;
    *count = 0;
    for (size_t i = 0; files && files [i] && !error; i++) {
        if (!zfile_is_regular (files [i]))
            continue;
        const char *name = zfile_filename (files [i], NULL);
        zcert_t *cert = zcert_load (name);
        if (!cert)
            continue;
        const char *other = (const char *) zhashx_lookup (seen, zcert_public_txt (cert));
        if (other)
            error = zsys_sprintf ("%s: %s and %s hold the same key; keep one", clients, other, name);
        else
        if (!streq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000"))
            error = zsys_sprintf ("%s: %s holds a secret key; only public certificates "
                                  "(NAME.pub) belong here", clients, name);
        else {
            zhashx_insert (seen, zcert_public_txt (cert), (void *) name);
            (*count)++;
        }
        zcert_destroy (&cert);
    }
    zhashx_destroy (&seen);
    if (files)
        zdir_flatten_free (&files);
    zdir_destroy (&dir);
    return error;
}

//  The clients' directory must exist: a misspelt one would let nobody in,
//  silently. zcertstore re-reads it when it changes, so keys can be added
//  without a restart.
static int s_start_auth (nd_curve_t *self, nd_config_t *config)
{
    const char *clients = s_path (nd_config_get (config, "curve-clients", NULL));
    struct stat st;
    if (!clients)
        return nd_config_error (config, "curve", "curve needs curve-clients, the directory "
                                "of public certificates allowed to connect");
    const char *why = stat (clients, &st) ? strerror (errno)
                    : !S_ISDIR (st.st_mode) ? "not a directory" : NULL;
    if (why) {
        char *reason = zsys_sprintf ("%s: %s", clients, why);
        nd_config_error (config, "curve-clients", reason);
        free (reason);
        return -1;
    }
    size_t count;
    char *error = s_check_clients (clients, &count);
    if (error) {
        nd_config_error (config, "curve-clients", error);
        free (error);
        return -1;
    }
    self->clients = strdup (clients);
    self->auth = zactor_new (zauth, NULL);
    zstr_sendx (self->auth, "CURVE", clients, NULL);
    zsock_wait (self->auth);
    nd_log ("curve: the stage's sockets admit the %zu public key%s in %s;"
            " this stage's public key is %s", count, count == 1 ? "" : "s", clients, self->public_key);
    return 0;
}

int nd_curve_new (nd_config_t *config, nd_curve_t **self_p)
{
    *self_p = NULL;
    const char *file = nd_config_get (config, "curve", NULL);
    const char *declared = nd_config_get (config, "curve-public", NULL);
    if (!file)
        return declared ? nd_config_error (config, "curve-public", "set curve (the keypair) too") : 0;
    nd_curve_t *self = (nd_curve_t *) zmalloc (sizeof *self);
    char *error = NULL;
    int rc = nd_curve_read (file, self->public_key, self->secret_key, &error);
    if (rc)
        nd_config_error (config, "curve", error);
    zstr_free (&error);
    //  What downstream stages and tools will trust must be this keypair
    char *public_file = rc ? NULL : nd_curve_public_file (file, declared);
    char declared_key [ND_CURVE_KEY];
    if (declared && public_file) {
        rc = nd_curve_read (public_file, declared_key, NULL, &error);
        if (rc == 0 && !streq (declared_key, self->public_key)) {
            error = zsys_sprintf ("%s: not the public key of %s", public_file, s_path (file));
            rc = -1;
        }
        if (rc)
            nd_config_error (config, "curve-public", error);
        zstr_free (&error);
    }
    free (public_file);
    struct stat st;
    if (rc == 0 && stat (s_path (file), &st) == 0 && (st.st_mode & 0077))
        nd_log ("curve: %s can be read by other users; chmod 600 it", s_path (file));
    if (rc == 0)
        rc = s_start_auth (self, config);
    if (rc)
        nd_curve_destroy (&self);
    *self_p = self;
    return rc;
}

void nd_curve_destroy (nd_curve_t **self_p)
{
    nd_curve_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->auth);
        free (self->clients);
        explicit_bzero (self->secret_key, sizeof self->secret_key);
        free (self);
        *self_p = NULL;
    }
}

void nd_curve_serve (nd_curve_t *self, void *socket)
{
    if (!self)
        return;
    int server = 1;
    zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &server, sizeof server);
    zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, self->secret_key, 40);
    zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, "nudge", 5);
}

int nd_curve_upstream (nd_curve_t *self, nd_config_t *config, const char *upstream, char *server_key)
{
    const char *curve = nd_config_of (config, upstream, "curve");
    if (!curve)
        return 0;
    if (!self) {
        char *reason = zsys_sprintf ("%s uses CURVE: give this stage a keypair too (option curve)",
                                     upstream);
        nd_config_error (config, "input", reason);
        free (reason);
        return -1;
    }
    char *file = nd_curve_public_file (curve, nd_config_of (config, upstream, "curve-public"));
    char *error = NULL;
    int rc = file ? nd_curve_read (file, server_key, NULL, &error) : -1;
    if (!file)
        nd_config_error_in (config, upstream, "curve",
                            "not NAME.secret: say where its public certificate is with curve-public");
    else
    if (rc)
        nd_config_error_in (config, upstream, nd_config_of (config, upstream, "curve-public")
                            ? "curve-public" : "curve", error);
    zstr_free (&error);
    free (file);
    return rc ? -1 : 1;
}

void nd_curve_client (nd_curve_t *self, void *socket, const char *server_key)
{
    s_client_keys (socket, self->public_key, self->secret_key, server_key);
}

//  A name from the network becomes a file name: nothing that leaves the
//  directory (no '/', no leading '.'), nothing unprintable.
static bool s_name_safe (const char *name)
{
    if (!name || !*name || *name == '.' || strlen (name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (*c <= ' ' || *c > '~' || *c == '/')
            return false;
    return true;
}

bool nd_curve_holds (nd_curve_t *self, const char *name, const char *key)
{
    if (!self || !key || !s_name_safe (name))
        return false;
    char *file = zsys_sprintf ("%s/%s.pub", self->clients, name), *error = NULL;
    char public_key [ND_CURVE_KEY];
    bool holds = nd_curve_read (file, public_key, NULL, &error) == 0 && streq (public_key, key);
    zstr_free (&error);
    free (file);
    return holds;
}

/* ------------------------------------------------------------------ test */

static void s_test_file (char *path, const char *text)
{
    int fd = mkstemp (path);
    assert (fd != -1);
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
}

void nd_curve_test (bool verbose)
{
    if (verbose)
        printf (" * nd_curve: ");
    char *text = nd_curve_public_file ("file:/c/relay.secret", NULL);
    assert (streq (text, "/c/relay.pub"));
    zstr_free (&text);
    text = nd_curve_public_file ("/c/relay.secret", "file:/p/relay.cert");
    assert (streq (text, "/p/relay.cert"));
    zstr_free (&text);
    assert (nd_curve_public_file ("/c/relay.key", NULL) == NULL);
    assert (nd_curve_public_file (NULL, NULL) == NULL);

    zcert_t *cert = zcert_new ();
    char secret [] = "/tmp/nd-curve-test-XXXXXX", public [] = "/tmp/nd-curve-test-XXXXXX";
    s_test_file (secret, "");
    s_test_file (public, "");
    assert (zcert_save_secret (cert, secret) == 0 && zcert_save_public (cert, public) == 0);
    char public_key [ND_CURVE_KEY], secret_key [ND_CURVE_KEY], *error = NULL;
    assert (nd_curve_read (secret, public_key, secret_key, &error) == 0 && !error);
    assert (streq (public_key, zcert_public_txt (cert)));
    assert (streq (secret_key, zcert_secret_txt (cert)));
    assert (nd_curve_read (public, public_key, NULL, &error) == 0);
    assert (nd_curve_read (public, public_key, secret_key, &error) == -1);
    assert (strstr (error, "no valid curve/secret-key"));
    zstr_free (&error);
    //  A secret key that is not the public key's
    zcert_t *other = zcert_new ();
    FILE *out = fopen (secret, "w");
    fprintf (out, "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             zcert_public_txt (cert), zcert_secret_txt (other));
    fclose (out);
    assert (nd_curve_read (secret, public_key, secret_key, &error) == -1);
    assert (strstr (error, "does not belong"));
    zstr_free (&error);
    out = fopen (secret, "w");
    fprintf (out, "curve\n   public-key = x\n");
    fclose (out);
    assert (nd_curve_read (secret, public_key, NULL, &error) == -1);
    assert (strstr (error, ":2: "));
    zstr_free (&error);
    assert (nd_curve_read ("file:/nonexistent.secret", public_key, secret_key, &error) == -1);
    assert (streq (error, "/nonexistent.secret: No such file or directory"));
    zstr_free (&error);
    //  A consumer's name and key: curve-clients/NAME.pub, and nothing the
    //  name could reach outside the directory
    char clients [] = "/tmp/nd-curve-clients-XXXXXX";
    assert (mkdtemp (clients));
    char *file = zsys_sprintf ("%s/relay.pub", clients);
    assert (zcert_save_public (cert, file) == 0);
    nd_curve_t holder = { .clients = clients };
    assert (nd_curve_holds (&holder, "relay", zcert_public_txt (cert)));
    assert (!nd_curve_holds (&holder, "relay", zcert_public_txt (other)));
    assert (!nd_curve_holds (&holder, "relay", NULL));
    assert (!nd_curve_holds (&holder, "sessionizer", zcert_public_txt (cert)));
    const char *unsafe [] = { "", ".", "..", "../relay", "a/relay", ".relay", "re lay", NULL };
    for (int i = 0; unsafe [i]; i++)
        assert (!nd_curve_holds (&holder, unsafe [i], zcert_public_txt (cert)));
    assert (!nd_curve_holds (NULL, "relay", zcert_public_txt (cert)));
    unlink (file);
    zstr_free (&file);
    rmdir (clients);
    zcert_destroy (&other);
    zcert_destroy (&cert);
    unlink (secret);
    unlink (public);
    if (verbose)
        printf ("(read, mismatch, syntax and missing files, consumer keys) OK\n");
}
