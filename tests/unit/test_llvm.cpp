//===- tests/unit/test_llvm.cpp - The LLVM backend against the reference --===//
//
// Executables (lowered kernels compiled by LLVM, the reference interpreter
// for the nodes not lowered yet) must compute what the reference interpreter
// computes: on random graphs after -O2 (elementwise chains, reductions and
// matmuls with their fused producers and epilogues, in f64), on every
// elementwise op alone, and on a whole LeNet-5 training step in f32.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"
#include "RandomGraph.h"

#include "kiln/train.h"
#include "ir/Parser.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"
#include "runtime/Parallel.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace kiln;
using namespace kiln::test;

namespace {

std::map<std::string, ir::Sizes> sizesOf(const ref::TensorMap &feeds) {
  std::map<std::string, ir::Sizes> out;
  for (const auto &[name, t] : feeds)
    out[name] = t.sizes();
  return out;
}

void checkRuns(const ref::RunResult &want, const ref::RunResult &got, double rtol, double atol) {
  REQUIRE(want.outputs.size() == got.outputs.size());
  REQUIRE(want.updates.size() == got.updates.size());
  for (size_t i = 0; i < want.outputs.size(); ++i) {
    INFO("output " << i);
    checkClose(got.outputs[i], want.outputs[i].sizes(), want.outputs[i].toDoubles(), rtol, atol);
  }
  for (size_t i = 0; i < want.updates.size(); ++i) {
    INFO("update " << i);
    checkClose(got.updates[i], want.updates[i].sizes(), want.updates[i].toDoubles(), rtol, atol);
  }
}

} // namespace

TEST_CASE("the LLVM backend computes what the reference does on random graphs", "[llvm][differential]") {
  size_t native = 0, total = 0;
  for (int seed = 1; seed <= 60 / kSweepScale; ++seed) {
    Graph g("random");
    ref::TensorMap feeds;
    RandomGraph(static_cast<uint64_t>(seed)).build(g, feeds);
    REQUIRE(g.status());
    INFO("seed " << seed << "\n" << g.str());
    auto want = ref::evaluate(g.ir(), feeds);
    REQUIRE(want);
    auto optimized = passes::runPipeline(g.ir(), passes::pipelineFor(2));
    REQUIRE(optimized);
    auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
    if (!exe)
      FAIL(exe.error().message);
    INFO((*exe)->kernelsText());
    auto got = (*exe)->run(feeds);
    if (!got)
      FAIL(got.error().message);
    checkRuns(*want, *got, 1e-9, 1e-12);
    native += (*exe)->nativeNodes();
    total += (*exe)->nativeNodes() + (*exe)->referenceNodes();
  }
  // Elementwise, reduction and matmul kernels are native; convolutions,
  // pooling, softmax and data movement still run on the reference.
  CHECK(native * 4 > total);
}

TEST_CASE("every elementwise op on the LLVM backend matches the reference", "[llvm][ops]") {
  for (const ir::OpInfo &op : ir::allOps()) {
    if (op.category != ir::OpCategory::Elementwise || op.kind == ir::OpKind::Cast)
      continue;
    INFO("op " << op.name);
    for (ir::DType dt : {ir::DType::F32, ir::DType::F64}) {
      ir::Graph g("op");
      int arity = op.minOperands;
      std::vector<ir::ValueId> args;
      ref::TensorMap feeds;
      for (int i = 0; i < arity; ++i) {
        bool cond = op.kind == ir::OpKind::Select && i == 0;
        bool logical = op.kind == ir::OpKind::And || op.kind == ir::OpKind::Or;
        ir::DType t = cond || logical ? ir::DType::Bool : dt;
        std::string name = "a" + std::to_string(i);
        auto v = g.addInput(name, ir::Type{t, {2, 50}, {}});
        REQUIRE(v);
        args.push_back(*v);
        // Values across the interesting ranges: negative, zero, positive, large.
        std::vector<double> vals = randomValues(100, 7 + static_cast<uint64_t>(i), -4, 4);
        vals[0] = 0, vals[1] = -0.5, vals[2] = 0.5, vals[3] = 30, vals[4] = -30;
        feeds[name] = ir::HostTensor::fromDoubles(t, {2, 50}, vals);
      }
      auto r = g.addNode(op.kind, args, {});
      REQUIRE(r);
      REQUIRE(g.addOutput((*r)[0]));
      auto want = ref::evaluate(g, feeds);
      REQUIRE(want);
      auto exe = Executable::compile(g, sizesOf(feeds));
      if (!exe)
        FAIL(exe.error().message);
      CHECK((*exe)->nativeNodes() == 1);
      auto got = (*exe)->run(feeds);
      REQUIRE(got);
      checkRuns(*want, *got, dt == ir::DType::F32 ? 2e-6 : 1e-12, dt == ir::DType::F32 ? 1e-6 : 1e-14);
    }
  }
}

TEST_CASE("a LeNet-5 training step on the LLVM backend matches the reference", "[llvm][train]") {
  auto net = nn::zoo::byName("lenet");
  REQUIRE(net);
  optim::Options o;
  o.method = optim::Method::Momentum;
  auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
  REQUIRE(g);
  ref::TensorMap feeds = {{"images", randomTensor({4, 1, 28, 28}, 5, ir::DType::F32)},
                          {"labels", tensor(ir::DType::I64, {4}, {3, 7, 0, 9})}};
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  auto optimized = passes::runPipeline(*g, passes::pipelineFor(2));
  REQUIRE(optimized);
  auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
  if (!exe)
    FAIL(exe.error().message);
  CHECK((*exe)->nativeNodes() > 10);
  auto got = (*exe)->run(feeds);
  if (!got)
    FAIL(got.error().message);
  checkRuns(*want, *got, 1e-4, 1e-5);
  // The parameters stay resident: a second step starts from the updated ones.
  const ir::HostTensor *w = (*exe)->param("dense5.w");
  REQUIRE(w);
  size_t index = 0;
  for (size_t i = 0; i < g->updates().size(); ++i)
    if (g->nameOf(g->updates()[i].param) == "dense5.w")
      index = i;
  checkClose(*w, want->updates[index].sizes(), want->updates[index].toDoubles(), 1e-4, 1e-5);
}

TEST_CASE("convolutions and max pooling on the LLVM backend match the reference", "[llvm][ops]") {
  struct WindowCase {
    ir::OpKind op;
    std::vector<ir::Sizes> operands;
    ir::AttrList attrs;
  };
  using V = std::vector<int64_t>;
  const std::vector<WindowCase> cases = {
      {ir::OpKind::Conv, {{2, 3, 7, 6}, {4, 3, 3, 3}}, {}},
      {ir::OpKind::Conv, {{2, 3, 7, 6}, {4, 3, 3, 2}}, {{"pad", V{1, 0, 2, 1}}, {"stride", V{2, 1}}}},
      {ir::OpKind::Conv, {{1, 2, 9, 9}, {3, 2, 3, 3}}, {{"dilation", V{2, 2}}, {"pad", V{2, 2, 2, 2}}}},
      {ir::OpKind::Conv, {{2, 2, 10}, {3, 2, 4}}, {{"pad", V{1, 2}}}}, // 1-D
      {ir::OpKind::ConvGradWeight, {{2, 3, 7, 6}, {2, 4, 4, 6}}, {{"kernel_size", V{3, 3}}, {"pad", V{1, 1, 1, 1}}, {"stride", V{2, 1}}}},
      {ir::OpKind::ConvGradInput, {{2, 4, 7, 6}, {4, 3, 3, 3}}, {{"input_size", V{7, 6}}, {"pad", V{1, 1, 1, 1}}}},
      {ir::OpKind::ConvGradInput, {{2, 4, 5, 4}, {4, 3, 3, 3}}, {{"input_size", V{7, 6}}}},
      {ir::OpKind::ConvGradInput, {{2, 4, 4, 3}, {4, 3, 3, 3}}, {{"input_size", V{7, 6}}, {"pad", V{1, 1, 1, 1}}, {"stride", V{2, 2}}}},
      {ir::OpKind::ConvGradInput, {{1, 5, 9, 9}, {5, 2, 3, 3}}, {{"input_size", V{9, 9}}, {"pad", V{2, 2, 2, 2}}, {"dilation", V{2, 2}}}},
      {ir::OpKind::Conv, {{2, 17, 9, 13}, {20, 17, 3, 3}}, {{"pad", V{1, 1, 1, 1}}}},
      {ir::OpKind::ConvGradWeight, {{2, 9, 9, 8}, {2, 8, 9, 8}}, {{"kernel_size", V{3, 3}}, {"pad", V{1, 1, 1, 1}}}},
      {ir::OpKind::ConvGradWeight, {{1, 17, 11, 11}, {1, 7, 6, 6}}, {{"kernel_size", V{3, 3}}, {"pad", V{1, 1, 1, 1}}, {"stride", V{2, 2}}}},
      {ir::OpKind::ConvGradWeight, {{1, 8, 9, 9}, {1, 6, 9, 9}}, {{"kernel_size", V{3, 3}}, {"pad", V{2, 2, 2, 2}}, {"dilation", V{2, 2}}}},
      // input channels in whole tiles: split over the batch, summed by the finish block
      {ir::OpKind::ConvGradWeight, {{3, 16, 9, 8}, {3, 7, 9, 8}}, {{"kernel_size", V{3, 3}}, {"pad", V{1, 1, 1, 1}}}},
      {ir::OpKind::ConvGradWeight, {{2, 32, 11, 10}, {2, 6, 6, 5}}, {{"kernel_size", V{3, 3}}, {"pad", V{1, 1, 1, 1}}, {"stride", V{2, 2}}}},
      {ir::OpKind::ConvGradWeight, {{1, 16, 9, 9}, {1, 12, 9, 9}}, {{"kernel_size", V{3, 3}}, {"pad", V{2, 2, 2, 2}}, {"dilation", V{2, 2}}}},
      {ir::OpKind::ConvGradWeight, {{2, 16, 7, 7}, {2, 8, 5, 3}}, {{"kernel_size", V{3, 5}}}},
      {ir::OpKind::Conv, {{1, 3, 11, 11}, {5, 3, 3, 3}}, {{"pad", V{1, 1, 1, 1}}, {"stride", V{2, 2}}, {"dilation", V{2, 1}}}},
      {ir::OpKind::MaxPool, {{2, 3, 8, 8}}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}},
      {ir::OpKind::MaxPoolGrad, {{2, 3, 4, 4}, {2, 3, 8, 8}}, {{"kernel", V{2, 2}}, {"stride", V{2, 2}}}},
      {ir::OpKind::MaxPoolGrad, {{2, 3, 2, 3}, {2, 3, 6, 9}}, {{"kernel", V{3, 3}}, {"stride", V{3, 3}}}},
      {ir::OpKind::MaxPool, {{2, 3, 7, 7}}, {{"kernel", V{3, 3}}, {"stride", V{2, 2}}, {"pad", V{1, 1, 1, 1}}, {"ceil_mode", true}}},
      // depthwise (one channel a group): channels-last rows of accumulators after -O2
      {ir::OpKind::Conv, {{2, 16, 9, 8}, {16, 1, 3, 3}}, {{"pad", V{1, 1, 1, 1}}, {"groups", int64_t{16}}}},
      {ir::OpKind::Conv, {{1, 40, 11, 11}, {40, 1, 5, 5}}, {{"pad", V{2, 2, 2, 2}}, {"stride", V{2, 2}}, {"groups", int64_t{40}}}},
      {ir::OpKind::Conv, {{1, 32, 9, 9}, {32, 1, 3, 3}}, {{"pad", V{2, 1, 2, 1}}, {"dilation", V{2, 1}}, {"groups", int64_t{32}}}},
      {ir::OpKind::Conv, {{2, 24, 10}, {24, 1, 3}}, {{"pad", V{1, 1}}, {"groups", int64_t{24}}}}, // 1-D
      {ir::OpKind::Conv, {{1, 16, 9, 9}, {16, 1, 7, 7}}, {{"pad", V{3, 3, 3, 3}}, {"groups", int64_t{16}}}}, // 49 taps: a row of accumulators
  };
  for (const WindowCase &c : cases) {
    ir::Graph g("window");
    std::vector<ir::ValueId> args;
    ref::TensorMap feeds;
    for (size_t i = 0; i < c.operands.size(); ++i) {
      std::string name = "a" + std::to_string(i);
      ir::Shape shape(c.operands[i].begin(), c.operands[i].end());
      args.push_back(*g.addInput(name, ir::Type{ir::DType::F32, shape, {}}));
      feeds[name] = randomTensor(c.operands[i], 11 + i, ir::DType::F32);
    }
    auto r = g.addNode(c.op, args, c.attrs);
    INFO(ir::opInfo(c.op).name << (r ? "" : r.error().message));
    REQUIRE(r);
    REQUIRE(g.addOutput((*r)[0]));
    auto want = ref::evaluate(g, feeds);
    REQUIRE(want);
    auto exe = Executable::compile(g, sizesOf(feeds));
    REQUIRE(exe);
    CHECK((*exe)->nativeNodes() == 1);
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    checkRuns(*want, *got, 1e-5, 1e-5); // f32 sums of up to 153 terms against f64
    // After -O2 the images are NHWC: 2-D convs and stride-1 input gradients
    // run as direct convolutions, the rest through packed panels.
    auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
    REQUIRE(optimized);
    auto nhwc = Executable::compile(optimized->graph, sizesOf(feeds));
    REQUIRE(nhwc);
    INFO((*nhwc)->kernelsText());
    CHECK((*nhwc)->referenceNodes() == 0);
    auto again = (*nhwc)->run(feeds);
    REQUIRE(again);
    checkRuns(*want, *again, 1e-5, 1e-5);
  }
}

TEST_CASE("contractions with edge blocks, several k slices and prologues match the reference", "[llvm][ops]") {
  // Sizes that are not multiples of the tile (6 x 16), the row block (at
  // most 192), the column block (at most 512) or the k slice (about 256), in
  // f32 and f64, transposed operands, a fused prologue and epilogue (after
  // -O2), on 1, 2 and 3 threads (the schedule groups row blocks and sizes
  // its tasks for the thread count).
  const int threadsBefore = parallelThreads();
  for (int threads : {1, 2, 3}) {
    setParallelThreads(threads);
    for (ir::DType dt : {ir::DType::F32, ir::DType::F64}) {
      for (auto [m, k, n, ta, tb] : std::vector<std::tuple<int64_t, int64_t, int64_t, bool, bool>>{
               {1, 1, 1, false, false},
               {7, 300, 17, false, false},
               {200, 700, 45, true, false},
               {97, 33, 130, false, true},
               {500, 260, 40, false, false},
               {20, 30, 600, true, true}}) {
        ir::Graph g("gemm");
        ir::Sizes as = ta ? ir::Sizes{k, m} : ir::Sizes{m, k}, bs = tb ? ir::Sizes{n, k} : ir::Sizes{k, n};
        auto shape = [](const ir::Sizes &s) { return ir::Shape{ir::Dim::of(s[0]), ir::Dim::of(s[1])}; };
        auto a = *g.addInput("a", ir::Type{dt, shape(as), {}}), b = *g.addInput("b", ir::Type{dt, shape(bs), {}});
        auto pre = (*g.addNode(ir::OpKind::Tanh, {a}, {}))[0];
        auto mm = (*g.addNode(ir::OpKind::MatMul, {pre, b}, {{"transpose_a", ta}, {"transpose_b", tb}}))[0];
        auto post = (*g.addNode(ir::OpKind::Relu, {mm}, {}))[0];
        REQUIRE(g.addOutput(post));
        ref::TensorMap feeds = {{"a", randomTensor(as, 3, dt)}, {"b", randomTensor(bs, 4, dt)}};
        auto want = ref::evaluate(g, feeds);
        REQUIRE(want);
        auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
        REQUIRE(optimized);
        auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
        REQUIRE(exe);
        CHECK((*exe)->referenceNodes() == 0);
        auto got = (*exe)->run(feeds);
        REQUIRE(got);
        INFO(m << "x" << k << "x" << n << " " << ir::dtypeName(dt) << " on " << threads << " threads");
        checkRuns(*want, *got, dt == ir::DType::F32 ? 1e-4 : 1e-12, dt == ir::DType::F32 ? 1e-4 : 1e-12);
      }
    }
  }
  setParallelThreads(threadsBefore);
}

TEST_CASE("compiled kernels come back from the disk cache, and a damaged entry is a miss", "[llvm][cache]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("kiln-test-cache-{}", getpid());
  fs::remove_all(dir);
  auto net = nn::zoo::byName("lenet");
  REQUIRE(net);
  optim::Options o;
  auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
  REQUIRE(g);
  ref::TensorMap feeds = {{"images", randomTensor({2, 1, 28, 28}, 5, ir::DType::F32)},
                          {"labels", tensor(ir::DType::I64, {2}, {3, 7})}};
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  auto optimized = passes::runPipeline(*g, passes::pipelineFor(2));
  REQUIRE(optimized);
  CompileOptions co;
  co.cacheDir = dir.string();
  auto compileAndCheck = [&]() {
    auto exe = Executable::compile(optimized->graph, sizesOf(feeds), co);
    if (!exe)
      FAIL(exe.error().message);
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    checkRuns(*want, *got, 1e-4, 1e-5);
    return std::pair{(*exe)->compiledGroups(), (*exe)->cachedGroups()};
  };
  auto [groups, cached] = compileAndCheck();
  CHECK(groups > 0);
  CHECK(cached == 0);
  std::vector<fs::path> entries;
  for (const auto &e : fs::directory_iterator(dir))
    entries.push_back(e.path());
  CHECK(entries.size() == groups); // no temporary file left behind
  auto again = compileAndCheck();
  CHECK(again.second == groups);
  // A damaged object (a flipped byte) reads as a miss and is compiled again.
  {
    std::fstream f(entries[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = static_cast<char>(f.get());
    f.seekp(100);
    f.put(static_cast<char>(~c));
  }
  auto damaged = compileAndCheck();
  CHECK(damaged.second == groups - 1);
  // Two compiles at once into one directory both work.
  fs::remove_all(dir);
  std::vector<std::thread> threads;
  bool ok[2] = {false, false}; // Catch's assertions are for the test's own thread
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] { ok[i] = static_cast<bool>(Executable::compile(optimized->graph, sizesOf(feeds), co)); });
  for (std::thread &t : threads)
    t.join();
  CHECK(ok[0]);
  CHECK(ok[1]);
  CHECK(compileAndCheck().second == groups);
  fs::remove_all(dir);
}

TEST_CASE("a layout_convert out of a flat layout moves the elements", "[llvm][layout]") {
  // nhwc_cols16 stores a flattened NHWC image's columns channel-last; a
  // kernel indexes flat values in stored order, so the convert back to
  // row-major is the reference's (it was a plain copy, a wrong answer).
  auto g = ir::parse(R"(graph @g {
  input %x : f32[3,16,2,2]
  %a = layout_convert(%x) {layout=nhwc} : f32[3,16,2,2]{nhwc}
  %r = reshape(%a) {shape=[3,-1]} : f32[3,64]{nhwc_cols16}
  %b = layout_convert(%r) {layout=row_major} : f32[3,64]
  output %b
})");
  REQUIRE(g);
  ir::HostTensor x = test::randomTensor({3, 16, 2, 2}, 5, ir::DType::F32);
  auto exe = Executable::compile(*g, {{"x", x.sizes()}});
  REQUIRE(exe);
  auto got = (*exe)->run({{"x", x}});
  REQUIRE(got);
  for (int64_t i = 0; i < x.numElements(); ++i)
    REQUIRE(got->outputs[0].get(i) == x.get(i));
}

TEST_CASE("a depthwise conv with its bias and activation runs on rows of channels and matches the reference",
          "[llvm][ops]") {
  auto g = ir::parse(R"(graph @dw {
  input %x : f32[N,32,14,14]
  param %w : f32[32,1,3,3] = zeros
  param %b : f32[32,1,1] = zeros
  %c = conv(%x, %w) {stride=[2,2], pad=[1,1,1,1], groups=32} : f32[N,32,7,7]
  %a = add(%c, %b) : f32[N,32,7,7]
  %y = hard_swish(%a) : f32[N,32,7,7]
  output %y
})");
  REQUIRE(g);
  g->params()[0].data = randomTensor({32, 1, 3, 3}, 5, ir::DType::F32);
  g->params()[1].data = randomTensor({32, 1, 1}, 6, ir::DType::F32);
  ref::TensorMap feeds = {{"x", randomTensor({3, 32, 14, 14}, 7, ir::DType::F32)}};
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  auto optimized = passes::runPipeline(*g, passes::pipelineFor(2));
  REQUIRE(optimized);
  const int threadsBefore = parallelThreads();
  for (int threads : {1, 2, 3}) {
    setParallelThreads(threads);
    auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
    REQUIRE(exe);
    INFO((*exe)->kernelsText());
    CHECK((*exe)->referenceNodes() == 0);
    CHECK_THAT((*exe)->kernelsText(), Catch::Contains("scratch w_taps"));
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    checkRuns(*want, *got, 1e-5, 1e-5);
  }
  setParallelThreads(threadsBefore);
}

TEST_CASE("one row times a transposed matrix runs as dot products and matches the reference", "[llvm][ops]") {
  const int threadsBefore = parallelThreads();
  for (auto [k, n] : std::vector<std::pair<int64_t, int64_t>>{{64, 5}, {1283, 1000}, {97, 33}})
    for (ir::DType dt : {ir::DType::F32, ir::DType::F64})
      for (int threads : {1, 3}) {
        setParallelThreads(threads);
        std::string t(ir::dtypeName(dt));
        auto g = ir::parse(fmt::format(R"(graph @gemv {{
  input %x : {0}[N,{1}]
  param %w : {0}[{2},{1}] = zeros
  param %b : {0}[{2}] = zeros
  %m = matmul(%x, %w) {{transpose_b=true}} : {0}[N,{2}]
  %y = add(%m, %b) : {0}[N,{2}]
  %r = relu(%y) : {0}[N,{2}]
  output %r
}})", t, k, n));
        REQUIRE(g);
        g->params()[0].data = randomTensor({n, k}, 3, dt);
        g->params()[1].data = randomTensor({n}, 4, dt);
        ref::TensorMap feeds = {{"x", randomTensor({1, k}, 5, dt)}};
        auto want = ref::evaluate(*g, feeds);
        REQUIRE(want);
        auto optimized = passes::runPipeline(*g, passes::pipelineFor(2));
        REQUIRE(optimized);
        auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
        REQUIRE(exe);
        INFO(k << "x" << n << " " << t << " on " << threads << " threads\n" << (*exe)->kernelsText());
        CHECK_THAT((*exe)->kernelsText(), Catch::Contains("scratch partial_sums"));
        auto got = (*exe)->run(feeds);
        REQUIRE(got);
        checkRuns(*want, *got, 1e-5, 1e-5);
      }
  setParallelThreads(threadsBefore);
}

TEST_CASE("a fire module's concat joins channels-last or blocked images in their layout and matches the reference",
          "[llvm][layout]") {
  auto g = ir::parse(R"(graph @fire {
  input %x : f32[N,8,6,6]
  input %r : f32[N,3,6,6]
  param %ws : f32[8,8,1,1] = zeros
  param %we1 : f32[8,8,1,1] = zeros
  param %we3 : f32[16,8,3,3] = zeros
  param %wn : f32[8,24,1,1] = zeros
  %s = conv(%x, %ws) : f32[N,8,6,6]
  %sa = relu(%s) : f32[N,8,6,6]
  %e1 = conv(%sa, %we1) : f32[N,8,6,6]
  %e3 = conv(%sa, %we3) {pad=[1,1,1,1]} : f32[N,16,6,6]
  %cat = concat(%e1, %e3) {axis=1} : f32[N,24,6,6]
  %next = conv(%cat, %wn) : f32[N,8,6,6]
  %odd = concat(%r, %sa, %r) {axis=1} : f32[N,14,6,6]
  %oddr = relu(%odd) : f32[N,14,6,6]
  %pooled = max_pool(%cat) {kernel=[3,3], stride=[2,2]} : f32[N,24,2,2]
  %cat2 = concat(%e3, %e1) {axis=1} : f32[N,24,6,6]
  %groups = reshape(%cat2) {shape=[0,2,12,6,6]} : f32[N,2,12,6,6]
  %shuffled = transpose(%groups) {perm=[0,2,1,3,4]} : f32[N,12,2,6,6]
  %joined = reshape(%shuffled) {shape=[0,24,6,6]} : f32[N,24,6,6]
  %after = conv(%joined, %wn) : f32[N,8,6,6]
  output %next, %oddr, %pooled, %after
})");
  REQUIRE(g);
  const std::vector<ir::Sizes> weights = {{8, 8, 1, 1}, {8, 8, 1, 1}, {16, 8, 3, 3}, {8, 24, 1, 1}};
  for (size_t i = 0; i < weights.size(); ++i)
    g->params()[i].data = randomTensor(weights[i], 11 + i, ir::DType::F32);
  ref::TensorMap feeds = {{"x", randomTensor({3, 8, 6, 6}, 7, ir::DType::F32)},
                          {"r", randomTensor({3, 3, 6, 6}, 8, ir::DType::F32)}};
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  for (ir::Layout image : {ir::Layout{ir::Layout::NHWC, 0}, ir::Layout{ir::Layout::Blocked, 8}}) {
    passes::PassOptions o;
    o.target.imageLayout = image;
    auto optimized = passes::runPipeline(*g, passes::pipelineFor(2), o);
    REQUIRE(optimized);
    INFO(ir::print(optimized->graph));
    // The concat of two conv results is stored as the convs write, and the
    // one a channel shuffle reshapes is written row-major: nothing converts
    // either.
    const ir::Graph &o2 = optimized->graph;
    int concats = 0;
    for (const ir::Node &n : o2.nodes()) {
      if (n.op == ir::OpKind::LayoutConvert)
        CHECK(o2.nameOf(n.operands[0]).rfind("cat", 0) != 0);
      if (n.op == ir::OpKind::Concat && o2.nameOf(n.results[0]) != "odd") {
        ++concats;
        bool rowMajor = o2.type(n.results[0]).layout.kind == ir::Layout::RowMajor;
        CHECK(rowMajor == (o2.nameOf(n.results[0]) == "cat2"));
      }
    }
    CHECK(concats == 2);
    auto exe = Executable::compile(optimized->graph, sizesOf(feeds));
    REQUIRE(exe);
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    checkRuns(*want, *got, 1e-5, 1e-5);
  }
}
