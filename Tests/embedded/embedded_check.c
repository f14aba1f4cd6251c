/*
 * embedded_check: runs a .nib model through the C ABI the way firmware would, for scripts/test-embedded
 * (issue 7, "Embedded footprint"). The same file is linked against the full build (build-cmake/libnibble.a,
 * Swift runtime) and against the Embedded Swift core (no Swift runtime), so their outputs can be compared.
 *
 *   embedded_check MODEL.nib OUT.bin            writes every output of every run, concatenated
 *   embedded_check MODEL.nib OUT.bin REF.bin    the same, then compares OUT with REF (exit 1 if they differ)
 *
 * What it does, with no heap in the Nibble calls themselves: the model bytes are read into a 64-byte aligned
 * buffer (standing in for flash or a received blob) and loaded with nibble_model_load_memory, so weights are used
 * in place; the session gets a caller-supplied static arena; the inputs are a deterministic pattern; the model is
 * run once per residual level (ternary models: 0…max, then all edges again) and, when the model has CAT codec
 * tables, once more with feature maps compressed, and once more with the transform codec when it has transform
 * tables; each run's outputs are appended to OUT.
 * float32 outputs compare within a relative tolerance (the full build on x86 and the NEON build reassociate
 * sums differently), other dtypes bit for bit.
 */
#include <nibble.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The caller-supplied arena: static memory, as on a device without a heap for activations. */
#define ARENA_BYTES (16u << 20)
static _Alignas(NIBBLE_ARENA_ALIGNMENT) uint8_t arena[ARENA_BYTES];

#define MAX_IO 16
#define MAX_TENSOR_BYTES (4u << 20)
static _Alignas(64) uint8_t io_buffer[MAX_TENSOR_BYTES];

static int fail(const char* what, nibble_status status) {
  fprintf(stderr, "embedded_check: %s: %s\n  %s\n", what, nibble_status_string(status), nibble_last_error());
  return 1;
}

/* Reads a whole file into 64-byte aligned heap memory (the "received blob"); NULL on failure. */
static uint8_t* read_file(const char* path, size_t* out_size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  uint8_t* data = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0) {
    size_t rounded = ((size_t)n + 63) & ~(size_t)63;
    data = aligned_alloc(64, rounded);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
  }
  fclose(f);
  if (!data) fprintf(stderr, "%s: cannot read\n", path);
  *out_size = (size_t)n;
  return data;
}

/* A deterministic input pattern: xorshift32 values in [-1, 1) for float32, random bytes for (u)int8, zeros for
 * int32/int64 (index-like inputs, where zero is always in range). */
static void fill_input(uint8_t* bytes, const nibble_tensor_info* info, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1u;
  for (size_t i = 0; i < info->byte_size; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    bytes[i] = (uint8_t)(s >> 24);
  }
  if (info->dtype == NIBBLE_DTYPE_FLOAT32) {
    for (size_t i = 0; i < info->byte_size / 4; i++) {
      s ^= s << 13;
      s ^= s >> 17;
      s ^= s << 5;
      float v = (float)(int32_t)(s >> 16) / 32768.0f - 1.0f;
      memcpy(bytes + 4 * i, &v, 4);
    }
  } else if (info->dtype == NIBBLE_DTYPE_INT64 || info->dtype == NIBBLE_DTYPE_INT32) {
    memset(bytes, 0, info->byte_size);
  }
}

/* One run: sets every input, runs, appends every output to `out`. Returns 0 on success. */
static int run_once(nibble_session* session, const nibble_model* model, FILE* out) {
  for (size_t i = 0; i < nibble_model_input_count(model); i++) {
    nibble_tensor_info info;
    nibble_status st = nibble_model_input_info(model, i, &info);
    if (st != NIBBLE_OK) return fail("nibble_model_input_info", st);
    if (info.byte_size > MAX_TENSOR_BYTES) return fprintf(stderr, "input %zu too large\n", i), 1;
    fill_input(io_buffer, &info, (uint32_t)i + 1u);
    st = nibble_session_set_input(session, i, io_buffer, info.byte_size);
    if (st != NIBBLE_OK) return fail("nibble_session_set_input", st);
  }
  nibble_status st = nibble_session_run(session);
  if (st != NIBBLE_OK) return fail("nibble_session_run", st);
  for (size_t i = 0; i < nibble_model_output_count(model); i++) {
    nibble_tensor_info info;
    st = nibble_model_output_info(model, i, &info);
    if (st != NIBBLE_OK) return fail("nibble_model_output_info", st);
    if (info.byte_size > MAX_TENSOR_BYTES) return fprintf(stderr, "output %zu too large\n", i), 1;
    st = nibble_session_get_output(session, i, io_buffer, info.byte_size);
    if (st != NIBBLE_OK) return fail("nibble_session_get_output", st);
    /* Each record: dtype (u32), byte size (u32), bytes — so the comparison knows how to compare. */
    uint32_t header[2] = {(uint32_t)info.dtype, (uint32_t)info.byte_size};
    if (fwrite(header, sizeof header, 1, out) != 1 || fwrite(io_buffer, 1, info.byte_size, out) != info.byte_size) {
      fprintf(stderr, "embedded_check: write failed\n");
      return 1;
    }
  }
  return 0;
}

/* Compares two result files record by record. float32: |a-b| <= 1e-4 * max(1, |b|); others exact. */
static int compare(const char* out_path, const char* ref_path) {
  size_t na = 0, nb = 0;
  uint8_t* a = read_file(out_path, &na);
  uint8_t* b = read_file(ref_path, &nb);
  int bad = 0;
  if (!a || !b || na != nb) {
    fprintf(stderr, "embedded_check: %s (%zu bytes) and %s (%zu bytes) differ in size\n", out_path, na, ref_path, nb);
    bad = 1;
  }
  double max_abs = 0;
  size_t values = 0, exact = 0;
  for (size_t pos = 0; !bad && pos + 8 <= na;) {
    uint32_t dtype, size;
    memcpy(&dtype, a + pos, 4);
    memcpy(&size, a + pos + 4, 4);
    if (memcmp(a + pos, b + pos, 8) != 0 || pos + 8 + size > na) {
      fprintf(stderr, "embedded_check: record at byte %zu: headers differ\n", pos);
      bad = 1;
      break;
    }
    const uint8_t* x = a + pos + 8;
    const uint8_t* y = b + pos + 8;
    if (dtype == NIBBLE_DTYPE_FLOAT32) {
      for (uint32_t i = 0; i < size / 4; i++) {
        float u, v;
        memcpy(&u, x + 4 * i, 4);
        memcpy(&v, y + 4 * i, 4);
        double d = fabs((double)u - (double)v);
        if (d > max_abs) max_abs = d;
        if (!(d <= 1e-4 * fmax(1.0, fabs((double)v)))) {
          if (bad < 5) fprintf(stderr, "embedded_check: value %u of record at byte %zu: %.9g vs %.9g\n", i, pos, u, v);
          bad++;
        }
        exact += (memcmp(x + 4 * i, y + 4 * i, 4) == 0);
        values++;
      }
    } else if (memcmp(x, y, size) != 0) {
      fprintf(stderr, "embedded_check: record at byte %zu (dtype %u) differs\n", pos, dtype);
      bad++;
    }
    pos += 8 + size;
  }
  if (!bad) printf("match: %zu float values, %zu bit-identical, max abs diff %.3g\n", values, exact, max_abs);
  free(a);
  free(b);
  return bad ? 1 : 0;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s MODEL.nib OUT.bin [REF.bin]\n", argv[0]);
    return 2;
  }
  size_t size = 0;
  uint8_t* bytes = read_file(argv[1], &size);
  if (!bytes) return 1;
  nibble_model* model = NULL;
  nibble_session* session = NULL;
  FILE* out = NULL;
  int rc = 1;
  nibble_status st = nibble_model_load_memory(bytes, size, &model);
  if (st != NIBBLE_OK) {
    fail("nibble_model_load_memory", st);
    goto done;
  }
  size_t needed = 0;
  st = nibble_model_arena_size(model, &needed);
  if (st != NIBBLE_OK) {
    fail("nibble_model_arena_size", st);
    goto done;
  }
  if (needed > ARENA_BYTES) {
    fprintf(stderr, "embedded_check: the model needs %zu arena bytes, this program has %u\n", needed, ARENA_BYTES);
    goto done;
  }
  nibble_session_options options;
  nibble_session_options_default(&options);
  options.arena = arena;
  options.arena_size = needed; /* exactly what the model asks for: the smallest arena must do */
  st = nibble_session_create(model, &options, &session);
  if (st != NIBBLE_OK) {
    fail("nibble_session_create", st);
    goto done;
  }
  int32_t max_level = 0;
  st = nibble_model_max_residual_level(model, &max_level);
  if (st != NIBBLE_OK) {
    fail("nibble_model_max_residual_level", st);
    goto done;
  }
  out = fopen(argv[2], "wb");
  if (!out) {
    perror(argv[2]);
    goto done;
  }
  for (int32_t level = 0; level <= max_level + 1; level++) {
    int32_t set = level <= max_level ? level : -1; /* the last pass: all edges again, after switching back */
    if (max_level > 0 || set == -1) {
      st = nibble_session_set_residual_level(session, set);
      if (st != NIBBLE_OK) {
        fail("nibble_session_set_residual_level", st);
        goto done;
      }
    }
    if (run_once(session, model, out) != 0) goto done;
  }
  /* Models with CAT codec tables: one more run with feature maps held compressed in the same caller arena; with
   * transform tables, one more with the transform codec. */
  int coded = nibble_session_set_codec(session, NIBBLE_CODEC_CAT) == NIBBLE_OK;
  if (coded && run_once(session, model, out) != 0) goto done;
  int transformed = nibble_session_set_codec(session, NIBBLE_CODEC_TRANSFORM) == NIBBLE_OK;
  if (transformed && run_once(session, model, out) != 0) goto done;
  if (fclose(out) != 0) {
    out = NULL;
    perror(argv[2]);
    goto done;
  }
  out = NULL;
  printf("%s: %zu bytes, arena %zu bytes (caller-supplied), %d residual level(s) run%s%s\n", argv[1], size, needed,
         (int)max_level + 2, coded ? ", and codec cat" : "", transformed ? ", and codec transform" : "");
  rc = argc == 4 ? compare(argv[2], argv[3]) : 0;
done:
  if (out) fclose(out);
  nibble_session_free(session);
  nibble_model_free(model);
  free(bytes);
  return rc;
}
