//===- tests/unit/test_onnx.cpp - ONNX import: models built here, bad files -===//
#include "Helpers.h"

#include "frontend/onnx/Onnx.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/PassManager.h"
#include "reference/Reference.h"
#include "runtime/Executable.h"

#include <onnx/onnx_pb.h>

using namespace kiln;

namespace {

/// A small model builder over ONNX's protobuf classes.
struct ModelBuilder {
  onnx::ModelProto m;
  explicit ModelBuilder(int64_t opset = 13) {
    m.set_ir_version(8);
    auto *op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    m.mutable_graph()->set_name("g");
  }
  onnx::GraphProto &g() { return *m.mutable_graph(); }
  void input(const std::string &name, std::vector<int64_t> dims, int elem = onnx::TensorProto::FLOAT,
             std::string param = "") {
    auto *vi = g().add_input();
    vi->set_name(name);
    auto *tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto *shape = tt->mutable_shape();
    for (int64_t d : dims) {
      auto *dim = shape->add_dim();
      if (d >= 0)
        dim->set_dim_value(d);
      else if (!param.empty())
        dim->set_dim_param(param);
    }
  }
  void output(const std::string &name) { g().add_output()->set_name(name); }
  onnx::NodeProto &node(const std::string &op, std::vector<std::string> in, std::vector<std::string> out,
                        const std::string &name = "") {
    auto *n = g().add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? out[0] : name);
    for (auto &i : in)
      n->add_input(i);
    for (auto &o : out)
      n->add_output(o);
    return *n;
  }
  onnx::TensorProto &initializer(const std::string &name, std::vector<int64_t> dims, std::vector<float> values) {
    auto *t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims)
      t->add_dims(d);
    for (float v : values)
      t->add_float_data(v);
    return *t;
  }
  Expected<ir::Graph> import(const OnnxImportOptions &o = {}) {
    return importOnnxBytes(m.SerializeAsString(), "m.onnx", o);
  }
  std::string error() {
    auto r = import();
    REQUIRE_FALSE(r);
    return r.error().message;
  }
};

void addAttrInts(onnx::NodeProto &n, const std::string &name, std::vector<int64_t> v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}

} // namespace

TEST_CASE("an ONNX model imports with symbolic dims, params and readable names", "[onnx]") {
  ModelBuilder b;
  b.input("x", {-1, 4}, onnx::TensorProto::FLOAT, "batch size");
  b.initializer("w", {4, 3}, std::vector<float>(12, 0.5f));
  b.initializer("b", {3}, {1, 2, 3});
  auto &gemm = b.node("Gemm", {"x", "w", "b"}, {"h"});
  (void)gemm;
  b.node("Relu", {"h"}, {"y"});
  b.output("y");
  auto g = b.import();
  if (!g)
    FAIL(g.error().message);
  REQUIRE(ir::verify(*g));
  std::string text = ir::print(*g);
  INFO(text);
  CHECK(text.find("input %x : f32[batch_size,4]") != std::string::npos);
  CHECK(text.find("param %w : f32[4,3] = [0.5,") != std::string::npos);
  CHECK(text.find("%y = relu(%h) : f32[batch_size,3]") != std::string::npos);
  auto run = ref::evaluate(*g, {{"x", test::tensor(ir::DType::F32, {2, 4}, {1, 1, 1, 1, -1, -1, -1, -1})}});
  REQUIRE(run);
  test::checkClose(run->outputs[0], {2, 3}, {3, 4, 5, 0, 0, 1});

  OnnxImportOptions consts;
  consts.initializersAsConstants = true;
  auto gc = b.import(consts);
  REQUIRE(gc);
  CHECK(gc->params().empty());
  CHECK(gc->consts().size() == 2);
}

TEST_CASE("bad ONNX files get one clear error naming the file and node", "[onnx][errors]") {
  CHECK(importOnnxBytes("definitely not protobuf \xff\xff", "junk.onnx").error().message ==
        "junk.onnx: error: not a valid ONNX model (the protobuf does not parse; is the file truncated?)");
  CHECK(importOnnxBytes("", "empty.onnx").error().message == "empty.onnx: error: not a valid ONNX model (it has no graph)");
  auto missing = importOnnx("/nonexistent/model.onnx");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "/nonexistent/model.onnx: cannot open the file (No such file or directory)");
  {
    ModelBuilder b(19);
    b.input("x", {2});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    CHECK(b.error() == "m.onnx: error: opset 19 is unsupported (kiln imports opsets 1 to 17 of the default domain)");
  }
  {
    ModelBuilder b;
    b.input("x", {2});
    b.node("Relu", {"nowhere"}, {"y"}, "relu1");
    b.output("y");
    CHECK(b.error() == "m.onnx: error: node 'relu1' (Relu) uses 'nowhere', which no node, input or initializer defines");
  }
  {
    ModelBuilder b;
    b.input("x", {2});
    b.node("Add", {"x", "b"}, {"a"}, "first");
    b.node("Relu", {"a"}, {"b"}, "second");
    b.output("b");
    CHECK(b.error() == "m.onnx: error: the graph has a cycle through node 'first' (Add), node 'second' (Relu)");
  }
  {
    ModelBuilder b;
    b.input("x", {2});
    b.initializer("w", {2, 2}, {1, 2, 3});
    b.node("Add", {"x", "w"}, {"y"});
    b.output("y");
    CHECK(b.error() == "m.onnx: error: initializer 'w': tensor 'w' of shape [2,2] needs 4 values, its data holds 3");
  }
  {
    ModelBuilder b;
    b.input("x", {int64_t{1} << 40, int64_t{1} << 40});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    CHECK(b.error() == "m.onnx: error: input 'x': dimension 1099511627776 is negative or overflows");
  }
  {
    ModelBuilder b;
    b.input("x", {2}, onnx::TensorProto::STRING);
    b.node("Identity", {"x"}, {"y"});
    b.output("y");
    CHECK(b.error() == "m.onnx: error: input 'x': unsupported element type STRING (kiln has f32 f64 f16 bf16 i64 "
                       "i32 i8 u8 bool)");
  }
  {
    ModelBuilder b;
    b.input("x", {1, 3, 4, 4});
    b.initializer("w", {2, 2, 3, 3}, std::vector<float>(36, 1.0f));
    b.node("Conv", {"x", "w"}, {"y"}, "conv1");
    b.output("y");
    CHECK(b.error() == "m.onnx: error: node 'conv1' (Conv): conv(%x: f32[1,3,4,4], %w: f32[2,2,3,3]): w's input "
                       "channels times groups vs x's channels: 2 does not match 3");
  }
}

TEST_CASE("every unsupported op of a model is listed at once", "[onnx][errors]") {
  ModelBuilder b;
  b.input("x", {2, 2});
  b.node("Unique", {"x"}, {"a"}, "u1");
  b.node("Relu", {"a"}, {"r"});
  b.node("Unique", {"r"}, {"c"}, "u2");
  b.node("Det", {"c"}, {"d"}, "d1");
  auto &custom = b.node("Frob", {"d"}, {"e"}, "f1");
  custom.set_domain("com.example");
  b.output("e");
  CHECK(b.error() == "m.onnx: error: the model uses 3 unsupported op types:\n"
                     "  Det (node 'd1')\n"
                     "  Unique (nodes 'u1', 'u2')\n"
                     "  com.example.Frob (node 'f1')");
}

TEST_CASE("shape operands fold at import: Shape, Gather, Concat into Reshape", "[onnx]") {
  // y = reshape(x, concat(shape(x)[0:1], [-1])): the flatten that exporters write.
  ModelBuilder b;
  b.input("x", {2, 3, 4});
  b.node("Shape", {"x"}, {"s"});
  auto &c0 = b.node("Constant", {}, {"zero"});
  auto *a = c0.add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(0);
  b.node("Gather", {"s", "zero"}, {"n"});
  auto &c1 = b.node("Constant", {}, {"minus1"});
  auto *a1 = c1.add_attribute();
  a1->set_name("value_ints");
  a1->set_type(onnx::AttributeProto::INTS);
  a1->add_ints(-1);
  auto &cat = b.node("Concat", {"n", "minus1"}, {"target"});
  auto *ax = cat.add_attribute();
  ax->set_name("axis");
  ax->set_type(onnx::AttributeProto::INT);
  ax->set_i(0);
  b.node("Reshape", {"x", "target"}, {"y"});
  b.output("y");
  auto g = b.import();
  if (!g)
    FAIL(g.error().message);
  CHECK(ir::print(*g).find("%y = reshape(%x) {shape=[2,-1]} : f32[2,12]") != std::string::npos);
}

TEST_CASE("auto_pad SAME_UPPER and SAME_LOWER pad as ONNX says", "[onnx]") {
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER"}) {
    ModelBuilder b;
    b.input("x", {1, 1, 5, 5});
    auto &n = b.node("MaxPool", {"x"}, {"y"});
    addAttrInts(n, "kernel_shape", {2, 2});
    addAttrInts(n, "strides", {2, 2});
    auto *ap = n.add_attribute();
    ap->set_name("auto_pad");
    ap->set_type(onnx::AttributeProto::STRING);
    ap->set_s(mode);
    b.output("y");
    auto g = b.import();
    REQUIRE(g);
    std::string want = mode == "SAME_UPPER" ? "pad=[0,0,1,1]" : "pad=[1,1,0,0]";
    CHECK(ir::print(*g).find(want) != std::string::npos);
  }
}

namespace {

onnx::NodeProto &constInts(ModelBuilder &b, const std::string &name, std::vector<int64_t> v) {
  auto &n = b.node("Constant", {}, {name});
  auto *a = n.add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
  return n;
}

/// Runs g at `feeds` on the reference and, optimized at -O2, on the LLVM
/// backend; both must agree.
std::vector<ir::HostTensor> runBoth(const ir::Graph &g, const ref::TensorMap &feeds) {
  auto want = ref::evaluate(g, feeds);
  if (!want)
    FAIL(want.error().message);
  std::map<std::string, ir::Sizes> sizes;
  for (const auto &[name, t] : feeds)
    sizes[name] = t.sizes();
  auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
  if (!optimized)
    FAIL(optimized.error().message);
  auto exe = Executable::compile(optimized->graph, sizes);
  if (!exe)
    FAIL(exe.error().message);
  auto got = (*exe)->run(feeds);
  REQUIRE(got);
  for (size_t i = 0; i < want->outputs.size(); ++i) {
    REQUIRE(got->outputs[i].sizes() == want->outputs[i].sizes());
    for (int64_t k = 0; k < want->outputs[i].numElements(); ++k)
      CHECK(got->outputs[i].get(k) == Approx(want->outputs[i].get(k)).margin(1e-5));
  }
  return want->outputs;
}

} // namespace

TEST_CASE("shapes computed from a symbolic batch become dim expressions", "[onnx][dims]") {
  // The exporters' x.view(x.size(0), -1) and x.view(x.size(0) * x.size(1), -1)
  // over a dim_param batch, and the Shape itself as an output.
  ModelBuilder b;
  b.input("x", {-1, 3, 4}, onnx::TensorProto::FLOAT, "N");
  b.node("Shape", {"x"}, {"s"});
  constInts(b, "i0", {0});
  constInts(b, "i1", {1});
  constInts(b, "minus1", {-1});
  b.node("Gather", {"s", "i0"}, {"n"});
  b.node("Gather", {"s", "i1"}, {"c"});
  auto &cat = b.node("Concat", {"n", "minus1"}, {"target"});
  auto *ax = cat.add_attribute();
  ax->set_name("axis");
  ax->set_type(onnx::AttributeProto::INT);
  ax->set_i(0);
  b.node("Reshape", {"x", "target"}, {"flat"});
  b.node("Mul", {"n", "c"}, {"nc"});
  auto &cat2 = b.node("Concat", {"nc", "minus1"}, {"target2"});
  cat2.add_attribute()->CopyFrom(*ax);
  b.node("Reshape", {"x", "target2"}, {"rows"});
  b.output("flat");
  b.output("rows");
  b.output("s");
  auto g = b.import();
  if (!g)
    FAIL(g.error().message);
  std::string text = ir::print(*g);
  CHECK(text.find(": f32[N,12]") != std::string::npos);
  CHECK(text.find(": f32[3*N,4]") != std::string::npos);
  for (int64_t n : {2, 5}) {
    auto out = runBoth(*g, {{"x", test::randomTensor({n, 3, 4}, 7, ir::DType::F32)}});
    CHECK(out[0].sizes() == ir::Sizes{n, 12});
    CHECK(out[1].sizes() == ir::Sizes{3 * n, 4});
    REQUIRE(out[2].sizes() == ir::Sizes{3});
    CHECK(out[2].getInt(0) == n);
    CHECK(out[2].getInt(1) == 3);
    CHECK(out[2].getInt(2) == 4);
  }
}

TEST_CASE("a shape computation kiln cannot follow is named, with every other failing node", "[onnx][errors]") {
  ModelBuilder b;
  b.input("x", {-1, 4}, onnx::TensorProto::FLOAT, "N");
  b.input("k", {2}, onnx::TensorProto::INT64);
  b.node("Reshape", {"x", "k"}, {"r"}, "reshape_by_input");
  b.node("Relu", {"r"}, {"a"}); // reads a failed node's output: skipped, not reported
  b.initializer("w", {2, 5, 3}, std::vector<float>(30, 1.0f));
  b.node("MatMul", {"x", "w"}, {"m"}, "bad_matmul");
  b.output("a");
  b.output("m");
  std::string e = b.error();
  CHECK(e.find("m.onnx: error: 2 nodes cannot be imported (some use what is unsupported):\n"
               "  node 'reshape_by_input' (Reshape): unsupported: input 'k' must be known when the model is imported") == 0);
  CHECK(e.find("\n  node 'bad_matmul' (MatMul): ") != std::string::npos);
  CHECK(e.find("Relu") == std::string::npos);
}

TEST_CASE("a convolution flattened into a transposed Gemm runs right in channels-last layouts", "[onnx][layout]") {
  // PyTorch's Conv2d -> x.view(x.size(0), -1) -> Linear: the Linear's weight
  // is [out, in] (Gemm transB=1), so its columns follow the NHWC image.
  ModelBuilder b;
  b.input("x", {-1, 3, 6, 6}, onnx::TensorProto::FLOAT, "N");
  std::vector<float> w;
  for (double v : test::randomValues(108, 3))
    w.push_back(static_cast<float>(v));
  b.initializer("w", {4, 3, 3, 3}, w);
  b.node("Conv", {"x", "w"}, {"c"});
  auto &flat = b.node("Flatten", {"c"}, {"f"});
  auto *axis = flat.add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(1);
  std::vector<float> fc;
  for (double v : test::randomValues(5 * 64, 4))
    fc.push_back(static_cast<float>(v));
  b.initializer("fc", {5, 64}, fc);
  auto &gemm = b.node("Gemm", {"f", "fc"}, {"y"});
  auto *tb = gemm.add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  b.output("y");
  auto g = b.import();
  if (!g)
    FAIL(g.error().message);
  for (int64_t n : {1, 3})
    CHECK(runBoth(*g, {{"x", test::randomTensor({n, 3, 6, 6}, 9, ir::DType::F32)}})[0].sizes() == ir::Sizes{n, 5});
}

TEST_CASE("Einsum: implicit output, ellipsis broadcast and a diagonal", "[onnx]") {
  struct Case {
    const char *equation;
    std::vector<int64_t> a, b;
  };
  for (const Case &k : {Case{"...ij,jk", {2, 3, 4}, {4, 5}}, Case{"bij,bjk->bik", {2, 3, 4}, {2, 4, 5}}}) {
    INFO(k.equation);
    ModelBuilder b(12);
    b.input("a", k.a);
    b.input("b", k.b);
    auto &n = b.node("Einsum", {"a", "b"}, {"y"});
    auto *eq = n.add_attribute();
    eq->set_name("equation");
    eq->set_type(onnx::AttributeProto::STRING);
    eq->set_s(k.equation);
    b.output("y");
    auto g = b.import();
    if (!g)
      FAIL(g.error().message);
    ir::HostTensor x = test::randomTensor(k.a, 1, ir::DType::F32), w = test::randomTensor(k.b, 2, ir::DType::F32);
    auto out = runBoth(*g, {{"a", x}, {"b", w}});
    REQUIRE(out[0].sizes() == ir::Sizes{2, 3, 5});
    for (int64_t bi = 0; bi < 2; ++bi) // against the matmul
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j) {
          double want = 0;
          for (int64_t c = 0; c < 4; ++c)
            want += x.get((bi * 3 + i) * 4 + c) * w.get((k.b.size() == 3 ? bi * 20 : 0) + c * 5 + j);
          CHECK(out[0].get((bi * 3 + i) * 5 + j) == Approx(want).margin(1e-5));
        }
  }
  ModelBuilder d(12);
  d.input("x", {3, 3});
  auto &n = d.node("Einsum", {"x"}, {"y"});
  auto *eq = n.add_attribute();
  eq->set_name("equation");
  eq->set_type(onnx::AttributeProto::STRING);
  eq->set_s("ii->i");
  d.output("y");
  auto g = d.import();
  REQUIRE(g);
  ir::HostTensor x = test::randomTensor({3, 3}, 3, ir::DType::F32);
  auto out = runBoth(*g, {{"x", x}});
  for (int64_t i = 0; i < 3; ++i)
    CHECK(out[0].get(i) == Approx(x.get(i * 4)));
}
