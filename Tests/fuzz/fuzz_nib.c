/*
 * fuzz_nib: libFuzzer harness for the .nib loader/validator and one run, through the C ABI only.
 *
 * Each input is tried twice:
 *   1. as is (nibble_model_load_memory on the raw bytes: header, table and checksum checks);
 *   2. "repaired": the header's file size and every CRC-32 (section bodies, then the section table) are rewritten
 *      to match the bytes, so mutations get past the checksums and reach the graph, attribute and shape checks
 *      (without this almost every mutation would stop at "checksum mismatch").
 * A model that loads is then exercised like a user would: infos of every input/output, the arena size, one
 * session (for every other input in a caller arena of exactly nibble_model_arena_size bytes) with residual level
 * -1 or 0, codec NONE, CAT or TRANSFORM in turn (the coded ones fall back to NONE when the model has no tables),
 * a deterministic input, one run, every output read back.
 * A model whose arena or tensors are huge is loaded and validated but not run (that is an allocation test, not a
 * bug), so the fuzzer does not stall on it; the limits are below.
 *
 * Built by scripts/fuzz (CMake, build-fuzz/): clang -fsanitize=fuzzer,address, the Swift core compiled with
 * -sanitize=address and sanitizer coverage. Any status is fine; a trap, an ASan report or a leak is a crash.
 */
#include <nibble.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARENA_BYTES ((size_t)64 << 20)   /* run only models whose arena fits in 64 MiB */
#define MAX_TENSOR_BYTES ((size_t)16 << 20)  /* and whose inputs and outputs fit in 16 MiB each */

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32_ieee(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static uint32_t rd32(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t* p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void wr64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Rewrites file size, section CRCs and the table CRC of a .nib in place (docs/FORMAT.md §2, §3). */
static void repair(uint8_t* b, size_t n) {
  if (n < 64) return;
  wr64(b + 16, (uint64_t)n);
  uint32_t count = rd32(b + 12);
  if (count > 64) count = 64;
  if (64 + (size_t)count * 32 > n) count = (uint32_t)((n - 64) / 32);
  for (uint32_t s = 0; s < count; s++) {
    uint8_t* e = b + 64 + (size_t)s * 32;
    uint64_t off = rd64(e + 8), size = rd64(e + 16);
    if (off <= n && size <= n - off) wr32(e + 24, crc32_ieee(b + off, (size_t)size));
  }
  wr32(b + 24, crc32_ieee(b + 64, (size_t)count * 32));
}

/* A deterministic value pattern for an input of any dtype. */
static void fill_input(uint8_t* p, size_t bytes, nibble_dtype dtype, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 12345u;
  if (dtype == NIBBLE_DTYPE_FLOAT32) {
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      x = x * 1664525u + 1013904223u;
      float f = ((float)(x >> 8) / 16777216.0f) * 4.0f - 2.0f;
      memcpy(p + i, &f, 4);
    }
  } else if (dtype == NIBBLE_DTYPE_INT64 || dtype == NIBBLE_DTYPE_INT32) {
    /* index-like inputs: small non-negative values */
    size_t w = dtype == NIBBLE_DTYPE_INT64 ? 8 : 4;
    for (size_t i = 0; i + w <= bytes; i += w) {
      x = x * 1664525u + 1013904223u;
      int64_t v = (int64_t)((x >> 16) % 4);
      memcpy(p + i, &v, w);  /* little-endian host */
    }
  } else {
    for (size_t i = 0; i < bytes; i++) { x = x * 1664525u + 1013904223u; p[i] = (uint8_t)(x >> 24); }
  }
}

static void exercise(const nibble_model* model, uint32_t seed) {
  size_t inputs = nibble_model_input_count(model), outputs = nibble_model_output_count(model);
  nibble_tensor_info info;
  for (size_t i = 0; i < inputs; i++) {
    if (nibble_model_input_info(model, i, &info) != NIBBLE_OK) __builtin_trap();  /* index in range must work */
    if (info.byte_size > MAX_TENSOR_BYTES) return;
  }
  for (size_t i = 0; i < outputs; i++) {
    if (nibble_model_output_info(model, i, &info) != NIBBLE_OK) __builtin_trap();
    if (info.byte_size > MAX_TENSOR_BYTES) return;
  }
  int32_t level = 0;
  (void)nibble_model_max_residual_level(model, &level);
  size_t layers = nibble_model_layer_count(model);
  for (size_t l = 0; l < layers && l < 4096; l++) {
    int32_t edges = 0;
    (void)nibble_model_layer_residual_edges(model, l, &edges);
  }
  size_t arena = 0;
  if (nibble_model_arena_size(model, &arena) != NIBBLE_OK || arena > MAX_ARENA_BYTES) return;

  /* every other input: a caller arena of exactly the reported size */
  void* caller_arena = NULL;
  nibble_session_options options;
  nibble_session_options_default(&options);
  if (seed & 2) {
    caller_arena = aligned_alloc(NIBBLE_ARENA_ALIGNMENT, (arena + NIBBLE_ARENA_ALIGNMENT - 1) / NIBBLE_ARENA_ALIGNMENT * NIBBLE_ARENA_ALIGNMENT + NIBBLE_ARENA_ALIGNMENT);
    if (!caller_arena) return;
    options.arena = caller_arena;
    options.arena_size = arena;
  }
  nibble_session* session = NULL;
  if (nibble_session_create(model, &options, &session) != NIBBLE_OK) { free(caller_arena); return; }
  (void)nibble_session_set_residual_level(session, (seed & 1) ? -1 : 0);
  /* Models with codec tables run with feature maps CAT- or transform-coded for two inputs in three (tables, slots
   * and decoding are exercised on damaged files too); the rest, and models without those tables, run raw. */
  static const nibble_codec codecs[3] = {NIBBLE_CODEC_NONE, NIBBLE_CODEC_CAT, NIBBLE_CODEC_TRANSFORM};
  if (nibble_session_set_codec(session, codecs[(seed >> 1) % 3]) != NIBBLE_OK)
    (void)nibble_session_set_codec(session, NIBBLE_CODEC_NONE);
  for (size_t i = 0; i < inputs; i++) {
    if (nibble_model_input_info(model, i, &info) != NIBBLE_OK) continue;
    uint8_t* buf = (uint8_t*)malloc(info.byte_size ? info.byte_size : 1);
    if (!buf) continue;
    fill_input(buf, info.byte_size, info.dtype, seed + (uint32_t)i);
    (void)nibble_session_set_input(session, i, buf, info.byte_size);
    free(buf);
  }
  if (nibble_session_run(session) == NIBBLE_OK) {
    for (size_t i = 0; i < outputs; i++) {
      if (nibble_model_output_info(model, i, &info) != NIBBLE_OK) continue;
      uint8_t* buf = (uint8_t*)malloc(info.byte_size ? info.byte_size : 1);
      if (!buf) continue;
      if (nibble_session_get_output(session, i, buf, info.byte_size) != NIBBLE_OK) __builtin_trap();
      free(buf);
    }
  }
  size_t used = 0;
  (void)nibble_session_arena_used(session, &used);
  (void)nibble_session_last_error(session);
  nibble_session_free(session);
  free(caller_arena);
}

static void try_load(const uint8_t* data, size_t size, uint32_t seed) {
  nibble_model* model = NULL;
  nibble_status st = nibble_model_load_memory(data, size, &model);
  (void)nibble_status_string(st);
  (void)nibble_last_error();
  if (st == NIBBLE_OK) {
    if (!model) __builtin_trap();
    exercise(model, seed);
    nibble_model_free(model);
  } else if (model) {
    __builtin_trap();  /* out-parameters stay untouched on failure */
  }
}

int LLVMFuzzerInitialize(int* argc, char*** argv) {
  (void)argc; (void)argv;
  crc_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > ((size_t)4 << 20)) return 0;
  uint32_t seed = (uint32_t)size;
  /* 64-byte aligned copy: weights in place (the unaligned path is the raw try below, libFuzzer's buffer is
   * usually not 64-byte aligned). */
  uint8_t* copy = (uint8_t*)aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (!copy) return 0;
  memcpy(copy, data, size);
  try_load(data, size, seed);
  repair(copy, size);
  if (memcmp(copy, data, size) != 0) try_load(copy, size, seed);  /* already consistent: tried above */
  free(copy);
  return 0;
}
