/*
 * nibble_sample_c: runs a .nib model once from C.
 *
 *   nibble_sample_c MODEL.nib [INPUT.raw]
 *
 * INPUT.raw holds the first input as raw little-endian float32 values (exactly its byte size); without it the
 * input is a deterministic pattern. The sample loads the model twice (from the file, which Nibble maps, and from
 * memory, which the caller owns), prints the model's inputs and outputs, hands the session an arena it allocated
 * itself (nibble_model_arena_size + aligned_alloc), runs, and prints the first output's values and argmax.
 *
 * Build: see CMakeLists.txt (target nibble_sample_c), or by hand:
 *   cc main.c -I Include build-cmake/libnibble.a <Swift runtime flags from build-cmake/nibble.pc> -o nibble_sample_c
 */
#include <nibble.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the failed call, its status name and the detail, then jumps to cleanup. */
#define CHECK(call)                                                                     \
  do {                                                                                  \
    nibble_status status_ = (call);                                                     \
    if (status_ != NIBBLE_OK) {                                                         \
      fprintf(stderr, "error: %s\n  %s\n  %s\n", #call, nibble_status_string(status_), \
              nibble_last_error());                                                     \
      goto cleanup;                                                                     \
    }                                                                                   \
  } while (0)

static const char* dtype_name(nibble_dtype dtype) {
  switch (dtype) {
    case NIBBLE_DTYPE_FLOAT32: return "float32";
    case NIBBLE_DTYPE_INT8: return "int8";
    case NIBBLE_DTYPE_UINT8: return "uint8";
    case NIBBLE_DTYPE_INT32: return "int32";
    case NIBBLE_DTYPE_INT64: return "int64";
  }
  return "unknown";
}

static void print_info(const char* kind, size_t index, const nibble_tensor_info* info) {
  printf("  %s %zu: '%s' %s [", kind, index, info->name, dtype_name(info->dtype));
  for (size_t d = 0; d < info->rank; d++) printf("%s%" PRId64, d ? ", " : "", info->shape[d]);
  printf("] (%zu bytes)\n", info->byte_size);
}

/* Reads a whole file into malloc'ed memory; NULL on failure (errors printed). */
static void* read_file(const char* path, size_t* out_size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  void* data = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
  }
  fclose(f);
  if (!data) {
    fprintf(stderr, "%s: cannot read\n", path);
    return NULL;
  }
  *out_size = (size_t)n;
  return data;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s MODEL.nib [INPUT.raw]\n", argv[0]);
    return 2;
  }
  int exit_code = 1;
  nibble_model* model = NULL;
  nibble_model* model_from_memory = NULL;
  nibble_session* session = NULL;
  void* file_bytes = NULL;
  void* arena = NULL;
  float* input = NULL;
  float* output = NULL;

  if (nibble_abi_version() != NIBBLE_ABI_VERSION) {
    fprintf(stderr, "error: library ABI %d, header ABI %d\n", (int)nibble_abi_version(), NIBBLE_ABI_VERSION);
    return 1;
  }
  printf("Nibble %s (ABI %d, .nib format %d)\n", nibble_version_string(), (int)nibble_abi_version(),
         (int)nibble_format_version());

  /* 1. From a file: Nibble maps it read-only and owns the mapping. */
  CHECK(nibble_model_load_file(argv[1], &model));

  /* 2. From memory: the caller owns the bytes and keeps them alive until nibble_model_free. malloc gives
   *    16-byte alignment, so Nibble copies the buffer once (64-byte aligned memory would be used in place). */
  size_t file_size = 0;
  file_bytes = read_file(argv[1], &file_size);
  if (!file_bytes) goto cleanup;
  CHECK(nibble_model_load_memory(file_bytes, file_size, &model_from_memory));
  printf("%s: %zu bytes, %zu layers (also loaded from memory: %zu layers)\n", argv[1], file_size,
         nibble_model_layer_count(model), nibble_model_layer_count(model_from_memory));
  nibble_model_free(model_from_memory);
  model_from_memory = NULL;
  free(file_bytes);
  file_bytes = NULL;

  size_t input_count = nibble_model_input_count(model);
  size_t output_count = nibble_model_output_count(model);
  nibble_tensor_info in_info, out_info, info;
  for (size_t i = 0; i < input_count; i++) {
    CHECK(nibble_model_input_info(model, i, &info));
    print_info("input", i, &info);
  }
  for (size_t i = 0; i < output_count; i++) {
    CHECK(nibble_model_output_info(model, i, &info));
    print_info("output", i, &info);
  }
  CHECK(nibble_model_input_info(model, 0, &in_info));
  CHECK(nibble_model_output_info(model, 0, &out_info));
  if (in_info.dtype != NIBBLE_DTYPE_FLOAT32 || out_info.dtype != NIBBLE_DTYPE_FLOAT32) {
    fprintf(stderr, "error: this sample handles float32 inputs and outputs only\n");
    goto cleanup;
  }

  /* 3. The caller's arena: ask the size, allocate with the stated alignment, hand it in. */
  size_t arena_size = 0;
  CHECK(nibble_model_arena_size(model, &arena_size));
  size_t arena_alloc = (arena_size + NIBBLE_ARENA_ALIGNMENT - 1) / NIBBLE_ARENA_ALIGNMENT * NIBBLE_ARENA_ALIGNMENT;
  if (arena_alloc == 0) arena_alloc = NIBBLE_ARENA_ALIGNMENT;  /* aligned_alloc(…, 0) may return NULL */
  arena = aligned_alloc(NIBBLE_ARENA_ALIGNMENT, arena_alloc);
  if (!arena) {
    fprintf(stderr, "error: cannot allocate an arena of %zu bytes\n", arena_alloc);
    goto cleanup;
  }
  nibble_session_options options;
  nibble_session_options_default(&options);
  options.arena = arena;
  options.arena_size = arena_alloc;
  CHECK(nibble_session_create(model, &options, &session));
  printf("arena: %zu bytes (caller-owned)\n", arena_size);

  /* 4. The input: from INPUT.raw, or a deterministic pattern. */
  size_t in_count = in_info.byte_size / sizeof(float);
  if (argc == 3) {
    size_t raw_size = 0;
    input = read_file(argv[2], &raw_size);
    if (!input) goto cleanup;
    if (raw_size != in_info.byte_size) {
      fprintf(stderr, "error: %s has %zu bytes, input '%s' needs %zu\n", argv[2], raw_size, in_info.name,
              in_info.byte_size);
      goto cleanup;
    }
  } else {
    input = malloc(in_info.byte_size ? in_info.byte_size : 1);
    if (!input) goto cleanup;
    for (size_t i = 0; i < in_count; i++) input[i] = (float)((int)(i % 9) - 4) * 0.25f;  /* -1 … 1 */
  }
  CHECK(nibble_session_set_input(session, 0, input, in_info.byte_size));

  /* 5. Run and read the first output. */
  CHECK(nibble_session_run(session));
  output = malloc(out_info.byte_size ? out_info.byte_size : 1);
  if (!output) goto cleanup;
  CHECK(nibble_session_get_output(session, 0, output, out_info.byte_size));

  size_t out_count = out_info.byte_size / sizeof(float);
  size_t argmax = 0;
  printf("output '%s' (first %d of %zu):", out_info.name, out_count < 10 ? (int)out_count : 10, out_count);
  for (size_t i = 0; i < out_count; i++) {
    if (i < 10) printf(" %.6g", output[i]);
    if (output[i] > output[argmax]) argmax = i;
  }
  printf("\nargmax: %zu (%.6g)\n", argmax, out_count ? output[argmax] : 0.0f);

  /* Top-k (k = 3): repeated selection, fine for a classifier's handful of scores. */
  enum { TOP_K = 3 };
  size_t top[TOP_K];
  size_t k = out_count < TOP_K ? out_count : TOP_K;
  for (size_t r = 0; r < k; r++) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < out_count; i++) {
      int taken = 0;
      for (size_t q = 0; q < r; q++) taken |= top[q] == i;
      if (!taken && (best == SIZE_MAX || output[i] > output[best])) best = i;
    }
    top[r] = best;
  }
  printf("top-%zu:", k);
  for (size_t r = 0; r < k; r++) printf(" %zu (%.6g)", top[r], output[top[r]]);
  printf("\n");
  exit_code = 0;

cleanup:
  nibble_session_free(session);  /* before the model, and before the arena it uses */
  free(arena);
  nibble_model_free(model_from_memory);
  nibble_model_free(model);
  free(file_bytes);
  free(input);
  free(output);
  return exit_code;
}
