//===- lower/Lowerer.h - The kernel builder of lowering ---------*- C++ -*-===//
//
// Internal to lower/. A Lowerer builds the kernel of one region (a fused
// node's body, or a plain node as a one-node region): the region's values
// as kernel-IR expressions at logical coordinates, loops over the result's
// storage order, and the schedule of its anchor, the one node that is not
// elementwise. Its members are defined by kernel family, a file each:
//
//   lower/Lowerer.cpp      values at coordinates, loop nests, stores, guarded
//                          image loads, the entry (lowerNode)
//   lower/Elementwise.cpp  elementwise kernels and layout conversions;
//                          composites expanded from their definitions
//   lower/Reduction.cpp    reductions with producers and epilogues, column
//                          reductions (bias gradients)
//   lower/Gemm.cpp         BLIS's contraction schedule: matmul, and conv and
//                          its gradients as packed im2col contractions
//   lower/DirectConv.cpp   oneDNN's direct convolutions and weight gradients
//   lower/Pooling.cpp      max pooling and its gradient
//   lower/Movement.cpp     data movement as index arithmetic
//   lower/Gpu.cpp          the GPU's schedules: flat parallel loops, the
//                          register-blocked contraction
//
//===----------------------------------------------------------------------===//
#pragma once

#include "lower/Lower.h"

#include "ir/TypeRules.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::lower::detail {

using namespace ir;
using namespace kernel;

using Coords = std::vector<ExprRef>;

/// Window ops lowered as a sum (or max) over taps: the table's windows but
/// average pooling's gradient and transposed convolution, which stay on the
/// reference.
bool isWindow(OpKind op);
/// Reductions over axes (reduce_sum, ...).
bool isReduce(OpKind op);
/// Data movement lowered as index arithmetic (lower/Movement.cpp).
bool isMovement(OpKind op);

/// On a GPU: the parallel nest ending k's body as one flat parallel loop
/// (lower/Gpu.cpp).
void flattenParallelNest(Kernel &k);
/// On a GPU: a reduction with few results and long reductions as blocks of
/// threads with a block reduction (lower/Gpu.cpp).
void blockReduceNest(Kernel &k);

class Lowerer {
public:
  Lowerer(const Graph &region, const std::map<std::string, int64_t> &dims, const Machine &machine)
      : r_(region), dims_(dims), vectorBytes_(machine.vectorBytes), threads_(std::max(1, machine.threads)),
        gpu_(machine.gpu()) {}

  std::optional<Kernel> run(const std::string &name, const std::vector<std::string> &argNames,
                            const std::vector<std::string> &resultNames);

private:
  bool check();
  bool flatAgrees(const Node &n) const;
  bool integerSafe(const Node &n) const;
  int newVar() { return k_.numVars++; }

  void loopsOver(ValueId v, Coords &c, std::vector<std::pair<int, int64_t>> &vars);
  std::optional<std::vector<int64_t>> strides(ValueId v) const;
  ExprRef offset(ValueId v, const Coords &c);
  static Coords broadcastCoords(const Coords &c, const Sizes &sizes);
  ExprRef at(ValueId v, const Coords &c);
  static ExprRef elementwise(const Node &n, DType t, std::vector<ExprRef> args);
  /// A data movement node's result at coordinates c (lower/Movement.cpp).
  ExprRef moved(const Node &n, const Coords &c);
  bool lowerArgReduce(const Node &n);
  void nestAccumulating(const std::vector<std::pair<int, int64_t>> &outer, Block body);
  static Block nest(const std::vector<std::pair<int, int64_t>> &vars, Block inner, bool reduction = false);
  Stmt storeYield(size_t i, const Coords &c);
  bool lowerElementwise();
  void storeYields(Block &inner, Block &after, const Coords &pre, const Coords &post);
  bool lowerReduce();
  bool lowerColumnReduce(ValueId x, const std::vector<int> &reduced, OpKind combine, double init, int64_t divisor,
                         DType t);
  bool accumulate(const std::vector<std::pair<int, int64_t>> &outer, const std::vector<std::pair<int, int64_t>> &inner,
                  int accId, OpKind combine, ExprRef init, ExprRef term, const Coords &pre, const Coords &post,
                  bool preYields);

  /// A contraction C[m, n] = sum over k < K of A(m, k) B(k, n), the anchor's
  /// value at the result coordinates out(m, n). `aKInner` says A's elements
  /// are contiguous along k (else along m), `bNInner` B's along n (else k):
  /// the packing loops follow them.
  struct Gemm {
    int64_t m = 0, n = 0, k = 0;
    std::function<ExprRef(const ExprRef &, const ExprRef &)> a, b;
    std::function<Coords(const ExprRef &, const ExprRef &)> out;
    bool aKInner = true, bNInner = true;
    /// k runs over (units, kStep) with the second contiguous (a conv's
    /// channels): slices hold whole units and packing loops over both, so
    /// the taps' indexing and padding guards are computed once per unit.
    int64_t kStep = 1;
    /// n runs over (units, nStep) likewise (a weight gradient's columns):
    /// blocks of columns hold whole units, and B is packed along them.
    int64_t nStep = 1;
  };

  int scratch(const char *name, DType t, int64_t elements);
  bool lowerGemm(const Gemm &g);
  /// The GPU's contraction (lower/Gpu.cpp): each thread a register block of
  /// C, summed over k from the accessors, the epilogue stored from it.
  bool lowerGemmGpu(const Gemm &g);
  bool lowerGemmTiled(const Gemm &g);
  Block outerProduct(const std::vector<ExprRef> &as, const std::vector<ExprRef> &bs, DType t, Block &inits,
                     std::vector<int> &accs);
  bool lowerMatMul();
  /// One row times a transposed matrix (a classifier at batch 1): dot
  /// products over contiguous k, in vector partial sums (lower/Gemm.cpp).
  bool lowerGemvT(ValueId a, ValueId b, int64_t n, int64_t k);
  static Coords decompose(const ExprRef &flat, const Sizes &extents);

  /// Whether images in value v's layout keep channels inside pixels (NHWC
  /// or blocked), so a contraction over (taps, channels) runs channels
  /// innermost.
  bool channelsInner(ValueId v) const { return r_.type(v).layout.kind != Layout::RowMajor; }

  /// Conv and its gradients as contractions over (channels, taps), the taps
  /// read through padding guards (and the stride's divisibility for the
  /// input gradient).
  /// A 2-D convolution computed directly (oneDNN's structure): an image
  /// read in NHWC, `w(out channel, in channel, tap row, tap column)` its
  /// weights; the result has `out` (logical) sizes.
  struct Direct {
    ValueId x = -1;
    int64_t cin = 0, cout = 0;
    Sizes out;
    int64_t kh = 0, kw = 0, strideH = 1, strideW = 1, dilH = 1, dilW = 1, padT = 0, padL = 0;
    std::function<ExprRef(const ExprRef &, const ExprRef &, const ExprRef &, const ExprRef &)> w;
  };
  /// How a direct convolution is blocked: a plain value directSchedule
  /// chooses from the sizes and the Machine, which lowerDirect builds.
  struct DirectSchedule {
    int64_t lanes = 0, mr = 0, nr = 0;  ///< the tile: mr pixels by nr = 2 vectors of output channels
    int64_t group = 0, groups = 0;      ///< output rows per task, tasks per image
    int64_t inRows = 0, wp = 0;         ///< the copied input rows: inRows of wp pixels
    bool flat = false;                  ///< stride 1: tiles run over the flattened rows
    int64_t rowsPad = 0, flatTiles = 0; ///< a row's pixels rounded up to tiles; tiles over a flat group
    int64_t k = 0, panels = 0, ldc = 0; ///< depth (taps x channels), panels of nr channels, C's row stride
    int64_t slack = 0;                  ///< pixels the last flat tile reads past the rows
  };
  /// A direct convolution's scratch buffers.
  struct DirectBuffers {
    int rows = -1, bPanels = -1, cBlock = -1;
  };
  static DirectSchedule directSchedule(const Direct &d, DType t, const Machine &machine);


  static std::vector<Tile::Around> taps(const Direct &d, int64_t wp, int64_t nr);
  bool lowerDirectFlat(const Direct &d, const DirectSchedule &s, const DirectBuffers &buf, Block body, Block taskBody,
                       int task, const ExprRef &b, const ExprRef &r0);
  bool lowerDirect(const Direct &d);
  bool lowerWeightGradByParts(const Node &n, const Window &win);
  bool lowerDirectWeightGrad(const Node &n, const Window &win);
  std::optional<Direct> directConv(const Node &n, const Window &win);
  bool lowerConv(const Node &n, const Window &win);
  ExprRef windowLoad(ValueId v, Coords c, const std::vector<int64_t> &divisors, const Window &win, ExprRef fill);
  ExprRef loadInside(ValueId v, const Coords &c, const ExprRef &inside, ExprRef fill);
  ExprRef imageLoad(ValueId v, const Coords &c);
  bool lowerWindow();
  bool lowerMaxPoolGrad(const Node &n);
  bool lowerAvgPool(const Node &n, const Window &win);
  bool lowerGroupedConv(const Node &n, const Window &win, int64_t groups);
  /// A depthwise conv (one channel a group) over channels-last images, the
  /// channels the vector loop (lower/Pooling.cpp).
  bool lowerDepthwise(const Node &n, const Window &win);
  const Graph &r_;
  const std::map<std::string, int64_t> &dims_;
  int vectorBytes_, threads_;
  bool gpu_;
  Kernel k_;
  std::vector<Sizes> sizes_;
  std::map<ValueId, int> nodeOf_, bufferOf_;
  std::map<std::string, ExprRef> memo_;
  int anchor_ = -1;
  ExprRef anchorValue_;
};

} // namespace kiln::lower::detail
