//===- bench/pipeline.cpp - Figures of the pass pipeline on training graphs -===//
//
//   build/kiln-bench-pipeline [--runs R]
//
// Builds the training step (forward, backward, optimizer update) of the zoo's
// MLP, LeNet-5 and VGG-style nets at batch 64, runs the -O2 pipeline R times
// and prints, per net: nodes before and after, the pipeline's median time,
// and the planned arena peak against the sum of every intermediate's size.
//
//===----------------------------------------------------------------------===//
#include "kiln/nn.h"
#include "kiln/optim.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

using namespace kiln;

int main(int argc, char **argv) {
  int runs = 5;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--runs") == 0)
      runs = std::max(1, std::atoi(argv[i + 1]));
  fmt::print("| net (training step, batch 64) | nodes | after -O2 | -O2 time (median of {}) | arena peak | sum of intermediates |\n", runs);
  fmt::print("|---|---:|---:|---:|---:|---:|\n");
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    auto net = nn::zoo::byName(name);
    Graph g(fmt::format("{}_train_step", name));
    Tensor x = g.input("images", f32, {"N", 1, 28, 28});
    Tensor labels = g.input("labels", i64, {"N"});
    nn::Context ctx{g, true, 1};
    Tensor loss = softmax_cross_entropy(net->forward(ctx, x), labels);
    g.output(loss);
    optim::Options o;
    o.method = optim::Method::Momentum;
    if (auto s = optim::minimize(g, loss, ctx.params, o); !s) {
      fmt::print(stderr, "{}\n", s.error().message);
      return 1;
    }
    std::vector<double> times;
    ir::Graph optimized;
    for (int r = 0; r < runs; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      auto res = passes::runPipeline(g.ir(), passes::pipelineFor(2));
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!res) {
        fmt::print(stderr, "{}\n", res.error().message);
        return 1;
      }
      optimized = res->graph;
    }
    std::sort(times.begin(), times.end());
    auto plan = passes::planMemory(optimized, {{"N", 64}});
    if (!plan || !passes::checkPlan(*plan)) {
      fmt::print(stderr, "memory planning failed\n");
      return 1;
    }
    fmt::print("| {} | {} | {} | {:.2f} ms | {:.1f} MB | {:.1f} MB |\n", name, g.ir().nodes().size(),
               optimized.nodes().size(), times[times.size() / 2], static_cast<double>(plan->peakBytes) / 1e6,
               static_cast<double>(plan->totalBytes) / 1e6);
  }
  return 0;
}
