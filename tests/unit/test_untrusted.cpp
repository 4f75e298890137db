//===- tests/unit/test_untrusted.cpp - Hostile input and faults -----------===//
//
// What issue 13 asks of kiln facing untrusted model files and faults: sizes
// computed in checked arithmetic and refused past the memory limit before
// anything is allocated; NaN that propagates through max, min, relu, clip
// and pooling on both backends (vectorized kernels too); writes that fail
// loudly; checkpoints that check their tensors; cache entries that check
// their keys.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "codegen/llvm/DiskCache.h"
#include "ir/File.h"
#include "ir/Limits.h"
#include "ir/Parser.h"
#include "passes/PassManager.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executable.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Restores the memory limit when a test that lowers it ends.
struct LimitGuard {
  int64_t saved = ir::memoryLimit();
  ~LimitGuard() { ir::setMemoryLimit(saved); }
};

std::string tempDir(const std::string &name) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("kiln-{}-{}", name, ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

} // namespace

TEST_CASE("size arithmetic is checked: overflowing shapes are errors naming the value", "[untrusted]") {
  CHECK(ir::checkedMul(int64_t{1} << 32, int64_t{1} << 32) == std::nullopt);
  CHECK(ir::checkedProduct({1 << 30, 1 << 30, 1 << 30}) == std::nullopt);
  CHECK(ir::checkedProduct({3, 0, 5}) == 0);
  // A shape whose product wraps past 2^64 to a small number.
  auto g = ir::parse("graph @g {\n  input %x : f32[1073741824,4294967296,8,8]\n  output %x\n}\n", "wrap.kir");
  REQUIRE(!g);
  CHECK(g.error().message.find("wrap.kir:2:") != std::string::npos);
  CHECK(g.error().message.find("overflows 64 bits") != std::string::npos);
  // The graph API checks every value: an input, and a result grown by a
  // type rule (the message names the op and its operands).
  ir::Graph api;
  auto wrapped = api.addInput("x", ir::Type{ir::DType::F32, {1073741824, int64_t{1} << 32, 8, 8}, {}});
  REQUIRE(!wrapped);
  CHECK(wrapped.error().message.find("%x") != std::string::npos);
  // A zero-size tensor with a huge dim is sized as if its zeros were ones.
  CHECK(!api.addInput("z", ir::Type{ir::DType::F32, {0, int64_t{1} << 62}, {}}));
  auto x = api.addInput("x", ir::Type{ir::DType::F32, {65536, 65536}, {}});
  REQUIRE(x);
  auto y = api.addNode(ir::OpKind::BroadcastTo, {*x},
                       {{"shape", std::vector<int64_t>{65536, 65536, 65536, 65536}}});
  REQUIRE(!y);
  CHECK(y.error().message.find("broadcast_to(%x") != std::string::npos);
  CHECK(y.error().message.find("overflows 64 bits") != std::string::npos);
}

TEST_CASE("allocations past the memory limit are refused before they are made", "[untrusted]") {
  LimitGuard guard;
  ir::setMemoryLimit(int64_t{64} << 20);
  // A declared 100 MB parameter is an error at parse time, not an allocation.
  ir::ParseOptions roomy;
  roomy.maxInitElements = int64_t{1} << 40;
  auto big = ir::parse("graph @g {\n  param %w : f32[25000000] = zeros\n  output %w\n}\n", "big.kir", roomy);
  REQUIRE(!big);
  CHECK(big.error().message.find("memory limit") != std::string::npos);
  // Many parameters each under the limit are refused together.
  std::string text = "graph @g {\n";
  for (int i = 0; i < 5; ++i)
    text += fmt::format("  param %w{} : f32[4194304] = zeros\n", i);
  text += "  output %w0\n}\n";
  auto many = ir::parse(text, "many.kir");
  REQUIRE(!many);
  CHECK(many.error().message.find("parameters and constants") != std::string::npos);
  // A run whose intermediates pass the limit at the given batch size.
  auto g = ir::parse("graph @g {\n  input %x : f32[N,1024]\n  %y = exp(%x) : f32[N,1024]\n"
                     "  %z = exp(%y) : f32[N,1024]\n  output %z\n}\n",
                     "run.kir");
  REQUIRE(g);
  ir::Sizes huge = {int64_t{1} << 16, 1024};
  auto exe = Executable::compile(*g, {{"x", huge}});
  REQUIRE(!exe);
  CHECK(exe.error().message.find("memory limit") != std::string::npos);
  // Reading a file without end (a device) stops at the limit.
  ir::setMemoryLimit(int64_t{1} << 20);
  auto endless = readFile("/dev/zero");
  REQUIRE(!endless);
  CHECK(endless.error().message.find("/dev/zero") != std::string::npos);
  CHECK(ir::parseByteSize("8G").take() == int64_t{8} << 30);
  CHECK(ir::parseByteSize("1.5M").take() == 3 << 19);
  CHECK(!ir::parseByteSize("lots"));
  CHECK(!ir::parseByteSize("-1G"));
}

TEST_CASE("NaN propagates through max, min, relu, clip and pooling on every backend", "[untrusted][llvm]") {
  // 37 elements: the vectorized body and the scalar tail both see a NaN.
  const char *text = "graph @g {\n  input %x : f32[1,1,37,2]\n"
                     "  %r = relu(%x) : f32[1,1,37,2]\n"
                     "  %c = clip(%x) {min=-0.5, max=0.5} : f32[1,1,37,2]\n"
                     "  %m = max(%x, %r) : f32[1,1,37,2]\n"
                     "  %n = min(%x, %c) : f32[1,1,37,2]\n"
                     "  %p = max_pool(%x) {kernel=[2,2], stride=[1,1]} : f32[1,1,36,1]\n"
                     "  %g = global_max_pool(%x) : f32[1,1,1,1]\n"
                     "  %s = reduce_max(%x) {axes=[2], keepdims=true} : f32[1,1,1,2]\n"
                     "  output %r, %c, %m, %n, %p, %g, %s\n}\n";
  auto g = ir::parse(text, "nan.kir");
  REQUIRE(g);
  std::vector<double> values = randomValues(74, 5);
  values[3] = NAN;  // element (1, 1): in a vector body
  values[73] = NAN; // the last: in the scalar tail
  ref::TensorMap feeds{{"x", tensor(ir::DType::F32, {1, 1, 37, 2}, values)}};
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  auto optimized = passes::runPipeline(*g, passes::pipelineFor(2));
  REQUIRE(optimized);
  auto exe = Executable::compile(optimized->graph, {{"x", {1, 1, 37, 2}}});
  REQUIRE(exe);
  auto got = (*exe)->run(feeds);
  REQUIRE(got);
  for (size_t o = 0; o < want->outputs.size(); ++o) {
    INFO("output " << g->nameOf(g->outputs()[o]));
    const ir::HostTensor &w = want->outputs[o], &v = got->outputs[o];
    REQUIRE(w.numElements() == v.numElements());
    int64_t nans = 0;
    for (int64_t i = 0; i < w.numElements(); ++i) {
      INFO("element " << i);
      CHECK(std::isnan(w.get(i)) == std::isnan(v.get(i)));
      nans += std::isnan(w.get(i));
    }
    CHECK(nans > 0); // every op let a NaN through
  }
  CHECK(std::isnan(want->outputs[0].get(3)));
  CHECK(std::isnan(want->outputs[0].get(73)));
}

TEST_CASE("checkpoints carry checksums: flipped bits are an error", "[untrusted]") {
  std::string dir = tempDir("ckpt");
  std::string path = dir + "/c.safetensors";
  checkpoint::Tensors t{{"w", tensor(ir::DType::F32, {4}, {1, 2, 3, 4})}};
  REQUIRE(checkpoint::save(path, t, {{"epochs_done", "1"}}));
  auto back = checkpoint::load(path);
  REQUIRE(back);
  CHECK(back->meta.count("epochs_done") == 1);
  CHECK(back->meta.size() == 1); // the checksums are not handed out as metadata
  auto bytes = readFile(path).take();
  bytes[bytes.size() - 2] ^= 0x10; // a bit of the last weight
  REQUIRE(writeFileAtomic(path, bytes));
  auto damaged = checkpoint::load(path);
  REQUIRE(!damaged);
  CHECK(damaged.error().message.find("checksum") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("writes go to a temporary file and fail loudly", "[untrusted]") {
  std::string dir = tempDir("write");
  REQUIRE(writeFileAtomic(dir + "/a.txt", "hello"));
  CHECK(readFile(dir + "/a.txt").take() == "hello");
  auto missing = writeFileAtomic(dir + "/no/such/dir/a.txt", "x");
  REQUIRE(!missing);
  CHECK(missing.error().message.find("cannot write") != std::string::npos);
  if (::geteuid() != 0) { // root writes anywhere
    std::filesystem::permissions(dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    CHECK(!writeFileAtomic(dir + "/b.txt", "x"));
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  }
  if (std::filesystem::exists("/dev/full")) { // a device is written in place, and a full one fails
    CHECK(!writeFileAtomic("/dev/full", "x"));
    CHECK(std::filesystem::is_character_file("/dev/full"));
  }
  size_t leftovers = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    leftovers += e.path().filename().string().find(".tmp.") != std::string::npos;
  CHECK(leftovers == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the disk cache rejects an entry stored under another key", "[untrusted][cache]") {
  std::string dir = tempDir("cachekey");
  codegen::DiskCache cache(dir);
  cache.store("aaaa", "object A");
  cache.store("bbbb", "object B");
  CHECK(cache.load("aaaa") == std::optional<std::string>("object A"));
  // Swap the two files: each has a valid checksum but the other's key.
  std::filesystem::rename(dir + "/aaaa.kobj", dir + "/tmp.kobj");
  std::filesystem::rename(dir + "/bbbb.kobj", dir + "/aaaa.kobj");
  std::filesystem::rename(dir + "/tmp.kobj", dir + "/bbbb.kobj");
  CHECK(cache.load("aaaa") == std::nullopt);
  CHECK(cache.load("bbbb") == std::nullopt);
  std::filesystem::remove_all(dir);
}
