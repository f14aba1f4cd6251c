#include "nibble_support.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define NIBBLE_HAVE_MMAP 1
#endif
#include <stdlib.h>

static _Thread_local char last_error[1024];

void nibble_support_set_error(const char* message) {
  if (!message) message = "";
  size_t n = strlen(message);
  if (n >= sizeof last_error) n = sizeof last_error - 1;
  memcpy(last_error, message, n);
  last_error[n] = 0;
}

const char* nibble_support_last_error(void) { return last_error; }

int nibble_support_map_file(const char* path, const void** data, size_t* size, char* error, size_t error_size) {
#ifdef NIBBLE_HAVE_MMAP
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(error, error_size, "cannot open '%s': %s", path, strerror(e));
    return e ? e : -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno ? errno : EINVAL;
    snprintf(error, error_size, "'%s' is not a regular file", path);
    close(fd);
    return e;
  }
  if (st.st_size == 0) {
    snprintf(error, error_size, "'%s' is empty (0 bytes), not a .nib file", path);
    close(fd);
    return EINVAL;
  }
  void* p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) {
    snprintf(error, error_size, "cannot map '%s' (%lld bytes): %s", path, (long long)st.st_size, strerror(e));
    return e ? e : -1;
  }
  *data = p;
  *size = (size_t)st.st_size;
  return 0;
#else
  FILE* f = fopen(path, "rb");
  if (!f) {
    snprintf(error, error_size, "cannot open '%s'", path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* p = n > 0 ? aligned_alloc(64, ((size_t)n + 63) / 64 * 64) : NULL;
  if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
    snprintf(error, error_size, "cannot read '%s'", path);
    free(p);
    fclose(f);
    return -1;
  }
  fclose(f);
  *data = p;
  *size = (size_t)n;
  return 0;
#endif
}

void nibble_support_unmap(const void* data, size_t size) {
  if (!data) return;
#ifdef NIBBLE_HAVE_MMAP
  munmap((void*)data, size);
#else
  (void)size;
  free((void*)data);
#endif
}

void* nibble_support_aligned_alloc(size_t alignment, size_t size) {
  if (size == 0) size = alignment;
  size = (size + alignment - 1) / alignment * alignment;  /* aligned_alloc wants a multiple */
  if (size < alignment) return NULL;                     /* wrapped around */
  return aligned_alloc(alignment, size);
}

void nibble_support_aligned_free(void* p) { free(p); }
