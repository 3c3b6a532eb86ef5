/*  nd_listen - the address a stage's HTTP server listens on.

    Was three parsers (the collector's, the sms-sender webhook's and the
    chat-bridge's), each a little different; now one.                  */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nd_listen.h"

//  Splits "host:port", "[v6]:port", "*:port" into host ("" for every
//  interface) and port (digits only, up to 65535).
static int s_split (const char *text, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr (text, ':');
    if (!colon || !colon [1] || strlen (colon + 1) > 5
    ||  strspn (colon + 1, "0123456789") != strlen (colon + 1) || atoi (colon + 1) > 65535)
        return -1;
    const char *start = text, *end = colon;
    if (*start == '[' && end > start && end [-1] == ']') {
        start++;
        end--;
    }
    if ((size_t) (end - start) >= host_size)
        return -1;
    snprintf (host, host_size, "%.*s", (int) (end - start), start);
    if (strcmp (host, "*") == 0)
        *host = 0;
    snprintf (port, port_size, "%s", colon + 1);
    return 0;
}

int nd_listen_parse (const char *text, struct sockaddr_storage *addr, socklen_t *addr_size,
                     char *reason, size_t size)
{
    char host [256], port [8];
    if (s_split (text, host, sizeof host, port, sizeof port)) {
        snprintf (reason, size, "expected host:port, e.g. 127.0.0.1:8080, [::1]:8080 or *:8080");
        return -1;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV
    }, *found;
    int rc = getaddrinfo (*host ? host : NULL, port, &hints, &found);
    if (rc) {
        snprintf (reason, size, "%s: %s", host, gai_strerror (rc));
        return -1;
    }
    //  Every interface: the first is IPv4's 0.0.0.0
    memset (addr, 0, sizeof *addr);
    memcpy (addr, found->ai_addr, found->ai_addrlen);
    *addr_size = found->ai_addrlen;
    freeaddrinfo (found);
    return 0;
}

/* ------------------------------------------------------------ self-test */

//  Parses text and prints the address back as [host]:port ("" if bad).
static void s_test_format (const char *text, char *out, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t addr_size;
    char reason [200], host [INET6_ADDRSTRLEN];
    if (nd_listen_parse (text, &addr, &addr_size, reason, sizeof reason)) {
        assert (*reason);
        *out = 0;
    }
    else
    if (addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &addr;
        assert (addr_size == sizeof *v6);
        inet_ntop (AF_INET6, &v6->sin6_addr, host, sizeof host);
        snprintf (out, size, "[%s]:%d", host, ntohs (v6->sin6_port));
    }
    else {
        struct sockaddr_in *v4 = (struct sockaddr_in *) &addr;
        assert (addr.ss_family == AF_INET && addr_size == sizeof *v4);
        inet_ntop (AF_INET, &v4->sin_addr, host, sizeof host);
        snprintf (out, size, "%s:%d", host, ntohs (v4->sin_port));
    }
}

void nd_listen_test (bool verbose)
{
    if (verbose)
        printf (" * nd_listen: ");
    struct {
        const char *text, *expected;
    } cases [] = {
        { "127.0.0.1:8080", "127.0.0.1:8080" },
        { "[::1]:8090", "[::1]:8090" },
        { "::1:8090", "[::1]:8090" },
        { "*:8070", "0.0.0.0:8070" },
        { ":8070", "0.0.0.0:8070" },
        { "127.0.0.1:0", "127.0.0.1:0" },
        { "0.0.0.0:65535", "0.0.0.0:65535" },
        { "127.0.0.1:65536", "" },
        { "127.0.0.1:", "" },
        { "127.0.0.1:80x", "" },
        { "127.0.0.1:-1", "" },
        { "127.0.0.1", "" },
        { "8080", "" },
        { "", "" }
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out [80];
        s_test_format (cases [i].text, out, sizeof out);
        if (strcmp (out, cases [i].expected)) {
            fprintf (stderr, "nd_listen: %s gave \"%s\", not \"%s\"\n", cases [i].text, out,
                     cases [i].expected);
            assert (false);
        }
    }
    if (verbose)
        printf ("OK\n");
}
