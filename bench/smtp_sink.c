/*  smtp_sink - a local SMTP server that accepts and discards, for the
    mail-sender's benchmark; and the baseline client it is measured by.

    SYNOPSIS
        smtp_sink -p PORT              serve: accept every message, count
        smtp_sink -c PORT -n N [-s BYTES]
                                       blast: send N messages of BYTES over
                                       one pipelined connection, print one
                                       JSON line (messages, seconds,
                                       messages_per_s)

    The server is one thread and epoll, like Postfix's smtp-sink: it
    answers EHLO with PIPELINING, every command with 250, DATA with 354,
    and the end of a message with 250; it never stores anything, so what a
    client reaches against it is the client's own cost. On SIGTERM it
    prints {"messages": N, "connections": N} and exits.              */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define s_MAX_CONNECTIONS 1024
#define s_LINE_MAX 1024

typedef struct {
    int fd;
    bool in_data;
    char tail [5];              //  the last bytes of DATA, for "\r\n.\r\n"
    char line [s_LINE_MAX];
    size_t used;
} s_client_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal (int signal)
{
    (void) signal;
    s_stop = 1;
}

static void s_reply (int fd, const char *text)
{
    if (write (fd, text, strlen (text)) < 0)
        return;
}

//  One command line (without CRLF).
static void s_command (s_client_t *client, const char *line, long *messages)
{
    (void) messages;
    if (strncasecmp (line, "EHLO", 4) == 0)
        s_reply (client->fd, "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n");
    else
    if (strncasecmp (line, "DATA", 4) == 0) {
        client->in_data = true;
        memset (client->tail, 0, sizeof client->tail);
        s_reply (client->fd, "354 go ahead\r\n");
    }
    else
    if (strncasecmp (line, "QUIT", 4) == 0)
        s_reply (client->fd, "221 bye\r\n");
    else
        s_reply (client->fd, "250 ok\r\n");
}

//  Message bytes: watches for the terminating "\r\n.\r\n"; returns how
//  many of the bytes belonged to the message.
static size_t s_data (s_client_t *client, const char *data, size_t size, long *messages)
{
    for (size_t i = 0; i < size; i++) {
        memmove (client->tail, client->tail + 1, 4);
        client->tail [4] = data [i];
        if (memcmp (client->tail, "\r\n.\r\n", 5) == 0) {
            client->in_data = false;
            (*messages)++;
            s_reply (client->fd, "250 2.0.0 accepted\r\n");
            return i + 1;
        }
    }
    return size;
}

static bool s_read (s_client_t *client, long *messages)
{
    char buffer [65536];
    ssize_t size = read (client->fd, buffer, sizeof buffer);
    if (size <= 0)
        return size < 0 && errno == EAGAIN;
    for (size_t at = 0; at < (size_t) size; ) {
        if (client->in_data) {
            at += s_data (client, buffer + at, (size_t) size - at, messages);
            continue;
        }
        char c = buffer [at++];
        if (c == '\n') {
            client->line [client->used > 0 && client->line [client->used - 1] == '\r'
                          ? client->used - 1 : client->used] = 0;
            client->used = 0;
            s_command (client, client->line, messages);
            //  "\r\n" before the first data line is part of the terminator
            if (client->in_data)
                memcpy (client->tail + 3, "\r\n", 2);
        }
        else
        if (client->used < s_LINE_MAX - 1)
            client->line [client->used++] = c;
    }
    return true;
}

static int s_serve (int port)
{
    int listener = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), on = 1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    setsockopt (listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind (listener, (struct sockaddr *) &address, sizeof address) || listen (listener, 128)) {
        perror ("smtp_sink");
        return 1;
    }
    int poller = epoll_create1 (0);
    struct epoll_event event = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl (poller, EPOLL_CTL_ADD, listener, &event);
    long messages = 0, connections = 0;
    printf ("{\"listening\": %d}\n", port);
    fflush (stdout);
    while (!s_stop) {
        struct epoll_event ready [64];
        int count = epoll_wait (poller, ready, 64, 200);
        for (int i = 0; i < count; i++) {
            s_client_t *client = (s_client_t *) ready [i].data.ptr;
            if (!client) {
                int fd = accept4 (listener, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    continue;
                setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                client = (s_client_t *) calloc (1, sizeof *client);
                client->fd = fd;
                connections++;
                struct epoll_event add = { .events = EPOLLIN, .data.ptr = client };
                epoll_ctl (poller, EPOLL_CTL_ADD, fd, &add);
                s_reply (fd, "220 sink ESMTP\r\n");
            }
            else
            if (!s_read (client, &messages)) {
                close (client->fd);
                free (client);
            }
        }
    }
    printf ("{\"messages\": %ld, \"connections\": %ld}\n", messages, connections);
    return 0;
}

//  The ceiling: N messages over one pipelined connection, no library.
static int s_blast (int port, long count, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        perror ("smtp_sink");
        return 1;
    }
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    char *message = (char *) malloc (size + 256);
    int head = snprintf (message, 256, "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                                       "DATA\r\nSubject: x\r\n\r\n");
    memset (message + head, 'x', size);
    for (size_t i = 76; i < size; i += 78)
        memcpy (message + head + i, "\r\n", 2);
    memcpy (message + head + size, "\r\n.\r\n", 5);
    size_t total = (size_t) head + size + 5;
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    s_reply (fd, "EHLO blast\r\n");
    char buffer [65536];
    long answers = 0, want = 4 * count + 5;        //  greeting, 4 EHLO lines, 4 a message
    long sent = 0;
    while (answers < want) {
        if (sent < count && sent - (answers - 5) / 4 < 50) {   //  50 messages in flight
            if (write (fd, message, total) < 0)
                break;
            sent++;
            continue;
        }
        ssize_t got = read (fd, buffer, sizeof buffer);
        if (got <= 0)
            break;
        for (ssize_t i = 0; i < got; i++)
            answers += buffer [i] == '\n';
    }
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double seconds = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf ("{\"messages\": %ld, \"seconds\": %.3f, \"messages_per_s\": %.0f}\n",
            count, seconds, (double) count / seconds);
    free (message);
    close (fd);
    return 0;
}

int main (int argc, char **argv)
{
    int port = 0, client = 0, option;
    long count = 10000;
    size_t size = 6000;
    while ((option = getopt (argc, argv, "p:c:n:s:")) != -1)
        switch (option) {
            case 'p': port = atoi (optarg); break;
            case 'c': client = atoi (optarg); break;
            case 'n': count = atol (optarg); break;
            case 's': size = (size_t) atol (optarg); break;
            default:
                fprintf (stderr, "usage: smtp_sink -p PORT | -c PORT -n N [-s BYTES]\n");
                return 2;
        }
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    signal (SIGPIPE, SIG_IGN);
    return client ? s_blast (client, count, size) : port ? s_serve (port) : 2;
}
