/*  fuzz_file.h - the fuzzer's input as a file that a loader opens by its
    path: an anonymous memory file, /proc/self/fd/N. The caller closes the
    descriptor it returns.                                               */
#ifndef FUZZ_FILE_H_INCLUDED
#define FUZZ_FILE_H_INCLUDED
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int fuzz_file (const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create ("fuzz-input", 0);
    assert (fd >= 0);
    assert (write (fd, data, size) == (ssize_t) size);
    snprintf (path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}
#endif
