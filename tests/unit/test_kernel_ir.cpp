//===- tests/unit/test_kernel_ir.cpp - The kernel-IR verifier --------------===//
//
// The verifier accepts what lowering makes (every test that compiles runs it:
// tests/unit/main.cpp turns it on) and rejects each kind of broken kernel
// with a message naming the kernel and the fault; the text printer and
// parser round-trip every kernel of the zoo's training steps.
//
//===----------------------------------------------------------------------===//
#include "driver/Driver.h"
#include "ir/kernel/Parser.h"
#include "ir/kernel/Verifier.h"
#include "kiln/train.h"
#include "lower/Lower.h"

#include <catch2/catch.hpp>

using namespace kiln;
using namespace kiln::kernel;
using ir::DType;
using ir::OpKind;

namespace {

/// out[i] = f(in[i]) over a parallel loop of `extent`, buffers of 4.
Kernel copyKernel(int64_t extent, ExprRef (*value)(ExprRef) = nullptr) {
  Kernel k;
  k.name = "k";
  k.buffers = {Buffer{"in", DType::F32, 4}, Buffer{"out", DType::F32, 4, true}};
  k.numVars = 2;
  ExprRef x = load(0, DType::F32, kernel::index(0, extent));
  k.body = {loop(0, extent, LoopKind::Parallel, {store(1, kernel::index(0, extent), value ? value(x) : x)})};
  return k;
}

std::string failure(const Kernel &k) {
  auto s = verify(k);
  return s ? std::string("verified") : s.error().message;
}

} // namespace

TEST_CASE("the kernel-IR verifier accepts a well-formed kernel", "[kernel][verifier]") {
  CHECK(failure(copyKernel(4)) == "verified");
  CHECK(failure(copyKernel(4, [](ExprRef x) { return op(OpKind::Exp, DType::F32, {x}); })) == "verified");
}

TEST_CASE("the kernel-IR verifier rejects broken kernels", "[kernel][verifier]") {
  CHECK(failure(copyKernel(5)) == "kernel k: a load of in (4 elements) at indices 0..4");

  Kernel race = copyKernel(4);
  race.body[0].body[0].index = imm(0, DType::I64);
  CHECK(failure(race) ==
        "kernel k: a store to out inside the parallel loop is not indexed by its variable i0: parts would race");

  Kernel composite = copyKernel(4, [](ExprRef x) { return op(OpKind::Relu, DType::F32, {x}); });
  CHECK(failure(composite) == "kernel k: op 'relu' is not a primitive (lowering expands composites)");

  Kernel arity = copyKernel(4, [](ExprRef x) { return op(OpKind::Add, DType::F32, {x}); });
  CHECK(failure(arity) == "kernel k: op 'add' takes 2 operands, not 1");

  Kernel outside = copyKernel(4);
  outside.body.insert(outside.body.begin(), store(1, kernel::index(0, 4), imm(0, DType::F32)));
  CHECK(failure(outside) == "kernel k: loop variable i0 is used outside its loop");

  Kernel before = copyKernel(4);
  before.body.insert(before.body.begin(), store(1, imm(0, DType::I64), imm(0, DType::F32)));
  CHECK(failure(before) == "kernel k: a store to out before the parallel loop: every part would write it");

  Kernel notLast = copyKernel(4);
  notLast.body.push_back(store(1, imm(0, DType::I64), imm(0, DType::F32)));
  CHECK(failure(notLast) ==
        "kernel k: a parallel loop that does not end the body (only the last one is split across threads)");

  Kernel badBuffer = copyKernel(4);
  badBuffer.body[0].body[0].buffer = 7;
  CHECK(failure(badBuffer) == "kernel k: a store names buffer 7, but the kernel has 2");

  Kernel wrongType = copyKernel(4, [](ExprRef x) { return cast(x, DType::F64); });
  CHECK(failure(wrongType) == "kernel k: a store of f64 to out, a buffer of f32");

  Kernel undeclared = copyKernel(4, [](ExprRef) { return acc(1, DType::F32); });
  CHECK(failure(undeclared) == "kernel k: accumulator a1 is read before its declaration");

  Kernel parallelFinish = copyKernel(4);
  parallelFinish.finish = {loop(1, 4, LoopKind::Parallel, {})};
  CHECK(failure(parallelFinish) == "kernel k: parallel loop i1 is not the last statement of the body");
}

TEST_CASE("the kernel-IR verifier checks tiles", "[kernel][verifier]") {
  Kernel k;
  k.name = "t";
  k.buffers = {Buffer{"a", DType::F32, 6 * 8, false, true}, Buffer{"b", DType::F32, 16 * 8, false, true},
               Buffer{"c", DType::F32, 6 * 16, true}};
  k.numVars = 1;
  Tile t;
  t.a = 0, t.b = 1;
  t.aIndex = imm(0, DType::I64), t.bIndex = imm(0, DType::I64), t.depth = imm(8, DType::I64);
  t.mr = 6, t.nr = 16, t.ldc = 16, t.lanes = 8;
  k.body = {tileFma(2, imm(0, DType::I64), t)};
  CHECK(failure(k) == "verified");
  k.body[0].tile.depth = imm(9, DType::I64);
  CHECK(failure(k) == "kernel t: a tile's packed A panel of 6 x 9 does not fit a (48 elements)");
  k.body[0].tile.depth = imm(8, DType::I64);
  k.body[0].tile.nr = 12;
  k.body[0].tile.ldc = 12;
  CHECK(failure(k) == "kernel t: a tile of 6 x 12 with 8 lanes (nr must be a positive multiple of lanes)");
}

TEST_CASE("the kernels of the zoo's training steps print, parse and print the same", "[kernel][parser]") {
  // On the CPU's schedules and on the GPU's (block and thread loops,
  // workgroup buffers, barriers, block reductions).
  for (bool gpu : {false, true})
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    INFO("net " << name << (gpu ? " (GPU)" : ""));
    auto net = nn::zoo::byName(name);
    REQUIRE(net);
    optim::Options o;
    auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
    REQUIRE(g);
    driver::Options d;
    d.passes = passes::pipelineFor(2);
    d.inputs = {{"images", {16, 1, 28, 28}}, {"labels", {16}}};
    d.machine = gpu ? lower::defaultGpuMachine() : lower::Machine{32, 2};
    d.stopAfter = driver::Stage::Lower;
    auto c = driver::compile(*g, d);
    REQUIRE(c);
    REQUIRE(c->kernels.size() > 5);
    std::string text;
    for (const Kernel &k : c->kernels)
      text += print(k);
    if (gpu) // the tiled contractions and the loss's block reduction are there
      CHECK((text.find("for block") != std::string::npos && text.find("barrier") != std::string::npos &&
             text.find("workgroup") != std::string::npos && (std::string(name) != "mlp") ==
             (text.find("= block add(") != std::string::npos)));
    auto parsed = parse(text);
    if (!parsed)
      FAIL(parsed.error().message);
    REQUIRE(parsed->size() == c->kernels.size());
    std::string again;
    for (const Kernel &k : *parsed) {
      CHECK(failure(k) == "verified");
      again += print(k);
    }
    CHECK(again == text);
  }
}

TEST_CASE("kernel IR that does not parse is one error naming the line and column", "[kernel][parser]") {
  auto bad = [](const char *text) {
    auto r = parse(text);
    return r ? std::string("parsed") : r.error().message;
  };
  CHECK(bad("kernel @k(x : f32[4], out y : f32[4]) {\n  y[0] = z[0]\n}\n") ==
        "kernel IR 2:10: kernel k has no buffer 'z'");
  CHECK(bad("kernel @k(x : f99[4]) {\n}\n") == "kernel IR 1:15: unknown dtype 'f99'");
  CHECK(bad("kernel @k(x : f32[4], out y : f32[4]) {\n  y[0] = frob(x[0])\n}\n") ==
        "kernel IR 2:10: unknown op 'frob'");
  CHECK(bad("kernel @k(out y : f32[4]) {\n  y[0] = acc1\n}\n") ==
        "kernel IR 2:10: accumulator acc1 is read before its declaration");
  CHECK(bad("kernel @k(out y : f32[4]) {\n  for i0 in 0..4 {\n") == "kernel IR 3:1: expected a name");
}

TEST_CASE("schedules are plain values chosen from the sizes and the machine", "[kernel][schedule]") {
  using lower::gemmSchedule;
  // 200 x 128 x 256 on 2 threads (tests/lit/lower_gemm.kir): two tasks of
  // 102 rows, one column block of 128, one k slice of 256, a 6 x 16 tile.
  auto s = gemmSchedule(200, 128, 256, 1, 1, DType::F32, lower::Machine{32, 2});
  CHECK(s.mr == 6);
  CHECK(s.nr == 16);
  CHECK(s.kc == 256);
  CHECK(s.kBlocks == 1);
  CHECK(s.gm == 102);
  CHECK(s.groups * s.nBlocks == 2);
  CHECK(s.nc == 128);
  // sgemm 1024: blocks that fit the caches, a task count the threads divide.
  for (int threads : {1, 2, 3}) {
    INFO(threads << " threads");
    auto b = gemmSchedule(1024, 1024, 1024, 1, 1, DType::F32, lower::Machine{32, threads});
    CHECK(b.kc == 256);
    CHECK(b.mc <= 192);
    CHECK(b.nc <= 512);
    CHECK((b.groups * b.nBlocks) % threads == 0);
    CHECK(b.gm * b.groups >= 1024);
  }
  // AVX-512: two vectors of 16 floats.
  CHECK(gemmSchedule(64, 64, 64, 1, 1, DType::F32, lower::Machine{64, 1}).nr == 32);
  CHECK(gemmSchedule(64, 64, 64, 1, 1, DType::F64, lower::Machine{32, 1}).nr == 8);
}
