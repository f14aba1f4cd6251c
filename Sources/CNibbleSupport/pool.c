/* The fork-join pool behind a session's num_threads (nibble_support.h). Workers spin briefly on the job
 * generation after a job (a session's heavy steps come back to back), then sleep on a condition variable.
 * The caller waits until every worker has left the job, not only until the tasks are done, so the next job's
 * fields are never written while a late worker could still read the old ones. */
#include "nibble_support.h"

#include <stdlib.h>

#if !defined(NIBBLE_SUPPORT_SERIAL) && !defined(__unix__) && !defined(__APPLE__)
#define NIBBLE_SUPPORT_SERIAL 1  /* no pthreads on this platform */
#endif

#ifdef NIBBLE_SUPPORT_SERIAL

struct nibble_support_pool { int32_t unused; };

nibble_support_pool* nibble_support_pool_create(int32_t threads) {
  (void)threads;
  return calloc(1, sizeof(nibble_support_pool));
}

int32_t nibble_support_pool_threads(const nibble_support_pool* pool) {
  (void)pool;
  return 1;
}

void nibble_support_pool_run(nibble_support_pool* pool, nibble_support_task fn, void* ctx, int32_t task_count) {
  (void)pool;
  for (int32_t t = 0; t < task_count; t++) fn(ctx, t);
}

void nibble_support_pool_destroy(nibble_support_pool* pool) { free(pool); }

#else

#include <pthread.h>
#include <stdatomic.h>

/* Polls of the generation before a worker sleeps: ~50-100 µs, longer than the gap between two parallel steps. */
enum { spin_polls = 4000 };

struct nibble_support_pool {
  int32_t threads;
  pthread_t* workers;
  pthread_mutex_t lock;
  pthread_cond_t wake;      /* workers: a new generation (or stop) */
  pthread_cond_t finished;  /* caller: every worker has left the job */
  /* The job: written by the caller before the generation's release store, read by workers after acquiring it. */
  nibble_support_task fn;
  void* ctx;
  int32_t task_count;
  atomic_int next;          /* next task to claim */
  atomic_int busy_workers;  /* workers that have not yet left the current job */
  atomic_uint_fast64_t generation;
  atomic_int stop;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void claim_tasks(nibble_support_pool* p) {
  int32_t t;
  while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->task_count) p->fn(p->ctx, t);
}

static void* worker_main(void* arg) {
  nibble_support_pool* p = arg;
  uint_fast64_t seen = 0;
  for (;;) {
    uint_fast64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
    for (int i = 0; i < spin_polls && g == seen; i++) {
      cpu_relax();
      g = atomic_load_explicit(&p->generation, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->lock);
      while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) pthread_cond_wait(&p->wake, &p->lock);
      pthread_mutex_unlock(&p->lock);
    }
    seen = g;
    if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
    claim_tasks(p);
    if (atomic_fetch_sub_explicit(&p->busy_workers, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->finished);
      pthread_mutex_unlock(&p->lock);
    }
  }
}

/* Starts a new generation: job fields first, then the release store that publishes them. */
static void publish(nibble_support_pool* p) {
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
}

static void stop_workers(nibble_support_pool* p, int32_t started) {
  atomic_store_explicit(&p->stop, 1, memory_order_release);
  publish(p);
  for (int32_t i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

static void free_pool(nibble_support_pool* p) {
  pthread_cond_destroy(&p->finished);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  free(p->workers);
  free(p);
}

nibble_support_pool* nibble_support_pool_create(int32_t threads) {
  if (threads < 1) threads = 1;
  nibble_support_pool* p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = threads;
  p->workers = calloc((size_t)threads, sizeof(pthread_t));
  if (!p->workers) { free(p); return NULL; }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->finished, NULL);
  atomic_init(&p->next, 0);
  atomic_init(&p->busy_workers, 0);
  atomic_init(&p->generation, 0);
  atomic_init(&p->stop, 0);
  for (int32_t i = 0; i < threads - 1; i++) {
    if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
      stop_workers(p, i);
      free_pool(p);
      return NULL;
    }
  }
  return p;
}

int32_t nibble_support_pool_threads(const nibble_support_pool* pool) { return pool ? pool->threads : 1; }

void nibble_support_pool_run(nibble_support_pool* p, nibble_support_task fn, void* ctx, int32_t task_count) {
  if (p->threads == 1 || task_count <= 1) {
    for (int32_t t = 0; t < task_count; t++) fn(ctx, t);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->task_count = task_count;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->busy_workers, p->threads - 1, memory_order_relaxed);
  publish(p);
  claim_tasks(p);
  for (int i = 0; i < spin_polls && atomic_load_explicit(&p->busy_workers, memory_order_acquire) != 0; i++) cpu_relax();
  if (atomic_load_explicit(&p->busy_workers, memory_order_acquire) != 0) {
    pthread_mutex_lock(&p->lock);
    while (atomic_load_explicit(&p->busy_workers, memory_order_acquire) != 0) pthread_cond_wait(&p->finished, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
}

void nibble_support_pool_destroy(nibble_support_pool* p) {
  if (!p) return;
  stop_workers(p, p->threads - 1);
  free_pool(p);
}

#endif
