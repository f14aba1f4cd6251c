/*
 * mutate_nib: writes randomly mutated copies of a .nib file, for scripts/test-mutation (issue 7, "Mutation test of
 * the CLI"), and the small float32 .npy inputs those runs need.
 *
 *   mutate_nib SEED.nib OUTDIR COUNT RNG_SEED     writes OUTDIR/PREFIX-00000.nib … (PREFIX: the seed's base name
 *                                                 without .nib, dots made underscores)
 *   mutate_nib --npy D0,D1,... OUT.npy           writes a float32 .npy of that shape, values in [-1, 1)
 *
 * Each mutant gets 1–4 edits (bit flips, "interesting" bytes and integers such as 0, -1, 2^31 and the file size,
 * truncation, insertion, deletion, chunk copies), half of them aimed at the graph section where the structure is.
 * Three mutants in four then have their checksums and size field repaired (docs/FORMAT.md §2–3: file size, every
 * in-bounds section's CRC-32, the section table's CRC-32), so the damage reaches the validators behind the
 * checksums instead of stopping at the first CRC mismatch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static uint32_t next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static size_t below(size_t n) { return n ? (size_t)next() % n : 0; }

static uint32_t crc32(const uint8_t* p, size_t n) { /* IEEE 802.3, reflected, as FORMAT.md §3 */
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}
static uint32_t get32(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t* p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* The graph section's body range in the seed (kind 1), or the whole file if the seed has none. */
static void graph_range(const uint8_t* b, size_t n, size_t* lo, size_t* hi) {
  *lo = 0;
  *hi = n;
  if (n < 64) return;
  uint32_t count = get32(b + 12);
  for (uint32_t i = 0; i < count && 64 + 32 * (size_t)(i + 1) <= n; i++) {
    const uint8_t* e = b + 64 + 32 * (size_t)i;
    uint64_t off = get64(e + 8), size = get64(e + 16);
    if (get32(e) == 1 && off < n && size <= n - off && size > 0) {
      *lo = (size_t)off;
      *hi = (size_t)(off + size);
    }
  }
}

/* Repairs the file size field and every CRC that can be recomputed within the (mutated) bounds. */
static void repair(uint8_t* b, size_t n) {
  if (n < 64) return;
  put64(b + 16, n);
  uint32_t count = get32(b + 12);
  if (count > 64 || 64 + 32 * (size_t)count > n) return;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t* e = b + 64 + 32 * (size_t)i;
    uint64_t off = get64(e + 8), size = get64(e + 16);
    if (off <= n && size <= n - off) put32(e + 24, crc32(b + off, (size_t)size));
  }
  put32(b + 24, crc32(b + 64, 32 * (size_t)count));
}

static const uint64_t interesting[] = {0, 1, 2, 3, 7, 8, 63, 64, 65, 255, 256, 4096, 0x7FFF, 0x8000, 0xFFFF,
                                       0x7FFFFFFF, 0x80000000u, 0xFFFFFFFFu, 0x100000000ull, 0x7FFFFFFFFFFFFFFFull,
                                       0x8000000000000000ull, 0xFFFFFFFFFFFFFFFFull};
#define N_INTERESTING (sizeof interesting / sizeof interesting[0])

/* One random edit of b[0..*n) (capacity cap). Positions favour [lo, hi) half of the time. */
static void mutate(uint8_t* b, size_t* n, size_t cap, size_t lo, size_t hi) {
  size_t len = *n;
  if (len == 0) return;
  size_t pos = (next() & 1) && hi > lo && hi <= len ? lo + below(hi - lo) : below(len);
  /* Size changes (truncate, insert, delete) mostly stop at the layout checks; one edit in six is one. */
  int op = below(6) == 0 ? 4 + (int)below(3) : (int[]){0, 1, 2, 3, 7, 8}[below(6)];
  switch (op) {
    case 0: /* bit flips */
      for (size_t k = 1 + below(8); k > 0; k--) {
        size_t p = below(len);
        b[p] ^= (uint8_t)(1u << below(8));
      }
      break;
    case 1: b[pos] = (uint8_t)interesting[below(N_INTERESTING)]; break;
    case 2: /* a 32-bit integer field, at a 4-aligned or any offset */
      if (pos + 4 <= len) put32(b + (next() & 1 ? pos & ~(size_t)3 : pos), (uint32_t)(next() & 1 ? interesting[below(N_INTERESTING)] : len));
      break;
    case 3:
      if (pos + 8 <= len) put64(b + (pos & ~(size_t)7), next() & 1 ? interesting[below(N_INTERESTING)] : (uint64_t)len + below(128));
      break;
    case 4: *n = below(len); break; /* truncate */
    case 5: { /* insert up to 64 random bytes */
      size_t k = 1 + below(64);
      if (len + k > cap) break;
      memmove(b + pos + k, b + pos, len - pos);
      for (size_t i = 0; i < k; i++) b[pos + i] = (uint8_t)next();
      *n = len + k;
      break;
    }
    case 6: { /* delete up to 64 bytes */
      size_t k = 1 + below(64);
      if (pos + k > len) k = len - pos;
      memmove(b + pos, b + pos + k, len - pos - k);
      *n = len - k;
      break;
    }
    case 7: { /* copy a chunk over another place */
      size_t k = 1 + below(32), from = below(len);
      if (from + k <= len && pos + k <= len) memmove(b + pos, b + from, k);
      break;
    }
    default: /* a small change to a small integer (counts, dims, indices, dtype and op codes) */
      b[pos] = (uint8_t)(b[pos] + (next() & 1 ? 1 : -1) * (int)(1 + below(3)));
      break;
  }
}

static int write_npy(const char* dims, const char* path) {
  long shape[8];
  int rank = 0;
  size_t count = 1;
  for (const char* p = dims; *p && rank < 8;) {
    char* end;
    shape[rank] = strtol(p, &end, 10);
    if (end == p || shape[rank] <= 0) return fprintf(stderr, "mutate_nib: bad shape '%s'\n", dims), 2;
    count *= (size_t)shape[rank++];
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return fprintf(stderr, "mutate_nib: bad shape '%s'\n", dims), 2;
  }
  char header[256];
  int h = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (int i = 0; i < rank; i++) h += snprintf(header + h, sizeof header - (size_t)h, "%ld,%s", shape[i], i + 1 < rank ? " " : "");
  h += snprintf(header + h, sizeof header - (size_t)h, "), }");
  while ((10 + h + 1) % 64 != 0) header[h++] = ' ';
  header[h++] = '\n';
  FILE* f = fopen(path, "wb");
  if (!f) return perror(path), 1;
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)h, (uint8_t)(h >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(header, 1, (size_t)h, f);
  rng_state = 1;
  for (size_t i = 0; i < count; i++) {
    float v = (float)(next() >> 8) / 8388608.0f - 1.0f;
    fwrite(&v, 4, 1, f);
  }
  return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--npy") == 0) return write_npy(argv[2], argv[3]);
  if (argc != 5) {
    fprintf(stderr, "usage: %s SEED.nib OUTDIR COUNT RNG_SEED | --npy D0,D1,... OUT.npy\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) return perror(argv[1]), 1;
  static uint8_t seed[1 << 22];
  size_t n = fread(seed, 1, sizeof seed, f);
  fclose(f);
  if (n == 0 || n == sizeof seed) return fprintf(stderr, "%s: empty or larger than 4 MiB\n", argv[1]), 1;
  const char* base = strrchr(argv[1], '/');
  base = base ? base + 1 : argv[1];
  char prefix[128]; /* the base name without ".nib", other dots as '_' (scripts/test-mutation maps it back) */
  snprintf(prefix, sizeof prefix, "%s", base);
  size_t plen = strlen(prefix);
  if (plen > 4 && strcmp(prefix + plen - 4, ".nib") == 0) prefix[plen - 4] = 0;
  for (char* c = prefix; *c; c++)
    if (*c == '.') *c = '_';
  long count = atol(argv[3]);
  rng_state = strtoull(argv[4], NULL, 10);
  size_t lo, hi;
  graph_range(seed, n, &lo, &hi);
  size_t cap = n + 4 * 64;
  uint8_t* b = malloc(cap);
  if (!b) return 1;
  for (long i = 0; i < count; i++) {
    size_t len = n;
    memcpy(b, seed, n);
    for (size_t k = 1 + below(4); k > 0; k--) mutate(b, &len, cap, lo, hi);
    if (below(4) != 0) repair(b, len);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%05ld.nib", argv[2], prefix, i);
    FILE* o = fopen(path, "wb");
    if (!o || fwrite(b, 1, len, o) != len || fclose(o) != 0) return perror(path), 1;
  }
  free(b);
  return 0;
}
