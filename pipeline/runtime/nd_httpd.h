/*  nd_httpd.h - a stage's own HTTP server, and its request side.

    The chat-bridge's widget calls and the sms-sender's webhooks run on
    libmicrohttpd, which hands a request over in several calls: the
    headers first, then the upload in chunks, then once more with nothing
    left. Both keep the upload up to a limit, throw the rest away (the
    request is then refused as too big), answer JSON, and free the request
    when libmicrohttpd is done with it. That part lives here:

        nd_httpd_t *server = nd_httpd_start (&where, 64, 16, 30, handle, self);

        static enum MHD_Result handle (..., const char *data, size_t *data_size, void **con_cls)
        {
            nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
            if (nd_httpd_receive (request, data, data_size, 16384))
                return MHD_YES;                 //  more to come
            if (request->discarded)
                return nd_httpd_refuse (connection, 413, "body over 16 KB", NULL);
            ... request->body, request->size ...
        }

    (The collector, the pipeline's hot path, takes the server and its
    limits, nd_httpd_new, with request handling of its own.)            */
#ifndef ND_HTTPD_H_INCLUDED
#define ND_HTTPD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <jansson.h>
#include <microhttpd.h>

typedef struct {
    char *uri;                  //  path and query, as sent
    char *body;                 //  the upload, NUL-terminated; NULL when none came
    size_t size;
    size_t discarded;           //  upload bytes past the limit, thrown away
    bool headers_seen;          //  libmicrohttpd's first call: headers only
} nd_httpd_request_t;

/*  A stage's HTTP server: libmicrohttpd behind a door of nudge's own.
    What every one holds to, so that slow or idle clients (headers sent a
    byte at a time, connections opened and left) cannot stop it for
    everyone: at most connections at once, each a thread with a small
    stack, at most per_ip of them from one address, and one that stays
    quiet for timeout_s closed. connections is cut to what the process
    may open (its file limit, raised to the hard one).

    The door accepts the connections itself (libmicrohttpd would close
    one over its limits without a word): one over either limit is
    answered at once, with no thread, "503 Service Unavailable" with
    Retry-After and Connection: close, so a client can tell "full, come
    back" from a network fault; the others go to libmicrohttpd.          */
typedef struct _nd_httpd_t nd_httpd_t;
typedef struct {
    unsigned int connections;
    unsigned int per_ip;
    unsigned int timeout_s;
    MHD_AccessHandlerCallback handle;
    void *cls;
    //  NULL: requests are nd_httpd_request_t (nd_httpd_begin, _completed)
    MHD_RequestCompletedCallback completed;
    MHD_LogCallback log;        //  libmicrohttpd's errors, or NULL
    const char *full;           //  the 503's JSON body, or NULL: {"error": ...}
} nd_httpd_conf_t;

/*  Serves on fd, a listening socket it takes over. NULL (fd closed) if
    the server cannot start.                                             */
nd_httpd_t *nd_httpd_new (int fd, const nd_httpd_conf_t *conf);
/*  Stops accepting, then the server: waits for its connections' threads. */
void nd_httpd_destroy (nd_httpd_t **self_p);
unsigned int nd_httpd_port (nd_httpd_t *self);
/*  A listening TCP socket on where (as nd_listen_parse fills it in), or
    -1 with errno set.                                                   */
int nd_httpd_listen (const struct sockaddr_storage *where);

/*  Listens on where and serves with nd_httpd_request_t requests: handle
    gets each as *con_cls. NULL (errno set) when it cannot listen.       */
nd_httpd_t *nd_httpd_start (const struct sockaddr_storage *where, unsigned int connections,
                            unsigned int per_ip, unsigned int timeout_s,
                            MHD_AccessHandlerCallback handle, void *cls);
/*  A server for the shop's pages (the chat-bridge's, onsite's), as its
    stage's section says: "http" (its address, default_address),
    "max-connections" (4096) and "max-connections-per-ip" (64), each at
    least 1, and "allow-origin" (*), which headers carries for every
    answer with Cache-Control: no-store. Read into the site where it
    stays (headers point into it): 0, or -1 after "file:line: reason".
    nd_httpd_site_clear frees what it holds.                              */
typedef struct {
    const char *address;        //  as written, for the log
    struct sockaddr_storage where;
    unsigned int connections;
    unsigned int per_ip;
    char *origin;
    const char *headers [5];    //  name, value, ..., NULL
} nd_httpd_site_t;
struct _nd_stage_t;
int nd_httpd_site (struct _nd_stage_t *stage, const char *default_address, nd_httpd_site_t *site);
void nd_httpd_site_clear (nd_httpd_site_t *site);
/*  The answer to a page's CORS preflight (OPTIONS): 204, the site's
    origin may GET and POST with Content-Type, for a day.                */
enum MHD_Result nd_httpd_preflight (struct MHD_Connection *connection, const nd_httpd_site_t *site);

/*  True for a request with both Transfer-Encoding and Content-Length,
    which the door refuses with 400 (servers of its own check it too).   */
bool nd_httpd_ambiguous (struct MHD_Connection *connection);
/*  The client's address as text ("127.0.0.1", "::1"; "?" if unknown).  */
void nd_httpd_client_address (struct MHD_Connection *connection, char *text, size_t size);

/*  MHD_OPTION_URI_LOG_CALLBACK: a new request, with its URI as sent.    */
void *nd_httpd_begin (void *cls, const char *uri, struct MHD_Connection *connection);
/*  MHD_OPTION_NOTIFY_COMPLETED: frees the request.                      */
void nd_httpd_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode code);
/*  In the access handler: takes the call's upload (*data_size bytes of
    data, kept while the whole stays within limit, else counted in
    discarded). True while the request is still arriving: the handler
    returns MHD_YES. False once it is all in: time to answer.           */
bool nd_httpd_receive (nd_httpd_request_t *request, const char *data, size_t *data_size,
                       size_t limit);

/*  Queues an answer: body (the caller's string, taken over) with its
    Content-Type, then headers, NULL or name, value, ..., NULL.          */
enum MHD_Result nd_httpd_answer (struct MHD_Connection *connection, unsigned int status,
                                 const char *content_type, char *body, const char *const *headers);
/*  The same with a JSON document (taken over; "{}" if it cannot be
    written).                                                            */
enum MHD_Result nd_httpd_json (struct MHD_Connection *connection, unsigned int status,
                               json_t *doc, const char *const *headers);
/*  A refusal: {"error": reason} with status.                            */
enum MHD_Result nd_httpd_refuse (struct MHD_Connection *connection, unsigned int status,
                                 const char *reason, const char *const *headers);

void nd_httpd_test (bool verbose);

#endif
