//===- tests/fuzz/Exercise.h - What the fuzz targets do with a graph -*- C++ -*-===//
//
// A graph that imported is exercised as a user's run would be: verified,
// then, when small enough to run in a fuzzer's time (its symbolic dims
// bound to 2, no value over 4,096 elements, little work), evaluated on the
// reference interpreter and compiled by the driver through -O2, the memory
// plan and lowering, with the kernel-IR verifier on. Errors are fine (the
// input is garbage); a crash, a sanitizer report, a graph that does not
// verify, or an error that calls itself a kiln bug is a finding (abort).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "driver/Driver.h"
#include "ir/Limits.h"
#include "ir/Verifier.h"
#include "passes/PassManager.h"
#include "reference/Reference.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace kiln::fuzz {

/// Aborts on a finding, printing it.
inline void finding(const std::string &what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::abort();
}

/// The input being exercised: an error that only echoes its text is not a
/// finding (the fuzzer learns the words kiln compares against).
inline std::string_view &currentInput() {
  static std::string_view input;
  return input;
}

/// An error that is kiln's fault, not the input's.
inline void checkNotBug(const Error &e) {
  if (e.message.find("kiln bug") != std::string::npos && currentInput().find("kiln bug") == std::string_view::npos)
    finding(e.message);
}

/// How many inputs got how far, printed at exit (the fuzz log's last
/// lines): imported, verified, run on the reference, lowered.
struct Counts {
  long imported = 0, ran = 0, lowered = 0;
  ~Counts() { std::fprintf(stderr, "kiln fuzz: %ld imported, %ld run on the reference, %ld lowered\n", imported, ran, lowered); }
};
inline Counts &counts() {
  static Counts c;
  return c;
}

/// Sets what the targets run under: a small memory limit (the fuzzers'
/// RSS limit is 2 GiB, ASan's shadow included).
inline void setUp() {
  ir::setMemoryLimit(int64_t{256} << 20);
  counts();
}

inline void exercise(const ir::Graph &g) {
  ++counts().imported;
  if (auto ok = ir::verify(g); !ok)
    finding("an imported graph does not verify: " + ok.error().message);
  // Small enough to run: inputs' symbols bound to 2, every value's size and
  // every node's work (result elements times its largest operand) capped.
  std::map<std::string, int64_t> dims;
  std::map<std::string, ir::Sizes> inputSizes;
  ref::TensorMap feeds;
  auto bound = [&](const ir::Shape &shape) -> std::optional<ir::Sizes> {
    ir::Sizes out;
    for (const ir::Dim &d : shape) {
      if (d.isUnknown())
        return std::nullopt;
      out.push_back(d.isConst() ? d.value : 2);
    }
    return out;
  };
  for (ir::ValueId v : g.inputs()) {
    auto sizes = bound(g.type(v).shape);
    if (!sizes)
      return;
    for (const ir::Dim &d : g.type(v).shape)
      if (d.isSymbol())
        dims[d.sym] = 2;
    auto n = ir::checkedProduct(*sizes);
    if (!n || *n > 4096)
      return;
    ir::HostTensor t(g.type(v).dtype, *sizes);
    for (int64_t i = 0; i < *n; ++i)
      t.set(i, ir::isFloat(t.dtype()) ? static_cast<double>(i % 7) * 0.5 - 1.5 : static_cast<double>(i % 2));
    inputSizes[g.nameOf(v)] = *sizes;
    feeds.emplace(g.nameOf(v), std::move(t));
  }
  double work = 0;
  for (const ir::Node &n : g.nodes()) {
    double biggestOperand = 1, results = 0;
    for (ir::ValueId o : n.operands)
      if (auto s = driver::sizesOf(g.type(o).shape, dims))
        biggestOperand = std::max(biggestOperand, static_cast<double>(*ir::checkedProduct(*s)));
      else
        return;
    for (ir::ValueId r : n.results) {
      auto s = driver::sizesOf(g.type(r).shape, dims);
      if (!s || *ir::checkedProduct(*s) > 4096)
        return;
      results += static_cast<double>(*ir::checkedProduct(*s));
    }
    if (n.body)
      return; // regions come from kiln's own fuser; the .kir target checks them parse and print
    double window = 1; // a window's taps, padding included, are visited one by one
    if (n.info().has(ir::trait::Windowed) && n.attrView().declares("kernel"))
      for (int64_t k : n.attrView().getInts("kernel"))
        window *= static_cast<double>(k);
    work += results * std::max(biggestOperand, window);
  }
  if (work > 1e6)
    return;
  ++counts().ran;
  if (auto r = ref::evaluate(g, feeds); !r)
    checkNotBug(r.error());
  driver::Options o;
  o.passes = passes::pipelineFor(2);
  o.inputs = inputSizes;
  o.verifyKernels = true;
  o.stopAfter = driver::Stage::Lower;
  if (auto c = driver::compile(g, o); !c) {
    checkNotBug(c.error());
    if (c.error().message.find("does not verify") != std::string::npos)
      finding(c.error().message);
  } else {
    ++counts().lowered;
  }
}

} // namespace kiln::fuzz
