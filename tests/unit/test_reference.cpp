//===- tests/unit/test_reference.cpp - Values of every op, independently checked -===//
//
// The reference interpreter is the oracle of kiln, so its own values are
// checked against expectations computed another way: by hand, by a second,
// simpler formula, by adjoint identities (<conv(x,w), dy> = <x, dconv(dy)>)
// or by finite differences. Edge cases: size-0 dims, size-1 broadcast,
// negative axes, NaN, integer rounding.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include <limits>

using namespace kiln;
using namespace kiln::ir;
using namespace kiln::test;

namespace {
constexpr DType F64 = DType::F64;
const std::vector<double> kSamples = {-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5};

void checkUnary(OpKind op, double (*expect)(double), const AttrList &attrs = {}, double tol = 1e-12) {
  auto got = eval1(op, {tensor(F64, {7}, kSamples)}, attrs);
  std::vector<double> want;
  for (double x : kSamples)
    want.push_back(expect(x));
  checkClose(got, {7}, want, tol, tol);
}
} // namespace

TEST_CASE("unary elementwise ops match independent formulas", "[reference][elementwise]") {
  checkUnary(OpKind::Neg, [](double x) { return 0.0 - x; });
  checkUnary(OpKind::Abs, [](double x) { return x < 0 ? -x : x; });
  checkUnary(OpKind::Exp, [](double x) { return std::pow(2.718281828459045, x); }, {}, 1e-14);
  checkUnary(OpKind::Sqrt, [](double x) { return x < 0 ? NAN : std::pow(x, 0.5); });
  checkUnary(OpKind::Rsqrt, [](double x) { return x < 0 ? NAN : std::pow(x, -0.5); });
  checkUnary(OpKind::Reciprocal, [](double x) { return std::pow(x, -1.0); });
  checkUnary(OpKind::Tanh, [](double x) { return (std::exp(2 * x) - 1) / (std::exp(2 * x) + 1); });
  checkUnary(OpKind::Sigmoid, [](double x) { return 0.5 * (1 + std::tanh(x / 2)); });
  checkUnary(OpKind::Relu, [](double x) { return (x + std::fabs(x)) / 2; });
  checkUnary(OpKind::LeakyRelu, [](double x) { return x >= 0 ? x : 0.2 * x; }, {{"alpha", 0.2}});
  checkUnary(OpKind::Elu, [](double x) { return x > 0 ? x : 0.5 * (std::exp(x) - 1); }, {{"alpha", 0.5}});
  checkUnary(OpKind::Selu, [](double x) {
    return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1));
  });
  checkUnary(OpKind::Softplus, [](double x) { return std::log(1 + std::exp(x)); });
  checkUnary(OpKind::Softsign, [](double x) { return x / (1 + std::fabs(x)); });
  checkUnary(OpKind::Expm1, [](double x) { return std::exp(x) - 1; });
  checkUnary(OpKind::HardSwish, [](double x) { return x <= -3 ? 0.0 : x >= 3 ? x : x * (x + 3) / 6; });
  checkUnary(OpKind::Gelu, [](double x) { return x * 0.5 * std::erfc(-x / std::sqrt(2.0)); });
  checkUnary(OpKind::Sign, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; });
  checkUnary(OpKind::Floor, [](double x) { return x - std::fmod(std::fmod(x, 1.0) + 1.0, 1.0); });
  checkUnary(OpKind::Ceil, [](double x) { return -(-x - std::fmod(std::fmod(-x, 1.0) + 1.0, 1.0)); });
  checkUnary(OpKind::Sin, [](double x) { return std::cos(x - 1.5707963267948966); });
  checkUnary(OpKind::Atan, [](double x) { return std::atan(x); });
  checkUnary(OpKind::Asinh, [](double x) { return std::asinh(x); });
  checkUnary(OpKind::Cos, [](double x) { return std::sin(x + 1.5707963267948966); });
  checkUnary(OpKind::Clip, [](double x) { return x < -1 ? -1 : x > 0.5 ? 0.5 : x; }, {{"min", -1.0}, {"max", 0.5}});

  // By hand.
  auto logs = eval1(OpKind::Log, {tensor(F64, {3}, {1, std::exp(2.0), 0})});
  checkClose(logs, {3}, {0, 2, -INFINITY});
  auto log1p = eval1(OpKind::Log1p, {tensor(F64, {2}, {1e-17, 0})});
  checkClose(log1p, {2}, {1e-17, 0}, 1e-15, 0); // accurate where log(1 + x) is 0
  auto erf = eval1(OpKind::Erf, {tensor(F64, {3}, {0, 0.5, -1})});
  checkClose(erf, {3}, {0, 0.5204998778130465, -0.8427007929497149}, 1e-15);
  auto rounded = eval1(OpKind::Round, {tensor(F64, {6}, {0.5, 1.5, 2.5, -0.5, -1.5, 2.4})});
  checkClose(rounded, {6}, {0, 2, 2, 0, -2, 2}); // half to even
}

TEST_CASE("results are rounded to their dtype", "[reference][elementwise]") {
  auto e = eval1(OpKind::Exp, {tensor(DType::F32, {2}, {1, 0.1})});
  CHECK(e.get(0) == static_cast<double>(static_cast<float>(std::exp(1.0))));
  CHECK(e.get(1) == static_cast<double>(static_cast<float>(std::exp(static_cast<double>(0.1f)))));
  auto h = eval1(OpKind::Mul, {tensor(DType::F16, {1}, {1.0 / 3}), tensor(DType::F16, {1}, {3})});
  CHECK(h.get(0) == 1.0); // 0.333251953125 * 3 = 0.999755859375 -> rounds to 1 in f16
  auto i = eval1(OpKind::Div, {tensor(DType::I32, {4}, {7, -7, 7, 0}), tensor(DType::I32, {4}, {2, 2, -2, 5})});
  checkClose(i, {4}, {3, -3, -3, 0}); // truncated toward zero
  auto byZero = evalOp(OpKind::Div, {tensor(DType::I64, {1}, {1}), tensor(DType::I64, {1}, {0})});
  REQUIRE_FALSE(byZero);
  CHECK(byZero.error().message.find("integer division by zero") != std::string::npos);
}

TEST_CASE("cast converts between every kind of dtype", "[reference][elementwise]") {
  auto x = tensor(DType::F32, {5}, {2.7, -2.7, 300, 0, NAN});
  checkClose(eval1(OpKind::Cast, {x}, {{"to", DType::I32}}), {5}, {2, -2, 300, 0, 0});
  checkClose(eval1(OpKind::Cast, {x}, {{"to", DType::U8}}), {5}, {2, 254, 44, 0, 0}); // wraps modulo 256
  checkClose(eval1(OpKind::Cast, {x}, {{"to", DType::Bool}}), {5}, {1, 1, 1, 0, 1});
  auto half = eval1(OpKind::Cast, {tensor(F64, {3}, {1.0 / 3, 65504, 1e6})}, {{"to", DType::F16}});
  checkClose(half, {3}, {0.333251953125, 65504, INFINITY});
  auto b16 = eval1(OpKind::Cast, {tensor(F64, {2}, {1.0 / 3, -2})}, {{"to", DType::BF16}});
  checkClose(b16, {2}, {0.333984375, -2});
}

TEST_CASE("binary ops broadcast as NumPy does", "[reference][elementwise]") {
  auto a = randomTensor({2, 1, 3}, 1), b = randomTensor({4, 1}, 2);
  auto sum = eval1(OpKind::Add, {a, b});
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k)
        want.push_back(a.get(i * 3 + k) + b.get(j));
  checkClose(sum, {2, 4, 3}, want);

  auto scalar = eval1(OpKind::Sub, {tensor(F64, {}, {10}), tensor(F64, {3}, {1, 2, 3})});
  checkClose(scalar, {3}, {9, 8, 7});
  auto empty = eval1(OpKind::Mul, {tensor(F64, {0, 3}, {}), tensor(F64, {1, 3}, {1, 2, 3})});
  CHECK(empty.sizes() == Sizes{0, 3});
  checkClose(eval1(OpKind::Pow, {tensor(F64, {3}, {2, 4, 9}), tensor(F64, {1}, {0.5})}), {3}, {std::sqrt(2.0), 2, 3});
  checkClose(eval1(OpKind::Max, {tensor(F64, {3}, {1, NAN, 5}), tensor(F64, {3}, {2, 0, 4})}), {3}, {2, NAN, 5});
  checkClose(eval1(OpKind::Min, {tensor(F64, {3}, {1, NAN, 5}), tensor(F64, {3}, {2, 0, 4})}), {3}, {1, NAN, 4});
  auto bad = evalOp(OpKind::Add, {tensor(F64, {3}, {1, 2, 3}), tensor(F64, {2}, {1, 2})});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("do not broadcast") != std::string::npos);
}

TEST_CASE("comparisons, logic and select", "[reference][elementwise]") {
  auto a = tensor(F64, {4}, {1, 2, NAN, 4}), b = tensor(F64, {1}, {2});
  checkClose(eval1(OpKind::Equal, {a, b}), {4}, {0, 1, 0, 0});
  checkClose(eval1(OpKind::Less, {a, b}), {4}, {1, 0, 0, 0});
  checkClose(eval1(OpKind::Greater, {a, b}), {4}, {0, 0, 0, 1});
  auto t = tensor(DType::Bool, {4}, {1, 1, 0, 0}), u = tensor(DType::Bool, {4}, {1, 0, 1, 0});
  checkClose(eval1(OpKind::And, {t, u}), {4}, {1, 0, 0, 0});
  checkClose(eval1(OpKind::Or, {t, u}), {4}, {1, 1, 1, 0});
  auto sel = eval1(OpKind::Select, {tensor(DType::Bool, {2, 1}, {1, 0}), tensor(F64, {3}, {1, 2, 3}), tensor(F64, {}, {-1})});
  checkClose(sel, {2, 3}, {1, 2, 3, -1, -1, -1});
}

TEST_CASE("reductions over axes, with keepdims, negative axes and empty dims", "[reference][reduction]") {
  auto x = tensor(F64, {2, 3}, {1, 2, 3, 4, 5, 6});
  checkClose(eval1(OpKind::ReduceSum, {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", true}}), {2, 1}, {6, 15});
  checkClose(eval1(OpKind::ReduceSum, {x}, {{"axes", std::vector<int64_t>{-2}}, {"keepdims", false}}), {3}, {5, 7, 9});
  checkClose(eval1(OpKind::ReduceMean, {x}, {{"keepdims", false}}), {}, {3.5});
  checkClose(eval1(OpKind::ReduceMax, {x}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", true}}), {1, 3}, {4, 5, 6});
  checkClose(eval1(OpKind::ReduceMin, {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}}), {2}, {1, 4});
  checkClose(eval1(OpKind::ReduceProd, {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}}), {2}, {6, 120});
  auto empty = tensor(F64, {0, 3}, {});
  checkClose(eval1(OpKind::ReduceSum, {empty}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", false}}), {3}, {0, 0, 0});
  checkClose(eval1(OpKind::ReduceProd, {empty}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", false}}), {3}, {1, 1, 1});
  checkClose(eval1(OpKind::ReduceMax, {empty}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", false}}), {3},
             {-INFINITY, -INFINITY, -INFINITY});
  checkClose(eval1(OpKind::ReduceMax, {tensor(F64, {3}, {1, NAN, 2})}), {}, {NAN});
  // Reducing a size-0 dim of a non-empty shape gives an empty result.
  CHECK(eval1(OpKind::ReduceSum, {empty}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", true}}).sizes() == Sizes{0, 1});
}

TEST_CASE("argmax and argmin pick the first (or last) extreme", "[reference][reduction]") {
  auto x = tensor(F64, {2, 4}, {1, 3, 3, 0, 5, 5, -1, -1});
  checkClose(eval1(OpKind::ArgMax, {x}, {{"axis", int64_t{1}}, {"keepdims", false}}), {2}, {1, 0});
  checkClose(eval1(OpKind::ArgMax, {x}, {{"axis", int64_t{1}}, {"keepdims", false}, {"select_last_index", true}}), {2},
             {2, 1});
  checkClose(eval1(OpKind::ArgMin, {x}, {{"axis", int64_t{-1}}, {"keepdims", true}}), {2, 1}, {3, 2});
  checkClose(eval1(OpKind::ArgMax, {x}, {{"axis", int64_t{0}}, {"keepdims", false}}), {4}, {1, 1, 0, 0});
}

TEST_CASE("matmul matches a triple loop: batched, broadcast, transposed, vectors", "[reference][contraction]") {
  auto a = randomTensor({2, 1, 3, 4}, 3), b = randomTensor({5, 4, 6}, 4);
  auto c = eval1(OpKind::MatMul, {a, b});
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j)
      for (int m = 0; m < 3; ++m)
        for (int n = 0; n < 6; ++n) {
          double s = 0;
          for (int k = 0; k < 4; ++k)
            s += a.get((i * 3 + m) * 4 + k) * b.get((j * 4 + k) * 6 + n);
          want.push_back(s);
        }
  checkClose(c, {2, 5, 3, 6}, want);

  auto at = randomTensor({4, 3}, 5), bt = randomTensor({6, 4}, 6);
  auto ct = eval1(OpKind::MatMul, {at, bt}, {{"transpose_a", true}, {"transpose_b", true}});
  want.clear();
  for (int m = 0; m < 3; ++m)
    for (int n = 0; n < 6; ++n) {
      double s = 0;
      for (int k = 0; k < 4; ++k)
        s += at.get(k * 3 + m) * bt.get(n * 4 + k);
      want.push_back(s);
    }
  checkClose(ct, {3, 6}, want);
  checkClose(eval1(OpKind::MatMul, {tensor(F64, {2}, {1, 2}), tensor(F64, {2, 2}, {1, 2, 3, 4})}), {2}, {7, 10});
  checkClose(eval1(OpKind::MatMul, {tensor(F64, {2}, {1, 2}), tensor(F64, {2}, {3, 4})}), {}, {11});
  CHECK(eval1(OpKind::MatMul, {tensor(F64, {0, 2}, {}), tensor(F64, {2, 3}, {1, 2, 3, 4, 5, 6})}).sizes() == Sizes{0, 3});
}

namespace {
/// A 2-D convolution by the textbook formula, padding done by bounds checks.
std::vector<double> naiveConv2d(const HostTensor &x, const HostTensor &w, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                                int64_t dh, int64_t dw, int64_t groups, int64_t oh, int64_t ow) {
  int64_t n = x.sizes()[0], c = x.sizes()[1], h = x.sizes()[2], wd = x.sizes()[3];
  int64_t o = w.sizes()[0], cg = w.sizes()[1], kh = w.sizes()[2], kw = w.sizes()[3];
  std::vector<double> y;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = 0;
          int64_t g = oc / (o / groups);
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                int64_t r = i * sh - pt + u * dh, q = j * sw - pl + v * dw;
                if (r >= 0 && r < h && q >= 0 && q < wd)
                  s += x.get(((b * c + g * cg + ic) * h + r) * wd + q) * w.get(((oc * cg + ic) * kh + u) * kw + v);
              }
          y.push_back(s);
        }
  return y;
}
} // namespace

TEST_CASE("conv matches the textbook formula: stride, asymmetric pad, dilation, groups", "[reference][contraction]") {
  auto x = randomTensor({2, 4, 7, 6}, 7), w = randomTensor({6, 2, 3, 2}, 8);
  AttrList attrs = {{"stride", std::vector<int64_t>{2, 1}},
                    {"pad", std::vector<int64_t>{1, 0, 2, 1}},
                    {"dilation", std::vector<int64_t>{1, 2}},
                    {"groups", int64_t{2}}};
  // H: (7 + 1 + 2 - 3) / 2 + 1 = 4; W: (6 + 0 + 1 - 3) / 1 + 1 = 5.
  auto y = eval1(OpKind::Conv, {x, w}, attrs);
  checkClose(y, {2, 6, 4, 5}, naiveConv2d(x, w, 2, 1, 1, 0, 1, 2, 2, 4, 5));

  // 1-D and 3-D by hand.
  checkClose(eval1(OpKind::Conv, {tensor(F64, {1, 1, 5}, {1, 2, 3, 4, 5}), tensor(F64, {1, 1, 2}, {1, -1})}), {1, 1, 4},
             {-1, -1, -1, -1});
  auto ones3 = tensor(F64, {1, 1, 3, 3, 3}, std::vector<double>(27, 1.0));
  checkClose(eval1(OpKind::Conv, {ones3, tensor(F64, {1, 1, 2, 2, 2}, std::vector<double>(8, 1.0))},
                   {{"pad", std::vector<int64_t>{0, 0, 0, 1, 1, 1}}}),
             {1, 1, 3, 3, 3}, {8, 8, 4, 8, 8, 4, 4, 4, 2, 8, 8, 4, 8, 8, 4, 4, 4, 2, 4, 4, 2, 4, 4, 2, 2, 2, 1});
}

TEST_CASE("conv gradients are the adjoints of conv", "[reference][contraction]") {
  // <conv(x, w), dy> = <x, conv_grad_input(dy, w)> = <w, conv_grad_weight(x, dy)>.
  auto x = randomTensor({2, 4, 6, 5}, 9), w = randomTensor({6, 2, 3, 3}, 10);
  AttrList win = {{"stride", std::vector<int64_t>{2, 1}},
                  {"pad", std::vector<int64_t>{1, 2, 0, 1}},
                  {"dilation", std::vector<int64_t>{1, 2}},
                  {"groups", int64_t{2}}};
  auto y = eval1(OpKind::Conv, {x, w}, win);
  auto dy = randomTensor(y.sizes(), 11);
  AttrList gi = win, gw = win;
  gi.emplace_back("input_size", std::vector<int64_t>{6, 5});
  gw.emplace_back("kernel_size", std::vector<int64_t>{3, 3});
  auto dx = eval1(OpKind::ConvGradInput, {dy, w}, gi);
  auto dw = eval1(OpKind::ConvGradWeight, {x, dy}, gw);
  CHECK(dx.sizes() == x.sizes());
  CHECK(dw.sizes() == w.sizes());
  double lhs = dot(y, dy);
  CHECK(dot(x, dx) == Approx(lhs).epsilon(1e-12));
  CHECK(dot(w, dw) == Approx(lhs).epsilon(1e-12));
}

TEST_CASE("conv_transpose: by hand, and as the input gradient of conv", "[reference][contraction]") {
  // x = [1, 2], w = [1, 1, 1], stride 2: y = [1, 1, 1+2, 2, 2].
  checkClose(eval1(OpKind::ConvTranspose, {tensor(F64, {1, 1, 2}, {1, 2}), tensor(F64, {1, 1, 3}, {1, 1, 1})},
                   {{"stride", std::vector<int64_t>{2}}}),
             {1, 1, 5}, {1, 1, 3, 2, 2});
  auto x = randomTensor({1, 4, 3, 3}, 12), w = randomTensor({4, 3, 3, 3}, 13);
  AttrList win = {{"stride", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 1, 1, 1}},
                  {"groups", int64_t{2}}};
  AttrList ct = win, gi = win;
  ct.emplace_back("output_padding", std::vector<int64_t>{1, 1});
  gi.emplace_back("input_size", std::vector<int64_t>{6, 6});
  auto y = eval1(OpKind::ConvTranspose, {x, w}, ct);
  auto viaGrad = eval1(OpKind::ConvGradInput, {x, w}, gi);
  CHECK(y.sizes() == Sizes{1, 6, 6, 6});
  checkClose(y, viaGrad.sizes(), viaGrad.toDoubles());
}

TEST_CASE("pooling by hand: max, average, padding, ceil mode, global", "[reference][pooling]") {
  auto x = tensor(F64, {1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  AttrList k2s2 = {{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{2, 2}}};
  checkClose(eval1(OpKind::MaxPool, {x}, k2s2), {1, 1, 2, 2}, {6, 8, 14, 16});
  checkClose(eval1(OpKind::AvgPool, {x}, k2s2), {1, 1, 2, 2}, {3.5, 5.5, 11.5, 13.5});
  // 3x3 windows, stride 2, pad 1: the corner window sees 4 real values.
  AttrList k3 = {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}},
                 {"pad", std::vector<int64_t>{1, 1, 1, 1}}};
  checkClose(eval1(OpKind::AvgPool, {x}, k3), {1, 1, 2, 2}, {3.5, 5, 9.5, 11});
  AttrList k3inc = k3;
  k3inc.emplace_back("count_include_pad", true);
  checkClose(eval1(OpKind::AvgPool, {x}, k3inc), {1, 1, 2, 2}, {14.0 / 9, 30.0 / 9, 57.0 / 9, 99.0 / 9});
  auto neg = tensor(F64, {1, 1, 2, 2}, {-4, -3, -2, -1});
  checkClose(eval1(OpKind::MaxPool, {neg}, {{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{1, 1}}, {"pad", std::vector<int64_t>{1, 1, 1, 1}}}),
             {1, 1, 3, 3}, {-4, -3, -3, -2, -1, -1, -2, -1, -1}); // padding never wins
  // Ceil mode on 5 wide: windows at 0, 2, 4 (the last one partial).
  auto row = tensor(F64, {1, 1, 5}, {1, 5, 2, 4, 3});
  checkClose(eval1(OpKind::MaxPool, {row}, {{"kernel", std::vector<int64_t>{2}}, {"stride", std::vector<int64_t>{2}}, {"ceil_mode", true}}),
             {1, 1, 3}, {5, 4, 3});
  checkClose(eval1(OpKind::AvgPool, {row}, {{"kernel", std::vector<int64_t>{2}}, {"stride", std::vector<int64_t>{2}}, {"ceil_mode", true}}),
             {1, 1, 3}, {3, 3, 3});
  checkClose(eval1(OpKind::MaxPool, {row}, {{"kernel", std::vector<int64_t>{2}}, {"stride", std::vector<int64_t>{1}}, {"dilation", std::vector<int64_t>{2}}}),
             {1, 1, 3}, {2, 5, 3});
  checkClose(eval1(OpKind::GlobalAvgPool, {x}), {1, 1, 1, 1}, {8.5});
  checkClose(eval1(OpKind::GlobalMaxPool, {tensor(F64, {1, 2, 2}, {1, 4, -3, -5})}), {1, 2, 1}, {4, -3});
}

TEST_CASE("pooling gradients: finite differences and adjoints", "[reference][pooling]") {
  // max_pool is piecewise linear: with distinct values, a central difference
  // of <max_pool(x), dy> is exact.
  auto x = randomTensor({1, 2, 5, 5}, 14);
  AttrList attrs = {{"kernel", std::vector<int64_t>{3, 3}}, {"stride", std::vector<int64_t>{2, 2}},
                    {"pad", std::vector<int64_t>{1, 1, 1, 1}}, {"ceil_mode", true}};
  auto y = eval1(OpKind::MaxPool, {x}, attrs);
  auto dy = randomTensor(y.sizes(), 15);
  auto dx = eval1(OpKind::MaxPoolGrad, {dy, x}, attrs);
  const double h = 1e-6;
  for (int64_t i = 0; i < x.numElements(); ++i) {
    HostTensor xp = x, xm = x;
    xp.set(i, x.get(i) + h);
    xm.set(i, x.get(i) - h);
    double num = (dot(eval1(OpKind::MaxPool, {xp}, attrs), dy) - dot(eval1(OpKind::MaxPool, {xm}, attrs), dy)) / (2 * h);
    INFO("element " << i);
    CHECK(dx.get(i) == Approx(num).margin(1e-8));
  }
  // avg_pool is linear: <avg_pool(x), dy> = <x, avg_pool_grad(dy)>.
  for (bool includePad : {false, true}) {
    AttrList avg = attrs;
    avg.emplace_back("count_include_pad", includePad);
    auto ya = eval1(OpKind::AvgPool, {x}, avg);
    AttrList g = avg;
    g.emplace_back("input_size", std::vector<int64_t>{5, 5});
    auto dxa = eval1(OpKind::AvgPoolGrad, {dy, }, g);
    CHECK(dot(x, dxa) == Approx(dot(ya, dy)).epsilon(1e-12));
  }
}

TEST_CASE("data movement by hand", "[reference][movement]") {
  auto x = tensor(F64, {2, 3}, {1, 2, 3, 4, 5, 6});
  checkClose(eval1(OpKind::Reshape, {x}, {{"shape", std::vector<int64_t>{3, -1}}}), {3, 2}, {1, 2, 3, 4, 5, 6});
  checkClose(eval1(OpKind::Transpose, {x}), {3, 2}, {1, 4, 2, 5, 3, 6});
  CHECK(eval1(OpKind::Identity, {x}) == x);
  auto t3 = eval1(OpKind::Transpose, {randomTensor({2, 3, 4}, 16)}, {{"perm", std::vector<int64_t>{1, 2, 0}}});
  CHECK(t3.sizes() == Sizes{3, 4, 2});
  checkClose(eval1(OpKind::BroadcastTo, {tensor(F64, {3, 1}, {1, 2, 3})}, {{"shape", Shape{Dim::of(2), Dim::of(3), Dim::of(2)}}}),
             {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  checkClose(eval1(OpKind::Concat, {x, tensor(F64, {2, 1}, {7, 8}), tensor(F64, {2, 0}, {})}, {{"axis", int64_t{-1}}}),
             {2, 4}, {1, 2, 3, 7, 4, 5, 6, 8});
  auto r = tensor(F64, {5}, {0, 1, 2, 3, 4});
  auto sl = [&](std::vector<int64_t> s, std::vector<int64_t> e, std::vector<int64_t> st) {
    return eval1(OpKind::Slice, {r}, {{"starts", s}, {"ends", e}, {"steps", st}});
  };
  checkClose(sl({1}, {4}, {1}), {3}, {1, 2, 3});
  checkClose(sl({-1}, {-6}, {-1}), {5}, {4, 3, 2, 1, 0});
  checkClose(sl({0}, {std::numeric_limits<int64_t>::max()}, {2}), {3}, {0, 2, 4});
  checkClose(sl({10}, {20}, {1}), {0}, {});
  checkClose(sl({4}, {0}, {-2}), {2}, {4, 2});
  checkClose(eval1(OpKind::Slice, {x}, {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{3}}, {"axes", std::vector<int64_t>{-1}}}),
             {2, 2}, {2, 3, 5, 6});
  auto v = tensor(F64, {3}, {1, 2, 3});
  checkClose(eval1(OpKind::Pad, {v}, {{"pads", std::vector<int64_t>{2, 2}}, {"mode", std::string("reflect")}}), {7}, {3, 2, 1, 2, 3, 2, 1});
  checkClose(eval1(OpKind::Pad, {v}, {{"pads", std::vector<int64_t>{2, 2}}, {"mode", std::string("edge")}}), {7}, {1, 1, 1, 2, 3, 3, 3});
  checkClose(eval1(OpKind::Pad, {v}, {{"pads", std::vector<int64_t>{1, 0}}, {"value", 9.0}}), {4}, {9, 1, 2, 3});
  checkClose(eval1(OpKind::Pad, {v}, {{"pads", std::vector<int64_t>{-1, 1}}}), {3}, {2, 3, 0});
  checkClose(eval1(OpKind::Gather, {x, tensor(DType::I64, {2, 2}, {2, -3, 0, 1})}, {{"axis", int64_t{1}}}), {2, 2, 2},
             {3, 1, 1, 2, 6, 4, 4, 5});
  checkClose(eval1(OpKind::Gather, {x, tensor(DType::I32, {1}, {1})}), {1, 3}, {4, 5, 6});
  auto badIndex = evalOp(OpKind::Gather, {x, tensor(DType::I64, {1}, {2})});
  REQUIRE_FALSE(badIndex);
  CHECK(badIndex.error().message.find("index 2 is out of range for dim 0 of size 2") != std::string::npos);
  // out[i][j] = x[i][idx[i][j]] along axis 1; along axis 0, out[i][j] = x[idx[i][j]][j].
  checkClose(eval1(OpKind::GatherElements, {x, tensor(DType::I64, {2, 2}, {2, 0, -1, 1})}, {{"axis", int64_t{1}}}), {2, 2},
             {3, 1, 6, 5});
  checkClose(eval1(OpKind::GatherElements, {x, tensor(DType::I32, {1, 3}, {1, 0, 1})}), {1, 3}, {4, 2, 6});
  checkClose(eval1(OpKind::OneHot, {tensor(DType::I64, {3}, {0, -1, 5})}, {{"depth", int64_t{3}}}), {3, 3},
             {1, 0, 0, 0, 0, 1, 0, 0, 0});
  checkClose(eval1(OpKind::OneHot, {tensor(DType::I64, {2}, {1, 0})}, {{"depth", int64_t{2}}, {"axis", int64_t{0}}}), {2, 2},
             {0, 1, 1, 0});
  auto lc = eval1(OpKind::LayoutConvert, {randomTensor({1, 8, 2, 2}, 17)}, {{"layout", Layout{Layout::Blocked, 8}}});
  CHECK(lc == randomTensor({1, 8, 2, 2}, 17)); // the logical tensor is unchanged
}

TEST_CASE("softmax, log_softmax and cross-entropy", "[reference][nn]") {
  auto x = tensor(F64, {2, 3}, {1, 2, 3, 1000, 1000, 1000});
  auto s = eval1(OpKind::Softmax, {x}, {{"axis", int64_t{1}}});
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  checkClose(s, {2, 3}, {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-14);
  auto ls = eval1(OpKind::LogSoftmax, {x}, {{"axis", int64_t{-1}}});
  checkClose(ls, {2, 3}, {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0), -std::log(3.0), -std::log(3.0)}, 1e-14);
  auto along0 = eval1(OpKind::Softmax, {tensor(F64, {2, 1}, {0, 0})}, {{"axis", int64_t{0}}});
  checkClose(along0, {2, 1}, {0.5, 0.5});

  auto labels = tensor(DType::I64, {2}, {2, 0});
  double l0 = std::log(z) - 3, l1 = std::log(3.0);
  checkClose(eval1(OpKind::SoftmaxCrossEntropy, {x, labels}), {}, {(l0 + l1) / 2}, 1e-14);
  checkClose(eval1(OpKind::SoftmaxCrossEntropy, {x, labels}, {{"reduction", std::string("sum")}}), {}, {l0 + l1}, 1e-14);
  checkClose(eval1(OpKind::SoftmaxCrossEntropy, {x, labels}, {{"reduction", std::string("none")}}), {2}, {l0, l1}, 1e-14);
  // Class weights: the mean divides by the sum of the weights used.
  auto w = tensor(F64, {3}, {0.5, 1, 2});
  checkClose(eval1(OpKind::SoftmaxCrossEntropy, {x, labels, w}), {}, {(2 * l0 + 0.5 * l1) / 2.5}, 1e-14);
  checkClose(eval1(OpKind::SoftmaxCrossEntropy, {x, labels}, {{"ignore_index", int64_t{0}}}), {}, {l0}, 1e-14);
  // Spatial: logits [N, C, D], labels [N, D].
  auto sp = eval1(OpKind::SoftmaxCrossEntropy, {tensor(F64, {1, 2, 2}, {0, 0, 0, std::log(3.0)}), tensor(DType::I64, {1, 2}, {0, 1})},
                  {{"reduction", std::string("none")}});
  checkClose(sp, {1, 2}, {std::log(2.0), std::log(4.0 / 3)}, 1e-14);
  auto bad = evalOp(OpKind::SoftmaxCrossEntropy, {x, tensor(DType::I64, {2}, {3, 0})});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("label 3 of item 0 is out of range [0, 3)") != std::string::npos);
}

TEST_CASE("batch norm: statistics, normalization and the gradient by finite differences", "[reference][nn]") {
  auto x = randomTensor({3, 2, 2}, 18);
  auto scale = tensor(F64, {2}, {1.5, -0.5}), bias = tensor(F64, {2}, {0.1, 0.2});
  auto r = evalOp(OpKind::BatchNormTrain, {x, scale, bias}, {{"epsilon", 1e-3}});
  REQUIRE(r);
  auto &y = (*r)[0], &mean = (*r)[1], &var = (*r)[2];
  for (int c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    for (int n = 0; n < 3; ++n)
      for (int s = 0; s < 2; ++s)
        m += x.get((n * 2 + c) * 2 + s) / 6;
    for (int n = 0; n < 3; ++n)
      for (int s = 0; s < 2; ++s)
        v += std::pow(x.get((n * 2 + c) * 2 + s) - m, 2) / 6;
    CHECK(mean.get(c) == Approx(m).epsilon(1e-14));
    CHECK(var.get(c) == Approx(v).epsilon(1e-14));
    double ym = 0;
    for (int n = 0; n < 3; ++n)
      for (int s = 0; s < 2; ++s)
        ym += y.get((n * 2 + c) * 2 + s) / 6;
    CHECK(ym == Approx(bias.get(c)).margin(1e-12));
  }
  auto inf = eval1(OpKind::BatchNormInfer, {x, scale, bias, mean, var}, {{"epsilon", 1e-3}});
  checkClose(inf, y.sizes(), y.toDoubles(), 1e-12, 1e-12);

  auto dy = randomTensor(x.sizes(), 19);
  auto g = evalOp(OpKind::BatchNormGrad, {dy, x, scale, mean, var}, {{"epsilon", 1e-3}});
  REQUIRE(g);
  auto loss = [&](const HostTensor &xx, const HostTensor &ss, const HostTensor &bb) {
    return dot(eval1(OpKind::BatchNormTrain, {xx, ss, bb}, {{"epsilon", 1e-3}}), dy);
  };
  const double h = 1e-5;
  auto numeric = [&](HostTensor t, int64_t i, int which) {
    HostTensor p = t, m = t;
    p.set(i, t.get(i) + h);
    m.set(i, t.get(i) - h);
    if (which == 0)
      return (loss(p, scale, bias) - loss(m, scale, bias)) / (2 * h);
    if (which == 1)
      return (loss(x, p, bias) - loss(x, m, bias)) / (2 * h);
    return (loss(x, scale, p) - loss(x, scale, m)) / (2 * h);
  };
  for (int64_t i = 0; i < x.numElements(); ++i)
    CHECK((*g)[0].get(i) == Approx(numeric(x, i, 0)).margin(1e-7));
  for (int64_t c = 0; c < 2; ++c) {
    CHECK((*g)[1].get(c) == Approx(numeric(scale, c, 1)).margin(1e-7));
    CHECK((*g)[2].get(c) == Approx(numeric(bias, c, 2)).margin(1e-7));
  }
}

TEST_CASE("dropout is seeded, scales what it keeps, and drops about `ratio`", "[reference][nn]") {
  auto x = tensor(F64, {10000}, std::vector<double>(10000, 2.0));
  AttrList attrs = {{"ratio", 0.25}, {"seed", int64_t{42}}};
  auto r1 = evalOp(OpKind::Dropout, {x}, attrs), r2 = evalOp(OpKind::Dropout, {x}, attrs);
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK((*r1)[1] == (*r2)[1]);
  double kept = 0;
  for (int64_t i = 0; i < 10000; ++i) {
    bool keep = (*r1)[1].get(i) != 0;
    kept += keep;
    CHECK((*r1)[0].get(i) == (keep ? 2.0 / 0.75 : 0.0));
  }
  CHECK(kept / 10000 == Approx(0.75).margin(0.02));
  auto shifted = evalOp(OpKind::Dropout, {x, tensor(DType::I64, {}, {1})}, attrs);
  REQUIRE(shifted);
  CHECK_FALSE((*shifted)[1] == (*r1)[1]);
}

TEST_CASE("a graph with a symbolic batch dim runs at every batch size", "[reference][graph]") {
  auto g = parseFile(KILN_SOURCE_DIR "/examples/lenet5.kir");
  REQUIRE(g);
  for (int64_t n : {1, 3}) {
    auto run = ref::evaluate(*g, {{"x", randomTensor({n, 1, 28, 28}, 20, DType::F32)}});
    REQUIRE(run);
    CHECK(run->outputs[0].sizes() == Sizes{n, 10});
    for (int64_t b = 0; b < n; ++b) {
      double s = 0;
      for (int c = 0; c < 10; ++c)
        s += run->outputs[0].get(b * 10 + c);
      CHECK(s == Approx(1.0).epsilon(1e-6));
    }
  }
  // The same symbol must bind to one size.
  auto two = parse("graph @t {\n input %a : f64[N]\n input %b : f64[N]\n %c = add(%a, %b) : f64[N]\n output %c\n}\n");
  REQUIRE(two);
  auto bad = ref::evaluate(*two, {{"a", randomTensor({3}, 1)}, {"b", randomTensor({4}, 2)}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "input 'b' has shape [4]: dim 0 is 4 but N is already bound to 3");
  auto wrongType = ref::evaluate(*two, {{"a", randomTensor({3}, 1, DType::F32)}, {"b", randomTensor({3}, 2)}});
  REQUIRE_FALSE(wrongType);
  CHECK(wrongType.error().message == "input 'a' has dtype f32 but the graph expects f64[N]");
}
