//===- ir/kernel/Kernel.h - The loop-level kernel IR ------------*- C++ -*-===//
//
// What passes/lower makes of a graph node and codegen turns into machine
// code: a kernel reads and writes flat buffers through a nest of loops over
// constant extents (one compiled specialization per input shape), each loop
// annotated serial, parallel or vector. Values are expression trees: buffer
// loads at affine indices, the element ops of the op table (their meaning is
// the reference interpreter's), casts, selects, and scalar accumulators of
// reductions. Trees share subtrees (shared_ptr), so a value used twice is
// built once; codegen computes a shared subtree once per loop body.
//
// Contractions add three things (the BLIS structure): scratch buffers private
// to each call (packed panels, an accumulator block), loops whose trip count
// is cut short by an index expression (the edge blocks), and the `tile`
// statement, a register-blocked micro-kernel: an mr x nr block of C
// accumulated in vector registers from packed panels of A and B by FMAs.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Op.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kiln::kernel {

using ir::DType;

struct Expr;
using ExprRef = std::shared_ptr<const Expr>;

struct Expr {
  enum Kind : uint8_t {
    Imm,   ///< the constant `imm`
    Var,   ///< the index of loop `var` (i64); `imm` bounds it when not 0
    Load,  ///< buffer[args[0]] (the index is i64)
    Acc,   ///< the current value of accumulator `var`
    Op,    ///< a primitive elementwise op of the table on args
    Cast,  ///< args[0] converted to `type`
  };
  Kind kind = Imm;
  DType type = DType::F32;
  ir::OpKind op = ir::OpKind::Identity; ///< for Op
  int var = -1;                         ///< loop or accumulator id; buffer index for Load
  double imm = 0;
  std::vector<ExprRef> args;
};

ExprRef imm(double v, DType t);
/// Loop `loopVar`'s index; `extent`, when known, lets divIdx and remIdx
/// simplify.
ExprRef index(int loopVar, int64_t extent = 0);
ExprRef load(int buffer, DType t, ExprRef idx);
ExprRef acc(int id, DType t);
/// A primitive op of the table (composites are expanded before).
ExprRef op(ir::OpKind k, DType t, std::vector<ExprRef> args);
/// The dtype primitive k gives on `args`: bool for comparisons and logical
/// ops, the branches' for select, the first operand's otherwise.
DType primitiveType(ir::OpKind k, std::span<const ExprRef> args);
ExprRef cast(ExprRef x, DType t);
/// i64 index arithmetic, folding constants (divIdx and remIdx take
/// non-negative values and a positive constant).
ExprRef addIdx(ExprRef a, ExprRef b);
ExprRef mulIdx(ExprRef a, int64_t c);
ExprRef divIdx(ExprRef a, int64_t c);
ExprRef remIdx(ExprRef a, int64_t c);
ExprRef minIdx(ExprRef a, ExprRef b);

/// Serial, parallel (split across the CPU's threads; on a GPU a grid-stride
/// loop over all threads) and vector loops, and the GPU's two levels: a
/// `Block` loop (grid-stride over the grid's blocks; it ends the body, and
/// its body is one `Thread` loop) and a `Thread` loop, whose extent is the
/// block's size and whose body each thread of the block runs once, its
/// index the loop's variable. Only inside a Thread loop: `workgroup`
/// buffers, barriers and block reductions.
enum class LoopKind : uint8_t { Serial, Parallel, Vector, Block, Thread };

struct Stmt;
using Block = std::vector<Stmt>;

/// The operands of a `tile` statement: C[c + i * ldc + j] += sum over
/// k < depth of A[a + i * aRow + k * aK] * B[b + k * bK + j], for i < mr,
/// j < nr (and over the loops `around` k, which move a and b). B is a packed panel (bK nr) or vectors read in place; A is a
/// packed panel (aRow 1, aK mr) or rows read in place (a direct
/// convolution's padded input rows: aRow the pixel stride, aK 1); C is read
/// and written in place;
/// nr is a multiple of `lanes`, the vector width codegen uses.
struct Tile {
  /// A loop around k, with the accumulators still in registers: `count`
  /// trips, each moving A's and B's offsets by their strides (a
  /// convolution's taps, or a weight gradient's output rows).
  struct Around {
    ExprRef count; ///< i64 trip count (at most 0: none)
    int64_t aStride = 0, bStride = 0;
  };
  int a = -1, b = -1;      ///< buffers of A and the B panel (C is Stmt::buffer)
  ExprRef aIndex, bIndex;  ///< offsets of A and the B panel
  ExprRef depth;           ///< k's trip count (i64)
  int64_t mr = 0, nr = 0, ldc = 0, lanes = 0;
  int64_t aRow = 1, aK = 0; ///< A's strides (aK 0: mr, a packed panel)
  int64_t bK = 0;           ///< B's row stride (0: nr, a packed panel)
  std::vector<Around> around; ///< outermost first
  /// When set and not 0 (an i64 expression), the block starts from zero
  /// instead of C (the first slice of k): C need not be cleared first.
  ExprRef fresh;
};

/// A statement: a loop, a store, an accumulator's declaration or update, or
/// a micro-kernel.
struct Stmt {
  enum Kind : uint8_t {
    Loop,      ///< for var in [0, min(extent, limit)): body
    Store,     ///< buffer[index] = value
    AccInit,   ///< accumulator var = value (before the loops that update it)
    AccUpdate, ///< accumulator var = combine(var, value)
    TileFma,   ///< buffer[index ...] += the product of `tile`'s panels
    Barrier,   ///< every thread of the block waits here (GPU: __syncthreads)
    BlockReduce ///< accumulator var = combine of its values over the block's threads, in every thread
  };
  Kind kind = Loop;
  int var = -1;   ///< loop or accumulator id
  int64_t extent = 0;
  ExprRef limit;  ///< a Loop's trip count when not `extent` (at most extent)
  LoopKind loop = LoopKind::Serial;
  int buffer = -1;
  ir::OpKind combine = ir::OpKind::Add; ///< add, max, min or mul
  ExprRef index, value;
  Tile tile;
  Block body;
};

Stmt loop(int var, int64_t extent, LoopKind k, Block body);
/// A loop of at most `extent` trips that runs `limit` of them.
Stmt loopUpTo(int var, int64_t extent, ExprRef limit, LoopKind k, Block body);
Stmt tileFma(int c, ExprRef cIndex, Tile t);
Stmt store(int buffer, ExprRef index, ExprRef value);
Stmt accInit(int id, ExprRef value);
Stmt accUpdate(int id, ir::OpKind combine, ExprRef value);
Stmt barrier();
Stmt blockReduce(int id, ir::OpKind combine);

/// A buffer: the kernel's inputs come first, then its outputs (the
/// arguments), then its scratch buffers, which each call allocates for
/// itself, except shared ones: the runtime allocates those once and passes
/// them after the outputs, so every part of the parallel loop and the finish
/// block see them (a weight gradient's per-part partial sums).
struct Buffer {
  std::string name;
  DType type = DType::F32;
  int64_t elements = 0;
  bool output = false;
  bool scratch = false;
  bool shared = false;
  /// Scratch shared by the threads of a GPU block (CUDA's __shared__).
  bool workgroup = false;

  /// Passed in by the runtime (inputs, outputs, shared scratch).
  bool passedIn() const { return !scratch || shared; }
};

struct Kernel {
  std::string name;
  std::vector<Buffer> buffers;
  Block body;
  /// Runs once, on one thread, after every part of the parallel loop (adds
  /// up the parts' partial results); empty for most kernels.
  Block finish;
  int numVars = 0; ///< loop and accumulator ids are below this

  /// The extent of the parallel loop that ends the body, which the runtime
  /// splits across threads (the statements before it run once per part:
  /// packing what every part reads); 0 when there is none.
  int64_t parallelExtent() const {
    bool last = !body.empty() && body.back().kind == Stmt::Loop && body.back().loop == LoopKind::Parallel;
    return last ? body.back().extent : 0;
  }
  /// A GPU kernel of blocks (its body ends in a Block loop): the blocks'
  /// count and their threads; {0, 0} otherwise.
  std::pair<int64_t, int64_t> gpuBlocks() const {
    bool last = !body.empty() && body.back().kind == Stmt::Loop && body.back().loop == LoopKind::Block &&
                body.back().body.size() == 1 && body.back().body[0].kind == Stmt::Loop &&
                body.back().body[0].loop == LoopKind::Thread;
    return last ? std::pair{body.back().extent, body.back().body[0].extent} : std::pair<int64_t, int64_t>{0, 0};
  }
};

/// The kernel as text (`kiln dump --stage kernels`).
std::string print(const Kernel &k);

} // namespace kiln::kernel
