//===- tests/unit/RandomGraph.h - Random well-typed graphs ------*- C++ -*-===//
//
// A seeded generator of random well-typed graphs (5 to 60 nodes, a symbolic
// batch dim, broadcasting, every op category, images through the conv family
// and pooling, forward and backward ops, a flatten into a dense layer, and
// the shapes the passes rewrite: x+0, -(-x), log(softmax), duplicate
// subexpressions, dead nodes). Inputs: x, y f64[N,4], img f64[N,8,5,5].
//
//===----------------------------------------------------------------------===//
#pragma once

#include "Helpers.h"

#include "kiln/kiln.h"

namespace kiln::test {

class RandomGraph {
public:
  explicit RandomGraph(uint64_t seed) : seed_(seed) {}

  /// Builds the graph; `feeds` gets values for its inputs (batch 3).
  void build(Graph &g, ref::TensorMap &feeds) {
    int nodes = 5 + static_cast<int>(pick(56));
    Tensor x = g.input("x", f64, {"N", 4});
    Tensor y = g.input("y", f64, {"N", 4});
    feeds["x"] = HostTensor::fromDoubles(f64, {3, 4}, randomValues(12, seed_ * 3 + 1));
    feeds["y"] = HostTensor::fromDoubles(f64, {3, 4}, randomValues(12, seed_ * 3 + 2));
    wide_ = {x, y};
    Tensor w = g.param("w", HostTensor::fromDoubles(f64, {4, 4}, randomValues(16, seed_ * 3 + 3)));
    Tensor v = g.constant(HostTensor::fromDoubles(f64, {4}, randomValues(4, seed_)), "v");
    Tensor zero = g.scalar(0, f64), one = g.scalar(1, f64), two = g.scalar(2, f64);
    small_ = {v, zero, one, two, g.scalar(2, f64)};
    // Images of 8 channels (so blocked layouts apply too) and their weights.
    Tensor img = g.input("img", f64, {"N", 8, 5, 5});
    feeds["img"] = HostTensor::fromDoubles(f64, {3, 8, 5, 5}, randomValues(600, seed_ * 3 + 4));
    images_ = {img};
    Tensor k = g.param("k", HostTensor::fromDoubles(f64, {8, 8, 3, 3}, randomValues(576, seed_ * 5 + 1)));
    Tensor kb = g.param("kb", HostTensor::fromDoubles(f64, {8, 1, 1}, randomValues(8, seed_ * 5 + 2)));
    Tensor bridge = g.param("bridge", HostTensor::fromDoubles(f64, {8, 4}, randomValues(32, seed_ * 5 + 3)));
    Tensor flat = g.param("flat", HostTensor::fromDoubles(f64, {200, 4}, randomValues(800, seed_ * 5 + 4)));
    ConvOptions same{.pad = {1, 1, 1, 1}};
    PoolOptions window{.stride = {1, 1}, .pad = {1, 1, 1, 1}};
    while (static_cast<int>(g.ir().nodes().size()) < nodes) {
      Tensor a = any(wide_);
      Tensor out;
      Tensor im = any(images_);
      switch (pick(23)) {
      case 0: out = std::vector<Tensor (*)(Tensor)>{tanh, sigmoid, neg, abs, relu, softplus, sin, cos}[pick(8)](a); break;
      case 1: out = log(abs(a) + 1.0); break;
      case 2: out = binary(a, any(pick(2) ? wide_ : small_)); break;
      case 3: out = binary(any(small_), a); break;
      case 4: out = a + any(small_) * 0.0; break;                    // x + 0*c: canonicalize (not for floats)
      case 5: out = neg(neg(a)) * 1.0; break;                         // canonicalize
      case 6: out = log(softmax(a, 1)); break;                        // stabilize
      case 7: out = matmul(a, w); break;
      case 8: out = a + reduce_sum(a, {1}, true); break;               // [N,1] broadcast back
      case 9: out = a - reduce_max(a, {1}, true); break;
      case 10: out = transpose(transpose(a, {1, 0}), {1, 0}); break;  // canonicalize
      case 11: out = reshape(reshape(a, {0, 2, 2}), {0, -1}); break;   // canonicalize
      case 12: out = slice(concat({a, any(wide_)}, 1), {2}, {6}, {1}); break;
      case 13: out = select(a > 0.0, a, any(wide_)); break;
      case 14: out = maximum(a, a * 2.0) + maximum(a, a * 2.0); break; // cse
      case 15: out = a + (g.scalar(3, f64) + g.scalar(4, f64)); break; // fold
      case 16: images_.push_back(relu(conv(im, k, same) + kb)); continue;
      case 17: images_.push_back(pick(2) ? max_pool(im, {3, 3}, window) : avg_pool(im, {3, 3}, window)); continue;
      case 18: images_.push_back(im * sigmoid(any(images_)) - kb); continue;
      case 19: images_.push_back(conv_grad_input(im, k, {5, 5}, same) +
                                 max_pool_grad(any(images_), im, {3, 3}, window)); continue;
      case 20: images_.push_back(conv(im, k - conv_grad_weight(im, any(images_), {3, 3}, same) * 0.01, same)); continue;
      case 21: out = matmul(reshape(pick(2) ? global_avg_pool(im) : reduce_mean(im, {2, 3}, true), {0, -1}), bridge); break;
      case 22: out = matmul(reshape(im, {0, -1}), flat); break; // a flatten and the dense weight reading it
      }
      wide_.push_back(out);
    }
    int outputs = 1 + static_cast<int>(pick(3));
    for (int i = 0; i < outputs; ++i)
      g.output(wide_[wide_.size() - 1 - pick(std::min<uint64_t>(wide_.size(), 6))]);
    if (images_.size() > 1)
      g.output(images_.back());
  }

private:
  uint64_t pick(uint64_t n) { return static_cast<uint64_t>(ir::hashUniform(seed_, counter_++) * static_cast<double>(n)); }
  Tensor any(const std::vector<Tensor> &pool) { return pool[pick(pool.size())]; }
  Tensor binary(Tensor a, Tensor b) {
    switch (pick(5)) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return maximum(a, b);
    default: return minimum(a, b);
    }
  }

  uint64_t seed_, counter_ = 0;
  std::vector<Tensor> wide_, small_, images_;
};

} // namespace kiln::test
