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
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Op.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::kernel {

using ir::DType;

struct Expr;
using ExprRef = std::shared_ptr<const Expr>;

struct Expr {
  enum Kind : uint8_t {
    Imm,   ///< the constant `imm`
    Var,   ///< the index of loop `var` (i64)
    Load,  ///< buffer[args[0]] (the index is i64)
    Acc,   ///< the current value of accumulator `var`
    Op,    ///< an elementwise op of the table on args (attrs in `params`)
    Cast,  ///< args[0] converted to `type`
  };
  Kind kind = Imm;
  DType type = DType::F32;
  ir::OpKind op = ir::OpKind::Identity; ///< for Op
  int var = -1;                         ///< loop or accumulator id; buffer index for Load
  double imm = 0;
  std::vector<double> params; ///< leaky_relu/elu alpha, selu's two, clip's bounds
  std::vector<ExprRef> args;
};

ExprRef imm(double v, DType t);
ExprRef index(int loopVar);
ExprRef load(int buffer, DType t, ExprRef idx);
ExprRef acc(int id, DType t);
ExprRef op(ir::OpKind k, DType t, std::vector<ExprRef> args, std::vector<double> params = {});
ExprRef cast(ExprRef x, DType t);
/// i64 index arithmetic, folding constants.
ExprRef addIdx(ExprRef a, ExprRef b);
ExprRef mulIdx(ExprRef a, int64_t c);

enum class LoopKind : uint8_t { Serial, Parallel, Vector };

struct Stmt;
using Block = std::vector<Stmt>;

/// A statement: a loop, a store, or an accumulator's declaration or update.
struct Stmt {
  enum Kind : uint8_t {
    Loop,     ///< for var in [0, extent): body
    Store,    ///< buffer[index] = value
    AccInit,  ///< accumulator var = value (before the loops that update it)
    AccUpdate ///< accumulator var = combine(var, value)
  };
  Kind kind = Loop;
  int var = -1;   ///< loop or accumulator id
  int64_t extent = 0;
  LoopKind loop = LoopKind::Serial;
  int buffer = -1;
  ir::OpKind combine = ir::OpKind::Add; ///< add, max, min or mul
  ExprRef index, value;
  Block body;
};

Stmt loop(int var, int64_t extent, LoopKind k, Block body);
Stmt store(int buffer, ExprRef index, ExprRef value);
Stmt accInit(int id, ExprRef value);
Stmt accUpdate(int id, ir::OpKind combine, ExprRef value);

/// A buffer argument: the kernel's inputs come first, then its outputs.
struct Buffer {
  std::string name;
  DType type;
  int64_t elements;
  bool output;
};

struct Kernel {
  std::string name;
  std::vector<Buffer> buffers;
  Block body;
  int numVars = 0; ///< loop and accumulator ids are below this

  /// The extent of the parallel loop that is the whole body, which the
  /// runtime splits across threads; 0 when there is none.
  int64_t parallelExtent() const {
    bool one = body.size() == 1 && body[0].kind == Stmt::Loop && body[0].loop == LoopKind::Parallel;
    return one ? body[0].extent : 0;
  }
};

/// The kernel as text (`kiln dump --stage kernels`).
std::string print(const Kernel &k);

} // namespace kiln::kernel
