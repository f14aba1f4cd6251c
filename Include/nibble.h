/*
 * nibble.h — the C API of Nibble, an inference runtime for sub-8-bit neural networks.
 *
 * Conventions
 *   - Every symbol, type and macro starts with nibble_ / NIBBLE_. The header is C99 and C++.
 *   - Every fallible call returns nibble_status; NIBBLE_OK (0) is success. Status values are explicit
 *     and only ever appended: treat an unknown value as an error. nibble_status_string() names a value;
 *     the detail ("node 3 'conv1': ...") is in nibble_last_error() (per thread) and, for sessions,
 *     nibble_session_last_error().
 *   - On failure, out-parameters are left untouched and nothing leaks. Every *_free accepts NULL.
 *   - Sizes and counts are size_t; dimensions are int64_t; indices are size_t.
 *   - Options are structs filled by a *_options_default() function, whose first field is struct_size
 *     so they can grow; they are always passed by pointer.
 *
 * Threads
 *   - A nibble_model is immutable after loading and may be shared by any number of threads.
 *   - A nibble_session is used by one thread at a time (create one session per thread).
 *   - A session created with num_threads = N > 1 owns N - 1 worker threads (started at creation, joined by
 *     nibble_session_free) that take part in each nibble_session_run; outputs are bit-identical for every N.
 *
 * Usage
 *   nibble_model* model = NULL;
 *   if (nibble_model_load_file("digits.nib", &model) != NIBBLE_OK) { puts(nibble_last_error()); return 1; }
 *   nibble_session* session = NULL;
 *   nibble_session_create(model, NULL, &session);           // NULL options: defaults, Nibble allocates the arena
 *   nibble_session_set_input(session, 0, pixels, sizeof pixels);
 *   nibble_session_run(session);
 *   float logits[10];
 *   nibble_session_get_output(session, 0, logits, sizeof logits);
 *   nibble_session_free(session);
 *   nibble_model_free(model);
 */
#ifndef NIBBLE_H
#define NIBBLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. nibble_abi_version() returns the library's; they must match. */
#define NIBBLE_ABI_VERSION 1
/* The newest .nib format version this library reads. */
#define NIBBLE_FORMAT_VERSION 1
/* Alignment, in bytes, of a caller-supplied arena. */
#define NIBBLE_ARENA_ALIGNMENT 64

#if defined(__GNUC__) || defined(__clang__)
#define NIBBLE_NODISCARD __attribute__((warn_unused_result))
#else
#define NIBBLE_NODISCARD
#endif

/* Status codes. Explicit values, append only. */
typedef enum nibble_status {
  NIBBLE_OK = 0,
  NIBBLE_INVALID_ARGUMENT = 1,   /* a NULL pointer, an index out of range, a wrong byte size */
  NIBBLE_MALFORMED_MODEL = 2,    /* the .nib bytes are damaged: bounds, checksums, shapes, attributes */
  NIBBLE_UNSUPPORTED = 3,        /* well formed, but this library or this model cannot do it */
  NIBBLE_OUT_OF_MEMORY = 4,      /* an allocation failed, or a caller arena is too small */
  NIBBLE_IO_ERROR = 5,           /* a file could not be opened or read */
  NIBBLE_VERSION_MISMATCH = 6,   /* the file's format version is newer than this library */
  NIBBLE_INTERNAL_ERROR = 7      /* a bug in Nibble: please report it with nibble_last_error() */
} nibble_status;

typedef enum nibble_dtype {
  NIBBLE_DTYPE_FLOAT32 = 1,
  NIBBLE_DTYPE_INT8 = 2,
  NIBBLE_DTYPE_UINT8 = 3,
  NIBBLE_DTYPE_INT32 = 4,
  NIBBLE_DTYPE_INT64 = 5
} nibble_dtype;

/* Feature-map codecs a session can keep intermediate tensors in (see docs/ARCHITECTURE.md). */
typedef enum nibble_codec {
  NIBBLE_CODEC_NONE = 0,
  NIBBLE_CODEC_CAT = 1,          /* entropy-coded quantized activations, static per-layer tables */
  NIBBLE_CODEC_TRANSFORM = 2     /* per-layer channel transform (PCA or DCT-II) + quantization + entropy coding
                                    where the model has transform tables, CAT on the other coded tensors */
} nibble_codec;

typedef struct nibble_model nibble_model;
typedef struct nibble_session nibble_session;

/* Shape and type of one model input or output. `shape` holds `rank` dimensions; dimension 0 is the batch
 * (always 1: batches are run one sample at a time). `name` lives as long as the model. */
#define NIBBLE_MAX_RANK 8
typedef struct nibble_tensor_info {
  const char* name;
  nibble_dtype dtype;
  size_t rank;
  int64_t shape[NIBBLE_MAX_RANK];
  size_t byte_size;
} nibble_tensor_info;

typedef struct nibble_session_options {
  size_t struct_size;            /* sizeof(nibble_session_options); set by nibble_session_options_default */
  void* arena;                   /* NULL: the session allocates its arena. Otherwise caller memory, aligned to
                                    NIBBLE_ARENA_ALIGNMENT, at least nibble_model_arena_size() bytes, owned by
                                    the caller and used until nibble_session_free. */
  size_t arena_size;             /* bytes at `arena` */
  int32_t num_threads;           /* 0 or 1: the calling thread only. N > 1 (at most 256): convolutions, fully
                                    connected layers and pools are split by output channels over the caller and
                                    N - 1 worker threads. Each extra thread needs its own kernel scratch, which
                                    the session allocates at creation outside the arena (so the arena size does
                                    not depend on N and a caller arena works with any N); builds without
                                    threads (the embedded library) run everything on the caller. */
  int32_t residual_level;        /* -1: all residual edges of a ternary model (its maximum level) */
  nibble_codec codec;            /* NIBBLE_CODEC_NONE by default */
} nibble_session_options;

/* ---- Versions and status ---- */

/* The ABI version of the library; equals NIBBLE_ABI_VERSION of the header it was built with. */
int32_t nibble_abi_version(void);
/* The newest .nib format version the library reads. */
int32_t nibble_format_version(void);
/* The library version, "MAJOR.MINOR.PATCH"; static storage. */
const char* nibble_version_string(void);
/* A static, human-readable name for a status ("NIBBLE_MALFORMED_MODEL: ..."); never NULL. */
const char* nibble_status_string(nibble_status status);
/* Detail of the last failed call on this thread; "" if none. Valid until the next failing call on this thread. */
const char* nibble_last_error(void);

/* ---- Models (immutable, shareable across threads) ---- */

/* Loads and fully validates a .nib file (every offset, size, shape, attribute and checksum).
 * Returns NIBBLE_OK and *out_model, or NIBBLE_INVALID_ARGUMENT (NULL path/out), NIBBLE_IO_ERROR,
 * NIBBLE_MALFORMED_MODEL, NIBBLE_VERSION_MISMATCH, NIBBLE_UNSUPPORTED. The file is mapped read-only; the model
 * owns the mapping. Free with nibble_model_free. */
NIBBLE_NODISCARD nibble_status nibble_model_load_file(const char* path, nibble_model** out_model);

/* As nibble_model_load_file, from memory. The caller keeps `data` (size bytes, 64-byte aligned for in-place
 * weights; unaligned buffers are copied once) alive and unchanged until nibble_model_free; weights are used in place. */
NIBBLE_NODISCARD nibble_status nibble_model_load_memory(const void* data, size_t size, nibble_model** out_model);

/* Frees a model. Sessions created from it must be freed first. NULL is a no-op. */
void nibble_model_free(nibble_model* model);

size_t nibble_model_input_count(const nibble_model* model);    /* 0 for NULL */
size_t nibble_model_output_count(const nibble_model* model);   /* 0 for NULL */

/* Fills *out_info for input/output `index`. NIBBLE_INVALID_ARGUMENT for NULL or an index out of range. */
NIBBLE_NODISCARD nibble_status nibble_model_input_info(const nibble_model* model, size_t index, nibble_tensor_info* out_info);
NIBBLE_NODISCARD nibble_status nibble_model_output_info(const nibble_model* model, size_t index, nibble_tensor_info* out_info);

/* Bytes of arena a session of this model needs (activations, scratch, codec buffers), so a caller can hand
 * in its own memory: the most any codec the model has tables for needs, so an arena of this size can switch
 * codecs freely. A smaller caller arena works for a codec that needs less (see nibble_session_arena_used).
 * The same for any num_threads: the scratch of threads beyond the first is allocated by the session. */
NIBBLE_NODISCARD nibble_status nibble_model_arena_size(const nibble_model* model, size_t* out_bytes);

/* The highest residual-edge level of the model (0 for models without ternary residual edges). */
NIBBLE_NODISCARD nibble_status nibble_model_max_residual_level(const nibble_model* model, int32_t* out_level);

/* Number of layers (nodes) and the number of residual edges of layer `layer` (0 unless ternary). */
size_t nibble_model_layer_count(const nibble_model* model);
NIBBLE_NODISCARD nibble_status nibble_model_layer_residual_edges(const nibble_model* model, size_t layer, int32_t* out_edges);

/* ---- Sessions (one thread at a time) ---- */

/* Fills defaults: no caller arena, one thread, all residual edges, no codec. */
void nibble_session_options_default(nibble_session_options* options);

/* Creates a session: plans and binds the arena once; no allocation happens in nibble_session_run afterwards.
 * `options` may be NULL (defaults). A caller arena that is too small gives NIBBLE_OUT_OF_MEMORY with
 * "needed N bytes, got M"; a misaligned one gives NIBBLE_INVALID_ARGUMENT. num_threads outside 0...256 gives
 * NIBBLE_INVALID_ARGUMENT; worker threads or their scratch that cannot be had give NIBBLE_OUT_OF_MEMORY. The
 * model must outlive the session. */
NIBBLE_NODISCARD nibble_status nibble_session_create(const nibble_model* model, const nibble_session_options* options,
                                                     nibble_session** out_session);

/* Frees a session (not a caller-supplied arena). NULL is a no-op. */
void nibble_session_free(nibble_session* session);

/* Copies `byte_size` bytes into input `index`; byte_size must equal the input's byte_size. */
NIBBLE_NODISCARD nibble_status nibble_session_set_input(nibble_session* session, size_t index, const void* data, size_t byte_size);

/* Runs the model once on the current inputs. */
NIBBLE_NODISCARD nibble_status nibble_session_run(nibble_session* session);

/* Copies output `index` (byte_size must equal the output's byte_size) into `data`. Valid after a successful run. */
NIBBLE_NODISCARD nibble_status nibble_session_get_output(nibble_session* session, size_t index, void* data, size_t byte_size);

/* Residual edges (ternary models): level L turns on the edges whose level is <= L, for the whole session
 * (-1 = all) or for one layer. Takes effect at the next run; no reload, no allocation. Models without
 * residual edges accept only -1 and 0 and return NIBBLE_UNSUPPORTED for anything else. */
NIBBLE_NODISCARD nibble_status nibble_session_set_residual_level(nibble_session* session, int32_t level);
NIBBLE_NODISCARD nibble_status nibble_session_set_layer_residual_level(nibble_session* session, size_t layer, int32_t level);

/* Chooses how intermediate feature maps are held in the arena; no reload, effective at the next run. Tensors
 * move, so set the inputs again afterwards. NIBBLE_UNSUPPORTED when the model has no codec tables for `codec`
 * (NIBBLE_CODEC_NONE is always accepted; CAT needs a model converted with --codec-bits, TRANSFORM one converted
 * with --codec-bits and --codec-transform); NIBBLE_OUT_OF_MEMORY
 * ("needed N bytes, got M") when a caller arena is too small for `codec`. */
NIBBLE_NODISCARD nibble_status nibble_session_set_codec(nibble_session* session, nibble_codec codec);

/* Arena bytes this session uses with its current codec: the planned size, including kernel scratch and codec
 * slots. Equals nibble_model_arena_size for the codec that needs most; create a session with options->codec set
 * (and no arena) to learn the smaller size a CAT session needs. Not counted: the per-thread kernel scratch of
 * a session with num_threads > 1, which it allocates outside the arena. */
NIBBLE_NODISCARD nibble_status nibble_session_arena_used(const nibble_session* session, size_t* out_bytes);

/* Detail of the session's last failure; "" if none. Lives until the next call on the session. */
const char* nibble_session_last_error(const nibble_session* session);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* NIBBLE_H */
