/* The small C shim under the C ABI: what the Swift core must not depend on directly so that it still
 * builds with Embedded Swift (thread-local storage, files and mmap). Not part of the public API. */
#ifndef NIBBLE_SUPPORT_H
#define NIBBLE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

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

/* A fork-join pool for a session's intra-op threads: `threads` - 1 worker pthreads plus the caller.
 * nibble_support_pool_run calls fn(ctx, t) once for every t in 0..<task_count, spread over the workers and the
 * calling thread, and returns when all have finished (everything they wrote is visible to the caller then).
 * One caller at a time. Builds without pthreads (NIBBLE_SUPPORT_SERIAL, set by scripts/build-embedded) run the
 * tasks in order on the caller and report one thread. create returns NULL if a thread cannot be started. */
typedef struct nibble_support_pool nibble_support_pool;
typedef void (*nibble_support_task)(void* ctx, int32_t task);
nibble_support_pool* nibble_support_pool_create(int32_t threads);
/* Threads that run tasks, the caller included (1 for the serial build). */
int32_t nibble_support_pool_threads(const nibble_support_pool* pool);
void nibble_support_pool_run(nibble_support_pool* pool, nibble_support_task fn, void* ctx, int32_t task_count);
/* Stops and joins the workers. NULL is a no-op. */
void nibble_support_pool_destroy(nibble_support_pool* pool);

#ifdef __cplusplus
}
#endif

#endif
