/*  nd_httpd.h - the request side of a stage's own HTTP server.

    The chat-bridge's widget calls and the sms-sender's webhooks run on
    libmicrohttpd, which hands a request over in several calls: the
    headers first, then the upload in chunks, then once more with nothing
    left. Both keep the upload up to a limit, throw the rest away (the
    request is then refused as too big), answer JSON, and free the request
    when libmicrohttpd is done with it. That part lives here:

        struct MHD_Daemon *daemon = nd_httpd_start (&where, 64, 16, 30, handle, self);

        static enum MHD_Result handle (..., const char *data, size_t *data_size, void **con_cls)
        {
            nd_httpd_request_t *request = (nd_httpd_request_t *) *con_cls;
            if (nd_httpd_receive (request, data, data_size, 16384))
                return MHD_YES;                 //  more to come
            if (request->discarded)
                return nd_httpd_refuse (connection, 413, "body over 16 KB", NULL);
            ... request->body, request->size ...
        }

    (The collector's server, the pipeline's hot path, has its own.)     */
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

/*  What every stage's HTTP server holds to, so that slow or idle clients
    (headers sent a byte at a time, connections opened and left) cannot
    stop it for everyone: at most connections at once, each a thread with
    a small stack, at most per_ip of them from one address, and one that
    stays quiet for timeout_s closed. Fills options, ND_HTTPD_LIMITS items
    ending with MHD_OPTION_END, for MHD_OPTION_ARRAY. connections is cut
    to what the process may open (its file limit, raised to the hard one). */
#define ND_HTTPD_LIMITS 5
void nd_httpd_limits (struct MHD_OptionItem *options, unsigned int connections,
                      unsigned int per_ip, unsigned int timeout_s);

/*  Starts a server on where (as nd_listen_parse fills it in) with those
    limits; handle gets each request as an nd_httpd_request_t in
    *con_cls. NULL (errno set) when it cannot listen.                    */
struct MHD_Daemon *nd_httpd_start (const struct sockaddr_storage *where, unsigned int connections,
                                   unsigned int per_ip, unsigned int timeout_s,
                                   MHD_AccessHandlerCallback handle, void *cls);
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
