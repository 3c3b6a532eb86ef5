/*  nd_listen.h - the address a stage's HTTP server listens on.

    One rule for every "http" option (collector, sms-sender webhooks,
    chat-bridge): "host:port", "[v6]:port", or "*:port" (every interface;
    so does an empty host). The host may be a name; the port is 0 to
    65535, 0 letting the system pick one.

        struct sockaddr_storage addr;
        socklen_t addr_size;
        char reason [200];
        if (nd_listen_parse ("127.0.0.1:8080", &addr, &addr_size, reason, sizeof reason))
            nd_log ("http: %s", reason);                                  */
#ifndef ND_LISTEN_H_INCLUDED
#define ND_LISTEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*  Resolves text into addr (addr_size bytes of it used). Returns 0, or -1
    with reason ("expected host:port ...", or why the host did not
    resolve).                                                            */
int nd_listen_parse (const char *text, struct sockaddr_storage *addr, socklen_t *addr_size,
                     char *reason, size_t size);

void nd_listen_test (bool verbose);

#endif
