/*  nd-vapid - makes the key pair the push-sender signs with.

    NAME
        nd-vapid - generate a VAPID key pair for Web Push (RFC 8292)

    SYNOPSIS
        nd-vapid [-o FILE]
        nd-vapid --public FILE

    DESCRIPTION
        Browsers accept a push message only from the server whose public
        key the shop's page subscribed with, so the key pair is made once
        per shop and kept: a new one orphans every existing subscription.

        Without options, prints a new pair as two lines an environment
        file (systemd EnvironmentFile, docker --env-file) can take:

            NUDGE_VAPID_PUBLIC_KEY=BKx...     (65 bytes, base64url)
            NUDGE_VAPID_PRIVATE_KEY=q1d...    (32 bytes, base64url)

        The public key is what the page passes to
        pushManager.subscribe ({applicationServerKey, userVisibleOnly:
        true}); the private key is read by the push-sender from
        NUDGE_VAPID_PRIVATE_KEY (its default vapid-key) or from a file.
        The same formats the web-push libraries use, so keys move both
        ways.

        -o FILE writes only the private key to FILE, created with mode
        0600 (never over an existing file), and prints only the public
        line; point the push-sender at it with vapid-key = "file:FILE".

        --public FILE prints the public key line of the private key in
        FILE (base64url or PEM; "-" reads standard input), to check which
        key a server holds without showing it.

    EXIT STATUS
        0 on success, 2 on a usage error or an unreadable key.        */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sysexits.h>
#include "nd.h"
#include "nd_pipefile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "nd_p256.h"

static const char *s_usage =
    "usage: nd-vapid [-o FILE]\n"
    "       nd-vapid --public FILE\n"
    "Generates a VAPID key pair for Web Push (RFC 8292), base64url as browsers take it.\n"
    "  -o, --out FILE      write the private key to FILE (mode 0600), print the public key\n"
    "      --public FILE   print the public key of the private key in FILE (- for stdin)\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n";

static int s_print_public (EVP_PKEY *key)
{
    uint8_t point [ND_P256_POINT];
    char text [100];
    if (nd_p256_public (key, point) || !nd_b64url_encode (point, sizeof point, text, sizeof text))
        return -1;
    printf ("NUDGE_VAPID_PUBLIC_KEY=%s\n", text);
    return 0;
}

//  The private key as base64url, into text; -1 if it does not fit.
static int s_private_text (EVP_PKEY *key, char *text, size_t size)
{
    uint8_t d [ND_P256_SCALAR];
    int rc = nd_p256_private (key, d) == 0 && nd_b64url_encode (d, sizeof d, text, size) ? 0 : -1;
    OPENSSL_cleanse (d, sizeof d);
    return rc;
}

static int s_write_private (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd == -1) {
        fprintf (stderr, "nd-vapid: %s: %s\n", path, strerror (errno));
        return -1;
    }
    size_t length = strlen (text);
    bool ok = write (fd, text, length) == (ssize_t) length && write (fd, "\n", 1) == 1;
    ok = fsync (fd) == 0 && ok;
    close (fd);
    if (!ok) {
        fprintf (stderr, "nd-vapid: %s: cannot write the key\n", path);
        unlink (path);
    }
    return ok ? 0 : -1;
}

static int s_generate (const char *out)
{
    EVP_PKEY *key = nd_p256_generate ();
    char text [64];
    int rc = key && s_private_text (key, text, sizeof text) == 0 ? 0 : -1;
    if (rc == 0 && out)
        rc = s_write_private (out, text);
    if (rc == 0)
        rc = s_print_public (key);
    if (rc == 0 && !out)
        printf ("NUDGE_VAPID_PRIVATE_KEY=%s\n", text);
    OPENSSL_cleanse (text, sizeof text);
    EVP_PKEY_free (key);
    return rc ? 2 : 0;
}

static int s_public_of (const char *path)
{
    FILE *in = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!in) {
        fprintf (stderr, "nd-vapid: %s: %s\n", path, strerror (errno));
        return 2;
    }
    char text [4096];
    size_t length = fread (text, 1, sizeof text - 1, in);
    text [length] = 0;
    if (in != stdin)
        fclose (in);
    char reason [200];
    EVP_PKEY *key = nd_p256_parse (text, reason, sizeof reason);
    OPENSSL_cleanse (text, sizeof text);
    if (!key) {
        fprintf (stderr, "nd-vapid: %s: %s\n", path, reason);
        return 2;
    }
    int rc = s_print_public (key) ? 2 : 0;
    EVP_PKEY_free (key);
    return rc;
}

int main (int argc, char **argv)
{
    nd_version_arg (argc, argv, "nd-vapid");
    nd_check_arg (argc, argv, "nd-vapid");
    static const struct option options [] = {
        { "out", required_argument, NULL, 'o' },
        { "public", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *out = NULL, *public_of = NULL;
    int c;
    while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else
        if (c == 'p')
            public_of = optarg;
        else {
            fputs (s_usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : EX_USAGE;
        }
    }
    if (optind < argc || (out && public_of)) {
        fputs (s_usage, stderr);
        return EX_USAGE;
    }
    return public_of ? s_public_of (public_of) : s_generate (out);
}
