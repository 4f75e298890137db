//===- examples/consumer/main.cpp - A user's program against installed kiln ===//
//
// Fits y = 3x - 2 by gradient descent on the mean squared error over a batch
// of any size (reduce_mean over the symbolic N is differentiable), with a
// training function and a prediction function sharing the parameters.
// Prints the fitted weight and bias, and exits 1 unless they are close.
//
//===----------------------------------------------------------------------===//
#include <kiln/kiln.h>

#include <cmath>
#include <cstdio>

int main() {
  kiln::Graph g("linear");
  auto x = g.input("x", kiln::f32, {"N", 1});
  auto y = g.input("y", kiln::f32, {"N", 1});
  auto w = g.param("w", {1, 1}, kiln::init::zeros(), kiln::f32);
  auto b = g.param("b", {1}, kiln::init::zeros(), kiln::f32);
  auto pred = (kiln::matmul(x, w) + b).named("pred");
  auto err = pred - y;
  auto loss = kiln::reduce_mean(err * err).named("loss");
  auto grads = kiln::grad(loss, {w, b});
  auto train = kiln::function({x, y}, {loss}, {{w, w - 0.1 * grads[0]}, {b, b - 0.1 * grads[1]}});
  auto predict = kiln::function({x}, {pred});
  if (!train || !predict) {
    std::fprintf(stderr, "consumer: %s\n", (!train ? train.error() : predict.error()).message.c_str());
    return 1;
  }
  kiln::HostTensor xs(kiln::f32, {8, 1}), ys(kiln::f32, {8, 1});
  for (int64_t i = 0; i < 8; ++i) {
    xs.set(i, static_cast<double>(i) / 4 - 1);
    ys.set(i, 3 * xs.get(i) - 2);
  }
  for (int step = 0; step < 300; ++step)
    if (auto r = (*train)({xs, ys}); !r) {
      std::fprintf(stderr, "consumer: %s\n", r.error().message.c_str());
      return 1;
    }
  auto at2 = (*predict)({kiln::HostTensor::fromDoubles(kiln::f32, {1, 1}, {2.0})});
  double wv = w.get_value()->get(0), bv = b.get_value()->get(0);
  std::printf("w = %.4f, b = %.4f, predict(2) = %.4f\n", wv, bv, at2 ? (*at2)[0].get(0) : NAN);
  return std::abs(wv - 3) < 1e-2 && std::abs(bv + 2) < 1e-2 && at2 && std::abs((*at2)[0].get(0) - 4) < 2e-2 ? 0 : 1;
}
