//===- ir/Initializer.h - Seeded parameter initializers --------*- C++ -*-===//
//
// How a parameter's first value is made: zeros, a constant, uniform, normal,
// Glorot/Xavier or He/Kaiming, from a seed. The random streams are kiln's own
// (SplitMix64 and Box-Muller), so a seed gives the same values on every
// platform and compiler. A .kir file may give a parameter by its initializer
// instead of its data; printing keeps the initializer while the value is
// unchanged.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <cstdint>
#include <optional>
#include <string>

namespace kiln::ir {

struct Initializer {
  enum Kind : uint8_t { Zeros, Constant, Uniform, Normal, GlorotUniform, GlorotNormal, HeUniform, HeNormal };
  Kind kind = Zeros;
  double a = 0; ///< constant value, uniform low, normal mean
  double b = 0; ///< uniform high, normal standard deviation
  uint64_t seed = 0;

  bool operator==(const Initializer &) const = default;
};

/// Fan-in and fan-out of a weight: [in, out] for a matrix (x @ W), and
/// [out, in, k...] for a convolution kernel.
std::pair<double, double> fans(const Sizes &sizes);
/// Makes the initial value.
HostTensor materialize(const Initializer &init, DType dtype, const Sizes &sizes);
/// .kir spelling: zeros, constant(0.5), uniform(-0.1, 0.1, seed=3),
/// normal(0.0, 0.01, seed=3), glorot_uniform(seed=1), he_normal(seed=1), ...
std::string printInitializer(const Initializer &init);
/// The name's kind, or nullopt.
std::optional<Initializer::Kind> initializerKind(std::string_view name);
/// How many numeric arguments (before `seed=`) the kind takes, and whether it is seeded.
int initializerArity(Initializer::Kind k);
bool initializerSeeded(Initializer::Kind k);

} // namespace kiln::ir

namespace kiln::ir {

/// SplitMix64's finalizer: a well-mixed 64-bit hash.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/// A uniform number in [0, 1) that depends only on (seed, index): the
/// counter-based stream behind dropout, identical in every backend.
inline double hashUniform(uint64_t seed, uint64_t index) {
  return static_cast<double>(mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ (index * 0xd1b54a32d192ed03ull)) >> 11) *
         0x1.0p-53;
}

} // namespace kiln::ir
