/*
 * c_api_test: calls every function of Include/nibble.h from C (a declared function without a Swift body
 * fails only when a C program links), checks each documented status, message and out-parameter rule, and
 * checks the numbers of Tests/c/tiny.nib against a forward pass written here by hand.
 *
 *   nibble_c_api_test [Tests/c/tiny.nib]
 *
 * tiny.nib (Tests/c/make_tiny_nib.py): x[1,4] -> FullyConnected(W, b, output_min -0.5, output_max 4) -> Relu -> y[1,3].
 * Last line: "N passed, M failed"; the exit code is non-zero on any failure.
 */
#include <nibble.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a very small harness ---- */

static int passed, failed;

#define EXPECT(cond, ...)                                    \
  do {                                                       \
    if (cond) {                                              \
      passed++;                                              \
    } else {                                                 \
      failed++;                                              \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                          \
      fputc('\n', stderr);                                   \
    }                                                        \
  } while (0)

static const char* text(const char* s) { return s ? s : "(NULL)"; }

/* `call` returned `want` and left a last error that contains `needle` (and is not empty). */
#define EXPECT_STATUS(call, want, needle)                                                                     \
  do {                                                                                                        \
    nibble_status got_ = (call);                                                                              \
    const char* err_ = nibble_last_error();                                                                   \
    EXPECT(got_ == (want), "%s returned %d (%s), expected %d; last error: %s", #call, (int)got_,              \
           text(nibble_status_string(got_)), (int)(want), text(err_));                                       \
    EXPECT(err_ && err_[0] && strstr(err_, (needle)), "%s: last error \"%s\" should contain \"%s\"", #call, \
           text(err_), (needle));                                                                             \
  } while (0)

#define EXPECT_OK(call)                                                                                    \
  do {                                                                                                     \
    nibble_status got_ = (call);                                                                           \
    EXPECT(got_ == NIBBLE_OK, "%s returned %d (%s): %s", #call, (int)got_, text(nibble_status_string(got_)), \
           text(nibble_last_error()));                                                                     \
  } while (0)

/* EXPECT_STATUS in a child process, for calls where a bug would be a Swift trap (DESIGN.md: a trap must never
 * cross the boundary for bad input): a trap then fails this check instead of ending the whole test. */
#define EXPECT_STATUS_NO_TRAP(call, want, needle)                                                          \
  do {                                                                                                     \
    fflush(NULL);                                                                                          \
    pid_t pid_ = fork();                                                                                   \
    if (pid_ == 0) {                                                                                       \
      passed = failed = 0;                                                                                 \
      EXPECT_STATUS(call, want, needle);                                                                   \
      _exit(failed ? 1 : 0);                                                                               \
    }                                                                                                      \
    int status_ = 0;                                                                                       \
    if (pid_ < 0 || waitpid(pid_, &status_, 0) != pid_) {                                                  \
      EXPECT(0, "fork/waitpid failed for %s", #call);                                                      \
    } else if (WIFSIGNALED(status_)) {                                                                     \
      EXPECT(0, "%s crashed the process (signal %d) instead of returning %s", #call, WTERMSIG(status_), #want); \
    } else {                                                                                               \
      EXPECT(WEXITSTATUS(status_) == 0, "%s (checked in a child process, see above)", #call);              \
    }                                                                                                      \
  } while (0)

/* Out-parameters start as these and must still hold them after a failed call. */
#define SENTINEL_MODEL ((nibble_model*)(uintptr_t)0x5e5e5e5e)
#define SENTINEL_SESSION ((nibble_session*)(uintptr_t)0x5e5e5e5e)
#define SENTINEL_SIZE ((size_t)0x5e5e5e5e)
#define SENTINEL_I32 ((int32_t)0x5e5e5e5e)

/* ---- tiny.nib and its forward pass by hand ---- */

static const float W[3][4] = {
    {0.5f, -0.25f, 1.0f, 0.125f},
    {-1.0f, 0.75f, -0.5f, 0.25f},
    {2.0f, 1.5f, 0.25f, -0.75f},
};
static const float B[3] = {0.25f, -0.125f, 0.5f};
static const float OUTPUT_MIN = -0.5f, OUTPUT_MAX = 4.0f;

static void reference(const float x[4], float y[3]) {
  for (int j = 0; j < 3; j++) {
    double z = B[j];
    for (int i = 0; i < 4; i++) z += (double)W[j][i] * x[i];
    if (z < OUTPUT_MIN) z = OUTPUT_MIN;
    if (z > OUTPUT_MAX) z = OUTPUT_MAX;
    y[j] = z > 0 ? (float)z : 0.0f;  /* Relu */
  }
}

/* Inputs that reach each branch: below output_min, between, above output_max (clamped to 4), all zero. */
static const float INPUTS[][4] = {
    {-1.0f, -0.75f, -0.5f, -0.25f},
    {2.0f, 2.0f, 1.0f, 0.0f},
    {0.25f, 0.5f, 0.75f, 1.0f},
    {0.0f, 0.0f, 0.0f, 0.0f},
    {0.3f, -1.7f, 2.9f, 0.01f},
    {-3.0f, 1.0f, -2.0f, 5.0f},
};
#define INPUT_COUNT (sizeof INPUTS / sizeof INPUTS[0])

static unsigned char* model_bytes;
static size_t model_size;

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char* data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) != NULL) {
      if (fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
      } else {
        *size = (size_t)n;
      }
    }
  }
  fclose(f);
  return data;
}

/* A 64-byte aligned copy of `data` (the caller frees it). */
static unsigned char* aligned_copy(const unsigned char* data, size_t size) {
  unsigned char* p = aligned_alloc(64, (size + 63) / 64 * 64);
  if (p) memcpy(p, data, size);
  return p;
}

static uint64_t read_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Sets input 0, runs, reads output 0; returns 0 on success. */
static int infer(nibble_session* s, const float x[4], float y[3]) {
  if (nibble_session_set_input(s, 0, x, 4 * sizeof(float)) != NIBBLE_OK) return 1;
  if (nibble_session_run(s) != NIBBLE_OK) return 1;
  return nibble_session_get_output(s, 0, y, 3 * sizeof(float)) != NIBBLE_OK;
}

/* Runs every INPUTS row through `s` and compares with the hand-written forward pass. */
static void expect_reference_outputs(nibble_session* s, const char* what) {
  for (size_t k = 0; k < INPUT_COUNT; k++) {
    float y[3] = {NAN, NAN, NAN}, want[3];
    reference(INPUTS[k], want);
    int rc = infer(s, INPUTS[k], y);
    EXPECT(rc == 0, "%s: inference on input %zu failed: %s", what, k, nibble_last_error());
    for (int j = 0; j < 3; j++) {
      EXPECT(fabsf(y[j] - want[j]) <= 1e-5f, "%s: input %zu: y[%d] = %.9g, expected %.9g", what, k, j, y[j], want[j]);
    }
  }
}

/* ---- the tests ---- */

static void test_versions_and_statuses(void) {
  EXPECT(nibble_abi_version() == NIBBLE_ABI_VERSION, "abi %d vs header %d", (int)nibble_abi_version(), NIBBLE_ABI_VERSION);
  EXPECT(nibble_format_version() == NIBBLE_FORMAT_VERSION, "format %d vs header %d", (int)nibble_format_version(),
         NIBBLE_FORMAT_VERSION);
  const char* v = nibble_version_string();
  EXPECT(v && v[0], "version string empty");
  int major = -1, minor = -1, patch = -1;
  EXPECT(v && sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3, "version '%s' is not MAJOR.MINOR.PATCH", text(v));

  static const struct {
    nibble_status status;
    const char* name;
  } statuses[] = {
      {NIBBLE_OK, "NIBBLE_OK"},
      {NIBBLE_INVALID_ARGUMENT, "NIBBLE_INVALID_ARGUMENT"},
      {NIBBLE_MALFORMED_MODEL, "NIBBLE_MALFORMED_MODEL"},
      {NIBBLE_UNSUPPORTED, "NIBBLE_UNSUPPORTED"},
      {NIBBLE_OUT_OF_MEMORY, "NIBBLE_OUT_OF_MEMORY"},
      {NIBBLE_IO_ERROR, "NIBBLE_IO_ERROR"},
      {NIBBLE_VERSION_MISMATCH, "NIBBLE_VERSION_MISMATCH"},
      {NIBBLE_INTERNAL_ERROR, "NIBBLE_INTERNAL_ERROR"},
  };
  EXPECT(NIBBLE_OK == 0 && NIBBLE_INTERNAL_ERROR == 7, "status values are part of the ABI");
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
    const char* s = nibble_status_string(statuses[i].status);
    size_t n = strlen(statuses[i].name);
    /* "NIBBLE_OK: ..." — the exact name, then a non-identifier character. */
    EXPECT(s && strncmp(s, statuses[i].name, n) == 0 && (s[n] == ':' || s[n] == 0), "status %d string '%s'",
           (int)statuses[i].status, text(s));
  }
  const char* unknown = nibble_status_string((nibble_status)99);
  EXPECT(unknown && unknown[0] && strstr(unknown, "UNKNOWN"), "unknown status string '%s'", text(unknown));
  unknown = nibble_status_string((nibble_status)-1);
  EXPECT(unknown && unknown[0], "status -1 string is empty");
}

static void test_null_arguments(nibble_model* model, nibble_session* session) {
  nibble_model* m = SENTINEL_MODEL;
  nibble_session* s = SENTINEL_SESSION;
  size_t n = SENTINEL_SIZE;
  int32_t level = SENTINEL_I32;
  nibble_tensor_info info;
  memset(&info, 0x5e, sizeof info);
  nibble_tensor_info untouched = info;
  float buf[4] = {0};

  EXPECT_STATUS(nibble_model_load_file(NULL, &m), NIBBLE_INVALID_ARGUMENT, "nibble_model_load_file");
  EXPECT_STATUS(nibble_model_load_file("tiny.nib", NULL), NIBBLE_INVALID_ARGUMENT, "out_model");
  EXPECT_STATUS(nibble_model_load_memory(NULL, 64, &m), NIBBLE_INVALID_ARGUMENT, "nibble_model_load_memory");
  EXPECT_STATUS(nibble_model_load_memory(model_bytes, model_size, NULL), NIBBLE_INVALID_ARGUMENT, "out_model");
  EXPECT(m == SENTINEL_MODEL, "out_model changed on failure");

  EXPECT(nibble_model_input_count(NULL) == 0, "input_count(NULL)");
  EXPECT(nibble_model_output_count(NULL) == 0, "output_count(NULL)");
  EXPECT(nibble_model_layer_count(NULL) == 0, "layer_count(NULL)");

  EXPECT_STATUS(nibble_model_input_info(NULL, 0, &info), NIBBLE_INVALID_ARGUMENT, "nibble_model_input_info");
  EXPECT_STATUS(nibble_model_input_info(model, 0, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_model_input_info");
  EXPECT_STATUS(nibble_model_output_info(NULL, 0, &info), NIBBLE_INVALID_ARGUMENT, "nibble_model_output_info");
  EXPECT_STATUS(nibble_model_output_info(model, 0, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_model_output_info");
  EXPECT(memcmp(&info, &untouched, sizeof info) == 0, "out_info changed on failure");
  EXPECT_STATUS(nibble_model_arena_size(NULL, &n), NIBBLE_INVALID_ARGUMENT, "nibble_model_arena_size");
  EXPECT_STATUS(nibble_model_arena_size(model, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_model_arena_size");
  EXPECT(n == SENTINEL_SIZE, "out_bytes changed on failure");
  EXPECT_STATUS(nibble_model_max_residual_level(NULL, &level), NIBBLE_INVALID_ARGUMENT, "nibble_model_max_residual_level");
  EXPECT_STATUS(nibble_model_max_residual_level(model, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_model_max_residual_level");
  EXPECT_STATUS(nibble_model_layer_residual_edges(NULL, 0, &level), NIBBLE_INVALID_ARGUMENT,
                "nibble_model_layer_residual_edges");
  EXPECT_STATUS(nibble_model_layer_residual_edges(model, 0, NULL), NIBBLE_INVALID_ARGUMENT,
                "nibble_model_layer_residual_edges");
  EXPECT(level == SENTINEL_I32, "out_level/out_edges changed on failure");

  nibble_session_options_default(NULL); /* must not crash */
  EXPECT_STATUS(nibble_session_create(NULL, NULL, &s), NIBBLE_INVALID_ARGUMENT, "nibble_session_create");
  EXPECT_STATUS(nibble_session_create(model, NULL, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_session_create");
  EXPECT(s == SENTINEL_SESSION, "out_session changed on failure");

  EXPECT_STATUS(nibble_session_set_input(NULL, 0, buf, 16), NIBBLE_INVALID_ARGUMENT, "nibble_session_set_input");
  EXPECT_STATUS(nibble_session_set_input(session, 0, NULL, 16), NIBBLE_INVALID_ARGUMENT, "nibble_session_set_input");
  EXPECT(nibble_session_last_error(session)[0] != 0, "session error not recorded for a NULL input");
  EXPECT_STATUS(nibble_session_run(NULL), NIBBLE_INVALID_ARGUMENT, "nibble_session_run");
  EXPECT_STATUS(nibble_session_get_output(NULL, 0, buf, 12), NIBBLE_INVALID_ARGUMENT, "nibble_session_get_output");
  EXPECT_STATUS(nibble_session_get_output(session, 0, NULL, 12), NIBBLE_INVALID_ARGUMENT, "nibble_session_get_output");
  EXPECT_STATUS(nibble_session_set_residual_level(NULL, 0), NIBBLE_INVALID_ARGUMENT, "nibble_session_set_residual_level");
  EXPECT_STATUS(nibble_session_set_layer_residual_level(NULL, 0, 0), NIBBLE_INVALID_ARGUMENT,
                "nibble_session_set_layer_residual_level");
  EXPECT_STATUS(nibble_session_set_codec(NULL, NIBBLE_CODEC_NONE), NIBBLE_INVALID_ARGUMENT, "nibble_session_set_codec");
  n = SENTINEL_SIZE;
  EXPECT_STATUS(nibble_session_arena_used(NULL, &n), NIBBLE_INVALID_ARGUMENT, "nibble_session_arena_used");
  EXPECT_STATUS(nibble_session_arena_used(session, NULL), NIBBLE_INVALID_ARGUMENT, "nibble_session_arena_used");
  EXPECT(n == SENTINEL_SIZE, "out_bytes changed on failure");
  EXPECT(nibble_session_last_error(NULL) != NULL, "nibble_session_last_error(NULL) is NULL");

  nibble_model_free(NULL);
  nibble_session_free(NULL);
  passed++; /* the *_free(NULL) calls returned */
}

static void test_load_errors(void) {
  nibble_model* m = SENTINEL_MODEL;
  const char* missing = "/nonexistent-nibble-dir/missing-model.nib";
  EXPECT_STATUS(nibble_model_load_file(missing, &m), NIBBLE_IO_ERROR, missing);
  EXPECT_STATUS(nibble_model_load_file("/", &m), NIBBLE_IO_ERROR, "/");
  EXPECT(m == SENTINEL_MODEL, "out_model changed on a failed load_file");

  /* Garbage, empty, too short, truncated. */
  unsigned char* garbage = aligned_alloc(64, 256);
  if (garbage) {
    for (int i = 0; i < 256; i++) garbage[i] = (unsigned char)(i * 37 + 11);
    EXPECT_STATUS(nibble_model_load_memory(garbage, 256, &m), NIBBLE_MALFORMED_MODEL, "magic");
    EXPECT_STATUS(nibble_model_load_memory(garbage, 0, &m), NIBBLE_MALFORMED_MODEL, "header");
    free(garbage);
  }
  unsigned char* copy = aligned_copy(model_bytes, model_size);
  if (!copy) {
    EXPECT(0, "out of memory");
    return;
  }
  EXPECT_STATUS(nibble_model_load_memory(copy, 10, &m), NIBBLE_MALFORMED_MODEL, "header");
  EXPECT_STATUS(nibble_model_load_memory(copy, model_size - 1, &m), NIBBLE_MALFORMED_MODEL, "truncated");
  /* The same truncation from an unaligned buffer (copied inside Nibble, freed again on failure). */
  unsigned char* unaligned_buf = malloc(model_size + 1);
  if (unaligned_buf) {
    memcpy(unaligned_buf + 1, model_bytes, model_size);
    EXPECT_STATUS(nibble_model_load_memory(unaligned_buf + 1, model_size - 1, &m), NIBBLE_MALFORMED_MODEL, "truncated");
    free(unaligned_buf);
  }

  /* One flipped bit in the weights section (section entry 1: offset at header 64 + 32 + 8). */
  uint64_t weights_offset = read_u64(copy + 64 + 32 + 8);
  EXPECT(weights_offset > 0 && weights_offset < model_size, "weights section offset %llu", (unsigned long long)weights_offset);
  if (weights_offset < model_size) {
    copy[weights_offset + 1] ^= 0x10;
    EXPECT_STATUS(nibble_model_load_memory(copy, model_size, &m), NIBBLE_MALFORMED_MODEL, "checksum");
    copy[weights_offset + 1] ^= 0x10;
  }
  /* A flipped byte in the section table. */
  copy[64 + 8] ^= 0x01;
  EXPECT_STATUS(nibble_model_load_memory(copy, model_size, &m), NIBBLE_MALFORMED_MODEL, "checksum");
  copy[64 + 8] ^= 0x01;
  /* A newer format version. */
  copy[4] = 2;
  EXPECT_STATUS(nibble_model_load_memory(copy, model_size, &m), NIBBLE_VERSION_MISMATCH, "version");
  copy[4] = 1;
  EXPECT(m == SENTINEL_MODEL, "out_model changed on a failed load_memory");

  /* Restored bytes load again. */
  nibble_model* ok = NULL;
  EXPECT_OK(nibble_model_load_memory(copy, model_size, &ok));
  nibble_model_free(ok);
  free(copy);
}

static void test_model_info(nibble_model* model) {
  EXPECT(nibble_model_input_count(model) == 1, "input count %zu", nibble_model_input_count(model));
  EXPECT(nibble_model_output_count(model) == 1, "output count %zu", nibble_model_output_count(model));
  EXPECT(nibble_model_layer_count(model) == 2, "layer count %zu", nibble_model_layer_count(model));

  nibble_tensor_info in, out;
  EXPECT_OK(nibble_model_input_info(model, 0, &in));
  EXPECT_OK(nibble_model_output_info(model, 0, &out));
  EXPECT(in.name && strcmp(in.name, "x") == 0, "input name '%s'", text(in.name));
  EXPECT(in.dtype == NIBBLE_DTYPE_FLOAT32 && in.rank == 2 && in.shape[0] == 1 && in.shape[1] == 4 && in.byte_size == 16,
         "input info dtype %d rank %zu shape [%lld, %lld] bytes %zu", (int)in.dtype, in.rank, (long long)in.shape[0],
         (long long)in.shape[1], in.byte_size);
  EXPECT(out.name && strcmp(out.name, "y") == 0, "output name '%s'", text(out.name));
  EXPECT(out.dtype == NIBBLE_DTYPE_FLOAT32 && out.rank == 2 && out.shape[0] == 1 && out.shape[1] == 3 && out.byte_size == 12,
         "output info dtype %d rank %zu shape [%lld, %lld] bytes %zu", (int)out.dtype, out.rank, (long long)out.shape[0],
         (long long)out.shape[1], out.byte_size);

  nibble_tensor_info info;
  memset(&info, 0x5e, sizeof info);
  nibble_tensor_info untouched = info;
  EXPECT_STATUS(nibble_model_input_info(model, 1, &info), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS(nibble_model_output_info(model, 1, &info), NIBBLE_INVALID_ARGUMENT, "out of range");
  /* size_t indices near SIZE_MAX (negative when Swift sees size_t as Int). */
  EXPECT_STATUS_NO_TRAP(nibble_model_input_info(model, SIZE_MAX, &info), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS_NO_TRAP(nibble_model_output_info(model, SIZE_MAX, &info), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT(memcmp(&info, &untouched, sizeof info) == 0, "out_info changed on failure");

  size_t arena = 0;
  EXPECT_OK(nibble_model_arena_size(model, &arena));
  EXPECT(arena > 0 && arena % NIBBLE_ARENA_ALIGNMENT == 0, "arena size %zu", arena);
  int32_t level = SENTINEL_I32, edges = SENTINEL_I32;
  EXPECT_OK(nibble_model_max_residual_level(model, &level));
  EXPECT(level == 0, "max residual level %d", (int)level);
  EXPECT_OK(nibble_model_layer_residual_edges(model, 0, &edges));
  EXPECT(edges == 0, "layer 0 residual edges %d", (int)edges);
  EXPECT_OK(nibble_model_layer_residual_edges(model, 1, &edges));
  edges = SENTINEL_I32;
  EXPECT_STATUS(nibble_model_layer_residual_edges(model, 2, &edges), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS_NO_TRAP(nibble_model_layer_residual_edges(model, SIZE_MAX, &edges), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT(edges == SENTINEL_I32, "out_edges changed on failure");

  /* Names live as long as the model: still the same after other calls. */
  nibble_tensor_info again;
  EXPECT_OK(nibble_model_input_info(model, 0, &again));
  EXPECT(again.name == in.name && strcmp(in.name, "x") == 0, "input name pointer not stable");
}

static void test_session_options(nibble_model* model) {
  nibble_session_options o;
  memset(&o, 0x5e, sizeof o);
  nibble_session_options_default(&o);
  EXPECT(o.struct_size == sizeof o, "struct_size %zu, expected %zu", o.struct_size, sizeof o);
  EXPECT(o.arena == NULL && o.arena_size == 0, "default arena");
  EXPECT(o.num_threads == 0 || o.num_threads == 1, "default num_threads %d", (int)o.num_threads);
  EXPECT(o.residual_level == -1, "default residual_level %d", (int)o.residual_level);
  EXPECT(o.codec == NIBBLE_CODEC_NONE, "default codec %d", (int)o.codec);

  size_t needed = 0;
  EXPECT_OK(nibble_model_arena_size(model, &needed));
  nibble_session* s = SENTINEL_SESSION;
  nibble_session_options bad;

  bad = o;
  bad.struct_size = 0;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "struct_size");
  bad = o;
  bad.struct_size = sizeof bad + 64;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "struct_size");
  bad = o;
  bad.residual_level = 3;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_UNSUPPORTED, "residual level 3");
  bad = o;
  bad.codec = NIBBLE_CODEC_CAT;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_UNSUPPORTED, "codec");
  bad = o;
  bad.codec = NIBBLE_CODEC_TRANSFORM;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_UNSUPPORTED, "codec");
  bad = o;
  bad.codec = (nibble_codec)42;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "codec");
  bad = o;
  bad.num_threads = -1;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "num_threads");
  bad = o;
  bad.num_threads = 100000;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "num_threads");
  bad = o;
  bad.arena_size = 4096;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "arena");

  /* Caller arenas: too small, misaligned, exact. */
  unsigned char* arena = aligned_alloc(NIBBLE_ARENA_ALIGNMENT, needed + NIBBLE_ARENA_ALIGNMENT);
  if (!arena) {
    EXPECT(0, "out of memory");
    return;
  }
  bad = o;
  bad.arena = arena;
  bad.arena_size = needed - 1;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_OUT_OF_MEMORY, "needed");
  char expected[96];
  snprintf(expected, sizeof expected, "needed %zu bytes, got %zu", needed, needed - 1);
  EXPECT(strstr(nibble_last_error(), expected) != NULL, "'%s' should say '%s'", nibble_last_error(), expected);
  bad.arena_size = 0;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_OUT_OF_MEMORY, "needed");
  bad.arena = arena + 8;
  bad.arena_size = needed;
  EXPECT_STATUS(nibble_session_create(model, &bad, &s), NIBBLE_INVALID_ARGUMENT, "aligned");
  EXPECT(s == SENTINEL_SESSION, "out_session changed on failure");

  nibble_session_options good = o;
  good.arena = arena;
  good.arena_size = needed;
  nibble_session* session = NULL;
  EXPECT_OK(nibble_session_create(model, &good, &session));
  if (session) {
    size_t used = 0;
    EXPECT_OK(nibble_session_arena_used(session, &used));
    EXPECT(used > 0 && used <= needed, "arena used %zu of %zu", used, needed);
    expect_reference_outputs(session, "caller arena");
    nibble_session_free(session);
  }
  free(arena);

  /* An older caller's smaller options struct (without `codec`): the missing fields keep their defaults. */
  nibble_session_options older = o;
  older.struct_size = offsetof(nibble_session_options, codec);
  older.codec = (nibble_codec)42; /* beyond struct_size: must not be read */
  session = NULL;
  EXPECT_OK(nibble_session_create(model, &older, &session));
  nibble_session_free(session);

  /* NULL options and explicit defaults. */
  session = NULL;
  EXPECT_OK(nibble_session_create(model, NULL, &session));
  nibble_session_free(session);
  session = NULL;
  EXPECT_OK(nibble_session_create(model, &o, &session));
  nibble_session_free(session);
}

static void test_session_calls(nibble_model* model, nibble_session* s) {
  float x[4] = {1, 2, 3, 4}, y[3];
  EXPECT_STATUS(nibble_session_set_input(s, 0, x, 15), NIBBLE_INVALID_ARGUMENT, "needs 16 bytes");
  EXPECT(strstr(nibble_session_last_error(s), "needs 16 bytes") != NULL, "session error '%s'", nibble_session_last_error(s));
  EXPECT_STATUS(nibble_session_set_input(s, 0, x, 32), NIBBLE_INVALID_ARGUMENT, "needs 16 bytes");
  EXPECT_STATUS(nibble_session_set_input(s, 1, x, 16), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS_NO_TRAP(nibble_session_set_input(s, SIZE_MAX, x, 16), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_OK(nibble_session_set_input(s, 0, x, sizeof x));
  EXPECT(nibble_session_last_error(s)[0] == 0, "session error not cleared by a successful call: '%s'",
         nibble_session_last_error(s));
  EXPECT_OK(nibble_session_run(s));
  EXPECT_STATUS(nibble_session_get_output(s, 0, y, 11), NIBBLE_INVALID_ARGUMENT, "12 bytes");
  EXPECT_STATUS(nibble_session_get_output(s, 1, y, sizeof y), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS_NO_TRAP(nibble_session_get_output(s, SIZE_MAX, y, sizeof y), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_STATUS_NO_TRAP(nibble_session_set_layer_residual_level(s, SIZE_MAX, 0), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_OK(nibble_session_get_output(s, 0, y, sizeof y));

  EXPECT_OK(nibble_session_set_residual_level(s, -1));
  EXPECT_OK(nibble_session_set_residual_level(s, 0));
  EXPECT_STATUS(nibble_session_set_residual_level(s, 3), NIBBLE_UNSUPPORTED, "residual level 3");
  EXPECT(nibble_session_last_error(s)[0] != 0, "session error empty after a failure");
  EXPECT_STATUS(nibble_session_set_residual_level(s, -2), NIBBLE_UNSUPPORTED, "-2");
  EXPECT_OK(nibble_session_set_layer_residual_level(s, 0, -1));
  EXPECT_OK(nibble_session_set_layer_residual_level(s, 1, 0));
  EXPECT_STATUS(nibble_session_set_layer_residual_level(s, 0, 1), NIBBLE_UNSUPPORTED, "level 1");
  EXPECT_STATUS(nibble_session_set_layer_residual_level(s, 2, 0), NIBBLE_INVALID_ARGUMENT, "out of range");
  EXPECT_OK(nibble_session_set_codec(s, NIBBLE_CODEC_NONE));
  EXPECT_STATUS(nibble_session_set_codec(s, NIBBLE_CODEC_CAT), NIBBLE_UNSUPPORTED, "codec");
  EXPECT_STATUS(nibble_session_set_codec(s, NIBBLE_CODEC_TRANSFORM), NIBBLE_UNSUPPORTED, "codec");
  EXPECT_STATUS(nibble_session_set_codec(s, (nibble_codec)42), NIBBLE_INVALID_ARGUMENT, "42");

  size_t used = SENTINEL_SIZE, needed = 0;
  EXPECT_OK(nibble_session_arena_used(s, &used));
  EXPECT_OK(nibble_model_arena_size(model, &needed));
  EXPECT(used > 0 && used <= needed, "arena used %zu, model asks %zu", used, needed);

  /* After all those failures the session still computes the right numbers. */
  expect_reference_outputs(s, "session after errors");
  /* Running twice on the same input gives the same output. */
  float y1[3], y2[3];
  EXPECT(infer(s, INPUTS[4], y1) == 0 && infer(s, INPUTS[4], y2) == 0 && memcmp(y1, y2, sizeof y1) == 0, "rerun differs");
}

static void test_memory_loads(nibble_model* from_file) {
  float want[INPUT_COUNT][3];
  nibble_session* s = NULL;
  EXPECT_OK(nibble_session_create(from_file, NULL, &s));
  for (size_t k = 0; k < INPUT_COUNT; k++) EXPECT(s && infer(s, INPUTS[k], want[k]) == 0, "file model inference %zu", k);
  nibble_session_free(s);

  /* Aligned (weights used in place) and unaligned (copied once) caller buffers give identical outputs. */
  unsigned char* aligned = aligned_copy(model_bytes, model_size);
  unsigned char* raw = malloc(model_size + 64);
  if (!aligned || !raw) {
    EXPECT(0, "out of memory");
    free(aligned);
    free(raw);
    return;
  }
  unsigned char* unaligned = raw + ((uintptr_t)raw % 2 == 0 ? 1 : 2); /* odd address */
  if (((uintptr_t)unaligned & 63) == 0) unaligned += 1;
  memcpy(unaligned, model_bytes, model_size);
  unsigned char* buffers[2] = {aligned, unaligned};
  const char* names[2] = {"aligned buffer", "unaligned buffer"};
  for (int b = 0; b < 2; b++) {
    nibble_model* m = NULL;
    EXPECT_OK(nibble_model_load_memory(buffers[b], model_size, &m));
    if (!m) continue;
    s = NULL;
    EXPECT_OK(nibble_session_create(m, NULL, &s));
    for (size_t k = 0; s && k < INPUT_COUNT; k++) {
      float y[3];
      EXPECT(infer(s, INPUTS[k], y) == 0 && memcmp(y, want[k], sizeof y) == 0, "%s: input %zu differs from the file model",
             names[b], k);
    }
    nibble_session_free(s);
    nibble_model_free(m); /* before the buffer it may use */
  }
  free(aligned);
  free(raw);
}

static void test_two_sessions(nibble_model* model) {
  nibble_session *a = NULL, *b = NULL;
  EXPECT_OK(nibble_session_create(model, NULL, &a));
  EXPECT_OK(nibble_session_create(model, NULL, &b));
  if (!a || !b) {
    nibble_session_free(a);
    nibble_session_free(b);
    return;
  }
  /* Identical inputs give identical outputs; different inputs stay independent. */
  for (size_t k = 0; k < INPUT_COUNT; k++) {
    float ya[3], yb[3];
    EXPECT(infer(a, INPUTS[k], ya) == 0 && infer(b, INPUTS[k], yb) == 0 && memcmp(ya, yb, sizeof ya) == 0,
           "sessions differ on input %zu", k);
  }
  float ya[3], yb[3], wa[3], wb[3];
  reference(INPUTS[1], wa);
  reference(INPUTS[2], wb);
  EXPECT_OK(nibble_session_set_input(a, 0, INPUTS[1], sizeof INPUTS[1]));
  EXPECT_OK(nibble_session_set_input(b, 0, INPUTS[2], sizeof INPUTS[2]));
  EXPECT_OK(nibble_session_run(a));
  EXPECT_OK(nibble_session_run(b));
  EXPECT_OK(nibble_session_get_output(a, 0, ya, sizeof ya));
  EXPECT_OK(nibble_session_get_output(b, 0, yb, sizeof yb));
  EXPECT(memcmp(ya, wa, sizeof ya) == 0 && memcmp(yb, wb, sizeof yb) == 0, "interleaved sessions mixed their state");
  nibble_session_free(a);
  nibble_session_free(b);
}

/* ---- threads: one shared model, a session per thread, per-thread last error ---- */

struct worker {
  nibble_model* model;
  int errors;
  char last_error[256];
};

static void* worker_main(void* arg) {
  struct worker* w = arg;
  nibble_session* s = NULL;
  if (nibble_session_create(w->model, NULL, &s) != NIBBLE_OK) {
    w->errors++;
    return NULL;
  }
  for (int round = 0; round < 200; round++) {
    for (size_t k = 0; k < INPUT_COUNT; k++) {
      float y[3], want[3];
      reference(INPUTS[k], want);
      if (infer(s, INPUTS[k], y) != 0) w->errors++;
      for (int j = 0; j < 3; j++)
        if (fabsf(y[j] - want[j]) > 1e-5f) w->errors++;
    }
  }
  /* A failure on this thread: its text must not show up on the main thread. */
  float x[4] = {0};
  if (nibble_session_set_input(s, 0, x, 3) != NIBBLE_INVALID_ARGUMENT) w->errors++;
  snprintf(w->last_error, sizeof w->last_error, "%s", nibble_last_error());
  nibble_session_free(s);
  return NULL;
}

static void test_threads(nibble_model* model) {
  nibble_model* m = SENTINEL_MODEL;
  EXPECT_STATUS(nibble_model_load_file("/nonexistent-nibble-dir/main-thread.nib", &m), NIBBLE_IO_ERROR, "main-thread");
  struct worker workers[2] = {{model, 0, ""}, {model, 0, ""}};
  pthread_t threads[2];
  int started = 0;
  for (int i = 0; i < 2; i++)
    if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0) started++;
  EXPECT(started == 2, "started %d threads", started);
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < started; i++) {
    EXPECT(workers[i].errors == 0, "thread %d: %d errors", i, workers[i].errors);
    EXPECT(strstr(workers[i].last_error, "needs 16 bytes") != NULL, "thread %d last error '%s'", i, workers[i].last_error);
  }
  EXPECT(strstr(nibble_last_error(), "main-thread") != NULL, "main thread's last error was overwritten: '%s'",
         nibble_last_error());
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "tiny.nib";
  setvbuf(stdout, NULL, _IONBF, 0);

  const char* initial = nibble_last_error();
  EXPECT(initial && initial[0] == 0, "last error before any failure: '%s'", text(initial));
  test_versions_and_statuses();

  model_bytes = read_file(path, &model_size);
  if (!model_bytes || model_size < 256) {
    fprintf(stderr, "cannot read the test model '%s'\n", path);
    printf("%d passed, %d failed\n", passed, failed + 1);
    return 1;
  }
  nibble_model* model = NULL;
  EXPECT_OK(nibble_model_load_file(path, &model));
  nibble_session* session = NULL;
  if (model) EXPECT_OK(nibble_session_create(model, NULL, &session));
  if (model && session) {
    printf("== null arguments\n");
    test_null_arguments(model, session);
    printf("== load errors\n");
    test_load_errors();
    printf("== model info\n");
    test_model_info(model);
    printf("== session options and arenas\n");
    test_session_options(model);
    printf("== session calls\n");
    test_session_calls(model, session);
    printf("== load_memory, aligned and unaligned\n");
    test_memory_loads(model);
    printf("== two sessions on one model\n");
    test_two_sessions(model);
    printf("== threads\n");
    test_threads(model);
  }
  nibble_session_free(session);
  nibble_model_free(model);
  free(model_bytes);

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
