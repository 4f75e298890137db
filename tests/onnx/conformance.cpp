//===- tests/onnx/conformance.cpp - ONNX's node tests as kiln's conformance suite -===//
//
//   kiln-onnx-conformance DATA_DIR [KNOWN_FAILURES] [--filter TEXT] [--quiet] [--require-all]
//                         [--backend reference|llvm|aot|cuda|cuda-emulation] [--kiln PATH] [--every K]
//                         [--emulate-every K] [--shard I/N]
//
// Walks ONNX's backend node tests (Debian's libonnx-testdata), imports each
// model, runs every test_data_set_* on the reference interpreter and compares
// every output (rtol 1e-3, atol 1e-5, NaN equal to NaN, dtype and shape
// exact). With `--backend llvm` the model is also optimized (-O2 for the
// CPU), compiled to an Executable (native kernels, the interpreter for what
// is not lowered) and run, and its outputs must pass the same comparison.
// With `--backend aot` the imported model is written as .kir, compiled by
// `kiln compile` (the binary given by --kiln; one thread, no OpenMP) to an
// object, linked into a shared library with `cc -shared`, loaded and run
// through its entries; a
// model with a node that has no native kernel yet is counted as "not
// native" (kiln compile refuses it, naming the nodes); `--every K` runs
// every K-th test only. `--backend cuda-emulation` lowers the model with
// the GPU's schedules, compiles its CUDA C++ with NVRTC for sm_80 and sm_90
// and runs it in the host emulation (every K-th model with
// `--emulate-every K`, which CI uses to stay fast; `--shard I/N` runs the
// I-th of N interleaved parts, which ctest runs side by side); `--backend cuda` runs it on the GPU
// (exit status 77, skipped, without one). A test whose model kiln refuses with "unsupported"
// is reported as such. Prints one line per test and the summary `N passed, N failed, N
// unsupported`; exits 1 on any failure not listed (with --require-all, on
// any unsupported or not-native test too), with its reason, in the
// known-failures file (and on a listed one that passes, so the list shrinks).
//
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CudaDriver.h"
#include "codegen/cuda/CudaSource.h"
#include "codegen/cuda/Emulator.h"
#include "codegen/cuda/Nvrtc.h"
#include "driver/Driver.h"
#include "frontend/onnx/Onnx.h"
#include "ir/File.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"
#include "reference/Reference.h"

#include <fmt/format.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

enum class Outcome { Pass, Fail, Unsupported, NotNative };

struct Result {
  Outcome outcome;
  std::string detail;
};

std::vector<fs::path> sortedEntries(const fs::path &dir, const std::string &prefix) {
  std::vector<fs::path> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0)
      out.push_back(e.path());
  // input_10 sorts after input_9.
  std::sort(out.begin(), out.end(), [](const fs::path &a, const fs::path &b) {
    auto num = [](const fs::path &p) {
      std::string s = p.stem().string();
      size_t u = s.rfind('_');
      return u == std::string::npos ? 0L : std::strtol(s.c_str() + u + 1, nullptr, 10);
    };
    return num(a) < num(b);
  });
  return out;
}

std::string firstLine(const std::string &s) {
  std::string line = s.substr(0, s.find('\n'));
  if (s.find('\n') != std::string::npos) // the unsupported-op list: keep its entries on one line
    for (size_t p = s.find('\n'); p != std::string::npos; p = s.find('\n', p + 1))
      line += ";" + s.substr(p + 1, s.find('\n', p + 1) - p - 1);
  return line;
}

std::string compare(const ir::HostTensor &got, const ir::HostTensor &want) {
  if (got.dtype() != want.dtype())
    return fmt::format("dtype {} where {} was expected", ir::dtypeName(got.dtype()), ir::dtypeName(want.dtype()));
  if (got.sizes() != want.sizes())
    return fmt::format("shape {} where {} was expected", ir::toString(got.sizes()), ir::toString(want.sizes()));
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double g = got.get(i), w = want.get(i);
    if (std::isnan(w) && std::isnan(g))
      continue;
    if (std::isinf(w) && g == w)
      continue;
    if (!(std::fabs(g - w) <= 1e-5 + 1e-3 * std::fabs(w)))
      return fmt::format("element {} is {} where {} was expected", i, g, w);
  }
  return "";
}

/// The model run on the LLVM backend: -O2 for the CPU, then an Executable.
Expected<ref::RunResult> runLlvm(const ir::Graph &g, const ref::TensorMap &feeds) {
  auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
  if (!optimized)
    return optimized.error();
  std::map<std::string, ir::Sizes> sizes;
  for (const auto &[name, t] : feeds)
    sizes[name] = t.sizes();
  auto exe = Executable::compile(optimized->graph, sizes);
  if (!exe)
    return exe.error();
  return (*exe)->run(feeds);
}

int gEmulateEvery = 1; ///< --emulate-every K

/// The model on the CUDA backend without a GPU: -O2, lowered with the
/// GPU's schedules, every kernel compiled by NVRTC for sm_80 and sm_90 (when
/// kiln has NVRTC), then run by the host emulation of the CUDA C++ (every
/// K-th model with --emulate-every K; the others on the LLVM backend, so
/// their outputs are still checked).
Expected<ref::RunResult> runCudaEmulation(const ir::Graph &g, const ref::TensorMap &feeds) {
  static int seen = 0;
  bool emulate = seen++ % gEmulateEvery == 0;
  driver::Options o;
  o.passes = passes::pipelineFor(2);
  o.passOptions.target.device = passes::Device::Cuda;
  o.machine = lower::defaultGpuMachine();
  o.planInPlace = false;
  for (const auto &[name, t] : feeds)
    o.inputs[name] = t.sizes();
  o.stopAfter = driver::Stage::Lower;
  KILN_ASSIGN(driver::Compiled c, driver::compile(g, o));
  if (codegen::cuda::haveNvrtc() && !c.kernels.empty()) {
    KILN_ASSIGN(std::string source, codegen::cuda::printSource(c.kernels));
    for (int arch : {80, 90})
      KILN_TRY(codegen::cuda::compileSource(source, g.name(), arch, false));
  }
  if (!emulate)
    return runLlvm(g, feeds);
  KILN_ASSIGN(std::unique_ptr<codegen::cuda::Emulator> emu, codegen::cuda::Emulator::compile(c.kernels));
  KILN_ASSIGN(std::unique_ptr<Executable> exe, Executable::create(std::move(c), std::move(emu)));
  return exe->run(feeds);
}

/// The model on a GPU: -O2, compiled for CUDA and run on the device.
Expected<ref::RunResult> runCuda(const ir::Graph &g, const ref::TensorMap &feeds) {
  std::map<std::string, ir::Sizes> sizes;
  for (const auto &[name, t] : feeds)
    sizes[name] = t.sizes();
  CompileOptions co;
  co.passes = passes::pipelineFor(2);
  co.device = passes::Device::Cuda;
  KILN_ASSIGN(std::unique_ptr<Executable> exe, Executable::compile(g, sizes, co));
  return exe->run(feeds);
}

bool gCudaEmulation = false; ///< --backend cuda-emulation
bool gCuda = false;          ///< --backend cuda
bool gLlvm = false; ///< --backend llvm
bool gAot = false;  ///< --backend aot
std::string gKiln;  ///< --kiln PATH

/// The model compiled ahead of time by `kiln compile`, linked into a shared
/// library and run through its entries (the dims and dtypes it reports).
Expected<ref::RunResult> runAot(const ir::Graph &g, const ref::TensorMap &feeds, bool &notNative) {
  char tmpl[] = "/tmp/kiln-aot-XXXXXX";
  if (!mkdtemp(tmpl))
    return makeError("cannot make a temporary directory");
  fs::path dir = tmpl;
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};
  KILN_TRY(writeFileAtomic((dir / "model.kir").string(), ir::print(g)));
  std::string log = (dir / "log.txt").string();
  // One thread, so no OpenMP: a shared library that brings libgomp into a
  // process of LLVM's libomp unloads it again at dlclose, and LeakSanitizer
  // then reports libgomp's own allocations (tests/cli cover the threads).
  std::string cmd = fmt::format("'{}' compile '{}' -o '{}' --name model --threads 1 > '{}' 2>&1", gKiln,
                                (dir / "model.kir").string(), (dir / "model.o").string(), log);
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    notNative = text.find("cannot be compiled to native kernels yet") != std::string::npos;
    if (notNative) { // the ops of the nodes it names
      std::set<std::string> ops;
      for (size_t at = text.find(" = "); at != std::string::npos; at = text.find(" = ", at + 3))
        ops.insert(text.substr(at + 3, text.find('(', at) - at - 3));
      return makeError("no native kernel yet for {}", fmt::join(ops, ", "));
    }
    return makeError("kiln compile: {}", text);
  }
  cmd = fmt::format("cc -shared -o '{}' '{}' -lm > '{}' 2>&1", (dir / "model.so").string(),
                    (dir / "model.o").string(), log);
  if (std::system(cmd.c_str()) != 0)
    return makeError("cc -shared fails on the object");
  void *so = dlopen((dir / "model.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!so)
    return makeError("dlopen: {}", dlerror());
  struct Close {
    void *h;
    ~Close() { dlclose(h); }
  } close{so};
  using Init = int (*)(void **, const char *);
  using Free = void (*)(void *);
  using Size = size_t (*)(int64_t);
  using Run = int (*)(void *, int64_t, void *const *, void *const *, void *);
  using Count = int (*)(int);
  using Info = int (*)(int, int, const char **, int *, int *, int64_t *, int *);
  using Message = const char *(*)(int);
  auto init = reinterpret_cast<Init>(dlsym(so, "model_init"));
  auto free = reinterpret_cast<Free>(dlsym(so, "model_free"));
  auto size = reinterpret_cast<Size>(dlsym(so, "model_workspace_size"));
  auto run = reinterpret_cast<Run>(dlsym(so, "model_run"));
  auto count = reinterpret_cast<Count>(dlsym(so, "model_tensor_count"));
  auto info = reinterpret_cast<Info>(dlsym(so, "model_tensor_info"));
  auto message = reinterpret_cast<Message>(dlsym(so, "model_error"));
  if (!init || !free || !size || !run || !count || !info || !message)
    return makeError("the object lacks an entry");
  std::vector<ir::HostTensor> ins;
  std::vector<void *> inPtrs, outPtrs;
  int64_t batch = 1;
  for (int i = 0; i < count(0); ++i) {
    const char *name;
    int dtype, rank, batched;
    int64_t dims[8];
    info(0, i, &name, &dtype, &rank, dims, &batched);
    auto it = feeds.find(name);
    if (it == feeds.end())
      return makeError("the object takes an input '{}' the test does not give", name);
    ins.push_back(it->second);
    if (batched)
      batch = it->second.sizes()[0];
  }
  for (ir::HostTensor &t : ins)
    inPtrs.push_back(t.data());
  ref::RunResult out;
  for (int i = 0; i < count(1); ++i) {
    const char *name;
    int dtype, rank, batched;
    int64_t dims[8];
    info(1, i, &name, &dtype, &rank, dims, &batched);
    ir::Sizes sizes(dims, dims + rank);
    if (batched)
      sizes[0] = batch;
    out.outputs.emplace_back(static_cast<ir::DType>(dtype), sizes);
  }
  for (ir::HostTensor &t : out.outputs)
    outPtrs.push_back(t.data());
  void *m = nullptr;
  int st = init(&m, nullptr);
  std::vector<char> workspace(size(batch));
  if (!st)
    st = run(m, batch, inPtrs.data(), outPtrs.data(), workspace.data());
  free(m);
  if (st)
    return makeError("model_run: {}", message(st));
  return out;
}

Result runTest(const fs::path &dir) {
  std::string model = (dir / "model.onnx").string();
  std::vector<fs::path> sets = sortedEntries(dir, "test_data_set_");
  if (sets.empty())
    return {Outcome::Unsupported, "no test data"};
  for (const fs::path &set : sets) {
    OnnxImportOptions options;
    std::vector<std::pair<std::string, ir::HostTensor>> inputs;
    // ONNX's runner feeds input_K to the K-th graph input without an
    // initializer; the tensors of the pytorch-* suites have no names.
    auto inputNames = onnxInputNames(model);
    if (!inputNames)
      return {Outcome::Fail, firstLine(inputNames.error().message)};
    for (const fs::path &p : sortedEntries(set, "input_")) {
      std::string name;
      auto t = loadOnnxTensor(p.string(), &name);
      if (t && inputs.size() < inputNames->size())
        name = (*inputNames)[inputs.size()];
      if (!t) {
        // Sequence and optional inputs are not TensorProtos: let the model say why.
        auto g = importOnnx(model);
        std::string msg = firstLine(g ? t.error().message : g.error().message);
        return {msg.find("unsupported") != std::string::npos ? Outcome::Unsupported : Outcome::Fail, msg};
      }
      inputs.emplace_back(name, *t);
      options.knownInputs.emplace(name, t.take());
    }
    auto g = importOnnx(model, options);
    if (!g) {
      std::string msg = firstLine(g.error().message);
      return {msg.find("unsupported") != std::string::npos ? Outcome::Unsupported : Outcome::Fail, msg};
    }
    ref::TensorMap feeds;
    for (const auto &[name, t] : inputs) {
      ir::ValueId v = g->lookup(name);
      if (v != ir::kNoValue && g->value(v).kind == ir::ValueKind::Input)
        feeds.emplace(name, t);
    }
    auto run = ref::evaluate(*g, feeds);
    if (!run)
      return {Outcome::Fail, firstLine(run.error().message)};
    if (gLlvm) {
      run = runLlvm(*g, feeds);
      if (!run)
        return {Outcome::Fail, "on the LLVM backend: " + firstLine(run.error().message)};
    }
    if (gCudaEmulation) {
      run = runCudaEmulation(*g, feeds);
      if (!run)
        return {Outcome::Fail, "CUDA emulation: " + firstLine(run.error().message)};
    }
    if (gCuda) {
      run = runCuda(*g, feeds);
      if (!run)
        return {Outcome::Fail, "on the GPU: " + firstLine(run.error().message)};
    }
    if (gAot) {
      bool notNative = false;
      run = runAot(*g, feeds, notNative);
      if (!run)
        return {notNative ? Outcome::NotNative : Outcome::Fail, "ahead of time: " + firstLine(run.error().message)};
    }
    std::vector<fs::path> outputs = sortedEntries(set, "output_");
    if (outputs.size() != run->outputs.size())
      return {Outcome::Fail, fmt::format("{} outputs where {} were expected", run->outputs.size(), outputs.size())};
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto want = loadOnnxTensor(outputs[i].string());
      if (!want)
        return {Outcome::Unsupported, "expected output: " + firstLine(want.error().message)};
      if (std::string diff = compare(run->outputs[i], *want); !diff.empty())
        return {Outcome::Fail, fmt::format("{}, output {}: {}", set.filename().string(), i, diff)};
    }
  }
  return {Outcome::Pass, ""};
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: kiln-onnx-conformance DATA_DIR [KNOWN_FAILURES] [--filter TEXT] [--quiet] "
                       "[--backend reference|llvm|aot|cuda|cuda-emulation]\n");
    return 1;
  }
  fs::path root = argv[1];
  std::map<std::string, std::string> known;
  std::string filter;
  bool quiet = false, requireAll = false;
  int every = 1, shard = 0, shards = 1;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--require-all") { // an unsupported or not-native test fails the run
      requireAll = true;
    } else if (arg == "--backend" && i + 1 < argc) {
      std::string b = argv[++i];
      if (b != "reference" && b != "llvm" && b != "aot" && b != "cuda" && b != "cuda-emulation") {
        fmt::print(stderr, "kiln-onnx-conformance: unknown backend '{}' (reference, llvm, aot, cuda or cuda-emulation)\n", b);
        return 1;
      }
      gLlvm = b == "llvm";
      gAot = b == "aot";
      gCuda = b == "cuda";
      gCudaEmulation = b == "cuda-emulation";
      if (gCuda)
        if (auto s = codegen::cuda::requireGpu(); !s) {
          fmt::print(stderr, "kiln-onnx-conformance: --backend cuda: {}\n", s.error().message);
          return 77; // skipped: no GPU here
        }
    } else if (arg == "--kiln" && i + 1 < argc) {
      gKiln = argv[++i];
    } else if (arg == "--shard" && i + 1 < argc) { // I/N
      std::string v = argv[++i];
      size_t slash = v.find('/');
      shard = std::atoi(v.substr(0, slash).c_str());
      shards = slash == std::string::npos ? 1 : std::max(1, std::atoi(v.substr(slash + 1).c_str()));
      if (shard < 0 || shard >= shards) {
        fmt::print(stderr, "kiln-onnx-conformance: --shard {}: wanted I/N with 0 <= I < N\n", v);
        return 1;
      }
    } else if (arg == "--emulate-every" && i + 1 < argc) {
      gEmulateEvery = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--every" && i + 1 < argc) {
      every = std::max(1, std::atoi(argv[++i]));
    } else {
      std::ifstream in(arg);
      for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#')
          continue;
        size_t sp = line.find(' ');
        known[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
      }
    }
  }
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    fmt::print(stderr, "kiln-onnx-conformance: {}: no such directory (apt-get install libonnx-testdata)\n", root.string());
    return 1;
  }
  std::vector<fs::path> tests;
  for (const auto &e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().find(filter) != std::string::npos)
      tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());
  if (gAot && gKiln.empty()) {
    fmt::print(stderr, "kiln-onnx-conformance: --backend aot needs --kiln PATH\n");
    return 1;
  }
  if (every > 1) {
    std::vector<fs::path> sample;
    for (size_t i = 0; i < tests.size(); i += static_cast<size_t>(every))
      sample.push_back(tests[i]);
    tests = std::move(sample);
  }
  if (shards > 1) { // every shards-th test from `shard` on, so ctest runs the shards side by side
    std::vector<fs::path> part;
    for (size_t i = static_cast<size_t>(shard); i < tests.size(); i += static_cast<size_t>(shards))
      part.push_back(tests[i]);
    tests = std::move(part);
  }
  int passed = 0, failed = 0, unsupported = 0, knownFailed = 0, notNative = 0;
  std::vector<std::string> unexpected;
  std::map<std::string, int> unsupportedReasons;
  for (const fs::path &dir : tests) {
    std::string name = dir.filename().string();
    Result r = runTest(dir);
    bool isKnown = known.count(name) != 0;
    const char *tag = "PASS";
    if (r.outcome == Outcome::Pass) {
      ++passed;
      if (isKnown) {
        tag = "XPASS";
        unexpected.push_back(name + " passes: remove it from the known failures");
      }
    } else if (r.outcome == Outcome::NotNative) {
      ++notNative;
      tag = "NOT-NATIVE";
      if (requireAll)
        unexpected.push_back(name + " is not native, where --require-all wants every test: " + r.detail);
    } else if (r.outcome == Outcome::Unsupported) {
      ++unsupported;
      tag = "UNSUPPORTED";
      ++unsupportedReasons[r.detail.substr(r.detail.find(": error: ") == std::string::npos ? 0 : r.detail.find(": error: ") + 9)];
      if (requireAll)
        unexpected.push_back(name + " is unsupported, where --require-all wants every test: " + r.detail);
    } else {
      ++failed;
      tag = isKnown ? "KNOWN-FAIL" : "FAIL";
      if (isKnown)
        ++knownFailed;
      else
        unexpected.push_back(name + ": " + r.detail);
    }
    if (!quiet || (r.outcome == Outcome::Fail && !isKnown))
      fmt::print("{:<12} {:<60} {}\n", tag, name, r.detail.substr(0, 160));
  }
  if (!unexpected.empty()) {
    fmt::print("\nunexpected results:\n");
    for (const auto &u : unexpected)
      fmt::print("  {}\n", u);
  }
  if (knownFailed)
    fmt::print("\n{} of the failures are listed as known failures\n", knownFailed);
  fmt::print("\n{} passed, {} failed, {} unsupported{}\n", passed, failed, unsupported,
             gAot ? fmt::format(", {} not native (a node without a native kernel yet)", notNative) : "");
  return unexpected.empty() ? 0 : 1;
}
