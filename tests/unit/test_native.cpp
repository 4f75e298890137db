//===- tests/unit/test_native.cpp - Every op family on native kernels -----===//
//
// Data movement, index-valued reductions, the softmax family and the loss,
// and integer elementwise ops compile to native kernels (the driver's
// nativeOnly refuses a node left to the reference interpreter) and compute
// what the reference interpreter computes: on the LLVM backend, and as the
// CUDA backend's kernels run by the host emulation (codegen/cuda/Emulator).
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "codegen/cuda/Emulator.h"
#include "driver/Driver.h"
#include "ir/Parser.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// Compiles `text` at -O2 with every node native, runs it and the reference
/// on `feeds`, and compares.
/// Every graph runs twice: on the LLVM backend, and as the CUDA backend's
/// kernels (GPU schedules, printed as CUDA C++) in the host emulation.
void checkNative(const std::string &text, const ref::TensorMap &feeds) {
  INFO(text);
  auto g = ir::parse(text);
  REQUIRE(g);
  auto want = ref::evaluate(*g, feeds);
  REQUIRE(want);
  for (bool cuda : {false, true}) {
    INFO((cuda ? "CUDA emulation" : "LLVM"));
    driver::Options o;
    o.passes = passes::pipelineFor(2);
    for (const auto &[name, t] : feeds)
      o.inputs[name] = t.sizes();
    o.nativeOnly = true;
    o.verifyKernels = true;
    if (cuda) {
      o.passOptions.target.device = passes::Device::Cuda;
      o.machine = lower::defaultGpuMachine();
      o.stopAfter = driver::Stage::Lower;
    }
    auto c = driver::compile(*g, o);
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c);
    std::unique_ptr<codegen::KernelRunner> runner;
    if (cuda) {
      auto emu = codegen::cuda::Emulator::compile(c->kernels);
      INFO((emu ? std::string() : emu.error().message));
      REQUIRE(emu);
      runner = emu.take();
    }
    auto exe = Executable::create(c.take(), std::move(runner));
    REQUIRE(exe);
    auto got = (*exe)->run(feeds);
    REQUIRE(got);
    REQUIRE(got->outputs.size() == want->outputs.size());
    for (size_t i = 0; i < want->outputs.size(); ++i) {
      INFO("output " << i);
      CHECK(got->outputs[i].dtype() == want->outputs[i].dtype());
      checkClose(got->outputs[i], want->outputs[i].sizes(), want->outputs[i].toDoubles(), 1e-5, 1e-6);
    }
  }
}

/// checkNative on a graph of one input %x of type `x` and one output %y
/// defined by each of `bodies`.
void checkEach(const char *x, std::initializer_list<const char *> bodies, const ref::TensorMap &feeds) {
  for (const char *body : bodies)
    checkNative(fmt::format("graph @g {{\n  input %x : {}\n  {}\n  output %y\n}}\n", x, body), feeds);
}

ir::HostTensor indices(ir::DType dt, ir::Sizes sizes, std::vector<double> v) { return tensor(dt, std::move(sizes), std::move(v)); }

} // namespace

TEST_CASE("data movement compiles to native kernels that match the reference", "[llvm][native]") {
  ref::TensorMap x{{"x", randomTensor({2, 3, 4}, 1, ir::DType::F32)}};
  checkEach("f32[2,3,4]", {
           "%y = transpose(%x) {perm=[2,0,1]} : f32[4,2,3]",
           "%y = transpose(%x) : f32[4,3,2]",
           "%y = slice(%x) {starts=[1,-1], ends=[3,0], axes=[1,2], steps=[1,-2]} : f32[2,2,2]",
           "%y = pad(%x) {pads=[0,1,2,1,0,1]} : f32[3,4,7]",
           "%y = pad(%x) {pads=[0,1,2,1,0,1], mode=\"edge\"} : f32[3,4,7]",
           "%y = pad(%x) {pads=[0,1,2,1,0,1], mode=\"reflect\"} : f32[3,4,7]",
           "%y = broadcast_to(%x) {shape=[3,2,3,4]} : f32[3,2,3,4]",
           "%y = concat(%x, %x) {axis=1} : f32[2,6,4]",
       }, x);
  ref::TensorMap gather{{"x", randomTensor({5, 3}, 2, ir::DType::F32)},
                        {"i", indices(ir::DType::I64, {2, 2}, {0, 4, -1, 2})}};
  checkNative("graph @g {\n  input %x : f32[5,3]\n  input %i : i64[2,2]\n  %y = gather(%x, %i) : f32[2,2,3]\n"
              "  output %y\n}\n",
              gather);
  ref::TensorMap elements{{"x", randomTensor({3, 4}, 3, ir::DType::F32)},
                          {"i", indices(ir::DType::I32, {3, 2}, {0, 3, 1, -1, 2, 2})}};
  checkNative("graph @g {\n  input %x : f32[3,4]\n  input %i : i32[3,2]\n"
              "  %y = gather_elements(%x, %i) {axis=1} : f32[3,2]\n  output %y\n}\n",
              elements);
  ref::TensorMap labels{{"l", indices(ir::DType::I64, {4}, {0, 3, -1, 7})}};
  checkNative("graph @g {\n  input %l : i64[4]\n  %y = one_hot(%l) {depth=5} : f32[4,5]\n  output %y\n}\n", labels);
}

TEST_CASE("argmax, softmax, the loss and integer ops compile to native kernels", "[llvm][native]") {
  ref::TensorMap x{{"x", randomTensor({6, 10}, 4, ir::DType::F32)}};
  checkEach("f32[6,10]", {
           "%y = argmax(%x) {axis=1, keepdims=false} : i64[6]",
           "%y = argmin(%x) {axis=0, keepdims=true} : i64[1,10]",
           "%y = softmax(%x) : f32[6,10]",
           "%y = log_softmax(%x) {axis=0} : f32[6,10]",
       }, x);
  ref::TensorMap loss{{"x", randomTensor({6, 10}, 5, ir::DType::F32)},
                      {"l", indices(ir::DType::I64, {6}, {0, 9, 3, 3, 5, 1})}};
  for (const char *red : {"mean", "sum", "none"})
    checkNative(fmt::format("graph @g {{\n  input %x : f32[6,10]\n  input %l : i64[6]\n"
                            "  %y = softmax_cross_entropy(%x, %l) {{reduction=\"{}\"}} : f32{}\n  output %y\n}}\n",
                            red, std::string(red) == "none" ? "[6]" : "[]"),
                loss);
  ref::TensorMap ints{{"a", indices(ir::DType::I32, {4}, {1, -2, 3, 7})}, {"b", indices(ir::DType::I32, {4}, {5, 2, 3, -7})}};
  checkNative("graph @g {\n  input %a : i32[4]\n  input %b : i32[4]\n  %s = add(%a, %b) : i32[4]\n"
              "  %m = mul(%s, %b) : i32[4]\n  %e = equal(%a, %b) : bool[4]\n  %c = cast(%m) {to=f32} : f32[4]\n"
              "  output %c, %e\n}\n",
              ints);
}

TEST_CASE("pooling, grouped convolutions and batch norm compile to native kernels", "[llvm][native]") {
  ref::TensorMap x{{"x", randomTensor({2, 4, 7, 7}, 6, ir::DType::F32)}};
  checkEach("f32[2,4,7,7]", {
           "%y = avg_pool(%x) {kernel=[3,3], stride=[2,2], pad=[1,1,1,1]} : f32[2,4,4,4]",
           "%y = avg_pool(%x) {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], count_include_pad=true} : f32[2,4,4,4]",
           "%y = avg_pool(%x) {kernel=[2,2], stride=[2,2], ceil_mode=true} : f32[2,4,4,4]",
           "%y = global_avg_pool(%x) : f32[2,4,1,1]",
           "%y = global_max_pool(%x) : f32[2,4,1,1]",
       }, x);
  checkEach("f32[2,4,7,7]", {
           "param %w : f32[4,1,3,3] = he_normal(seed=3)\n  %y = conv(%x, %w) {groups=4, pad=[1,1,1,1]} : f32[2,4,7,7]",
           "param %w : f32[6,2,3,3] = he_normal(seed=4)\n  %y = conv(%x, %w) {groups=2, stride=[2,2]} : f32[2,6,3,3]",
       }, x);
  checkNative("graph @g {\n  input %x : f32[2,4,7,7]\n  param %s : f32[4] = he_normal(seed=1)\n"
              "  param %b : f32[4] = he_normal(seed=2)\n  param %m : f32[4] = he_normal(seed=3)\n"
              "  param %v : f32[4] = constant(0.7)\n  %y = batch_norm_infer(%x, %s, %b, %m, %v) : f32[2,4,7,7]\n  output %y\n}\n",
              x);
  checkNative("graph @g {\n  input %x : f32[2,4,7,7]\n  param %s : f32[4] = he_normal(seed=1)\n"
              "  param %b : f32[4] = he_normal(seed=2)\n"
              "  %y, %mean, %var = batch_norm_train(%x, %s, %b) : f32[2,4,7,7], f32[4], f32[4]\n"
              "  output %y, %mean, %var\n}\n",
              x);
  ref::TensorMap loss{{"x", randomTensor({6, 5}, 7, ir::DType::F32)},
                      {"l", indices(ir::DType::I64, {6}, {0, 4, 3, 3, 2, 1})}};
  checkNative("graph @g {\n  input %x : f32[6,5]\n  input %l : i64[6]\n"
              "  param %w : f32[5] = he_normal(seed=9)\n"
              "  %y = softmax_cross_entropy(%x, %l, %w) {ignore_index=3} : f32[]\n  output %y\n}\n",
              loss);
}
