/*  nd-cert - makes the CURVE keypairs stages and operators use across hosts.

    NAME
        nd-cert - make a CURVE certificate for a stage or an operator

    SYNOPSIS
        nd-cert [-d DIR] [-f] NAME
        nd-cert --public FILE
        nd-cert --help

    DESCRIPTION
        Makes a new CURVE keypair and writes it as two czmq certificates:
        DIR/NAME.secret (both keys, mode 0600: it stays on the host of the
        stage or operator it belongs to) and DIR/NAME.pub (the public key
        only: copy it to every host that must trust or reach NAME). Prints
        the public key. A stage names its .secret with option "curve"; its
        clients (downstream stages, tap and nd-ctl with --cert) are let in
        when their .pub is in the stage's "curve-clients" directory.

        An existing file is never overwritten without -f: a new key locks
        out every peer that trusts the old one.

        With --public, prints the public key of a certificate (either file).

    OPTIONS
        -d, --dir DIR       where to write (default .)
        -f, --force         replace existing NAME.secret and NAME.pub
            --public FILE   print FILE's public key and exit
            --check         check the pipeline file (-c) and exit
        -h, --help          this text

    EXIT STATUS
        0 when written (or printed); 1 when a file exists or cannot be
        written, or FILE is not a certificate; 64 (EX_USAGE) on usage errors.
*/
#include <czmq.h>
#include <getopt.h>
#include <sysexits.h>
#include <sys/stat.h>
#include "nd_tool.h"
#include "nd.h"
#include "nd_pipefile.h"

static const char *s_usage =
    "usage: nd-cert [-d DIR] [-f] NAME\n"
    "       nd-cert --public FILE\n"
    "Makes a CURVE keypair: DIR/NAME.secret (mode 0600, keep it on NAME's host)\n"
    "and DIR/NAME.pub (give it to the peers that trust or reach NAME).\n"
    "  -d, --dir DIR       where to write (default .)\n"
    "  -f, --force         replace existing files (locks out peers that trust the old key)\n"
    "      --public FILE   print the public key of a certificate\n"
    "      --check         check the pipeline file (-c) and exit: 0 good, 78 not\n"
    "  -h, --help          this text\n"
    "See nd-cert(1).\n";

typedef struct {
    const char *dir;
    const char *name;
    const char *public;
    bool force;
} cert_args_t;

/*  Returns 0 to run, 1 when --help was shown, 2 on a usage error.       */
static int
s_parse_args (int argc, char **argv, void *args_)
{
    static const struct option options [] = {
        { "dir",    required_argument, NULL, 'd' },
        { "force",  no_argument,       NULL, 'f' },
        { "public", required_argument, NULL, 'p' },
        { "help",   no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    cert_args_t *args = (cert_args_t *) args_;
    *args = (cert_args_t) { .dir = "." };
    int option;
    while ((option = getopt_long (argc, argv, "d:fh", options, NULL)) != -1) {
        if (option == 'h')
            return fputs (s_usage, stdout), 1;
        else
        if (option == 'd')
            args->dir = optarg;
        else
        if (option == 'f')
            args->force = true;
        else
        if (option == 'p')
            args->public = optarg;
        else
            return fprintf (stderr, "nd-cert: try 'nd-cert --help'\n"), 2;
    }
    if (args->public)
        return optind == argc? 0: (fprintf (stderr, "nd-cert: --public takes no NAME\n"), 2);
    if (argc - optind != 1)
        return fprintf (stderr, "nd-cert: want one NAME; try 'nd-cert --help'\n"), 2;
    args->name = argv [optind];
    if (!nd_pipefile_simple_name (args->name))
        return fprintf (stderr, "nd-cert: NAME '%s': use letters, digits, '.', '_' and '-'\n",
                        args->name), 2;
    return 0;
}

static int
s_print_public (const char *file)
{
    char public_key [ND_CURVE_KEY], *error = NULL;
    if (nd_curve_read (file, public_key, NULL, &error)) {
        fprintf (stderr, "nd-cert: %s\n", error);
        free (error);
        return 1;
    }
    printf ("%s\n", public_key);
    return 0;
}

/*  The secret file is made 0600 before a key is written into it.        */
static int
s_write (zcert_t *cert, const char *secret, const char *public)
{
    int fd = open (secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || fchmod (fd, 0600) == -1) {
        fprintf (stderr, "nd-cert: %s: %s\n", secret, strerror (errno));
        if (fd != -1)
            close (fd);
        return 1;
    }
    close (fd);
    if (zcert_save_secret (cert, secret) || chmod (secret, 0600)) {
        fprintf (stderr, "nd-cert: cannot write %s\n", secret);
        return 1;
    }
    if (zcert_save_public (cert, public) || chmod (public, 0644)) {
        fprintf (stderr, "nd-cert: cannot write %s\n", public);
        return 1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    cert_args_t args;
    nd_tool_start (argc, argv, "nd-cert", s_parse_args, &args);
    if (args.public)
        return s_print_public (args.public);
    char *secret = zsys_sprintf ("%s/%s.secret", args.dir, args.name);
    char *public = zsys_sprintf ("%s/%s.pub", args.dir, args.name);
    int rc;
    struct stat st;
    if (stat (args.dir, &st) || !S_ISDIR (st.st_mode)) {
        fprintf (stderr, "nd-cert: %s: %s\n", args.dir,
                 errno && stat (args.dir, &st)? strerror (errno): "not a directory");
        rc = 1;
    }
    else
    if (!args.force && (access (secret, F_OK) == 0 || access (public, F_OK) == 0)) {
        fprintf (stderr, "nd-cert: %s exists; -f replaces it (peers that trust the old key "
                 "are locked out)\n", access (secret, F_OK) == 0? secret: public);
        rc = 1;
    }
    else {
        zcert_t *cert = zcert_new ();
        zcert_set_meta (cert, "name", "%s", args.name);
        rc = s_write (cert, secret, public);
        if (rc == 0)
            printf ("%s\n", zcert_public_txt (cert));
        zcert_destroy (&cert);
    }
    free (secret);
    free (public);
    return rc;
}
