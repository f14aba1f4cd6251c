// The one jemalloc entry point `nibble bench footprint` needs (libjemalloc-dev, scripts/install-deps).
// Declared here rather than through <jemalloc/jemalloc.h>, whose malloc/free declarations would clash with
// Glibc's in Swift. Linking libjemalloc into the nibble CLI makes it the process allocator (Debian builds it
// without a symbol prefix), so "stats.allocated" is the CLI's whole heap.
#ifndef NIBBLE_CJEMALLOC_SHIM_H
#define NIBBLE_CJEMALLOC_SHIM_H
#include <stddef.h>
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#endif
