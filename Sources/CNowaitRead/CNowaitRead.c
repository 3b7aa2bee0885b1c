// preadv2 and RWF_NOWAIT need _GNU_SOURCE, which Swift's Glibc module does not define: hence this shim.
#define _GNU_SOURCE
#include "CNowaitRead.h"
#include <sys/uio.h>

long liveboot_pread_nowait(int fd, void *buffer, size_t count, long long offset) {
#if defined(__linux__) && defined(RWF_NOWAIT)
    struct iovec vector = { buffer, count };
    return (long)preadv2(fd, &vector, 1, (off_t)offset, RWF_NOWAIT);
#else
    (void)fd; (void)buffer; (void)count; (void)offset;
    return -1;
#endif
}
