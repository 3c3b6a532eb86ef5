/*  mail_tunnel - implicit TLS (SMTPS) for libesmtp, which only knows
    STARTTLS.

    For one session: a listener on 127.0.0.1 and an ephemeral port; a
    thread accepts libesmtp's one connection, opens TCP to the relay,
    completes a TLS handshake that checks the certificate chain and the
    relay's name (unless tls-verify = no), and copies bytes both ways
    until either side closes or nothing moves for the timeout. libesmtp
    speaks plain SMTP to the listener; everything on the network is TLS.
    A handshake that fails closes libesmtp's connection at once, and its
    reason is what the session reports.                                 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "mail.h"

struct _mail_tunnel_t {
    int listener;
    int stop [2];               //  a pipe: readable when the tunnel must end
    char address [32];
    char *host, *port;
    SSL_CTX *ctx;               //  not ours
    bool verify;
    int timeout_ms;
    pthread_t thread;
    bool started;
    char reason [ND_SEND_REASON_MAX];
};

static int s_connect (mail_tunnel_t *self)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *found;
    int rc = getaddrinfo (self->host, self->port, &hints, &found);
    if (rc) {
        snprintf (self->reason, sizeof self->reason, "%s: %s", self->host, gai_strerror (rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = found; a && fd < 0; a = a->ai_next) {
        fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect (fd, a->ai_addr, a->ai_addrlen)) {
            snprintf (self->reason, sizeof self->reason, "cannot connect to %s:%s: %s",
                      self->host, self->port, strerror (errno));
            close (fd);
            fd = -1;
        }
    }
    freeaddrinfo (found);
    struct timeval timeout = { self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000 };
    if (fd >= 0) {
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    }
    return fd;
}

static SSL *s_handshake (mail_tunnel_t *self, int fd)
{
    SSL *ssl = SSL_new (self->ctx);
    SSL_set_fd (ssl, fd);
    SSL_set_tlsext_host_name (ssl, self->host);
    if (self->verify) {
        SSL_set1_host (ssl, self->host);
        SSL_set_verify (ssl, SSL_VERIFY_PEER, NULL);
    }
    if (SSL_connect (ssl) != 1) {
        long verified = SSL_get_verify_result (ssl);
        char error [160];
        ERR_error_string_n (ERR_get_error (), error, sizeof error);
        snprintf (self->reason, sizeof self->reason, "TLS to %s: %s", self->host,
                  verified != X509_V_OK ? X509_verify_cert_error_string (verified) : error);
        SSL_free (ssl);
        return NULL;
    }
    return ssl;
}

static bool s_write_all (int fd, const char *data, int size)
{
    while (size > 0) {
        ssize_t done = write (fd, data, (size_t) size);
        if (done <= 0)
            return false;
        data += done;
        size -= (int) done;
    }
    return true;
}

//  Copies both ways until a side closes, the tunnel stops, or silence.
static void s_pump (mail_tunnel_t *self, int plain, SSL *ssl)
{
    char buffer [16384];
    struct pollfd items [3] = { { plain, POLLIN, 0 }, { SSL_get_fd (ssl), POLLIN, 0 },
                                { self->stop [0], POLLIN, 0 } };
    while (true) {
        if (!SSL_pending (ssl) && poll (items, 3, self->timeout_ms) <= 0)
            break;
        if (items [2].revents)
            break;
        if (SSL_pending (ssl) || items [1].revents) {
            int size = SSL_read (ssl, buffer, sizeof buffer);
            if (size <= 0 || !s_write_all (plain, buffer, size))
                break;
        }
        if (items [0].revents) {
            ssize_t size = read (plain, buffer, sizeof buffer);
            if (size <= 0 || SSL_write (ssl, buffer, (int) size) != (int) size)
                break;
        }
        items [0].revents = items [1].revents = 0;
    }
}

static void *s_run (void *arg)
{
    mail_tunnel_t *self = (mail_tunnel_t *) arg;
    struct pollfd items [2] = { { self->listener, POLLIN, 0 }, { self->stop [0], POLLIN, 0 } };
    if (poll (items, 2, self->timeout_ms) <= 0 || !(items [0].revents & POLLIN))
        return NULL;
    int plain = accept4 (self->listener, NULL, NULL, SOCK_CLOEXEC);
    int remote = plain >= 0 ? s_connect (self) : -1;
    SSL *ssl = remote >= 0 ? s_handshake (self, remote) : NULL;
    if (ssl) {
        s_pump (self, plain, ssl);
        SSL_shutdown (ssl);
        SSL_free (ssl);
    }
    if (remote >= 0)
        close (remote);
    if (plain >= 0)
        close (plain);
    return NULL;
}

static int s_listen (mail_tunnel_t *self)
{
    struct sockaddr_in address = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t size = sizeof address;
    self->listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (self->listener < 0 || bind (self->listener, (struct sockaddr *) &address, sizeof address)
    ||  listen (self->listener, 1)
    ||  getsockname (self->listener, (struct sockaddr *) &address, &size))
        return -1;
    snprintf (self->address, sizeof self->address, "127.0.0.1:%d", ntohs (address.sin_port));
    return 0;
}

mail_tunnel_t *mail_tunnel_new (const char *host, const char *port, SSL_CTX *ctx, bool verify,
                                int timeout_ms, char *reason, size_t reason_size)
{
    mail_tunnel_t *self = (mail_tunnel_t *) zmalloc (sizeof *self);
    self->listener = self->stop [0] = self->stop [1] = -1;
    self->host = strdup (host);
    self->port = strdup (port);
    self->ctx = ctx;
    self->verify = verify;
    self->timeout_ms = timeout_ms;
    if (s_listen (self) || pipe2 (self->stop, O_CLOEXEC)
    ||  pthread_create (&self->thread, NULL, s_run, self)) {
        snprintf (reason, reason_size, "cannot start the TLS tunnel: %s", strerror (errno));
        mail_tunnel_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

const char *mail_tunnel_address (mail_tunnel_t *self)
{
    return self->address;
}

int mail_tunnel_close (mail_tunnel_t *self, char *reason, size_t reason_size)
{
    if (self && self->started) {
        if (write (self->stop [1], "x", 1) < 0)
            nd_log ("cannot stop the TLS tunnel: %s", strerror (errno));
        pthread_join (self->thread, NULL);
        self->started = false;
    }
    if (self && *self->reason && reason && !*reason)
        snprintf (reason, reason_size, "%s", self->reason);
    return self && *self->reason ? -1 : 0;
}

void mail_tunnel_destroy (mail_tunnel_t **self_p)
{
    mail_tunnel_t *self = *self_p;
    if (self) {
        mail_tunnel_close (self, NULL, 0);
        if (self->listener >= 0)
            close (self->listener);
        if (self->stop [0] >= 0) {
            close (self->stop [0]);
            close (self->stop [1]);
        }
        free (self->host);
        free (self->port);
        free (self);
        *self_p = NULL;
    }
}
