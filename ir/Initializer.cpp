//===- ir/Initializer.cpp - Seeded parameter initializers -----------------===//
#include "ir/Initializer.h"
#include "ir/Attr.h"

#include <array>
#include <cmath>
#include <numbers>

namespace kiln::ir {

namespace {

constexpr std::array<std::string_view, 8> kNames = {"zeros",          "constant",      "uniform",
                                                     "normal",         "glorot_uniform", "glorot_normal",
                                                     "he_uniform",     "he_normal"};

/// SplitMix64: a tiny, well-mixed, fully specified generator.
class Stream {
public:
  explicit Stream(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {
    double u1 = 1.0 - uniform(); // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

private:
  uint64_t state_;
};

} // namespace

std::pair<double, double> fans(const Sizes &s) {
  if (s.empty())
    return {1, 1};
  if (s.size() == 1)
    return {static_cast<double>(s[0]), static_cast<double>(s[0])};
  if (s.size() == 2)
    return {static_cast<double>(s[0]), static_cast<double>(s[1])};
  double field = 1;
  for (size_t i = 2; i < s.size(); ++i)
    field *= static_cast<double>(s[i]);
  return {static_cast<double>(s[1]) * field, static_cast<double>(s[0]) * field};
}

HostTensor materialize(const Initializer &init, DType dtype, const Sizes &sizes) {
  HostTensor t(dtype, sizes);
  Stream rng(init.seed);
  auto [fanIn, fanOut] = fans(sizes);
  int64_t n = t.numElements();
  for (int64_t i = 0; i < n; ++i) {
    double v = 0;
    switch (init.kind) {
    case Initializer::Zeros: v = 0; break;
    case Initializer::Constant: v = init.a; break;
    case Initializer::Uniform: v = init.a + (init.b - init.a) * rng.uniform(); break;
    case Initializer::Normal: v = init.a + init.b * rng.normal(); break;
    case Initializer::GlorotUniform: {
      double lim = std::sqrt(6.0 / (fanIn + fanOut));
      v = -lim + 2 * lim * rng.uniform();
      break;
    }
    case Initializer::GlorotNormal: v = std::sqrt(2.0 / (fanIn + fanOut)) * rng.normal(); break;
    case Initializer::HeUniform: {
      double lim = std::sqrt(6.0 / fanIn);
      v = -lim + 2 * lim * rng.uniform();
      break;
    }
    case Initializer::HeNormal: v = std::sqrt(2.0 / fanIn) * rng.normal(); break;
    }
    t.set(i, v);
  }
  return t;
}

std::optional<Initializer::Kind> initializerKind(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name)
      return static_cast<Initializer::Kind>(i);
  return std::nullopt;
}

int initializerArity(Initializer::Kind k) {
  switch (k) {
  case Initializer::Constant: return 1;
  case Initializer::Uniform:
  case Initializer::Normal: return 2;
  default: return 0;
  }
}

bool initializerSeeded(Initializer::Kind k) { return k != Initializer::Zeros && k != Initializer::Constant; }

std::string printInitializer(const Initializer &init) {
  std::string out(kNames[init.kind]);
  int arity = initializerArity(init.kind);
  if (arity == 0 && !initializerSeeded(init.kind))
    return out;
  out += "(";
  if (arity >= 1)
    out += printDouble(init.a);
  if (arity >= 2)
    out += ", " + printDouble(init.b);
  if (initializerSeeded(init.kind))
    out += (arity ? ", " : "") + fmt::format("seed={}", init.seed);
  return out + ")";
}

} // namespace kiln::ir
