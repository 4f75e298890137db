//===- tests/unit/test_passes.cpp - Every pass against the reference interpreter -===//
//
// A seeded generator makes random well-typed graphs (5 to 60 nodes, a
// symbolic batch dim, broadcasting, every op category, images through the
// conv family and pooling (forward and backward ops), the shapes that the
// passes rewrite: x+0, -(-x), log(softmax), duplicate subexpressions, dead
// nodes). Every pass alone and the whole -O2 pipeline must keep the graph
// verified and its outputs equal (before and after, on the reference
// interpreter). Also: a logit of 1000 gives a finite loss and gradient after
// stabilize and not before.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"
#include "RandomGraph.h"

#include "ir/Verifier.h"
#include "kiln/kiln.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"

using namespace kiln;
using namespace kiln::test;

namespace {

void checkSame(const ref::RunResult &a, const ref::RunResult &b) {
  REQUIRE(a.outputs.size() == b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    INFO("output " << i);
    checkClose(b.outputs[i], a.outputs[i].sizes(), a.outputs[i].toDoubles(), 1e-9, 1e-12);
  }
}

} // namespace

TEST_CASE("every pass and the -O2 pipeline keep random graphs' results", "[passes][differential]") {
  passes::Target nhwc, blocked{passes::Device::Cpu, {ir::Layout::Blocked, 8}}, cuda{passes::Device::Cuda};
  std::vector<std::pair<std::vector<std::string>, passes::Target>> pipelines;
  for (const std::string &p : passes::allPasses())
    pipelines.push_back({{p}, nhwc});
  pipelines.push_back({passes::pipelineFor(2), nhwc});
  pipelines.push_back({{"layout"}, blocked});
  pipelines.push_back({passes::pipelineFor(2), blocked});
  pipelines.push_back({passes::pipelineFor(2), cuda});
  int graphs = 300 / kSweepScale, rewritten = 0;
  for (int seed = 1; seed <= graphs; ++seed) {
    Graph g("random");
    ref::TensorMap feeds;
    RandomGraph(static_cast<uint64_t>(seed)).build(g, feeds);
    REQUIRE(g.status());
    INFO("seed " << seed << "\n" << g.str());
    auto before = ref::evaluate(g.ir(), feeds);
    REQUIRE(before);
    for (const auto &[pipeline, target] : pipelines) {
      INFO("pipeline " << fmt::format("{}", fmt::join(pipeline, ",")) << " for "
                       << passes::deviceName(target.device) << " in " << ir::layoutName(target.imageLayout));
      passes::PassOptions o;
      o.target = target;
      o.verifyEach = true;
      auto r = passes::runPipeline(g.ir(), pipeline, o);
      if (!r)
        FAIL(r.error().message);
      rewritten += r->graph.nodes().size() != g.ir().nodes().size();
      auto after = ref::evaluate(r->graph, feeds);
      if (!after)
        FAIL(after.error().message);
      checkSame(*before, *after);
    }
  }
  CHECK(rewritten > graphs); // the passes did rewrite most graphs
}

TEST_CASE("stabilize: a logit of 1000 gives a finite loss and gradient after, inf or NaN before", "[passes][stabilize]") {
  Graph g("xent");
  Tensor logits = g.input("logits", f64, {2, 3});
  Tensor labels = g.input("labels", i64, {2});
  Tensor loss = reduce_mean(neg(reduce_sum(one_hot(labels, 3, 1, f64) * log(softmax(logits, 1)), {1})));
  auto grads = passes::grad(g.ir(), loss.id(), {logits.id()});
  REQUIRE(grads);
  g.output(loss);
  REQUIRE(g.ir().addOutput((*grads)[0]));
  ref::TensorMap feeds = {{"logits", tensor(f64, {2, 3}, {1000, 0, 0, 0.5, 0.2, 0.1})},
                          {"labels", tensor(i64, {2}, {1, 0})}};
  auto before = ref::evaluate(g.ir(), feeds);
  REQUIRE(before);
  CHECK_FALSE(std::isfinite(before->outputs[0].get(0)));
  auto optimized = passes::runPipeline(g.ir(), passes::pipelineFor(2));
  REQUIRE(optimized);
  // The forward graph becomes one softmax_cross_entropy node; differentiating
  // the stabilized graph gives softmax - onehot.
  auto again = passes::runPipeline(g.ir(), {"stabilize", "dce"});
  REQUIRE(again);
  ir::Graph stable = again->graph;
  stable.clearOutputs();
  REQUIRE(stable.addOutput(stable.lookup(loss.name())));
  auto sg = passes::grad(stable, stable.outputs()[0], {stable.lookup("logits")});
  REQUIRE(sg);
  REQUIRE(stable.addOutput((*sg)[0]));
  auto after = ref::evaluate(stable, feeds);
  REQUIRE(after);
  double l = after->outputs[0].get(0);
  CHECK(std::isfinite(l));
  CHECK(l == Approx((1000 + std::log(std::exp(0.5) + std::exp(0.2) + std::exp(0.1)) - 0.5) / 2).epsilon(1e-12));
  for (int64_t i = 0; i < 6; ++i)
    CHECK(std::isfinite(after->outputs[1].get(i)));
  CHECK(after->outputs[1].get(1) == Approx(-0.5)); // (softmax - onehot) / 2 for the label of row 0
}

#include "passes/PlanMemory.h"

TEST_CASE("plan_memory: no two live buffers overlap, dying operands are reused in place", "[passes][memory]") {
  for (int seed = 1; seed <= 100; ++seed) {
    Graph g("random");
    ref::TensorMap feeds;
    RandomGraph(static_cast<uint64_t>(seed)).build(g, feeds);
    auto plan = passes::planMemory(g.ir(), {{"N", 64}});
    REQUIRE(plan);
    INFO("seed " << seed << "\n" << passes::formatPlan(g.ir(), *plan));
    CHECK(passes::checkPlan(*plan));
    CHECK(plan->peakBytes <= plan->totalBytes + passes::kArenaAlignment * static_cast<int64_t>(plan->buffers.size()));
  }
  auto lenet = ir::parseFile(KILN_SOURCE_DIR "/examples/lenet5.kir");
  REQUIRE(lenet);
  auto plan = passes::planMemory(*lenet, {{"N", 64}});
  REQUIRE(plan);
  CHECK(passes::checkPlan(*plan));
  auto noInPlace = passes::planMemory(*lenet, {{"N", 64}}, false);
  REQUIRE(noInPlace);
  CHECK(noInPlace->inPlace == 0);
  CHECK(passes::checkPlan(*noInPlace));
  CHECK(plan->inPlace == 9); // each add and relu after conv and matmul writes over its operand
  CHECK(plan->peakBytes == 1505280); // conv1's activations (64*6*28*28*4 bytes) and the first pool
  CHECK(plan->totalBytes == 5512192 - 64 * 400 * 4); // the flatten is a view of the last pool: no bytes of its own
  auto missing = passes::planMemory(*lenet, {});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "plan_memory: dim N has no size (give it, e.g. --dims N=64)");
  // The checker catches an overlap.
  passes::MemoryPlan bad = *plan;
  bad.buffers[1].offset = 64;
  auto s = passes::checkPlan(bad);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("overlap") != std::string::npos);
}
