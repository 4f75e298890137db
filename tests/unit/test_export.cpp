//===- tests/unit/test_export.cpp - ONNX export: every op round-trips -----===//
//
// For every op of the table, a small graph of it is exported to ONNX
// (ONNX's checker, full check, accepts it: exportOnnxBytes runs it), imported
// back, and both graphs run on the reference interpreter at two batch sizes
// with the same inputs: the outputs must agree. A new op without a case here
// fails the test. The zoo models and trained layers round-trip too.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "frontend/onnx/Export.h"
#include "frontend/onnx/Onnx.h"
#include "kiln/nn.h"
#include "kiln/train.h"
#include "ir/File.h"
#include "runtime/Npy.h"

#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

using namespace kiln;
using namespace kiln::ir;

namespace {

/// An operand: a graph input of `shape` (a leading "N" is the batch).
struct Operand {
  DType dt = DType::F32;
  Shape shape;
  double lo = -1, hi = 1;
  double step = 0; ///< > 0: values on a grid of this step (ties for max pooling)
};

struct Case {
  std::string op;
  std::vector<Operand> operands;
  AttrList attrs;
  double tol = 1e-5;
};

Operand f(Shape s, double lo = -1, double hi = 1) { return {DType::F32, std::move(s), lo, hi}; }
Operand ints(Shape s, double lo, double hi) { return {DType::I64, std::move(s), lo, hi}; }
Operand flags(Shape s) { return {DType::Bool, std::move(s), 0, 2}; }

HostTensor valuesFor(const Operand &o, int64_t batch, uint64_t seed) {
  Sizes sizes;
  for (const Dim &d : o.shape)
    sizes.push_back(d.isConst() ? d.value : batch);
  std::vector<double> v = test::randomValues(product(sizes), seed, o.lo, o.hi);
  for (double &x : v) {
    if (o.dt != DType::F32 && o.dt != DType::F64)
      x = std::floor(x);
    else if (o.step > 0)
      x = std::round(x / o.step) * o.step;
  }
  return HostTensor::fromDoubles(o.dt, sizes, v);
}

std::vector<Case> cases() {
  Shape nx = {"N", 3};
  std::vector<Case> c;
  for (const char *op : {"neg", "abs", "exp", "expm1", "tanh", "sigmoid", "relu", "softplus", "softsign", "gelu",
                         "sign", "erf", "sin", "cos", "atan", "asinh"})
    c.push_back({op, {f(nx)}, {}});
  for (const char *op : {"log", "sqrt", "rsqrt", "reciprocal"})
    c.push_back({op, {f(nx, 0.2, 2)}, {}});
  c.push_back({"log1p", {f(nx, 0, 1)}, {}});
  for (const char *op : {"asin", "acos", "atanh"})
    c.push_back({op, {f(nx, -0.9, 0.9)}, {}});
  c.push_back({"acosh", {f(nx, 1.1, 3)}, {}});
  for (const char *op : {"floor", "ceil", "round"})
    c.push_back({op, {f(nx, -3, 3)}, {}});
  c.push_back({"hard_swish", {f(nx, -4, 4)}, {}});
  c.push_back({"leaky_relu", {f(nx)}, {{"alpha", 0.2}}});
  c.push_back({"elu", {f(nx)}, {{"alpha", 0.5}}});
  c.push_back({"selu", {f(nx)}, {}});
  for (const char *op : {"add", "sub", "mul", "max", "min"})
    c.push_back({op, {f(nx), f({3})}, {}});
  c.push_back({"div", {f(nx), f({3}, 0.5, 2)}, {}});
  c.push_back({"pow", {f(nx, 0.5, 2), f({3})}, {}});
  c.push_back({"fmod", {f(nx, -3, 3), f({3}, 0.5, 2)}, {}});
  for (const char *op : {"equal", "less", "greater"})
    c.push_back({op, {ints(nx, 0, 3), ints({3}, 0, 3)}, {}});
  for (const char *op : {"and", "or"})
    c.push_back({op, {flags(nx), flags(nx)}, {}});
  c.push_back({"select", {flags(nx), f(nx), f({3})}, {}});
  c.push_back({"cast", {f(nx, -3, 3)}, {{"to", DType::I32}}});
  c.push_back({"clip", {f(nx)}, {{"min", -0.5}, {"max", 0.25}}});
  Shape nxy = {"N", 3, 4};
  for (const char *op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min"})
    c.push_back({op, {f(nxy)}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", true}}});
  c.push_back({"reduce_prod", {f(nxy, 0.5, 1.5)}, {{"axes", std::vector<int64_t>{2}}}});
  c.push_back({"argmax", {f(nxy)}, {{"axis", int64_t{1}}}});
  c.push_back({"argmin", {f(nxy)}, {{"axis", int64_t{2}}, {"keepdims", true}}});
  c.push_back({"matmul", {f(nxy), f({5, 4})}, {{"transpose_b", true}}});
  Shape img = {"N", 4, 6, 6};
  std::vector<int64_t> s2 = {2, 2}, p1 = {1, 1, 1, 1}, k3 = {3, 3};
  c.push_back({"conv", {f(img), f({6, 2, 3, 3})}, {{"stride", s2}, {"pad", p1}, {"groups", int64_t{2}}}});
  c.push_back({"conv_transpose", {f({"N", 2, 4, 4}), f({2, 3, 3, 3})},
               {{"stride", s2}, {"pad", p1}, {"output_padding", std::vector<int64_t>{1, 1}}}});
  c.push_back({"conv_grad_input", {f({"N", 4, 3, 3}), f({4, 2, 3, 3})},
               {{"stride", s2}, {"pad", p1}, {"input_size", std::vector<int64_t>{6, 6}}}});
  c.push_back({"conv_grad_weight", {f(img), f({"N", 6, 3, 3})},
               {{"stride", s2}, {"pad", p1}, {"groups", int64_t{2}}, {"kernel_size", k3}}});
  Shape pool = {"N", 2, 5, 5};
  c.push_back({"max_pool", {f(pool)}, {{"kernel", k3}, {"stride", s2}, {"pad", p1}}});
  c.push_back({"avg_pool", {f(pool)}, {{"kernel", k3}, {"stride", s2}, {"pad", p1}}});
  c.push_back({"global_avg_pool", {f(pool)}, {}});
  c.push_back({"global_max_pool", {f(pool)}, {}});
  Operand tied = f(pool, -1, 1);
  tied.step = 0.5; // ties inside windows: the first maximum gets dy
  c.push_back({"max_pool_grad", {f({"N", 2, 3, 3}), tied}, {{"kernel", k3}, {"stride", s2}, {"pad", p1}}});
  c.push_back({"avg_pool_grad", {f({"N", 2, 3, 3})},
               {{"kernel", k3}, {"stride", s2}, {"pad", p1}, {"input_size", std::vector<int64_t>{5, 5}}}});
  c.push_back({"identity", {f(nx)}, {}});
  c.push_back({"reshape", {f(nxy)}, {{"shape", std::vector<int64_t>{0, -1}}}});
  c.push_back({"transpose", {f(nxy)}, {{"perm", std::vector<int64_t>{0, 2, 1}}}});
  c.push_back({"broadcast_to", {f({"N", 1, 4})}, {{"shape", Shape{"N", 3, 4}}}});
  c.push_back({"concat", {f(nx), f({"N", 2})}, {{"axis", int64_t{1}}}});
  c.push_back({"slice", {f(nxy)},
               {{"starts", std::vector<int64_t>{3, 0}}, {"ends", std::vector<int64_t>{0, 2}},
                {"axes", std::vector<int64_t>{2, 1}}, {"steps", std::vector<int64_t>{-2, 1}}}});
  c.push_back({"pad", {f(nx)}, {{"pads", std::vector<int64_t>{0, 1, 0, 2}}, {"value", 0.5}}});
  c.push_back({"gather", {f(nxy), ints({2}, 0, 3)}, {{"axis", int64_t{1}}}});
  c.push_back({"gather_elements", {f(nx), ints({"N", 2}, 0, 3)}, {{"axis", int64_t{1}}}});
  c.push_back({"one_hot", {ints({"N"}, 0, 4)}, {{"depth", int64_t{4}}}});
  c.push_back({"top_k", {f({"N", 5})}, {{"k", int64_t{2}}}});
  c.push_back({"scatter_elements", {f({"N", 4}), ints({"N", 2}, 0, 4), f({"N", 2})},
               {{"axis", int64_t{1}}, {"reduction", std::string("add")}}});
  c.push_back({"gather_nd", {f({3, 4, 2}), ints({"N", 2}, 0, 3)}, {}});
  c.push_back({"scatter_nd", {f({4, 3}), ints({"N", 1}, 0, 4), f({"N", 3})}, {{"reduction", std::string("add")}}});
  c.push_back({"resize", {f({"N", 2, 3, 3})},
               {{"scales", std::vector<double>{1, 1, 2, 1.5}}, {"mode", std::string("linear")}}});
  c.push_back({"cumsum", {f({"N", 4})}, {{"axis", int64_t{1}}, {"exclusive", true}}});
  c.push_back({"softmax", {f(nxy)}, {{"axis", int64_t{1}}}});
  c.push_back({"log_softmax", {f(nxy)}, {}});
  c.push_back({"softmax_cross_entropy", {f({"N", 5}), ints({"N"}, 0, 5)}, {}});
  Shape bn = {"N", 3, 2, 2};
  c.push_back({"batch_norm_train", {f(bn), f({3}), f({3})}, {}});
  c.push_back({"batch_norm_infer", {f(bn), f({3}), f({3}), f({3}), f({3}, 0.5, 1.5)}, {}});
  c.push_back({"batch_norm_grad", {f(bn), f(bn), f({3}), f({3}), f({3}, 0.5, 1.5)}, {}});
  c.push_back({"dropout", {f({"N", 4})}, {{"ratio", 0.3}, {"seed", int64_t{7}}}});
  return c;
}

/// The ops only the passes make: their export is refused, naming why.
const std::set<std::string> kPassOnly = {"layout_convert", "fused"};

ir::Graph build(const Case &c) {
  ir::Graph g("roundtrip_" + c.op);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    auto v = g.addInput("x" + std::to_string(i), Type{c.operands[i].dt, c.operands[i].shape, {}});
    REQUIRE(v);
    ids.push_back(*v);
  }
  const OpInfo *op = findOp(c.op);
  REQUIRE(op);
  auto results = g.addNode(op->kind, ids, c.attrs);
  INFO((results ? std::string() : results.error().message));
  REQUIRE(results);
  for (ValueId r : *results)
    REQUIRE(g.addOutput(r));
  return g;
}

void checkSame(const ir::Graph &a, const ir::Graph &b, const std::vector<Operand> &operands, double tol) {
  for (int64_t batch : {1, 3}) {
    ref::TensorMap feeds;
    REQUIRE(a.inputs().size() == operands.size());
    for (size_t i = 0; i < operands.size(); ++i)
      feeds.emplace(a.nameOf(a.inputs()[i]), valuesFor(operands[i], batch, 100 + i));
    auto want = ref::evaluate(a, feeds);
    INFO((want ? std::string() : want.error().message));
    REQUIRE(want);
    auto got = ref::evaluate(b, feeds);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got);
    REQUIRE(got->outputs.size() == want->outputs.size());
    for (size_t o = 0; o < want->outputs.size(); ++o) {
      INFO("output " << o << " at batch " << batch);
      const HostTensor &w = want->outputs[o], &g = got->outputs[o];
      REQUIRE(g.sizes() == w.sizes());
      REQUIRE(g.dtype() == w.dtype());
      for (int64_t i = 0; i < w.numElements(); ++i) {
        INFO("element " << i);
        REQUIRE(std::abs(g.get(i) - w.get(i)) <= tol * (1 + std::abs(w.get(i))));
      }
    }
  }
}

/// With KILN_EXPORT_DIR set, each case's model, inputs and the reference
/// interpreter's outputs at batch 3 go to DIR/OP/ (model.onnx, input_I.npy,
/// output_I.npy), for another runtime to check: bench/peers/check_export.py
/// runs them on ONNX Runtime.
void writeForPeers(const ir::Graph &g, const std::string &bytes, const std::vector<Operand> &operands) {
  const char *dir = std::getenv("KILN_EXPORT_DIR");
  if (!dir)
    return;
  std::filesystem::path d = std::filesystem::path(dir) / g.name();
  std::filesystem::create_directories(d);
  REQUIRE(writeFileAtomic((d / "model.onnx").string(), bytes));
  ref::TensorMap feeds;
  for (size_t i = 0; i < operands.size(); ++i) {
    HostTensor t = valuesFor(operands[i], 3, 100 + i);
    REQUIRE(npy::save((d / fmt::format("input_{}.npy", i)).string(), t));
    feeds.emplace(g.nameOf(g.inputs()[i]), t);
  }
  auto want = ref::evaluate(g, feeds);
  REQUIRE(want);
  for (size_t o = 0; o < want->outputs.size(); ++o)
    REQUIRE(npy::save((d / fmt::format("output_{}.npy", o)).string(), want->outputs[o]));
}

ir::Graph roundTrip(const ir::Graph &g, const std::vector<Operand> &operands = {}) {
  auto bytes = exportOnnxBytes(g);
  INFO((bytes ? std::string() : bytes.error().message));
  REQUIRE(bytes);
  if (!operands.empty())
    writeForPeers(g, *bytes, operands);
  auto back = importOnnxBytes(*bytes, g.name());
  INFO((back ? std::string() : back.error().message));
  REQUIRE(back);
  return back.take();
}

} // namespace

TEST_CASE("export: every op of the table has a round-trip case", "[export]") {
  std::set<std::string> covered = kPassOnly;
  for (const Case &c : cases())
    covered.insert(c.op);
  for (const OpInfo &op : allOps()) {
    INFO("op " << op.name << " has no export case in tests/unit/test_export.cpp");
    CHECK(covered.count(std::string(op.name)));
  }
}

TEST_CASE("export: each op round-trips kiln -> ONNX -> kiln with the same outputs", "[export]") {
  for (const Case &c : cases()) {
    SECTION(c.op) {
      ir::Graph g = build(c);
      ir::Graph back = roundTrip(g, c.operands);
      checkSame(g, back, c.operands, c.tol);
    }
  }
}

TEST_CASE("export: the batch stays symbolic as a dim_param", "[export]") {
  ir::Graph g = build({"relu", {f({"N", 3})}, {}});
  auto bytes = exportOnnxBytes(g);
  REQUIRE(bytes);
  ::onnx::ModelProto m;
  REQUIRE(m.ParseFromString(*bytes));
  CHECK(m.opset_import(0).version() == 17);
  CHECK(m.producer_name() == "kiln");
  const auto &in = m.graph().input(0).type().tensor_type().shape();
  REQUIRE(in.dim_size() == 2);
  CHECK(in.dim(0).dim_param() == "N");
  CHECK(in.dim(1).dim_value() == 3);
  const auto &out = m.graph().output(0).type().tensor_type().shape();
  CHECK(out.dim(0).dim_param() == "N");
}

TEST_CASE("export: what only the passes make is refused, naming the node", "[export]") {
  auto g = parse(R"(graph @g {
  input %x : f32[N,8,2,2]
  %xn = layout_convert(%x) {layout=nhwc} : f32[N,8,2,2]{nhwc}
  output %xn
})");
  REQUIRE(g);
  auto bytes = exportOnnxBytes(*g);
  REQUIRE_FALSE(bytes);
  CHECK_THAT(bytes.error().message, Catch::Contains("%xn") && Catch::Contains("the passes"));
}

TEST_CASE("export: ops ONNX 17 cannot say are errors naming the node", "[export]") {
  ir::Graph g = build({"scatter_elements", {f({2, 4}), ints({2, 2}, 0, 4), f({2, 2})},
                   {{"axis", int64_t{1}}, {"reduction", std::string("max")}}});
  auto bytes = exportOnnxBytes(g);
  REQUIRE_FALSE(bytes);
  CHECK_THAT(bytes.error().message, Catch::Contains("scatter_elements") && Catch::Contains("opset 18"));
}

TEST_CASE("export: the zoo's inference graphs round-trip at two batch sizes", "[export]") {
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    SECTION(name) {
      auto net = nn::zoo::byName(name);
      REQUIRE(net);
      auto g = classifierForward(*net, nn::zoo::inputDims(name), 3);
      REQUIRE(g);
      g->setName(std::string("zoo_") + name);
      ir::Graph back = roundTrip(*g, {f({"N", 1, 28, 28})});
      for (const Param &p : g->params()) { // every weight, under its name, with its values
        ValueId v = back.lookup(g->nameOf(p.value));
        REQUIRE(v != kNoValue);
        CHECK(back.value(v).kind == ValueKind::Param);
      }
      checkSame(*g, back, {f({"N", 1, 28, 28})}, 1e-5);
    }
  }
}

TEST_CASE("export: a net of conv, batch norm, dropout, pooling, LSTM and GRU layers round-trips", "[export]") {
  SECTION("conv net in inference mode") {
    nn::Sequential net;
    net.add(nn::conv(4, {3, 3}, nn::Activation::Relu));
    net.add(nn::batchNorm());
    net.add(nn::dropout(0.5));
    net.add(nn::maxPool({2, 2}));
    net.add(nn::avgPool({2, 2}));
    net.add(nn::globalAvgPool());
    net.add(nn::flatten());
    net.add(nn::dense(3));
    auto g = classifierForward(net, {1, 10, 10}, 5);
    REQUIRE(g);
    checkSame(*g, roundTrip(*g), {f({"N", 1, 10, 10})}, 1e-5);
  }
  SECTION("recurrent") {
    for (bool gru : {false, true}) {
      nn::Sequential net;
      net.add(gru ? nn::gru(4) : nn::lstm(4));
      net.add(nn::dense(2));
      auto g = classifierForward(net, {5, 3}, 5);
      REQUIRE(g);
      checkSame(*g, roundTrip(*g), {f({"N", 5, 3})}, 1e-5);
    }
  }
}
