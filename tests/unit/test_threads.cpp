//===- tests/unit/test_threads.cpp - Compiling and running from threads ---===//
//
// What scripts/test.sh also runs under ThreadSanitizer: two Functions
// compiled from one graph (their parameters' bytes shared, copy on write)
// trained from two threads at once, each compile's LLVM groups in parallel
// (OpenMP) and each step's kernels split across OpenMP threads, give what
// one Function gives alone; two threads compiling into one disk cache are in
// test_llvm.cpp's cache test, two processes in tests/cli/cache_processes.sh.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "kiln/train.h"
#include "runtime/Function.h"

#include <thread>

using namespace kiln;
using namespace kiln::test;

namespace {

using Batches = std::vector<std::vector<ir::HostTensor>>;

/// Three fixed batches, made on the test's thread (Catch's assertions, which
/// the helpers use, are for that thread alone).
Batches batches() {
  Batches out;
  for (int step = 0; step < 3; ++step)
    out.push_back({randomTensor({4, 1, 28, 28}, 10 + static_cast<uint64_t>(step), ir::DType::F32),
                   tensor(ir::DType::I64, {4}, {1, 2, 3, 4})});
  return out;
}

/// Training steps of `f` on `data`; the parameters after them (empty when a
/// step fails).
std::map<std::string, std::vector<double>> train(Function &f, const Batches &data) {
  std::map<std::string, std::vector<double>> out;
  for (const auto &batch : data)
    if (!f(batch))
      return {};
  for (const auto &[name, t] : f.params())
    out[name] = t->toDoubles();
  return out;
}

} // namespace

TEST_CASE("two Functions of one graph train from two threads as each does alone", "[threads][function]") {
  auto net = nn::zoo::byName("lenet");
  REQUIRE(net);
  optim::Options o;
  auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
  REQUIRE(g);
  std::vector<ir::ValueId> outputs(g->outputs().begin(), g->outputs().end());
  auto make = [&] { return Function::compile(*g, {g->lookup("images"), g->lookup("labels")}, outputs); };
  auto alone = make();
  REQUIRE(alone);
  const Batches data = batches();
  auto want = train(*alone, data);
  REQUIRE(!want.empty());
  auto f1 = make(), f2 = make();
  REQUIRE(f1);
  REQUIRE(f2);
  std::map<std::string, std::vector<double>> got[2];
  std::thread t1([&] { got[0] = train(*f1, data); });
  std::thread t2([&] { got[1] = train(*f2, data); });
  t1.join();
  t2.join();
  for (const auto &g2 : got) {
    REQUIRE(g2.size() == want.size());
    for (const auto &[name, values] : want) {
      INFO("parameter " << name);
      REQUIRE(g2.at(name).size() == values.size());
      for (size_t i = 0; i < values.size(); ++i)
        CHECK(g2.at(name)[i] == Approx(values[i]).margin(1e-6));
    }
  }
}
