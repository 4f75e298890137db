/*===- codegen/aot/AotAbi.h - The tables of an ahead-of-time object -*- C -*-===
 *
 * Shared by the object writer (codegen/llvm/Aot.cpp, C++) and the runtime
 * linked into every object (codegen/aot/Runtime.c, C). An object holds
 * the model's kernels, one table of int64 words describing it, its strings,
 * an array of kernel entry points and the embedded data; the runtime reads
 * the table. Words of the table, from word 0:
 *
 *   the header (KILN_AOT_HEADER_WORDS words, the KILN_AOT_H_* indices);
 *   tensor records (KILN_AOT_TENSOR_WORDS each): the inputs, the outputs,
 *     the parameters, the training step's inputs, its outputs;
 *   program records (KILN_AOT_PROGRAM_WORDS): inference programs by
 *     ascending batch, training programs, conversion programs;
 *   call records (KILN_AOT_CALL_WORDS) and buffer references
 *     (KILN_AOT_REF_WORDS), which programs and calls index.
 *
 *===----------------------------------------------------------------------===*/
#ifndef KILN_AOT_ABI_H
#define KILN_AOT_ABI_H

#include <stdint.h>

#define KILN_AOT_MAGIC 0x6b696c6e414f5431LL /* "kilnAOT1" */
#define KILN_AOT_MAX_RANK 8

enum kiln_aot_header {
  KILN_AOT_H_MAGIC,
  KILN_AOT_H_INPUTS,        /* tensors the inference program reads */
  KILN_AOT_H_OUTPUTS,       /* and writes */
  KILN_AOT_H_PARAMS,        /* the state: weights (and optimizer state) */
  KILN_AOT_H_MAX_BATCH,
  KILN_AOT_H_CHUNKED,       /* 1: any batch runs as chunks of the programs' batches */
  KILN_AOT_H_INFER,         /* inference programs */
  KILN_AOT_H_TRAIN,         /* training programs (0 without --train) */
  KILN_AOT_H_CONVERT,       /* layout conversion programs (import, export) */
  KILN_AOT_H_PARAM_BYTES,   /* the state's bytes, in compute layouts */
  KILN_AOT_H_EMBEDDED,      /* 1: the object embeds the state's initial values */
  KILN_AOT_H_TRAIN_INPUTS,
  KILN_AOT_H_TRAIN_OUTPUTS,
  KILN_AOT_H_TENSORS_AT,    /* word index of the first tensor record */
  KILN_AOT_H_PROGRAMS_AT,
  KILN_AOT_H_CALLS_AT,
  KILN_AOT_H_REFS_AT,
  KILN_AOT_HEADER_WORDS
};

/* A tensor: dims are per sample (dim 0 is 1) when it is batched. */
enum kiln_aot_tensor {
  KILN_AOT_T_NAME,          /* offset in the strings */
  KILN_AOT_T_DTYPE,         /* kiln's DType: f32 f64 f16 bf16 i64 i32 i8 u8 bool = 0..8 */
  KILN_AOT_T_RANK,
  KILN_AOT_T_DIMS,          /* KILN_AOT_MAX_RANK words */
  KILN_AOT_T_BATCHED = KILN_AOT_T_DIMS + KILN_AOT_MAX_RANK,
  KILN_AOT_T_BYTES,         /* per sample when batched */
  KILN_AOT_T_OFFSET,        /* a parameter's offset in the state */
  KILN_AOT_T_IMPORT,        /* conversion program (inputs: src, dst): logical -> compute layout; -1: a copy */
  KILN_AOT_T_EXPORT,        /* and back */
  KILN_AOT_TENSOR_WORDS
};

enum kiln_aot_program { KILN_AOT_P_BATCH, KILN_AOT_P_WORKSPACE, KILN_AOT_P_FIRST_CALL, KILN_AOT_P_CALLS, KILN_AOT_PROGRAM_WORDS };

/* A call: kernel k's entry is kernels[2k], its finish block kernels[2k+1]
 * (or null); kernel -1 copies BYTES bytes from its first reference to its
 * second; kernel -2 permutes EXTENT elements of BYTES bytes between layouts:
 * dst[to[i]] = src[from[i]] for every logical element i, `to` and `from`
 * its third and fourth references (int64 offsets among the constants; a
 * reference of index -1 is the identity); kernel -3 copies EXTENT elements
 * of BYTES bytes between two strided layouts, its third reference the int64
 * words rank, sizes[rank], the destination's strides, the source's. */
enum kiln_aot_call { KILN_AOT_C_KERNEL, KILN_AOT_C_EXTENT, KILN_AOT_C_BYTES, KILN_AOT_C_FIRST_REF, KILN_AOT_C_REFS, KILN_AOT_CALL_WORDS };

enum kiln_aot_ref { KILN_AOT_R_KIND, KILN_AOT_R_INDEX, KILN_AOT_R_OFFSET, KILN_AOT_REF_WORDS };

/* Where a buffer is: the pointer the caller gave for input or output INDEX,
 * or the state, the embedded constants or the workspace, plus OFFSET. */
enum kiln_aot_ref_kind { KILN_AOT_INPUT, KILN_AOT_OUTPUT, KILN_AOT_STATE, KILN_AOT_CONST, KILN_AOT_WORK };

typedef int (*kiln_aot_kernel)(void **buffers, int64_t begin, int64_t end);

#endif
