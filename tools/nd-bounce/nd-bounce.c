/*  nd-bounce - late bounces and complaints, from the MTA to nudge.

NAME
    nd-bounce - hand a DSN or an ARF complaint to the mail-sender

SYNOPSIS
    nd-bounce [--intake HOST:PORT] [--recipient ADDRESS] [FILE]
    nd-bounce [--intake HOST:PORT] --maildir DIR [--once] [--interval SECONDS]

DESCRIPTION
    A bounce that comes after the SMTP session, or a complaint through a
    mailbox provider's feedback loop, goes to the return path the
    mail-sender sent with: bounces+TOKEN@shop.example (VERP, see
    mail-sender(1) "return-path"). The MTA that receives mail for that
    address runs nd-bounce for each message (Postfix pipe(8), Exim's pipe
    transport), or delivers it into a Maildir that nd-bounce watches.

    nd-bounce reads the report (bounce_report.c: RFC 3464 delivery status,
    RFC 5965 feedback report), takes the token from the recipient and
    posts what it found to the mail-sender's "bounce-intake", which checks
    the token, suppresses the address (a hard bounce, a complaint),
    commits, emits feedback.bounced or feedback.complained for the
    scheduler, and only then answers. So "done" from nd-bounce means the
    report is on disk in the mail-sender's state.

    --maildir DIR takes each message in DIR/new, and moves it to DIR/cur
    once it is handled (reported, or refused as bad input); one that
    could not be stored (the mail-sender down) stays in new for the next
    pass. A crash between the report and the move hands it over again,
    and the mail-sender ignores a report it has already taken. Without
    --once it looks again every --interval seconds (default 5).

EXIT STATUS
    0   reported, or nothing to report (a delivery report of success, an
        auto-reply to the bounce address: logged and dropped)
    64  bad arguments
    65  bad input: no token, a forged or altered one, a broken report
        (EX_DATAERR; nothing was emitted)
    75  the mail-sender could not store it now: try again (EX_TEMPFAIL,
        which Postfix and Exim treat as "defer")                         */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sysexits.h>
#include <curl/curl.h>
#include "bounce.h"
#include "nd_pipefile.h"

#define s_MESSAGE_MAX (16 * 1024 * 1024)

typedef struct {
    const char *intake;         //  host:port
    const char *recipient;
} s_args_t;

static char *s_read_all (FILE *file, size_t *size)
{
    size_t capacity = 65536, used = 0;
    char *data = (char *) malloc (capacity + 1);
    size_t got;
    while (data && (got = fread (data + used, 1, capacity - used, file)) > 0) {
        used += got;
        if (used == capacity && capacity < s_MESSAGE_MAX)
            data = (char *) realloc (data, (capacity *= 2) + 1);
        else
        if (used == capacity)
            break;              //  longer than any report: the rest is the original's
    }
    if (data)
        data [used] = 0;
    *size = used;
    return data;
}

static size_t s_collect (char *data, size_t size, size_t count, void *arg)
{
    zchunk_t *answer = (zchunk_t *) arg;
    zchunk_extend (answer, data, size * count);
    return size * count;
}

//  Posts the report; returns an exit status, with a line logged.
static int s_post (const s_args_t *args, const bounce_report_t *report)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "token", report->token,
                              "type", report->type, "kind", report->kind, "status", report->status,
                              "action", report->action, "reason", report->reason,
                              "feedback_type", report->feedback_type);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    char url [300];
    snprintf (url, sizeof url, "http://%s/bounce", args->intake);
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    zchunk_t *answer = zchunk_new (NULL, 0);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, answer);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    zchunk_extend (answer, "", 1);
    json_t *reply = json_loads ((const char *) zchunk_data (answer), 0, NULL);
    const char *error = json_string_value (json_object_get (reply, "error"));
    int exit_code = EX_TEMPFAIL;
    if (rc != CURLE_OK)
        nd_log ("cannot reach the mail-sender's bounce-intake at %s: %s (try again)",
                args->intake, curl_easy_strerror (rc));
    else
    if (status == 200) {
        nd_log ("%s%s%s reported (%s)", report->type, *report->kind ? " " : "", report->kind,
                *report->status ? report->status : report->feedback_type);
        exit_code = EX_OK;
    }
    else
    if (status == 400) {
        nd_log ("refused: %s", error ? error : "bad report");
        exit_code = EX_DATAERR;
    }
    else
        nd_log ("the mail-sender answered %ld: %s (try again)", status, error ? error : "");
    json_decref (reply);
    zchunk_destroy (&answer);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    free (text);
    return exit_code;
}

static int s_handle (const s_args_t *args, const char *message, size_t size, const char *recipient)
{
    bounce_report_t report;
    int found = bounce_parse (message, size, recipient, &report);
    if (found <= 0) {
        nd_log ("%s", report.why);
        return found == 0 ? EX_OK : EX_DATAERR;
    }
    return s_post (args, &report);
}

/* --------------------------------------------------------------- maildir */

//  One pass over DIR/new: EX_OK, or EX_TEMPFAIL when one must wait.
static int s_maildir_pass (const s_args_t *args, const char *dir)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/new", dir);
    DIR *new_dir = opendir (path);
    if (!new_dir) {
        nd_log ("%s: %s", path, strerror (errno));
        return EX_TEMPFAIL;
    }
    zlist_t *names = zlist_new ();
    zlist_autofree (names);
    for (struct dirent *entry; (entry = readdir (new_dir)); )
        if (entry->d_name [0] != '.')
            zlist_append (names, entry->d_name);
    closedir (new_dir);
    zlist_sort (names, (zlist_compare_fn *) strcmp);
    int rc = EX_OK;
    for (char *name = (char *) zlist_first (names); name && rc == EX_OK;
         name = (char *) zlist_next (names)) {
        char from [PATH_MAX], to [PATH_MAX];
        snprintf (from, sizeof from, "%s/new/%s", dir, name);
        FILE *file = fopen (from, "rb");
        if (!file)
            continue;           //  taken by another reader meanwhile
        size_t size;
        char *message = s_read_all (file, &size);
        fclose (file);
        int handled = message ? s_handle (args, message, size, NULL) : EX_TEMPFAIL;
        free (message);
        if (handled == EX_TEMPFAIL) {
            rc = EX_TEMPFAIL;   //  left in new/ for the next pass
            break;
        }
        //  Handled or refused for good: "seen" in cur/ (Maildir's :2,S)
        snprintf (to, sizeof to, "%s/cur/%s%s", dir, name, strstr (name, ":2,") ? "" : ":2,S");
        if (rename (from, to))
            nd_log ("%s: cannot move to cur/: %s", name, strerror (errno));
        else
            nd_log ("%s: %s", name, handled == EX_OK ? "done" : "bad input, moved aside to cur/");
    }
    zlist_destroy (&names);
    if (rc == EX_OK) {
        snprintf (path, sizeof path, "%s/cur", dir);
        int fd = open (path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            fsync (fd);
            close (fd);
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ main */

static void s_usage (FILE *out)
{
    fprintf (out,
        "Usage: nd-bounce [--intake HOST:PORT] [--recipient ADDRESS] [FILE]\n"
        "       nd-bounce [--intake HOST:PORT] --maildir DIR [--once] [--interval SECONDS]\n"
        "       nd-bounce --check [-c PIPELINE]   check the pipeline file and exit: 0 good, 78 not\n"
        "Hands a bounce (RFC 3464 DSN) or a complaint (RFC 5965 ARF) to the mail-sender's\n"
        "bounce-intake (default 127.0.0.1:8026). Exit 0 done, 65 bad input, 75 try again.\n");
}

int main (int argc, char **argv)
{
    nd_version_arg (argc, argv, "nd-bounce");
    nd_check_arg (argc, argv, "nd-bounce");
    nd_log_set_name ("nd-bounce");
    s_args_t args = { "127.0.0.1:8026", NULL };
    const char *maildir = NULL;
    bool once = false;
    long interval = 5;
    const struct option options [] = {
        { "intake", required_argument, NULL, 'i' },
        { "recipient", required_argument, NULL, 'r' },
        { "maildir", required_argument, NULL, 'm' },
        { "once", no_argument, NULL, 'o' },
        { "interval", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    for (int c; (c = getopt_long (argc, argv, "i:r:m:h", options, NULL)) != -1; ) {
        if (c == 'i')
            args.intake = optarg;
        else if (c == 'r')
            args.recipient = optarg;
        else if (c == 'm')
            maildir = optarg;
        else if (c == 'o')
            once = true;
        else if (c == 't' && (interval = atol (optarg)) >= 1)
            ;
        else if (c == 'h') {
            s_usage (stdout);
            return EX_OK;
        }
        else {
            s_usage (stderr);
            return EX_USAGE;
        }
    }
    if (optind < argc - 1 || (maildir && optind < argc)) {
        s_usage (stderr);
        return EX_USAGE;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int rc;
    if (maildir) {
        while ((rc = s_maildir_pass (&args, maildir)) != EX_USAGE && !once && !zsys_interrupted)
            zclock_sleep ((int) interval * 1000);
    }
    else {
        FILE *file = optind < argc ? fopen (argv [optind], "rb") : stdin;
        if (!file) {
            nd_log ("%s: %s", argv [optind], strerror (errno));
            curl_global_cleanup ();
            return EX_NOINPUT;
        }
        size_t size;
        char *message = s_read_all (file, &size);
        if (file != stdin)
            fclose (file);
        rc = message ? s_handle (&args, message, size, args.recipient) : EX_TEMPFAIL;
        free (message);
    }
    curl_global_cleanup ();
    return rc;
}
