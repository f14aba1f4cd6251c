/* The small C shim under the C ABI: what the Swift core must not depend on directly so that it still
 * builds with Embedded Swift (thread-local storage, files and mmap). Not part of the public API. */
#ifndef NIBBLE_SUPPORT_H
#define NIBBLE_SUPPORT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Thread-local "last error" text behind nibble_last_error(). `message` is copied (truncated to 1023 bytes). */
void nibble_support_set_error(const char* message);
const char* nibble_support_last_error(void);

/* Maps `path` read-only. Returns 0 and sets data and size, or an errno-style code and writes a message to `error`.
 * Platforms without mmap read the file into malloc'ed memory; nibble_support_unmap undoes either. */
int nibble_support_map_file(const char* path, const void** data, size_t* size, char* error, size_t error_size);
void nibble_support_unmap(const void* data, size_t size);

/* Aligned allocation that reports failure with NULL (Swift's allocate would trap), for session arenas. */
void* nibble_support_aligned_alloc(size_t alignment, size_t size);
void nibble_support_aligned_free(void* p);

#ifdef __cplusplus
}
#endif

#endif
