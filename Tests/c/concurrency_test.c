/*
 * concurrency_test: one nibble_model shared by 8 threads, each with its own session (nibble.h, "Threads").
 *
 *   nibble_concurrency_test [-t THREADS] [-n RUNS] MODEL.nib [MODEL.nib ...]
 *
 * For each model:
 *   1. Reference, on the main thread: VARIANTS deterministic inputs, one run each at every residual level used
 *      below and with every codec the model has tables for (NONE, and CAT when the model carries codec tables),
 *      outputs kept. A second session on the same model must reproduce them exactly (runs are deterministic),
 *      and level -1 must equal the model's maximum level.
 *   2. THREADS threads (default 8) share the model; each creates its own session (even threads hand in a caller
 *      arena of nibble_model_arena_size bytes, odd threads let the session allocate; threads 2, 3, 6, 7, ... ask for
 *      num_threads = 2, so those sessions split their steps over a worker thread of their own), then does RUNS runs
 *      (default 1000) with varying inputs. Before each run it changes session settings the way an application
 *      would: residual level -1, 0, ... up to the model's maximum (at most 3), a codec (NONE or CAT, taking turns
 *      when the model has CAT tables), and now and then a value
 *      the model refuses (residual level 1 on a model without residual edges, codec CAT without codec tables), which must
 *      return its status and leave the session usable. Every output is compared byte for byte (memcmp) with the
 *      reference output for the same input.
 *   3. THREADS threads load and free their own models from the same bytes at the same time (loader state).
 * Built plain (ctest `concurrency`) and with -fsanitize=thread (scripts/test-reliability, build-tsan/). The CAT model,
 * Tests/c/digits_cnn.ternary.cat.nib, is `nibble convert samples/models/digits_cnn.onnx --recipe ternary --calibrate
 * samples/models/digits_calib_img.npy --codec-bits 4`.
 * Last line: "N passed, M failed"; the exit code is non-zero on any failure.
 */
#include <nibble.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VARIANTS 16
#define MAX_IO 8
#define MAX_SLOTS 5  /* residual levels 0..3 and -1 (all edges) */

static int passed, failed;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char* what, const char* detail) {
  pthread_mutex_lock(&count_lock);
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL %s: %s\n", what, detail ? detail : "");
  }
  pthread_mutex_unlock(&count_lock);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
  const nibble_model* model;
  size_t n_in, n_out;
  nibble_tensor_info in[MAX_IO], out[MAX_IO];
  uint8_t* inputs[VARIANTS][MAX_IO];   /* input bytes per variant */
  int slots;                           /* levels 0 ... slots-2, then -1 in the last slot */
  int codecs;                          /* 1: NONE only; 2: NONE and CAT (the model has codec tables) */
  uint8_t* outputs[MAX_SLOTS][2][VARIANTS][MAX_IO];  /* reference output bytes per level, codec and variant */
  size_t arena_size;
  int32_t max_level;
  int runs;
} shared_model;

typedef struct {
  shared_model* m;
  int tid;
  long runs_done, mismatches, errors;
  char first_error[512];
} worker;

static void fill_input(uint8_t* p, size_t bytes, nibble_dtype dtype, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 977u;
  if (dtype == NIBBLE_DTYPE_FLOAT32) {
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      x = x * 1664525u + 1013904223u;
      float f = ((float)(x >> 8) / 16777216.0f) * 6.0f - 3.0f;
      memcpy(p + i, &f, 4);
    }
  } else {
    for (size_t i = 0; i < bytes; i++) { x = x * 1664525u + 1013904223u; p[i] = (uint8_t)(x >> 24) & 3; }
  }
}

static int32_t slot_level(const shared_model* m, int slot) { return slot == m->slots - 1 ? -1 : slot; }

/* Sets variant v's inputs, runs, and copies the outputs into out[] (buffers of the outputs' byte sizes). */
static nibble_status run_variant(shared_model* m, nibble_session* s, int v, uint8_t** out) {
  nibble_status st;
  for (size_t i = 0; i < m->n_in; i++)
    if ((st = nibble_session_set_input(s, i, m->inputs[v][i], m->in[i].byte_size)) != NIBBLE_OK) return st;
  if ((st = nibble_session_run(s)) != NIBBLE_OK) return st;
  for (size_t i = 0; i < m->n_out; i++)
    if ((st = nibble_session_get_output(s, i, out[i], m->out[i].byte_size)) != NIBBLE_OK) return st;
  return NIBBLE_OK;
}

static void note(worker* w, const char* fmt, const char* a, long b) {
  if (w->first_error[0]) return;
  snprintf(w->first_error, sizeof w->first_error, fmt, a, b);
}

static void* work(void* arg) {
  worker* w = (worker*)arg;
  shared_model* m = w->m;
  void* arena = NULL;
  nibble_session_options o;
  nibble_session_options_default(&o);
  if (w->tid % 4 >= 2) o.num_threads = 2;  /* intra-op threads must give the single-threaded bytes too */
  if (w->tid % 2 == 0) {
    size_t bytes = (m->arena_size + NIBBLE_ARENA_ALIGNMENT - 1) / NIBBLE_ARENA_ALIGNMENT * NIBBLE_ARENA_ALIGNMENT;
    arena = aligned_alloc(NIBBLE_ARENA_ALIGNMENT, bytes ? bytes : NIBBLE_ARENA_ALIGNMENT);
    o.arena = arena;
    o.arena_size = m->arena_size;
  }
  nibble_session* s = NULL;
  if (nibble_session_create(m->model, &o, &s) != NIBBLE_OK) {
    note(w, "session_create: %s (%ld)", nibble_last_error(), 0);
    w->errors++;
    free(arena);
    return NULL;
  }
  uint8_t* out[MAX_IO];
  for (size_t i = 0; i < m->n_out; i++) out[i] = (uint8_t*)malloc(m->out[i].byte_size ? m->out[i].byte_size : 1);
  for (int r = 0; r < m->runs; r++) {
    int v = (w->tid * 5 + r * 7) % VARIANTS;
    int slot = (r + w->tid) % m->slots;
    int codec = (r / 3 + w->tid) % m->codecs;
    /* settings the model accepts: a residual level (-1 or 0 ... max), a codec it has tables for */
    nibble_status st = nibble_session_set_residual_level(s, slot_level(m, slot));
    if (st != NIBBLE_OK) { w->errors++; note(w, "set_residual_level: %s (run %ld)", nibble_session_last_error(s), r); }
    st = nibble_session_set_codec(s, codec ? NIBBLE_CODEC_CAT : NIBBLE_CODEC_NONE);
    if (st != NIBBLE_OK) { w->errors++; note(w, "set_codec: %s (run %ld)", nibble_session_last_error(s), r); }
    /* and now and then one it refuses; the session must stay as it was */
    if (r % 10 == 3 && m->max_level == 0) {
      st = nibble_session_set_residual_level(s, 1);
      if (st != NIBBLE_UNSUPPORTED) { w->errors++; note(w, "set_residual_level(1) on a model without edges: status %s (run %ld)", nibble_status_string(st), r); }
      st = nibble_session_set_residual_level(s, slot_level(m, slot));
      if (st != NIBBLE_OK) { w->errors++; note(w, "set_residual_level: %s (run %ld)", nibble_session_last_error(s), r); }
    }
    if (r % 10 == 7 && m->codecs == 1) {
      st = nibble_session_set_codec(s, NIBBLE_CODEC_CAT);
      if (st != NIBBLE_UNSUPPORTED) { w->errors++; note(w, "set_codec(CAT) without codec tables: status %s (run %ld)", nibble_status_string(st), r); }
    }
    st = run_variant(m, s, v, out);
    if (st != NIBBLE_OK) {
      w->errors++;
      note(w, "run: %s (run %ld)", nibble_session_last_error(s), r);
      continue;
    }
    for (size_t i = 0; i < m->n_out; i++) {
      if (memcmp(out[i], m->outputs[slot][codec][v][i], m->out[i].byte_size) != 0) {
        w->mismatches++;
        note(w, "output %s differs from the single-threaded result (run %ld)", m->out[i].name, r);
      }
    }
    w->runs_done++;
  }
  for (size_t i = 0; i < m->n_out; i++) free(out[i]);
  nibble_session_free(s);
  free(arena);
  return NULL;
}

typedef struct {
  const uint8_t* bytes;
  size_t size;
  int loads, failures;
} loader;

static void* load_many(void* arg) {
  loader* l = (loader*)arg;
  for (int i = 0; i < l->loads; i++) {
    nibble_model* mm = NULL;
    if (nibble_model_load_memory(l->bytes, l->size, &mm) != NIBBLE_OK) { l->failures++; continue; }
    size_t a = 0;
    if (nibble_model_arena_size(mm, &a) != NIBBLE_OK || a == 0) l->failures++;
    nibble_model_free(mm);
  }
  return NULL;
}

static uint8_t* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* p = n > 0 ? (uint8_t*)aligned_alloc(64, ((size_t)n + 63) / 64 * 64) : NULL;
  if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
  fclose(f);
  *size = (size_t)n;
  return p;
}

static void test_model(const char* path, int threads, int runs) {
  char detail[1024];
  printf("== %s: %d threads x %d runs\n", path, threads, runs);
  nibble_model* model = NULL;
  if (nibble_model_load_file(path, &model) != NIBBLE_OK) {
    check(0, "load", nibble_last_error());
    return;
  }
  shared_model m;
  memset(&m, 0, sizeof m);
  m.model = model;
  m.runs = runs;
  m.n_in = nibble_model_input_count(model);
  m.n_out = nibble_model_output_count(model);
  if (m.n_in > MAX_IO || m.n_out > MAX_IO || m.n_out == 0) {
    check(0, "model io", "too many inputs/outputs or none");
    nibble_model_free(model);
    return;
  }
  int ok = 1;
  for (size_t i = 0; i < m.n_in; i++) ok &= nibble_model_input_info(model, i, &m.in[i]) == NIBBLE_OK;
  for (size_t i = 0; i < m.n_out; i++) ok &= nibble_model_output_info(model, i, &m.out[i]) == NIBBLE_OK;
  ok &= nibble_model_arena_size(model, &m.arena_size) == NIBBLE_OK;
  ok &= nibble_model_max_residual_level(model, &m.max_level) == NIBBLE_OK;
  check(ok, "model info", nibble_last_error());

  /* 1. single-threaded reference */
  nibble_session* ref = NULL;
  if (nibble_session_create(model, NULL, &ref) != NIBBLE_OK) {
    check(0, "reference session", nibble_last_error());
    nibble_model_free(model);
    return;
  }
  int ref_ok = 1;
  if (m.max_level < 0) m.max_level = 0;
  m.slots = (m.max_level < 3 ? m.max_level : 3) + 2;
  for (int v = 0; v < VARIANTS; v++) {
    for (size_t i = 0; i < m.n_in; i++) {
      m.inputs[v][i] = (uint8_t*)malloc(m.in[i].byte_size ? m.in[i].byte_size : 1);
      fill_input(m.inputs[v][i], m.in[i].byte_size, m.in[i].dtype, (uint32_t)(v * 131 + i));
    }
  }
  m.codecs = nibble_session_set_codec(ref, NIBBLE_CODEC_CAT) == NIBBLE_OK ? 2 : 1;
  printf("   codecs: none%s, residual levels: %d\n", m.codecs == 2 ? ", cat" : "", m.slots);
  for (int c = 0; c < m.codecs; c++) {
    if (nibble_session_set_codec(ref, c ? NIBBLE_CODEC_CAT : NIBBLE_CODEC_NONE) != NIBBLE_OK) ref_ok = 0;
    for (int k = 0; k < m.slots; k++) {
      if (nibble_session_set_residual_level(ref, slot_level(&m, k)) != NIBBLE_OK) ref_ok = 0;
      for (int v = 0; v < VARIANTS; v++) {
        for (size_t i = 0; i < m.n_out; i++) m.outputs[k][c][v][i] = (uint8_t*)malloc(m.out[i].byte_size ? m.out[i].byte_size : 1);
        if (run_variant(&m, ref, v, m.outputs[k][c][v]) != NIBBLE_OK) ref_ok = 0;
      }
    }
  }
  check(ref_ok, "reference runs", nibble_session_last_error(ref));
  /* different inputs give different outputs (else the comparison would prove little) */
  check(memcmp(m.outputs[0][0][0][0], m.outputs[0][0][1][0], m.out[0].byte_size) != 0, "variants differ", "variant 0 and 1 outputs are equal");
  /* level -1 (all edges) is the model's maximum level */
  if (m.max_level <= 3) {
    int all_same = 1;
    for (int v = 0; v < VARIANTS; v++)
      for (size_t i = 0; i < m.n_out; i++)
        all_same &= memcmp(m.outputs[m.slots - 2][0][v][i], m.outputs[m.slots - 1][0][v][i], m.out[i].byte_size) == 0;
    check(all_same, "level -1 = max level", "residual level -1 and the maximum level give different outputs");
  }
  /* a second session, in reverse order, reproduces the reference */
  nibble_session* again = NULL;
  int same = nibble_session_create(model, NULL, &again) == NIBBLE_OK;
  uint8_t* tmp[MAX_IO];
  for (size_t i = 0; i < m.n_out; i++) tmp[i] = (uint8_t*)malloc(m.out[i].byte_size ? m.out[i].byte_size : 1);
  for (int c = m.codecs - 1; same && c >= 0; c--) {
    same = nibble_session_set_codec(again, c ? NIBBLE_CODEC_CAT : NIBBLE_CODEC_NONE) == NIBBLE_OK;
    for (int k = m.slots - 1; same && k >= 0; k--) {
      same = nibble_session_set_residual_level(again, slot_level(&m, k)) == NIBBLE_OK;
      for (int v = VARIANTS - 1; same && v >= 0; v--) {
        same = run_variant(&m, again, v, tmp) == NIBBLE_OK;
        for (size_t i = 0; same && i < m.n_out; i++) same = memcmp(tmp[i], m.outputs[k][c][v][i], m.out[i].byte_size) == 0;
      }
    }
  }
  check(same, "deterministic", "a second session did not reproduce the reference outputs");
  for (size_t i = 0; i < m.n_out; i++) free(tmp[i]);
  nibble_session_free(again);
  nibble_session_free(ref);

  /* 2. threads sharing the model */
  pthread_t tids[64];
  worker ws[64];
  memset(ws, 0, sizeof ws);
  double t0 = now();
  for (int t = 0; t < threads; t++) {
    ws[t].m = &m;
    ws[t].tid = t;
    if (pthread_create(&tids[t], NULL, work, &ws[t]) != 0) { check(0, "pthread_create", ""); threads = t; break; }
  }
  long total = 0, mism = 0, errs = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    total += ws[t].runs_done;
    mism += ws[t].mismatches;
    errs += ws[t].errors;
    if (ws[t].first_error[0]) {
      snprintf(detail, sizeof detail, "thread %d: %s", t, ws[t].first_error);
      check(0, "worker", detail);
    } else {
      check(ws[t].runs_done == runs, "worker runs", "a worker did fewer runs than asked");
    }
  }
  double dt = now() - t0;
  printf("   %ld runs in %.2f s (%.0f runs/s), %ld output mismatches, %ld errors\n", total, dt, dt > 0 ? total / dt : 0.0, mism, errs);
  snprintf(detail, sizeof detail, "%ld of %ld runs differ from the single-threaded result", mism, total);
  check(mism == 0, "outputs identical", detail);

  /* 3. concurrent loads of the same bytes */
  size_t size = 0;
  uint8_t* bytes = read_file(path, &size);
  if (bytes) {
    loader ls[64];
    for (int t = 0; t < threads; t++) {
      ls[t].bytes = bytes; ls[t].size = size; ls[t].loads = 20; ls[t].failures = 0;
      pthread_create(&tids[t], NULL, load_many, &ls[t]);
    }
    int lf = 0;
    for (int t = 0; t < threads; t++) { pthread_join(tids[t], NULL); lf += ls[t].failures; }
    check(lf == 0, "concurrent loads", "a concurrent nibble_model_load_memory failed");
    free(bytes);
  } else {
    check(0, "read model bytes", path);
  }

  for (int v = 0; v < VARIANTS; v++) {
    for (size_t i = 0; i < m.n_in; i++) free(m.inputs[v][i]);
    for (int k = 0; k < m.slots; k++)
      for (int c = 0; c < m.codecs; c++)
        for (size_t i = 0; i < m.n_out; i++) free(m.outputs[k][c][v][i]);
  }
  nibble_model_free(model);
}

int main(int argc, char** argv) {
  int threads = 8, runs = 1000, first = 1;
  while (first < argc && argv[first][0] == '-') {
    if (!strcmp(argv[first], "-t") && first + 1 < argc) { threads = atoi(argv[first + 1]); first += 2; }
    else if (!strcmp(argv[first], "-n") && first + 1 < argc) { runs = atoi(argv[first + 1]); first += 2; }
    else { fprintf(stderr, "usage: %s [-t THREADS] [-n RUNS] MODEL.nib...\n", argv[0]); return 2; }
  }
  if (first >= argc || threads < 1 || threads > 64 || runs < 1) {
    fprintf(stderr, "usage: %s [-t THREADS] [-n RUNS] MODEL.nib...\n", argv[0]);
    return 2;
  }
  for (int i = first; i < argc; i++) test_model(argv[i], threads, runs);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
