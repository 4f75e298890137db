//===- kiln/kiln.h - kiln's public C++ graph-building API ------*- C++ -*-===//
//
// The one include of kiln's user API: build a model as a symbolic graph in
// the Theano style, then print it, evaluate it or compile it.
//
//   kiln::Graph g("mlp");
//   auto x = g.input("x", kiln::f32, {"N", 784});
//   auto w = g.param("w", {784, 10}, kiln::init::glorot_uniform(1));
//   auto b = g.param("b", {10}, kiln::init::zeros());
//   auto probs = kiln::softmax(kiln::matmul(x, w) + b).named("probs");
//   g.output(probs);
//   if (auto s = g.status(); !s) { /* s.error().message says what is wrong */ }
//
// Then differentiate and compile, as in Theano: parameters are shared
// variables, one storage every function compiled from the graph reads and
// updates (get_value/set_value), and a function applies only the updates
// it is given.
//
//   auto y = g.input("y", kiln::i64, {"N"});
//   auto loss = kiln::softmax_cross_entropy(kiln::matmul(x, w) + b, y);
//   auto grads = kiln::grad(loss, {w, b});
//   auto train = kiln::function({x, y}, {loss}, {{w, w - 0.1 * grads[0]}, {b, b - 0.1 * grads[1]}});
//   auto predict = kiln::function({x}, {probs}); // sees train's weights
//   auto out = (*train)({images, labels});       // Expected<std::vector<HostTensor>>
//
// Building never throws: an op with bad operands records an error in its
// Graph (naming the op and the operand types) and returns an invalid Tensor;
// ops on invalid tensors are skipped, so one mistake is reported once.
// g.status() returns every error recorded.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "ir/Printer.h"
#include "passes/Autodiff.h"
#include "runtime/Function.h"

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

using ir::DType;
using ir::Dim;
using ir::HostTensor;
using ir::Shape;

/// The default float dtype: the config's floatX (float32 unless
/// ~/.kilnrc or KILN_FLAGS says float64).
DType floatX();

inline constexpr DType f32 = DType::F32, f64 = DType::F64, f16 = DType::F16, bf16 = DType::BF16,
                       i64 = DType::I64, i32 = DType::I32, i8 = DType::I8, u8 = DType::U8, boolean = DType::Bool;

class Graph;

/// A symbolic tensor: a value of a Graph. Cheap to copy.
class Tensor {
public:
  Tensor() = default;
  Tensor(Graph *g, ir::ValueId id) : graph_(g), id_(id) {}

  /// False for the result of an op that failed to build.
  bool valid() const { return graph_ != nullptr && id_ != ir::kNoValue; }
  Graph *graph() const { return graph_; }
  ir::ValueId id() const { return id_; }
  /// The static type (dtype, shape with symbolic dims, layout).
  /// A copy: adding ops to the graph may move what a reference would point to.
  ir::Type type() const;
  const std::string &name() const;
  /// Renames the value, so that dumps and output files carry a readable name.
  Tensor named(std::string name) const;

  /// A parameter's value (Theano's `get_value`): the newest that any function
  /// compiled from its graph made, or its initial value.
  Expected<HostTensor> get_value() const;
  /// Sets a parameter's value (`set_value`) for every function of its graph;
  /// the dtype and shape must match.
  Status set_value(const HostTensor &value) const;

private:
  Graph *graph_ = nullptr;
  ir::ValueId id_ = ir::kNoValue;
};

/// Seeded, reproducible initializers for Graph::param.
namespace init {
inline ir::Initializer zeros() { return {ir::Initializer::Zeros, 0, 0, 0}; }
inline ir::Initializer constant(double v) { return {ir::Initializer::Constant, v, 0, 0}; }
inline ir::Initializer uniform(double low, double high, uint64_t seed) { return {ir::Initializer::Uniform, low, high, seed}; }
inline ir::Initializer normal(double mean, double stddev, uint64_t seed) { return {ir::Initializer::Normal, mean, stddev, seed}; }
inline ir::Initializer glorot_uniform(uint64_t seed) { return {ir::Initializer::GlorotUniform, 0, 0, seed}; }
inline ir::Initializer glorot_normal(uint64_t seed) { return {ir::Initializer::GlorotNormal, 0, 0, seed}; }
inline ir::Initializer he_uniform(uint64_t seed) { return {ir::Initializer::HeUniform, 0, 0, seed}; }
inline ir::Initializer he_normal(uint64_t seed) { return {ir::Initializer::HeNormal, 0, 0, seed}; }
} // namespace init

/// A graph under construction. Tensors point into it, so it stays in place.
class Graph {
public:
  explicit Graph(std::string name = "main") : ir_(std::move(name)) {}
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  /// An input; dims are sizes or symbols: {"N", 1, 28, 28}.
  Tensor input(std::string name, DType dtype, const Shape &shape);
  /// A parameter (a shared variable) of constant shape made by `init`, of
  /// `dtype` (unset: floatX).
  Tensor param(std::string name, const std::vector<int64_t> &shape, const ir::Initializer &init,
               std::optional<DType> dtype = std::nullopt);
  /// A parameter holding `value`.
  Tensor param(std::string name, HostTensor value);
  /// A constant; an empty name picks a fresh one.
  Tensor constant(HostTensor value, std::string name = "");
  /// A scalar constant of the given dtype (unset: floatX).
  Tensor scalar(double value, std::optional<DType> dtype = std::nullopt);
  void output(Tensor t);
  /// Registers an update: after each step `param` takes the value `value`
  /// had. Layers (BatchNorm's running statistics) and optim::minimize
  /// register theirs here; a step graph (ir()) carries them, and
  /// kiln::function applies them when given updates().
  void update(Tensor param, Tensor value);
  /// The updates registered with update(), in order.
  std::vector<std::pair<Tensor, Tensor>> updates();

  /// The storage of the parameters, shared by every function compiled from
  /// this graph (created on first use).
  const std::shared_ptr<SharedVariables> &shared();

  /// Every error recorded while building, one per line; success if none.
  Status status() const;
  const std::vector<Error> &errors() const { return errors_; }
  const ir::Graph &ir() const { return ir_; }
  ir::Graph &ir() { return ir_; }
  /// The graph as .kir text.
  std::string str() const { return ir::print(ir_); }

  /// Builds a node; records an error and returns invalid tensors on failure.
  std::vector<Tensor> apply(ir::OpKind op, const std::vector<Tensor> &operands, const ir::AttrList &attrs = {});
  /// Records an error (also used by helpers that check their arguments).
  void fail(Error e) { errors_.push_back(std::move(e)); }

private:
  ir::Graph ir_;
  std::vector<Error> errors_;
  int constCount_ = 0;
  std::shared_ptr<SharedVariables> shared_;
};

/// `param <- value` pairs, as Theano's `updates`.
using Updates = std::vector<std::pair<Tensor, Tensor>>;

/// Theano's `grad`: d cost / d each of `wrt`, appended to their graph as
/// ordinary nodes (so the gradient of a gradient works). `cost` must be a
/// float scalar; a `wrt` the cost does not depend on is an error unless
/// `disconnected` is Zero. Errors are recorded in the graph (g.status())
/// and the results are then invalid.
std::vector<Tensor> grad(Tensor cost, const std::vector<Tensor> &wrt,
                         passes::Disconnected disconnected = passes::Disconnected::Raise);
Tensor grad(Tensor cost, Tensor wrt);

/// Theano's `function`: compiles a callable from `inputs` (every input of
/// the graph, in call order) to `outputs`, applying exactly `updates` after
/// each call. Its parameters are the graph's shared variables. Options left
/// unset come from the configuration (device, optimizer, mode). A graph
/// with build errors, or tensors from two graphs, is an error.
Expected<Function> function(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs,
                            const Updates &updates = {}, FunctionOptions options = {});

// --- Elementwise ------------------------------------------------------------------
Tensor neg(Tensor x);
Tensor abs(Tensor x);
Tensor exp(Tensor x);
Tensor expm1(Tensor x);
Tensor log(Tensor x);
Tensor log1p(Tensor x);
Tensor sqrt(Tensor x);
Tensor reciprocal(Tensor x);
Tensor tanh(Tensor x);
Tensor leaky_relu(Tensor x, double alpha = 0.01);
/// The composite ops without attributes (relu, sigmoid, selu, ...), one free
/// function each, declared by their definitions in ir/Ops.def.
#define KILN_OP(...)
#define KILN_DEFINE(id, api, ...) Tensor api(Tensor x);
#include "ir/Ops.def"
#undef KILN_DEFINE
#undef KILN_OP
Tensor elu(Tensor x, double alpha = 1.0);
Tensor floor(Tensor x);
Tensor ceil(Tensor x);
Tensor round(Tensor x);
Tensor erf(Tensor x);
Tensor sin(Tensor x);
Tensor cos(Tensor x);
Tensor atan(Tensor x);
Tensor add(Tensor a, Tensor b);
Tensor sub(Tensor a, Tensor b);
Tensor mul(Tensor a, Tensor b);
Tensor div(Tensor a, Tensor b);
/// a - trunc(a / b) b (C's fmod, the sign of a).
Tensor fmod(Tensor a, Tensor b);
Tensor pow(Tensor a, Tensor b);
Tensor maximum(Tensor a, Tensor b);
Tensor minimum(Tensor a, Tensor b);
Tensor equal(Tensor a, Tensor b);
Tensor less(Tensor a, Tensor b);
Tensor greater(Tensor a, Tensor b);
Tensor logical_and(Tensor a, Tensor b);
Tensor logical_or(Tensor a, Tensor b);
/// a where cond else b.
Tensor select(Tensor cond, Tensor a, Tensor b);
Tensor cast(Tensor x, DType to);
Tensor clip(Tensor x, double min, double max);

Tensor operator+(Tensor a, Tensor b);
Tensor operator-(Tensor a, Tensor b);
Tensor operator*(Tensor a, Tensor b);
Tensor operator/(Tensor a, Tensor b);
Tensor operator-(Tensor a);
Tensor operator<(Tensor a, Tensor b);
Tensor operator>(Tensor a, Tensor b);
Tensor operator<=(Tensor a, Tensor b);
Tensor operator>=(Tensor a, Tensor b);
/// A scalar operand takes the dtype of the tensor operand: `x * 2.0`.
Tensor operator+(Tensor a, double b);
Tensor operator-(Tensor a, double b);
Tensor operator*(Tensor a, double b);
Tensor operator/(Tensor a, double b);
Tensor operator+(double a, Tensor b);
Tensor operator-(double a, Tensor b);
Tensor operator*(double a, Tensor b);
Tensor operator/(double a, Tensor b);
Tensor operator<(Tensor a, double b);
Tensor operator>(Tensor a, double b);

// --- Reductions (empty axes: all) ----------------------------------------------------
Tensor reduce_sum(Tensor x, std::vector<int64_t> axes = {}, bool keepdims = false);
Tensor reduce_mean(Tensor x, std::vector<int64_t> axes = {}, bool keepdims = false);
Tensor reduce_max(Tensor x, std::vector<int64_t> axes = {}, bool keepdims = false);
Tensor reduce_min(Tensor x, std::vector<int64_t> axes = {}, bool keepdims = false);
Tensor reduce_prod(Tensor x, std::vector<int64_t> axes = {}, bool keepdims = false);
Tensor argmax(Tensor x, int64_t axis, bool keepdims = false);
Tensor argmin(Tensor x, int64_t axis, bool keepdims = false);

// --- Contractions and pooling --------------------------------------------------------
/// Window geometry; empty lists mean stride 1, no padding, dilation 1. `pad`
/// lists every spatial dim's begin padding, then every end padding.
struct ConvOptions {
  std::vector<int64_t> stride = {}, pad = {}, dilation = {};
  int64_t groups = 1;
};
struct PoolOptions {
  std::vector<int64_t> stride = {}, pad = {}, dilation = {};
  bool ceil_mode = false;
  bool count_include_pad = false; ///< avg_pool only
};
Tensor matmul(Tensor a, Tensor b, bool transpose_a = false, bool transpose_b = false);
Tensor conv(Tensor x, Tensor w, const ConvOptions &o = {});
Tensor conv_transpose(Tensor x, Tensor w, const ConvOptions &o = {}, std::vector<int64_t> output_padding = {});
Tensor conv_grad_input(Tensor dy, Tensor w, std::vector<int64_t> input_size, const ConvOptions &o = {});
Tensor conv_grad_weight(Tensor x, Tensor dy, std::vector<int64_t> kernel_size, const ConvOptions &o = {});
Tensor max_pool(Tensor x, std::vector<int64_t> kernel, const PoolOptions &o = {});
Tensor avg_pool(Tensor x, std::vector<int64_t> kernel, const PoolOptions &o = {});
Tensor global_avg_pool(Tensor x);
Tensor global_max_pool(Tensor x);
Tensor max_pool_grad(Tensor dy, Tensor x, std::vector<int64_t> kernel, const PoolOptions &o = {});
Tensor avg_pool_grad(Tensor dy, std::vector<int64_t> input_size, std::vector<int64_t> kernel, const PoolOptions &o = {});

// --- Data movement ---------------------------------------------------------------------
Tensor identity(Tensor x);
/// 0 copies the input dim, -1 is inferred: reshape(x, {0, -1}) flattens.
Tensor reshape(Tensor x, std::vector<int64_t> shape);
Tensor transpose(Tensor x, std::vector<int64_t> perm = {});
Tensor broadcast_to(Tensor x, const Shape &shape);
Tensor concat(const std::vector<Tensor> &xs, int64_t axis);
Tensor slice(Tensor x, std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes = {},
             std::vector<int64_t> steps = {});
/// mode: "constant", "edge" or "reflect".
Tensor pad(Tensor x, std::vector<int64_t> pads, const std::string &mode = "constant", double value = 0.0);
Tensor gather(Tensor data, Tensor indices, int64_t axis = 0);
Tensor gather_elements(Tensor data, Tensor indices, int64_t axis = 0);
Tensor one_hot(Tensor indices, int64_t depth, int64_t axis = -1, DType dtype = f32);
/// The indices (i64) of the k largest (or smallest) elements along axis,
/// sorted by value; their values are gather_elements(x, top_k(x, k), axis).
Tensor top_k(Tensor x, int64_t k, int64_t axis = -1, bool largest = true);
/// data with updates written (or added, multiplied, maxed, mined: reduction
/// "add", "mul", "max", "min") at indices along axis.
Tensor scatter_elements(Tensor data, Tensor indices, Tensor updates, int64_t axis = 0,
                        const std::string &reduction = "none");
/// The slices of data that indices' last dim addresses (ONNX GatherND), and
/// data with them set to, or combined with, updates (ScatterND).
Tensor gather_nd(Tensor data, Tensor indices, int64_t batch_dims = 0);
Tensor scatter_nd(Tensor data, Tensor indices, Tensor updates, const std::string &reduction = "none");
/// x resized by `scales` (one per dim) as ONNX's Resize: mode nearest,
/// linear or cubic, coordinates mapped by `coordinates` (half_pixel,
/// pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn).
Tensor resize(Tensor x, std::vector<double> scales, const std::string &mode = "nearest",
              const std::string &coordinates = "half_pixel");
/// Running sums along axis (exclusive: each element left out of its own sum;
/// reverse: from the end).
Tensor cumsum(Tensor x, int64_t axis, bool exclusive = false, bool reverse = false);
Tensor layout_convert(Tensor x, ir::Layout layout);

// --- Composite nn ops --------------------------------------------------------------------
Tensor softmax(Tensor x, int64_t axis = -1);
Tensor log_softmax(Tensor x, int64_t axis = -1);
/// reduction: "mean", "sum" or "none".
Tensor softmax_cross_entropy(Tensor logits, Tensor labels, const std::string &reduction = "mean");
struct BatchNormResult {
  Tensor y, mean, var;
};
BatchNormResult batch_norm_train(Tensor x, Tensor scale, Tensor bias, double epsilon = 1e-5);
Tensor batch_norm_infer(Tensor x, Tensor scale, Tensor bias, Tensor mean, Tensor var, double epsilon = 1e-5);
struct BatchNormGrads {
  Tensor dx, dscale, dbias;
};
BatchNormGrads batch_norm_grad(Tensor dy, Tensor x, Tensor scale, Tensor mean, Tensor var, double epsilon = 1e-5);
struct DropoutResult {
  Tensor y, mask;
};
DropoutResult dropout(Tensor x, double ratio, int64_t seed);

} // namespace kiln
