/*  nd_httpd - the request side of a stage's own HTTP server: the upload
    kept up to a limit, JSON answers, the request freed when done. See
    nd_httpd.h.                                                          */
#define _GNU_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include "nd_httpd.h"

#define FILES_SPARE 256         //  files kept for LMDB, sockets and logs
#define THREAD_STACK (512 * 1024)   //  a handler parses JSON, no more

//  Every connection is an open file: the soft limit (often 1024) would
//  cap them long before memory does.
static unsigned int s_file_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit))
        return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur > UINT_MAX ? UINT_MAX : (unsigned int) limit.rlim_cur;
}

void nd_httpd_limits (struct MHD_OptionItem *options, unsigned int connections,
                      unsigned int per_ip, unsigned int timeout_s)
{
    unsigned int files = s_file_limit ();
    unsigned int most = files > 2 * FILES_SPARE ? files - FILES_SPARE : files / 2;
    options [0] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_LIMIT,
                                            connections < most ? connections : most, NULL };
    options [1] = (struct MHD_OptionItem) { MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL };
    options [2] = (struct MHD_OptionItem) { MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL };
    options [3] = (struct MHD_OptionItem) { MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK, NULL };
    options [4] = (struct MHD_OptionItem) { MHD_OPTION_END, 0, NULL };
}

struct MHD_Daemon *nd_httpd_start (const struct sockaddr_storage *where, unsigned int connections,
                                   unsigned int per_ip, unsigned int timeout_s,
                                   MHD_AccessHandlerCallback handle, void *cls)
{
    struct MHD_OptionItem limits [ND_HTTPD_LIMITS];
    nd_httpd_limits (limits, connections, per_ip, timeout_s);
    //  Every request keeps its URI as sent: Twilio signs it so
    return MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO
        | (where->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, handle, cls,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) where,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
        MHD_OPTION_ARRAY, limits,
        MHD_OPTION_URI_LOG_CALLBACK, nd_httpd_begin, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, nd_httpd_completed, NULL,
        MHD_OPTION_END);
}

void *nd_httpd_begin (void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void) cls;
    (void) connection;
    nd_httpd_request_t *request = (nd_httpd_request_t *) calloc (1, sizeof *request);
    assert (request);
    request->uri = strdup (uri);
    assert (request->uri);
    return request;
}

void nd_httpd_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) connection;
    (void) code;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (request) {
        free (request->uri);
        free (request->body);
        free (request);
        *con_cls = NULL;
    }
}

bool nd_httpd_receive (nd_httpd_request_t *request, const char *data, size_t *data_size,
                       size_t limit)
{
    if (!request->headers_seen) {
        request->headers_seen = true;
        return true;
    }
    if (!*data_size)
        return false;
    //  Once over, always over: a body cut short must not pass for whole
    if (request->discarded || request->size + *data_size > limit)
        request->discarded += *data_size;
    else {
        request->body = (char *) realloc (request->body, request->size + *data_size + 1);
        assert (request->body);
        memcpy (request->body + request->size, data, *data_size);
        request->size += *data_size;
        request->body [request->size] = 0;
    }
    *data_size = 0;
    return true;
}

enum MHD_Result nd_httpd_answer (struct MHD_Connection *connection, unsigned int status,
                                 const char *content_type, char *body, const char *const *headers)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers [i] && headers [i + 1]; i += 2)
        MHD_add_response_header (response, headers [i], headers [i + 1]);
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

enum MHD_Result nd_httpd_json (struct MHD_Connection *connection, unsigned int status,
                               json_t *doc, const char *const *headers)
{
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return nd_httpd_answer (connection, status, "application/json", text ? text : strdup ("{}"),
                            headers);
}

enum MHD_Result nd_httpd_refuse (struct MHD_Connection *connection, unsigned int status,
                                 const char *reason, const char *const *headers)
{
    return nd_httpd_json (connection, status, json_pack ("{s:s}", "error", reason), headers);
}

/* ------------------------------------------------------------------ test */

#include "nd_http.h"

#define s_TEST_LIMIT 8

static enum MHD_Result s_test_handle (void *cls, struct MHD_Connection *connection,
                                      const char *url, const char *method, const char *version,
                                      const char *data, size_t *data_size, void **con_cls)
{
    (void) cls;
    (void) url;
    (void) method;
    (void) version;
    nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
    if (nd_httpd_receive (request, data, data_size, s_TEST_LIMIT))
        return MHD_YES;
    static const char *const headers [] = { "X-Test", "yes", NULL };
    if (request->discarded)
        return nd_httpd_refuse (connection, MHD_HTTP_CONTENT_TOO_LARGE, "body over 8 bytes", headers);
    return nd_httpd_json (connection, MHD_HTTP_OK, json_pack ("{s:s, s:s?}", "uri", request->uri,
                                                              "body", request->body), headers);
}

static void s_test_post (nd_http_t *client, const char *url, const char *body, long status,
                         const char *answer)
{
    nd_http_request_t request = { .method = "POST", .url = url, .body = body,
                                  .body_size = strlen (body) };
    nd_http_perform (client, &request, 1);
    if (request.status != status || !request.response || strcmp (request.response, answer)) {
        fprintf (stderr, "nd_httpd: POST %s: want %ld %s, got %ld %s\n", url, status, answer,
                 request.status, request.response ? request.response : request.error);
        assert (false);
    }
    nd_http_request_reset (&request);
}

void nd_httpd_test (bool verbose)
{
    printf (" * nd_httpd: ");
    //  The calls as libmicrohttpd makes them
    nd_httpd_request_t *request = (nd_httpd_request_t *) nd_httpd_begin (NULL, "/a?b=c", NULL);
    size_t size = 0;
    assert (nd_httpd_receive (request, NULL, &size, 4));           //  headers
    assert (!nd_httpd_receive (request, NULL, &size, 4));          //  no upload: all in
    assert (strcmp (request->uri, "/a?b=c") == 0 && !request->body && !request->discarded);
    void *con_cls = request;
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);
    assert (!con_cls);
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);

    request = (nd_httpd_request_t *) nd_httpd_begin (NULL, "/", NULL);
    assert (nd_httpd_receive (request, NULL, &size, 4));
    size = 3;
    assert (nd_httpd_receive (request, "abc", &size, 4) && size == 0);
    size = 1;
    assert (nd_httpd_receive (request, "d", &size, 4));
    assert (request->size == 4 && strcmp (request->body, "abcd") == 0 && !request->discarded);
    size = 2;
    assert (nd_httpd_receive (request, "ef", &size, 4) && size == 0);
    size = 0;
    assert (!nd_httpd_receive (request, NULL, &size, 4));
    assert (request->size == 4 && request->discarded == 2);
    //  Once over the limit, even a chunk that would fit is thrown away
    request->size = 1;
    size = 1;
    nd_httpd_receive (request, "g", &size, 4);
    assert (request->size == 1 && request->discarded == 3);
    con_cls = request;
    nd_httpd_completed (NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_CLIENT_ABORT);

    //  A real server: limits, answers, headers
    struct sockaddr_storage where = { 0 };
    struct sockaddr_in *in = (struct sockaddr_in *) &where;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = nd_httpd_start (&where, 4, 4, 5, s_test_handle, NULL);
    assert (daemon);
    unsigned int port = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    char url [64], big [64];
    nd_http_t *client = nd_http_new (5000, 2, NULL);
    snprintf (url, sizeof url, "http://127.0.0.1:%u/x?y=1", port);
    s_test_post (client, url, "12345678", 200, "{\"uri\":\"/x?y=1\",\"body\":\"12345678\"}");
    s_test_post (client, url, "", 200, "{\"uri\":\"/x?y=1\",\"body\":null}");
    s_test_post (client, url, "123456789", 413, "{\"error\":\"body over 8 bytes\"}");
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    s_test_post (client, url, big, 413, "{\"error\":\"body over 8 bytes\"}");
    nd_http_destroy (&client);
    MHD_stop_daemon (daemon);
    if (verbose)
        printf ("(chunks, limit, discarded, a server's answers) ");
    printf ("OK\n");
}
