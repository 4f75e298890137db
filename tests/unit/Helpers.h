//===- tests/unit/Helpers.h - Shared helpers of the unit tests -*- C++ -*-===//
#pragma once

#include "ir/Graph.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "reference/Reference.h"

#include <catch2/catch.hpp>

#include <cmath>

namespace kiln::test {

/// How many random graphs a sweep checks: fewer in the sanitized build (a
/// Debug build under ASan runs the reference interpreter ~50 times slower).
#ifdef KILN_SANITIZED
constexpr int kSweepScale = 8;
#else
constexpr int kSweepScale = 1;
#endif

/// A tensor from its values.
inline ir::HostTensor tensor(ir::DType dt, ir::Sizes sizes, std::vector<double> values) {
  REQUIRE(static_cast<int64_t>(values.size()) == ir::product(sizes));
  return ir::HostTensor::fromDoubles(dt, std::move(sizes), values);
}

/// Deterministic pseudo-random values in [lo, hi).
inline std::vector<double> randomValues(int64_t n, uint64_t seed, double lo = -1, double hi = 1) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = lo + (hi - lo) * ir::hashUniform(seed, static_cast<uint64_t>(i));
  return v;
}
inline ir::HostTensor randomTensor(ir::Sizes sizes, uint64_t seed, ir::DType dt = ir::DType::F64) {
  return ir::HostTensor::fromDoubles(dt, sizes, randomValues(ir::product(sizes), seed));
}

/// Evaluates one op on concrete operands through a one-node graph.
inline Expected<std::vector<ir::HostTensor>> evalOp(ir::OpKind op, const std::vector<ir::HostTensor> &operands,
                                                    const ir::AttrList &attrs = {}) {
  ir::Graph g("t");
  std::vector<ir::ValueId> ids;
  ref::TensorMap feeds;
  for (size_t i = 0; i < operands.size(); ++i) {
    std::string name = "a" + std::to_string(i);
    auto v = g.addInput(name, operands[i].type());
    if (!v)
      return v.error();
    ids.push_back(*v);
    feeds.emplace(name, operands[i]);
  }
  auto results = g.addNode(op, ids, attrs);
  if (!results)
    return results.error();
  for (ir::ValueId r : *results)
    (void)g.addOutput(r);
  auto run = ref::evaluate(g, feeds);
  if (!run)
    return run.error();
  return run->outputs;
}

/// evalOp that must succeed, returning result `index`.
inline ir::HostTensor eval1(ir::OpKind op, const std::vector<ir::HostTensor> &operands, const ir::AttrList &attrs = {},
                            size_t index = 0) {
  auto r = evalOp(op, operands, attrs);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  return (*r)[index];
}

/// Every element within rtol/atol of the expected values, and same sizes.
inline void checkClose(const ir::HostTensor &got, const ir::Sizes &sizes, const std::vector<double> &want,
                       double rtol = 1e-12, double atol = 1e-12) {
  REQUIRE(got.sizes() == sizes);
  REQUIRE(got.numElements() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.get(static_cast<int64_t>(i)), w = want[i];
    INFO("element " << i << ": got " << g << ", want " << w);
    if (std::isnan(w))
      CHECK(std::isnan(g));
    else if (std::isinf(w))
      CHECK(g == w);
    else
      CHECK(std::fabs(g - w) <= atol + rtol * std::fabs(w));
  }
}

inline double dot(const ir::HostTensor &a, const ir::HostTensor &b) {
  REQUIRE(a.numElements() == b.numElements());
  double s = 0;
  for (int64_t i = 0; i < a.numElements(); ++i)
    s += a.get(i) * b.get(i);
  return s;
}

} // namespace kiln::test
