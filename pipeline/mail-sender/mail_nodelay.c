/*  mail_nodelay - TCP_NODELAY for libesmtp's connections.

    libesmtp writes a message in buffer-sized pieces and the final
    "\r\n.\r\n" on its own; with Nagle's algorithm on, that last small
    segment waits for the relay to acknowledge the previous one, and the
    relay (waiting for the dot) delays its ACK by 40 ms: every message
    costs 40 ms of idle time, capping one connection near 25 messages a
    second. libesmtp offers no hook to its socket, so this program
    provides connect() itself: TCP sockets get TCP_NODELAY (what ZeroMQ
    and asyncio set anyway), then the C library's connect() runs. Nothing
    else changes, for any caller.                                        */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (s_connect_fn) (int, const struct sockaddr *, socklen_t);

int connect (int fd, const struct sockaddr *address, socklen_t size)
{
    if (address && (address->sa_family == AF_INET || address->sa_family == AF_INET6)) {
        int type = 0, on = 1;
        socklen_t type_size = sizeof type;
        if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &type_size) == 0 && type == SOCK_STREAM)
            setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    s_connect_fn *next = (s_connect_fn *) dlsym (RTLD_NEXT, "connect");
    return next (fd, address, size);
}
