/*  nd_pipefile_test - the pipeline file reader's self-test (nd_pipefile_test).

    Layer: runtime, the pipeline file's reader, above all of it: the cases
    load small files and check defaults, overrides, partitions, tool
    targets and the refusals with their file:line. Apart from the code it
    tests (nd_pipefile_zpl.c to nd_pipefile_tools.c), as nd_json_test.c
    is, so that each of those reads as what runs.
*/
#include <czmq.h>
#include "nd_private.h"

static void
s_test_write (char *path, const char *text)
{
    int fd = mkstemp (path);
    assert (fd != -1);
    assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
}

static nd_pipefile_t *
s_test_load (const char *text, char **error)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, text);
    nd_pipefile_t *self = nd_pipefile_load (path, error);
    unlink (path);
    return self;
}

static void
s_test_target (void)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, "collector\n    pub = tcp://*:7001\nsessionizer\n"
                        "    curve = file:/c/sess.secret\n");
    char *error = NULL;
    char *text = nd_pipefile_target (path, "collector", "pub", &error);
    assert (streq (text, "tcp://127.0.0.1:7001") && !error);
    zstr_free (&text);
    text = nd_pipefile_target (path, "sessionizer", "ctl", &error);
    assert (streq (text, "ipc://var/run/sessionizer.ctl"));
    zstr_free (&text);
    assert (!nd_pipefile_target (path, "segmenter", "pub", &error));
    assert (strstr (error, "unknown stage 'segmenter'"));
    assert (strstr (error, "(stages: collector, sessionizer)"));
    zstr_free (&error);
    char *key = NULL;
    text = nd_pipefile_target_curve (path, "sessionizer", "out", &key, &error);
    assert (streq (text, "ipc://var/run/sessionizer.out") && streq (key, "/c/sess.pub"));
    zstr_free (&text);
    zstr_free (&key);
    text = nd_pipefile_target_curve (path, "collector", "out", &key, &error);
    assert (text && !key);
    zstr_free (&text);
    text = nd_pipefile_target ("/nonexistent", "tcp://h:1", "pub", &error);
    assert (streq (text, "tcp://h:1") && !error);
    zstr_free (&text);
    unlink (path);
}

//  A stage reading the file for itself lets an upstream stand in with no
//  section; the tools and --check do not.
static void
s_test_stage_read (void)
{
    char path [] = "/tmp/nd-pipefile-test-XXXXXX";
    s_test_write (path, "b\n    input = a\n");
    char *error = NULL;
    nd_pipefile_t *self = nd_pipefile_load_stage (path, &error);
    assert (self && !error);
    zlist_t *consumers = nd_pipefile_consumers (self, "a");
    assert (zlist_size (consumers) == 1 && streq ((char *) zlist_first (consumers), "b"));
    zlist_destroy (&consumers);
    assert (nd_pipefile_line (self, "b", "input", 0) == 2);
    assert (nd_pipefile_line (self, "b", NULL, 0) == 1);
    assert (nd_pipefile_line (self, "b", "output", 0) == 0);
    nd_pipefile_destroy (&self);
    assert (!nd_pipefile_load (path, &error) && strstr (error, ":2: b: input 'a' is not a stage"));
    zstr_free (&error);
    unlink (path);
}

static void s_test_refuses (const char *text, const char *reason);

static char *
s_test_list (zlist_t *list)
{
    char *text = strdup ("");
    for (const char *item = (const char *) zlist_first (list); item;
         item = (const char *) zlist_next (list)) {
        char *longer = zsys_sprintf ("%s%s%s", text, *text ? " " : "", item);
        free (text);
        text = longer;
    }
    return text;
}

//  A partitioned stage is N stages with their own names, endpoints and
//  state; it reads a partitioned input partition by partition, and an
//  unpartitioned reader reads every partition.
static void
s_test_partitions (void)
{
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (
        "collector\n"
        "sessionizer\n    input = collector\n    partitions = 2\n"
        "    partition-1\n        out = tcp://h2:7101\n"
        "segmenter\n    input = sessionizer\n    partitions = 2\n"
        "chat\n    input = segmenter, collector\n", &error);
    assert (self && !error);
    assert (nd_pipefile_size (self) == 6);
    assert (streq (nd_pipefile_stage (self, 1), "sessionizer.0"));
    assert (streq (nd_pipefile_stage (self, 4), "segmenter.1"));
    assert (!nd_pipefile_has (self, "sessionizer") && nd_pipefile_has (self, "sessionizer.1"));
    int parts;
    assert (nd_pipefile_partition (self, "segmenter.1", &parts) == 1 && parts == 2);
    assert (nd_pipefile_partition (self, "chat", &parts) == -1 && parts == 1);
    assert (streq (nd_pipefile_section_name (self, "segmenter.1"), "segmenter"));
    assert (streq (nd_pipefile_program (self, "segmenter.1"), "segmenter"));
    assert (streq (nd_pipefile_option (self, "sessionizer.1", "input", ""), "collector"));
    char *text = nd_pipefile_endpoint (self, "sessionizer.1", "out");
    assert (streq (text, "tcp://h2:7101"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "sessionizer.0", "out");
    assert (streq (text, "ipc://var/run/sessionizer.0.out"));
    zstr_free (&text);
    text = nd_pipefile_state_dir (self, "segmenter.0");
    assert (streq (text, "var/state/segmenter.0"));
    zstr_free (&text);
    zlist_t *list = nd_pipefile_inputs (self, "segmenter.1");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.1 segmenter.0"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_inputs (self, "chat");
    text = s_test_list (list);
    assert (streq (text, "segmenter.0 segmenter.1 collector"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_consumers (self, "sessionizer.0");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.1 segmenter.0"));
    zstr_free (&text);
    zlist_destroy (&list);
    list = nd_pipefile_consumers (self, "collector");
    text = s_test_list (list);
    assert (streq (text, "sessionizer.0 sessionizer.1 chat"));
    zstr_free (&text);
    zlist_destroy (&list);
    nd_pipefile_destroy (&self);
    s_test_refuses ("a\n    partitions = 0\n", ":2: partitions = '0': a number from 1 to 64");
    s_test_refuses ("a\n    partitions = 2\n    partition-2\n        out = ipc://x\n",
                    "partition-2: this stage has partitions 0 to 1 only");
    s_test_refuses ("a\n    partitions = 2\nb\n    input = a\n    partitions = 3\n",
                    ":4: b.0: it has 3 partitions and its input a has 2");
    s_test_refuses ("a\n    partitions = 2\n    out = ipc://o\n", "a.0 and a.1 both use ipc://o");
    s_test_refuses ("a\n    partitions = 2\na.1\n", "stage 'a.1' appears twice");
}

static void
s_test_refuses (const char *text, const char *reason)
{
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (text, &error);
    assert (!self);
    assert (error && strstr (error, "/tmp/nd-pipefile-test-"));
    if (!strstr (error, reason)) {
        fprintf (stderr, "expected '%s' in '%s'\n", reason, error);
        assert (false);
    }
    free (error);
}

void
nd_pipefile_test (bool verbose)
{
    printf (" * nd_pipefile: ");
    char *error = NULL;
    nd_pipefile_t *self = s_test_load (
        "pipeline\n    run = /r\n    state = /s\n"
        "collector\n    pub = tcp://*:7001\n"
        "sessionizer\n    input = collector\n    run = /other\n    program = sess\n", &error);
    assert (self && !error);
    assert (nd_pipefile_size (self) == 2);
    assert (streq (nd_pipefile_stage (self, 1), "sessionizer"));
    assert (nd_pipefile_stage (self, 2) == NULL);
    assert (!nd_pipefile_has (self, "pipeline"));
    assert (streq (nd_pipefile_program (self, "collector"), "collector"));
    assert (streq (nd_pipefile_program (self, "sessionizer"), "sess"));
    char *text = nd_pipefile_endpoint (self, "collector", "pub");
    assert (streq (text, "tcp://*:7001"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "collector", "ctl");
    assert (streq (text, "ipc:///r/collector.ctl"));
    zstr_free (&text);
    text = nd_pipefile_endpoint (self, "sessionizer", "out");
    assert (streq (text, "ipc:///other/sessionizer.out"));
    zstr_free (&text);
    text = nd_pipefile_state_dir (self, "sessionizer");
    assert (streq (text, "/s/sessionizer"));
    zstr_free (&text);
    nd_pipefile_destroy (&self);
    nd_pipefile_destroy (&self);

    s_test_target ();
    assert (nd_pipefile_ipc_absent ("ipc:///nonexistent/x.ctl"));
    assert (!nd_pipefile_ipc_absent ("ipc:///tmp"));
    assert (!nd_pipefile_ipc_absent ("tcp://h:1"));

    s_test_refuses ("a\n   b = 1\n", ":2: indent 4 spaces at once");
    s_test_refuses ("pipeline\n    run = x\n", "no stages");
    s_test_refuses ("a\nb\n    input = c\n", ":3: b: input 'c' is not a stage");
    s_test_refuses ("a\n    pub = x\n", ":2: a: pub = 'x' is not an endpoint");
    s_test_refuses ("a\n    pub = ipc://p\nb\n    ctl = ipc://p\n", ":4: b: a and b both use ipc://p");
    s_test_refuses ("a\na\n", ":2: stage 'a' appears twice");
    s_test_refuses ("a\n    program = ../x\n", ":2: a: program '../x' is not a program name");
    s_test_refuses ("run = x\n", ":1: 'run = x' at top level");
    s_test_stage_read ();
    s_test_partitions ();
    assert (!nd_pipefile_load ("/nonexistent/pipeline.zpl", &error));
    assert (streq (error, "/nonexistent/pipeline.zpl: No such file or directory"));
    zstr_free (&error);
    if (verbose)
        printf ("(checked defaults, overrides and eight bad files) ");
    printf ("OK\n");
}
