/*===- codegen/aot/Runtime.c - The runtime of an ahead-of-time object -----===
 *
 * Compiled to LLVM bitcode when kiln is built (twice: with OpenMP and,
 * for `kiln compile --threads 1`, without) and linked into every object
 * `kiln compile` writes, where its kiln_aot_api_* functions are renamed to
 * the model's entries (NAME_run, ...) and everything else made internal.
 * It reads the model's table (AotAbi.h) and needs only libc (and the
 * OpenMP runtime's GOMP_parallel, which libgomp and LLVM's libomp both
 * export).
 *
 * Runs a program: each call's kernel over its buffers, its parallel loop
 * split into one contiguous part per thread, then its finish block.
 * Inference on a batch runs as chunks of the compiled batches, largest
 * first (the model was checked to treat samples independently); a
 * training step runs at a compiled batch. The state (weights, optimizer
 * state) lives in the model object; it is read and written as safetensors
 * in logical layout, each tensor's CRC-32 in the metadata as kiln's own
 * checkpoints keep it.
 *
 *===----------------------------------------------------------------------===*/
#include "AotAbi.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const int64_t kiln_aot_table[];
extern const char kiln_aot_strings[];
extern const kiln_aot_kernel kiln_aot_kernels[];
extern const unsigned char kiln_aot_state_init[];
extern const unsigned char kiln_aot_consts[];

enum {
  KILN_OK,
  KILN_NULL_ARGUMENT,
  KILN_BAD_BATCH,
  KILN_OUT_OF_MEMORY,
  KILN_CANNOT_OPEN,
  KILN_BAD_FILE,
  KILN_CANNOT_WRITE,
  KILN_NOT_TRAINABLE,
  KILN_NO_WEIGHTS,
  KILN_STATUS_COUNT
};

#define H(i) kiln_aot_table[i]

static const int64_t *tensor(int64_t i) { return &kiln_aot_table[H(KILN_AOT_H_TENSORS_AT) + i * KILN_AOT_TENSOR_WORDS]; }
static const int64_t *program(int64_t i) { return &kiln_aot_table[H(KILN_AOT_H_PROGRAMS_AT) + i * KILN_AOT_PROGRAM_WORDS]; }
static const int64_t *call_at(int64_t i) { return &kiln_aot_table[H(KILN_AOT_H_CALLS_AT) + i * KILN_AOT_CALL_WORDS]; }
static const int64_t *ref_at(int64_t i) { return &kiln_aot_table[H(KILN_AOT_H_REFS_AT) + i * KILN_AOT_REF_WORDS]; }

static int64_t first_param(void) { return H(KILN_AOT_H_INPUTS) + H(KILN_AOT_H_OUTPUTS); }
static int64_t first_train_program(void) { return H(KILN_AOT_H_INFER); }
static int64_t first_convert_program(void) { return H(KILN_AOT_H_INFER) + H(KILN_AOT_H_TRAIN); }

struct kiln_aot_model {
  unsigned char *state;
};

/* ---- Threads ------------------------------------------------------------ */

static int kiln_threads = 0; /* 0: the OpenMP runtime's default */

#if KILN_AOT_OPENMP
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

struct part {
  kiln_aot_kernel fn;
  void **buffers;
  int64_t extent;
  volatile int failed;
};

static void run_part(void *data) {
  struct part *p = (struct part *)data;
  int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
  int64_t begin = p->extent * t / nt, end = p->extent * (t + 1) / nt;
  if (begin < end && p->fn(p->buffers, begin, end) != 0)
    p->failed = 1;
}
#endif

static int run_kernel(kiln_aot_kernel fn, void **buffers, int64_t extent) {
  if (extent == 0)
    return fn(buffers, 0, 1);
#if KILN_AOT_OPENMP
  if (extent > 1 && kiln_threads != 1) {
    struct part p = {fn, buffers, extent, 0};
    GOMP_parallel(run_part, &p, (unsigned)(kiln_threads > 0 ? kiln_threads : 0), 0);
    return p.failed;
  }
#endif
  return fn(buffers, 0, extent);
}

/* ---- Programs ----------------------------------------------------------- */

struct frame {
  void *const *inputs;
  void *const *outputs;
  unsigned char *state;
  unsigned char *work;
};

static void *resolve(const struct frame *f, const int64_t *r) {
  int64_t off = r[KILN_AOT_R_OFFSET], i = r[KILN_AOT_R_INDEX];
  switch (r[KILN_AOT_R_KIND]) {
  case KILN_AOT_INPUT: return (unsigned char *)f->inputs[i] + off;
  case KILN_AOT_OUTPUT: return (unsigned char *)f->outputs[i] + off;
  case KILN_AOT_STATE: return f->state + off;
  case KILN_AOT_CONST: return (void *)(kiln_aot_consts + off);
  case KILN_AOT_WORK: return f->work + off;
  }
  return 0;
}

static int run_program(int64_t p, const struct frame *f) {
  const int64_t *pr = program(p);
  void *buffers[64];
  for (int64_t c = 0; c < pr[KILN_AOT_P_CALLS]; ++c) {
    const int64_t *cl = call_at(pr[KILN_AOT_P_FIRST_CALL] + c);
    int64_t n = cl[KILN_AOT_C_REFS];
    void **bufs = n <= 64 ? buffers : (void **)malloc((size_t)n * sizeof(void *));
    if (!bufs)
      return KILN_OUT_OF_MEMORY;
    for (int64_t r = 0; r < n; ++r)
      bufs[r] = resolve(f, ref_at(cl[KILN_AOT_C_FIRST_REF] + r));
    int failed = 0;
    int64_t k = cl[KILN_AOT_C_KERNEL];
    if (k == -1) {
      memmove(bufs[1], bufs[0], (size_t)cl[KILN_AOT_C_BYTES]);
    } else if (k == -2) {
      const int64_t *r = ref_at(cl[KILN_AOT_C_FIRST_REF]);
      const int64_t *to = r[2 * KILN_AOT_REF_WORDS + KILN_AOT_R_INDEX] < 0 ? 0 : (const int64_t *)bufs[2];
      const int64_t *from = r[3 * KILN_AOT_REF_WORDS + KILN_AOT_R_INDEX] < 0 ? 0 : (const int64_t *)bufs[3];
      size_t w = (size_t)cl[KILN_AOT_C_BYTES];
      for (int64_t i = 0; i < cl[KILN_AOT_C_EXTENT]; ++i)
        memcpy((unsigned char *)bufs[1] + (size_t)(to ? to[i] : i) * w,
               (const unsigned char *)bufs[0] + (size_t)(from ? from[i] : i) * w, w);
    } else if (k == -3) {
      const int64_t *d = (const int64_t *)bufs[2];
      int64_t rank = d[0], at[KILN_AOT_MAX_RANK] = {0}, to = 0, from = 0;
      const int64_t *sizes = d + 1, *toS = d + 1 + rank, *fromS = d + 1 + 2 * rank;
      size_t w = (size_t)cl[KILN_AOT_C_BYTES];
      for (int64_t i = 0; i < cl[KILN_AOT_C_EXTENT]; ++i) {
        memcpy((unsigned char *)bufs[1] + (size_t)to * w, (const unsigned char *)bufs[0] + (size_t)from * w, w);
        for (int64_t r = rank; r-- > 0;) { /* the next logical element */
          to += toS[r], from += fromS[r];
          if (++at[r] < sizes[r])
            break;
          to -= toS[r] * sizes[r], from -= fromS[r] * sizes[r], at[r] = 0;
        }
      }
    } else {
      failed = run_kernel(kiln_aot_kernels[2 * k], bufs, cl[KILN_AOT_C_EXTENT]);
      if (!failed && kiln_aot_kernels[2 * k + 1])
        failed = kiln_aot_kernels[2 * k + 1](bufs, 0, 1);
    }
    if (bufs != buffers)
      free(bufs);
    if (failed)
      return KILN_OUT_OF_MEMORY;
  }
  return KILN_OK;
}

/* The workspace pointer, aligned up to 64 bytes (workspace_size adds them). */
static unsigned char *aligned(void *ws) { return (unsigned char *)(((uintptr_t)ws + 63) & ~(uintptr_t)63); }

/* The inference programs a batch runs as, largest first: counts[p] chunks of program p. */
static int plan_chunks(int64_t batch, int64_t *counts) {
  int64_t n = H(KILN_AOT_H_INFER), left = batch;
  if (batch < 1 || batch > H(KILN_AOT_H_MAX_BATCH))
    return KILN_BAD_BATCH;
  for (int64_t p = 0; p < n; ++p)
    counts[p] = 0;
  if (!H(KILN_AOT_H_CHUNKED)) {
    for (int64_t p = 0; p < n; ++p)
      if (program(p)[KILN_AOT_P_BATCH] == batch) {
        counts[p] = 1;
        return KILN_OK;
      }
    return KILN_BAD_BATCH;
  }
  for (int64_t p = n; p-- > 0;) {
    int64_t b = program(p)[KILN_AOT_P_BATCH];
    counts[p] = left / b;
    left -= counts[p] * b;
  }
  return left == 0 ? KILN_OK : KILN_BAD_BATCH;
}

static int64_t train_program(int64_t batch) {
  for (int64_t p = 0; p < H(KILN_AOT_H_TRAIN); ++p)
    if (program(first_train_program() + p)[KILN_AOT_P_BATCH] == batch)
      return first_train_program() + p;
  return -1;
}

size_t kiln_aot_api_workspace_size(int64_t batch) {
  int64_t most = 0;
  int64_t counts[64];
  if (H(KILN_AOT_H_INFER) <= 64 && plan_chunks(batch, counts) == KILN_OK)
    for (int64_t p = 0; p < H(KILN_AOT_H_INFER); ++p)
      if (counts[p] && program(p)[KILN_AOT_P_WORKSPACE] > most)
        most = program(p)[KILN_AOT_P_WORKSPACE];
  int64_t t = train_program(batch);
  if (t >= 0 && program(t)[KILN_AOT_P_WORKSPACE] > most)
    most = program(t)[KILN_AOT_P_WORKSPACE];
  for (int64_t p = 0; p < H(KILN_AOT_H_CONVERT); ++p)
    if (program(first_convert_program() + p)[KILN_AOT_P_WORKSPACE] > most)
      most = program(first_convert_program() + p)[KILN_AOT_P_WORKSPACE];
  return (size_t)most + 64;
}

int64_t kiln_aot_api_max_batch(void) { return H(KILN_AOT_H_MAX_BATCH); }

/* Introspection: how many tensors of a kind (0 inputs, 1 outputs, 2 the
 * state, 3 the training step's inputs, 4 its outputs), and one's name,
 * dtype (kiln's DType number), rank, dims (per sample when batched: dim 0
 * is 1) and whether dim 0 is the batch. */
static const int64_t kTensorKinds[] = {KILN_AOT_H_INPUTS, KILN_AOT_H_OUTPUTS, KILN_AOT_H_PARAMS, KILN_AOT_H_TRAIN_INPUTS,
                                       KILN_AOT_H_TRAIN_OUTPUTS};

int kiln_aot_api_tensor_count(int kind) { return kind >= 0 && kind < 5 ? (int)H(kTensorKinds[kind]) : 0; }

int kiln_aot_api_tensor_info(int kind, int i, const char **name, int *dtype, int *rank, int64_t *dims, int *batched) {
  if (i < 0 || i >= kiln_aot_api_tensor_count(kind))
    return KILN_NULL_ARGUMENT;
  int64_t first = 0;
  for (int k = 0; k < kind; ++k)
    first += H(kTensorKinds[k]);
  const int64_t *t = tensor(first + i);
  if (name)
    *name = kiln_aot_strings + t[KILN_AOT_T_NAME];
  if (dtype)
    *dtype = (int)t[KILN_AOT_T_DTYPE];
  if (rank)
    *rank = (int)t[KILN_AOT_T_RANK];
  if (dims)
    for (int64_t d = 0; d < t[KILN_AOT_T_RANK]; ++d)
      dims[d] = t[KILN_AOT_T_DIMS + d];
  if (batched)
    *batched = (int)t[KILN_AOT_T_BATCHED];
  return KILN_OK;
}

void kiln_aot_api_set_threads(int n) { kiln_threads = n < 0 ? 0 : n; }

int kiln_aot_api_run(struct kiln_aot_model *m, int64_t batch, void *const *inputs, void *const *outputs,
                     void *workspace) {
  int64_t counts[64], ni = H(KILN_AOT_H_INPUTS), no = H(KILN_AOT_H_OUTPUTS);
  void *in[64], *out[64];
  if (!m || (!inputs && ni) || (!outputs && no) || !workspace || ni > 64 || no > 64)
    return KILN_NULL_ARGUMENT;
  /* A buffer of no bytes may be null. */
  for (int64_t i = 0; i < ni; ++i)
    if (!inputs[i] && tensor(i)[KILN_AOT_T_BYTES])
      return KILN_NULL_ARGUMENT;
  for (int64_t i = 0; i < no; ++i)
    if (!outputs[i] && tensor(ni + i)[KILN_AOT_T_BYTES])
      return KILN_NULL_ARGUMENT;
  if (H(KILN_AOT_H_INFER) > 64)
    return KILN_BAD_BATCH;
  int st = plan_chunks(batch, counts);
  if (st)
    return st;
  int64_t done = 0;
  for (int64_t p = H(KILN_AOT_H_INFER); p-- > 0;)
    for (int64_t c = 0; c < counts[p]; ++c) {
      for (int64_t i = 0; i < ni; ++i)
        in[i] = (unsigned char *)inputs[i] + (tensor(i)[KILN_AOT_T_BATCHED] ? done * tensor(i)[KILN_AOT_T_BYTES] : 0);
      for (int64_t i = 0; i < no; ++i)
        out[i] = (unsigned char *)outputs[i] +
                 (tensor(ni + i)[KILN_AOT_T_BATCHED] ? done * tensor(ni + i)[KILN_AOT_T_BYTES] : 0);
      struct frame f = {in, out, m->state, aligned(workspace)};
      st = run_program(p, &f);
      if (st)
        return st;
      done += program(p)[KILN_AOT_P_BATCH];
    }
  return KILN_OK;
}

int kiln_aot_api_train_step(struct kiln_aot_model *m, int64_t batch, void *const *inputs, void *const *outputs,
                            void *workspace) {
  if (!H(KILN_AOT_H_TRAIN))
    return KILN_NOT_TRAINABLE;
  if (!m || !inputs || !outputs || !workspace)
    return KILN_NULL_ARGUMENT;
  for (int64_t i = 0; i < H(KILN_AOT_H_TRAIN_INPUTS); ++i)
    if (!inputs[i])
      return KILN_NULL_ARGUMENT;
  for (int64_t i = 0; i < H(KILN_AOT_H_TRAIN_OUTPUTS); ++i)
    if (!outputs[i])
      return KILN_NULL_ARGUMENT;
  int64_t p = train_program(batch);
  if (p < 0)
    return KILN_BAD_BATCH;
  struct frame f = {inputs, outputs, m->state, aligned(workspace)};
  return run_program(p, &f);
}

/* ---- State: init, free, safetensors -------------------------------------- */

static int convert(int64_t prog, const void *src, void *dst, int64_t bytes) {
  if (prog < 0) {
    memcpy(dst, src, (size_t)bytes);
    return KILN_OK;
  }
  void *ws = malloc((size_t)program(first_convert_program() + prog)[KILN_AOT_P_WORKSPACE] + 64);
  if (!ws)
    return KILN_OUT_OF_MEMORY;
  void *io[2] = {(void *)src, dst};
  struct frame f = {io, io, 0, aligned(ws)};
  int st = run_program(first_convert_program() + prog, &f);
  free(ws);
  return st;
}

static const char *const kDTypes[] = {"F32", "F64", "F16", "BF16", "I64", "I32", "I8", "U8", "BOOL"};

static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

/* Finds "name" as a key of the header's top-level object; the text after its colon. */
static const char *find_key(const char *json, const char *name) {
  size_t n = strlen(name);
  for (const char *p = strchr(json, '"'); p; p = strchr(p + 1, '"'))
    if (strncmp(p + 1, name, n) == 0 && p[n + 1] == '"') {
      const char *q = p + n + 2;
      while (*q == ' ')
        ++q;
      if (*q == ':')
        return q + 1;
    }
  return 0;
}

/* The integers of the first [...] list after "field" in an entry. */
static int read_ints(const char *entry, const char *field, int64_t *out, int max) {
  const char *p = strstr(entry, field);
  const char *close = strchr(entry, '}');
  if (!p || (close && p > close))
    return -1;
  p = strchr(p, '[');
  if (!p)
    return -1;
  int n = 0;
  ++p;
  for (;;) {
    while (*p == ' ' || *p == ',')
      ++p;
    if (*p == ']')
      return n;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || n == max)
      return -1;
    out[n++] = v;
    p = end;
  }
}

int kiln_aot_api_load(struct kiln_aot_model *m, const char *path) {
  if (!m || !path)
    return KILN_NULL_ARGUMENT;
  FILE *file = fopen(path, "rb");
  if (!file)
    return KILN_CANNOT_OPEN;
  unsigned char len8[8];
  int st = KILN_BAD_FILE;
  char *header = 0;
  unsigned char *data = 0;
  long size = 0;
  if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 8 || fseek(file, 0, SEEK_SET) != 0 ||
      fread(len8, 1, 8, file) != 8)
    goto done;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i)
    hlen = hlen << 8 | len8[i];
  if (hlen > (uint64_t)size - 8)
    goto done;
  header = (char *)malloc((size_t)hlen + 1);
  data = (unsigned char *)malloc((size_t)((uint64_t)size - 8 - hlen) + 1);
  if (!header || !data) {
    st = KILN_OUT_OF_MEMORY;
    goto done;
  }
  if (fread(header, 1, (size_t)hlen, file) != hlen ||
      fread(data, 1, (size_t)((uint64_t)size - 8 - hlen), file) != (size_t)((uint64_t)size - 8 - hlen))
    goto done;
  header[hlen] = 0;
  for (int64_t i = 0; i < H(KILN_AOT_H_PARAMS); ++i) {
    const int64_t *t = tensor(first_param() + i);
    const char *entry = find_key(header, kiln_aot_strings + t[KILN_AOT_T_NAME]);
    int64_t shape[KILN_AOT_MAX_RANK], offs[2];
    if (!entry)
      goto done;
    const char *dt = strstr(entry, "\"dtype\"");
    const char *want = kDTypes[t[KILN_AOT_T_DTYPE]];
    if (!dt || !(dt = strchr(dt + 7, '"')) || strncmp(dt + 1, want, strlen(want)) != 0 || dt[1 + strlen(want)] != '"')
      goto done;
    int rank = read_ints(entry, "\"shape\"", shape, KILN_AOT_MAX_RANK);
    if (rank != t[KILN_AOT_T_RANK] || read_ints(entry, "\"data_offsets\"", offs, 2) != 2)
      goto done;
    for (int d = 0; d < rank; ++d)
      if (shape[d] != t[KILN_AOT_T_DIMS + d])
        goto done;
    if (offs[0] < 0 || offs[1] - offs[0] != t[KILN_AOT_T_BYTES] || (uint64_t)offs[1] > (uint64_t)size - 8 - hlen)
      goto done;
    st = convert(t[KILN_AOT_T_IMPORT], data + offs[0], m->state + t[KILN_AOT_T_OFFSET], t[KILN_AOT_T_BYTES]);
    if (st)
      goto done;
    st = KILN_BAD_FILE;
  }
  st = KILN_OK;
done:
  free(header);
  free(data);
  fclose(file);
  return st;
}

int kiln_aot_api_save(struct kiln_aot_model *m, const char *path) {
  if (!m || !path)
    return KILN_NULL_ARGUMENT;
  int64_t np = H(KILN_AOT_H_PARAMS), total = 0;
  for (int64_t i = 0; i < np; ++i) {
    total += tensor(first_param() + i)[KILN_AOT_T_BYTES];
  }
  size_t cap = 256 + (size_t)np * 320;
  char *header = (char *)malloc(cap);
  unsigned char *logical = (unsigned char *)malloc((size_t)total + 1);
  if (!header || !logical) {
    free(header);
    free(logical);
    return KILN_OUT_OF_MEMORY;
  }
  int st = KILN_OK;
  size_t len = 0;
  int64_t at = 0;
  len += (size_t)snprintf(header + len, cap - len, "{");
  for (int64_t i = 0; i < np && !st; ++i) {
    const int64_t *t = tensor(first_param() + i);
    st = convert(t[KILN_AOT_T_EXPORT], m->state + t[KILN_AOT_T_OFFSET], logical + at, t[KILN_AOT_T_BYTES]);
    len += (size_t)snprintf(header + len, cap - len, "\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                            kiln_aot_strings + t[KILN_AOT_T_NAME], kDTypes[t[KILN_AOT_T_DTYPE]]);
    for (int64_t d = 0; d < t[KILN_AOT_T_RANK]; ++d)
      len += (size_t)snprintf(header + len, cap - len, "%s%lld", d ? "," : "", (long long)t[KILN_AOT_T_DIMS + d]);
    len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%lld,%lld]},", (long long)at,
                            (long long)(at + t[KILN_AOT_T_BYTES]));
    at += t[KILN_AOT_T_BYTES];
  }
  len += (size_t)snprintf(header + len, cap - len, "\"__metadata__\":{\"format\":\"kiln training checkpoint\"");
  for (int64_t i = 0, off = 0; i < np; ++i) {
    const int64_t *t = tensor(first_param() + i);
    len += (size_t)snprintf(header + len, cap - len, ",\"crc32:%s\":\"%08x\"", kiln_aot_strings + t[KILN_AOT_T_NAME],
                            (unsigned)crc32_of(logical + off, (size_t)t[KILN_AOT_T_BYTES]));
    off += t[KILN_AOT_T_BYTES];
  }
  len += (size_t)snprintf(header + len, cap - len, "}}");
  while (len % 8)
    header[len++] = ' ';
  FILE *file = st ? 0 : fopen(path, "wb");
  if (!st && !file)
    st = KILN_CANNOT_WRITE;
  if (file) {
    unsigned char len8[8];
    for (int i = 0; i < 8; ++i)
      len8[i] = (unsigned char)((uint64_t)len >> (8 * i));
    if (fwrite(len8, 1, 8, file) != 8 || fwrite(header, 1, len, file) != len ||
        fwrite(logical, 1, (size_t)total, file) != (size_t)total)
      st = KILN_CANNOT_WRITE;
    if (fclose(file) != 0)
      st = KILN_CANNOT_WRITE;
  }
  free(header);
  free(logical);
  return st;
}

void kiln_aot_api_free(struct kiln_aot_model *m) {
  if (!m)
    return;
  free(m->state);
  free(m);
}

int kiln_aot_api_init(struct kiln_aot_model **out, const char *weights) {
  if (!out)
    return KILN_NULL_ARGUMENT;
  *out = 0;
  if (!weights && !H(KILN_AOT_H_EMBEDDED))
    return KILN_NO_WEIGHTS;
  struct kiln_aot_model *m = (struct kiln_aot_model *)calloc(1, sizeof *m);
  if (!m)
    return KILN_OUT_OF_MEMORY;
  m->state = (unsigned char *)malloc((size_t)H(KILN_AOT_H_PARAM_BYTES) + 64);
  if (!m->state) {
    free(m);
    return KILN_OUT_OF_MEMORY;
  }
  int st = KILN_OK;
  if (H(KILN_AOT_H_EMBEDDED))
    memcpy(m->state, kiln_aot_state_init, (size_t)H(KILN_AOT_H_PARAM_BYTES));
  if (weights)
    st = kiln_aot_api_load(m, weights);
  if (st) {
    kiln_aot_api_free(m);
    return st;
  }
  *out = m;
  return KILN_OK;
}

const char *kiln_aot_api_error(int status) {
  static const char *const kMessages[KILN_STATUS_COUNT] = {
      "ok",
      "a null pointer was passed for the model, a buffer or the workspace",
      "the batch is outside what the model was compiled for (1 to the maximum batch; a training step: one of its compiled batch sizes)",
      "out of memory",
      "the file cannot be opened",
      "the file is not a safetensors file holding every tensor of the model's state with its dtype and shape",
      "the file cannot be written",
      "the model was compiled without --train: it has no training step",
      "the model was compiled with --weights: init needs the weights file",
  };
  return status >= 0 && status < KILN_STATUS_COUNT ? kMessages[status] : "unknown status";
}
