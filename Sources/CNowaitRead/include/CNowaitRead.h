#ifndef LIVEBOOT_CNOWAITREAD_H
#define LIVEBOOT_CNOWAITREAD_H
#include <stddef.h>

/// Reads up to `count` bytes at `offset` only if the page cache holds them (Linux preadv2 with RWF_NOWAIT).
/// Returns the bytes read, or -1 when nothing could be read without blocking (or on other systems).
long liveboot_pread_nowait(int fd, void *buffer, size_t count, long long offset);

#endif
