//===- examples/graph_api.cpp - The README's graph-API example ------------===//
//
// Builds a small classifier with kiln's C++ API, prints it as .kir, and
// compiles it with kiln::function (native kernels through LLVM) and runs it.
// Built as build/example-graph-api.
//
//===----------------------------------------------------------------------===//
#include <kiln/kiln.h>

#include <cstdio>

int main() {
  kiln::Graph g("classifier");
  auto x = g.input("x", kiln::f32, {"N", 784});                 // N: any batch size
  auto w1 = g.param("w1", {784, 128}, kiln::init::he_normal(1)); // seeded initializers
  auto b1 = g.param("b1", {128}, kiln::init::zeros());
  auto w2 = g.param("w2", {128, 10}, kiln::init::glorot_uniform(2));
  auto h = kiln::relu(kiln::matmul(x, w1) + b1).named("hidden");
  auto probs = kiln::softmax(kiln::matmul(h, w2)).named("probs");
  g.output(probs);
  if (auto s = g.status(); !s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    return 1;
  }
  std::printf("%s", g.str().c_str()); // the graph as .kir text

  auto classify = kiln::function({x}, {probs}); // compiled once per batch size
  if (!classify) {
    std::fprintf(stderr, "%s\n", classify.error().message.c_str());
    return 1;
  }
  kiln::HostTensor batch(kiln::f32, {2, 784}); // two all-zero images
  auto result = (*classify)({batch});
  if (!result) {
    std::fprintf(stderr, "%s\n", result.error().message.c_str());
    return 1;
  }
  std::printf("probs[0] = %s\n", kiln::ir::printData((*result)[0]).c_str());
  return 0;
}
