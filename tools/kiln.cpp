//===- tools/kiln.cpp - The kiln command line -----------------------------===//
//
//   kiln run MODEL --input NAME=FILE.npy ... --output-dir DIR [--backend llvm|reference] [--benchmark N] [--profile]
//   kiln dump MODEL [--stage graph|optimized|kernels|llvm|asm|cuda|ptx] [--format text|dot]
//   kiln ops
//   kiln compile MODEL -o NAME.o [--header NAME.h] [--train ...]   (tools/Compile.h)
//   kiln train [MODEL] [--model mlp|lenet|vgg] [--epochs E] [--batch-size B] [--export model.onnx] ...
//   kiln export MODEL|CHECKPOINT -o model.onnx                    (tools/Export.h)
//
// Every error is one message on stderr and exit status 1.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "frontend/onnx/Onnx.h"
#include "frontend/onnx/Export.h"
#include "PipelineFlags.h"
#include "tools/Compile.h"
#include "tools/Export.h"
#include "ir/Dot.h"
#include "ir/File.h"
#include "ir/Printer.h"
#include "kiln/train.h"
#include "codegen/cuda/CudaDriver.h"
#include "codegen/cuda/CudaSource.h"
#include "driver/Driver.h"
#include "runtime/Executable.h"
#include "runtime/Parallel.h"
#include "runtime/Npy.h"
#include "runtime/Trainer.h"
#include "runtime/Checkpoint.h"
#include "reference/Reference.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <map>
#include <fstream>
#include <iostream>

namespace {

int fail(const kiln::Error &e) {
  std::cerr << "kiln: " << e.message << "\n";
  return 1;
}

/// A file name for an output value: characters other than letters, digits,
/// '_', '.' and '-' become '_'.
std::string fileNameFor(const std::string &name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
  return out.empty() || out[0] == '.' ? "_" + out : out;
}

struct RunArgs {
  std::string model, outDir, backend = "llvm", loadWeights, device = "cpu";
  std::vector<std::string> inputs;
  int benchmark = 0;
  bool profile = false, nativeOnly = false;
};

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The driver's options for compiling `g` at `sizes` on the host with the
/// pipeline flags (-O2 unless they say otherwise) and the disk cache.
kiln::Expected<kiln::driver::Options> driverOptions(const kiln::tools::PipelineFlags &flags,
                                                    std::map<std::string, kiln::ir::Sizes> sizes) {
  auto pipeline = flags.pipeline(2);
  if (!pipeline)
    return pipeline.error();
  kiln::driver::Options o;
  o.passes = *pipeline;
  o.passOptions = flags.options();
  o.inputs = std::move(sizes);
  o.machine = kiln::driver::Options::machineFor(o.passOptions.target.device);
  if (!o.machine.gpu())
    o.machine.threads = kiln::parallelThreads();
  o.jit.cacheDir = kiln::defaultCacheDir();
  o.jit.threads = kiln::parallelThreads();
  return o;
}

/// The outputs of `g` on `feeds`: on the reference interpreter, or compiled
/// by the driver and run natively (timed N more times with --benchmark).
kiln::Expected<kiln::ref::RunResult> evaluateModel(const RunArgs &a, const kiln::ir::Graph &g,
                                                   const kiln::ref::TensorMap &feeds,
                                                   const kiln::tools::PipelineFlags &flags) {
  if (a.backend == "reference") {
    if (a.benchmark > 0 || a.profile)
      return kiln::makeError("error: --benchmark and --profile time compiled kernels; the reference backend has none");
    return kiln::ref::evaluate(g, feeds);
  }
  bool cuda = a.device == "cuda" || flags.target == "cuda";
  if (cuda)
    KILN_TRY(kiln::codegen::cuda::requireGpu());
  if (cuda && a.profile)
    setenv("KILN_CUDA_PROFILE", "1", 1); // each kernel waited for and timed (runtime/Device.h)
  std::map<std::string, kiln::ir::Sizes> sizes;
  for (const auto &[name, t] : feeds)
    sizes[name] = t.sizes();
  for (kiln::ir::ValueId v : g.inputs())
    if (!feeds.count(g.nameOf(v)))
      return kiln::makeError("error: input '{}' ({}) is not given: add --input {}=FILE.npy", g.nameOf(v),
                             kiln::ir::toString(g.type(v)), g.nameOf(v));
  kiln::tools::PipelineFlags f = flags;
  if (cuda)
    f.target = "cuda";
  KILN_ASSIGN(kiln::driver::Options o, driverOptions(f, sizes));
  o.nativeOnly = a.nativeOnly;
  o.planInPlace = !cuda; // the CUDA kernels' buffers are __restrict__
  auto t0 = Clock::now();
  auto compiled = kiln::driver::compile(g, o);
  if (!compiled)
    return compiled.error();
  std::cerr << compiled->printed;
  if (flags.timePasses)
    std::cerr << kiln::passes::formatStats(compiled->stats);
  KILN_ASSIGN(std::unique_ptr<kiln::Executable> exe, kiln::Executable::create(compiled.take()));
  double compileSeconds = secondsSince(t0);
  KILN_ASSIGN(kiln::ref::RunResult result, exe->run(feeds));
  if (a.benchmark > 0) {
    std::vector<double> ms;
    for (int i = 0; i < a.benchmark; ++i) {
      auto r0 = Clock::now();
      KILN_TRY(exe->run(feeds));
      ms.push_back(1000 * secondsSince(r0));
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                      : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
    const kiln::HostTensor &first = feeds.at(g.nameOf(g.inputs().at(0)));
    int64_t batch = first.sizes().empty() ? 1 : first.sizes()[0];
    fmt::print("compile {:.3f} s, latency median {:.3f} ms, min {:.3f} ms over {} runs, {:.1f} images/s\n",
               compileSeconds, median, sorted.front(), a.benchmark, median > 0 ? 1000.0 * batch / median : 0.0);
  }
  if (a.profile)
    fmt::print("profile ({} runs, {} kernels, {} steps on the reference interpreter):\n{}", a.benchmark + 1,
               exe->nativeNodes(), exe->referenceNodes(), exe->profile());
  return result;
}

int runCommand(const RunArgs &a, const kiln::tools::PipelineFlags &flags) {
  const std::string &model = a.model, &outDir = a.outDir;
  // The inputs first: an ONNX model whose shape operands are graph inputs
  // is specialized on their values (the compile cache reuses the kernels
  // of a run with the same values).
  std::map<std::string, kiln::ir::HostTensor> given;
  for (const std::string &spec : a.inputs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return fail(kiln::makeError("error: --input '{}' must be NAME=FILE.npy", spec));
    std::string name = spec.substr(0, eq), file = spec.substr(eq + 1);
    if (given.count(name))
      return fail(kiln::makeError("error: input '{}' is given twice", name));
    bool pb = std::filesystem::path(file).extension() == ".pb"; // ONNX's test data: a TensorProto
    auto t = pb ? kiln::loadOnnxTensor(file) : kiln::npy::load(file);
    if (!t)
      return fail(kiln::makeError("error: input '{}': {}", name, t.error().message));
    given.emplace(name, t.take());
  }
  auto g = kiln::loadModel(model, a.loadWeights, &given);
  if (!g)
    return fail(g.error());
  kiln::ref::TensorMap feeds;
  for (auto &[name, t] : given) {
    kiln::ir::ValueId v = g->lookup(name);
    if (v != kiln::ir::kNoValue && g->value(v).kind == kiln::ir::ValueKind::Const)
      continue; // a shape operand the model was specialized on
    if (v == kiln::ir::kNoValue || g->value(v).kind != kiln::ir::ValueKind::Input)
      return fail(kiln::makeError("error: --input {}: {} has no input named '{}'", name, model, name));
    feeds.emplace(name, std::move(t));
  }
  // One file per output, named injectively: outputs whose names map to one
  // file name (`a/b` and `a:b` both to a_b.npy) are an error before the run.
  std::map<std::string, std::string> fileOwner;
  std::vector<std::string> paths;
  for (kiln::ir::ValueId v : g->outputs()) {
    const std::string &name = g->nameOf(v);
    std::string file = fileNameFor(name) + ".npy";
    auto [at, fresh] = fileOwner.emplace(file, name);
    if (!fresh && at->second != name)
      return fail(kiln::makeError("{}: error: outputs '{}' and '{}' would both be written to {}; rename one of them",
                                  model, at->second, name, file));
    paths.push_back((std::filesystem::path(outDir) / file).string());
  }
  std::error_code ec;
  std::filesystem::create_directories(outDir, ec);
  if (ec)
    return fail(kiln::makeError("error: cannot create the output directory {}: {}", outDir, ec.message()));
  auto result = evaluateModel(a, *g, feeds, flags);
  if (!result)
    return fail(kiln::makeError("{}: {}", model,
                                result.error().message.rfind("error: ", 0) == 0 ? result.error().message
                                                                                : "error: " + result.error().message));
  for (size_t i = 0; i < g->outputs().size(); ++i) {
    const std::string &path = paths[i];
    if (auto s = kiln::npy::save(path, result->outputs[i]); !s)
      return fail(s.error());
    std::cout << "wrote " << path << " " << kiln::ir::toString(result->outputs[i].type()) << "\n";
  }
  return 0;
}

/// The kernels of a model compiled by the driver for inputs whose symbolic
/// dims take the sizes in `dims` (NAME=SIZE; 1 when not given), its LLVM
/// module or its assembly; --print-after and --time-passes cover lowering
/// and codegen too.
int dumpKernels(const std::string &model, const kiln::ir::Graph &g, const std::string &stage,
                const kiln::tools::PipelineFlags &flags, const std::vector<std::string> &dims) {
  auto parsed = kiln::tools::parseDims(dims);
  if (!parsed)
    return fail(kiln::makeError("error: {}", parsed.error().message));
  auto sizes = kiln::tools::inputSizes(g, *parsed);
  if (!sizes)
    return fail(kiln::makeError("{}: error: {}", model, sizes.error().message));
  auto options = driverOptions(flags, *sizes);
  if (!options)
    return fail(kiln::makeError("{}: error: {}", model, options.error().message));
  kiln::driver::Options o = options.take();
  bool cuda = o.passOptions.target.device == kiln::passes::Device::Cuda;
  if (cuda && (stage == "llvm" || stage == "asm"))
    return fail(kiln::makeError("error: --stage {} is the CPU's code; for --target cuda dump --stage cuda (the CUDA "
                                "C++) or --stage ptx (NVRTC's PTX)",
                                stage));
  o.jit.keepIR = stage == "llvm" || stage == "asm";
  // The CUDA stages need no GPU: the source is printed after lowering, and
  // NVRTC compiles it to PTX here.
  if (cuda)
    o.stopAfter = kiln::driver::Stage::Lower;
  auto c = kiln::driver::compile(g, o);
  if (!c)
    return fail(kiln::makeError("{}: error: {}", model, c.error().message));
  std::cerr << c->printed;
  if (flags.timePasses)
    std::cerr << kiln::passes::formatStats(c->stats);
  if (stage == "cuda" || stage == "ptx") {
    auto source = kiln::codegen::cuda::printSource(c->kernels);
    if (!source)
      return fail(kiln::makeError("{}: error: {}", model, source.error().message));
    if (stage == "cuda") {
      std::cout << *source;
      return 0;
    }
    auto ptx = kiln::codegen::cuda::compileSource(*source, model, o.machine.gpuArch, true);
    if (!ptx)
      return fail(kiln::makeError("{}: error: {}", model, ptx.error().message));
    std::cout << ptx->image;
    return 0;
  }
  if (stage == "llvm")
    std::cout << (c->jit ? c->jit->llvmIR() : std::string());
  else if (stage == "asm")
    std::cout << (c->jit ? c->jit->assembly() : std::string());
  else
    std::cout << kiln::driver::describe(*c);
  return 0;
}

struct DumpArgs {
  bool printWeights = false;
  std::string saveWeights, loadWeights;
};

/// Every parameter and constant of `g` printed elided (more than 16
/// elements, not made by an initializer), as safetensors.
kiln::Status saveElided(const kiln::ir::Graph &g, const std::string &path) {
  kiln::checkpoint::Tensors tensors;
  for (const kiln::ir::Param &p : g.params())
    if (!p.init && p.data.numElements() > 16)
      tensors.emplace(g.nameOf(p.value), p.data);
  for (const kiln::ir::Const &c : g.consts())
    if (c.data.numElements() > 16)
      tensors.emplace(g.nameOf(c.value), c.data);
  return kiln::checkpoint::save(path, tensors, {{"format", "kiln dump weights"}});
}

int dumpCommand(const std::string &model, const std::string &format, const std::string &stage,
                const kiln::tools::PipelineFlags &flags, const std::vector<std::string> &dims, const DumpArgs &da) {
  auto g = kiln::loadModel(model, da.loadWeights);
  if (!g)
    return fail(g.error());
  kiln::ir::Graph shown = g.take();
  kiln::tools::PipelineFlags f = flags;
  if (stage == "cuda" || stage == "ptx")
    f.target = "cuda";
  if (stage == "kernels" || stage == "llvm" || stage == "asm" || stage == "cuda" || stage == "ptx")
    return dumpKernels(model, shown, stage, f, dims);
  if (stage != "graph") {
    auto opt = flags.run(shown, 2);
    if (!opt)
      return fail(kiln::makeError("{}: error: {}", model, opt.error().message));
    shown = opt.take();
  }
  if (!da.saveWeights.empty())
    if (auto st = saveElided(shown, da.saveWeights); !st)
      return fail(kiln::makeError("error: --save-weights: {}", st.error().message));
  kiln::ir::PrintOptions po;
  po.elideLarger = da.printWeights ? -1 : 16;
  std::cout << (format == "dot" ? kiln::ir::toDot(shown) : kiln::ir::print(shown, po));
  return 0;
}

struct TrainArgs {
  std::string modelFile, zooName = "vgg", dataset = "fashion-mnist", dataDir = kiln::data::kFashionMnistDir;
  std::string optimizer = "momentum", checkpoint, resume, outputDir = "out", backend, dumpKernels, exportPath,
              schedule = "constant", device; // backend, device: empty means the config's device
  int epochs = 1;
  int64_t batchSize = 64, limit = 0, testLimit = 0, synthetic = 0, steps = 0;
  double lr = 0.01, momentum = 0.9, weightDecay = 0;
  uint64_t seed = 1;
  bool profile = false;
};

int trainCommand(const TrainArgs &a) {
  if (a.dataset != "fashion-mnist")
    return fail(kiln::makeError("error: unknown dataset '{}' (kiln trains on fashion-mnist)", a.dataset));
  auto method = kiln::optim::parseMethod(a.optimizer);
  if (!method)
    return fail(kiln::makeError("error: {}", method.error().message));
  // Hyperparameters a NaN or a sign slip would turn into a silent NaN loss.
  auto finite = [](double v) { return std::isfinite(v); };
  if (!finite(a.lr) || a.lr < 0)
    return fail(kiln::makeError("error: --lr {} is not a learning rate (a finite number >= 0)", a.lr));
  if (!finite(a.momentum) || a.momentum < 0 || a.momentum >= 1)
    return fail(kiln::makeError("error: --momentum {} must be finite, >= 0 and < 1", a.momentum));
  if (!finite(a.weightDecay) || a.weightDecay < 0)
    return fail(kiln::makeError("error: --weight-decay {} must be finite and >= 0", a.weightDecay));
  // Where the run writes, checked before it trains for an epoch.
  {
    std::error_code ec;
    std::filesystem::create_directories(a.outputDir, ec);
    if (ec)
      return fail(kiln::makeError("error: --output-dir {}: cannot create it ({})", a.outputDir, ec.message()));
    for (const std::string &dir :
         {a.outputDir, a.checkpoint.empty() ? std::string()
                                            : std::filesystem::path(a.checkpoint).parent_path().string()})
      if (!a.checkpoint.empty() || dir == a.outputDir)
        if (::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0)
          return fail(kiln::makeError("error: {}: cannot write there ({})", dir.empty() ? "." : dir,
                                      std::strerror(errno)));
  }
  if (!a.exportPath.empty()) { // checked before an epoch is spent
    std::string dir = std::filesystem::path(a.exportPath).parent_path().string();
    if (::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0)
      return fail(kiln::makeError("error: --export {}: cannot write in {} ({})", a.exportPath, dir.empty() ? "." : dir,
                                  std::strerror(errno)));
  }
  kiln::optim::Options o;
  o.method = *method;
  o.lr = a.lr;
  o.momentum = a.momentum;
  o.weightDecay = a.weightDecay;
  if (!a.dumpKernels.empty() && a.backend == "reference")
    return fail(kiln::makeError("error: --dump-kernels: the reference backend compiles no kernels"));
  const kiln::Config &config = *kiln::config(); // checked in main
  std::string backend = a.backend;
  if (backend.empty())
    backend = a.device.empty() ? (config.device == kiln::passes::Device::Cuda ? "cuda" : "llvm")
                               : (a.device == "cuda" ? "cuda" : "llvm");
  if (a.device == "cuda") {
    if (a.backend == "reference")
      return fail(kiln::makeError("error: --device cuda runs compiled kernels; the reference backend has none"));
    backend = "cuda";
  }
  bool profile = a.profile || config.profile;
  if (backend == "cuda")
    if (auto s = kiln::codegen::cuda::requireGpu(); !s)
      return fail(kiln::makeError("error: {}: {}", a.device.empty() && a.backend.empty() ? "device=cuda (the config)"
                                                                                          : "--device cuda",
                                  s.error().message));
  if (backend == "cuda" && profile)
    setenv("KILN_CUDA_PROFILE", "1", 1); // each kernel waited for and timed (runtime/Device.h)
  if (a.synthetic > 0 && !a.modelFile.empty())
    return fail(kiln::makeError("error: --synthetic makes images of a zoo model's size; give --model, not a file"));
  std::vector<int64_t> imageDims = kiln::nn::zoo::inputDims(a.zooName);
  auto train = a.synthetic > 0 ? kiln::data::synthetic(a.synthetic, imageDims, 10, a.seed)
                               : kiln::data::loadFashionMnist(a.dataDir, true, a.limit);
  if (!train)
    return fail(kiln::makeError("error: {}", train.error().message));
  if (a.schedule == "cosine") { // from lr to 0 over every step of the run
    o.schedule.kind = kiln::optim::Schedule::Cosine;
    o.schedule.totalSteps = a.epochs * ((static_cast<int64_t>(train->size()) + a.batchSize - 1) / a.batchSize);
  }
  auto test = a.synthetic > 0 ? kiln::data::synthetic(std::min<int64_t>(a.synthetic, a.batchSize), imageDims, 10,
                                                       a.seed + 1)
                               : kiln::data::loadFashionMnist(a.dataDir, false, a.testLimit);
  if (!test)
    return fail(kiln::makeError("error: {}", test.error().message));
  kiln::Expected<kiln::ClassifierFunctions> fns = kiln::makeError("no model");
  std::string what;
  if (!a.modelFile.empty()) {
    auto g = kiln::loadModel(a.modelFile);
    if (!g)
      return fail(g.error());
    fns = kiln::buildClassifier(*g, o);
    what = a.modelFile;
  } else {
    auto net = kiln::nn::zoo::byName(a.zooName);
    if (!net)
      return fail(kiln::makeError("error: {}", net.error().message));
    fns = kiln::buildClassifier(*net, imageDims, o, a.seed);
    what = "the " + a.zooName + " model";
  }
  if (!fns)
    return fail(kiln::makeError("error: {}", fns.error().message));
  fns->train.setBackend(*kiln::parseBackend(backend));
  fns->eval.setBackend(*kiln::parseBackend(backend));
  kiln::TrainConfig cfg;
  cfg.epochs = a.epochs;
  cfg.batchSize = a.batchSize;
  cfg.seed = a.seed;
  cfg.checkpoint = a.checkpoint;
  cfg.resume = a.resume;
  cfg.curve = (std::filesystem::path(a.outputDir) / "curve").string();
  cfg.maxSteps = a.steps;
  // What `kiln export CHECKPOINT` rebuilds the model from.
  if (a.modelFile.empty())
    cfg.checkpointMeta = {{"model", a.zooName}};
  else
    cfg.checkpointMeta = {{"model_file", std::filesystem::absolute(a.modelFile).string()}};
  if (!fns->warning.empty())
    fmt::print(stderr, "kiln train: {}\n", fns->warning);
  fmt::print("training {} on {} {} images ({} test), batch {}, {} lr {}{}, {}, on the {} backend\n", what,
             train->size(), a.synthetic > 0 ? "random" : "Fashion-MNIST", test->size(), a.batchSize, a.optimizer, a.lr,
             a.schedule == "cosine" ? " (cosine)" : "", kiln::floatXName(fns->train.inputType(0).dtype), backend);
  kiln::Trainer trainer(fns->train, fns->eval, cfg);
  auto stats = trainer.fit(*train, *test);
  if (!stats)
    return fail(kiln::makeError("error: {}", stats.error().message));
  fmt::print("wrote {}.csv and {}.svg\n", cfg.curve, cfg.curve);
  if (!a.exportPath.empty()) {
    std::map<std::string, kiln::HostTensor> params;
    for (const auto &[name, value] : fns->train.params())
      params.emplace(name, *value);
    auto inference = kiln::tools::trainedInference(a.modelFile.empty() ? a.zooName : "", a.modelFile, a.seed, params);
    if (!inference)
      return fail(kiln::makeError("error: --export: {}", inference.error().message));
    kiln::OnnxExportOptions eo;
    eo.docString = fmt::format("{} trained by kiln train for {} epochs", what, a.epochs);
    if (auto s = kiln::exportOnnx(*inference, a.exportPath, eo); !s)
      return fail(kiln::makeError("error: --export: {}", s.error().message));
    fmt::print("wrote the trained model to {} (ONNX opset 17)\n", a.exportPath);
  }
  const kiln::Executable *step = fns->train.lastExecutable();
  if (profile) {
    if (step)
      fmt::print("profile of the training step (last batch size):\n{}", step->profile());
    else
      fmt::print("no profile: the reference backend runs no executable\n");
  }
  if (!a.dumpKernels.empty() && step) {
    if (auto written = kiln::writeFileAtomic(a.dumpKernels, step->kernelsText()); !written)
      return fail(kiln::makeError("error: {}", written.error().message));
    fmt::print("wrote the training step's kernels to {}\n", a.dumpKernels);
  }
  return 0;
}

int configCommand() {
  fmt::print("# kiln's configuration: {} (the file), then KILN_FLAGS, then options in code\n", kiln::configFiles());
  for (const kiln::ConfigEntry &e : kiln::config()->entries)
    fmt::print("{:<24} = {:<16} # {}\n", e.key, e.value.empty() ? "(unset)" : e.value, e.source);
  return 0;
}

int opsCommand() {
  for (const kiln::ir::OpInfo &op : kiln::ir::allOps()) {
    std::string attrs;
    for (const auto &a : op.attrs)
      attrs += fmt::format("{}{}: {}{}", attrs.empty() ? "" : ", ", a.name, kiln::ir::attrKindName(a.kind),
                           a.required ? "" : std::holds_alternative<std::monostate>(a.def) ? " (optional)"
                                                     : " = " + kiln::ir::printAttr(a.def));
    fmt::print("{:<22} {:<14} ({}){}{}\n    {}\n", op.name, kiln::ir::categoryName(op.category), op.operands,
               attrs.empty() ? "" : " {", attrs.empty() ? "" : attrs + "}", op.doc);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"kiln: a dataflow-graph compiler with JIT kernels"};
  app.require_subcommand(1);

  std::string model, format = "text";
  RunArgs ra;
  kiln::tools::PipelineFlags runFlags;
  auto *run = app.add_subcommand("run", "Compile a model and run it on .npy inputs, writing one DIR/NAME.npy per output");
  run->add_option("model", ra.model, "Model file (.kir or .onnx)")->required();
  run->add_option("--input,-i", ra.inputs, "An input as NAME=FILE.npy (repeat for each input)");
  run->add_option("--output-dir,-o", ra.outDir, "Directory for the outputs")->required();
  run->add_option("--backend", ra.backend, "llvm (native kernels, the default) or reference (the interpreter)")
      ->check(CLI::IsMember({"llvm", "reference"}));
  run->add_option("--device", ra.device, "cpu (the default) or cuda (the GPU; an error naming what is missing "
                                         "where there is none)")
      ->check(CLI::IsMember({"cpu", "cuda", "gpu"}))
      ->transform(CLI::Transformer({{"gpu", "cuda"}}));
  run->add_option("--benchmark", ra.benchmark, "After one warm-up run, time N more runs and print the latency")
      ->check(CLI::PositiveNumber);
  run->add_flag("--profile", ra.profile, "Print each kernel's time (summed over the runs)");
  run->add_option("--load-weights", ra.loadWeights, "The data of a .kir model's elided tensors (.safetensors)");
  run->add_flag("--native-only", ra.nativeOnly,
                "Fail, naming them, if any node would run on the reference interpreter inside the compiled model");
  runFlags.addTo(*run);

  std::string stage = "graph";
  kiln::tools::PipelineFlags flags;
  auto *dump = app.add_subcommand("dump", "Print a model, as imported or optimized, as .kir text or Graphviz dot");
  dump->add_option("model", model, "Model file (.kir or .onnx)")->required();
  dump->add_option("--format", format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
  std::vector<std::string> dims;
  dump->add_option("--stage", stage,
                   "graph (as loaded), optimized (after the passes, -O2 by default), kernels (the kernel IR and "
                   "launch list), llvm (the optimized LLVM modules), asm (their machine code), cuda (the kernels "
                   "as CUDA C++, for the GPU; implies --target cuda) or ptx (NVRTC's PTX of them)")
      ->check(CLI::IsMember({"graph", "optimized", "kernels", "llvm", "asm", "cuda", "ptx"}));
  dump->add_option("--dims", dims, "Sizes of symbolic dims for --stage kernels|llvm|asm|cuda|ptx, as N=64 (default 1)")
      ->delimiter(',');
  DumpArgs da;
  dump->add_flag("--print-weights", da.printWeights,
                 "Print every element of large parameters and constants (elided by default: shape, dtype, checksum)");
  dump->add_option("--save-weights", da.saveWeights,
                   "Write the elided tensors' data to this .safetensors file (read back with --load-weights)");
  dump->add_option("--load-weights", da.loadWeights, "The data of a .kir model's elided tensors (.safetensors)");
  flags.addTo(*dump);

  auto *ops = app.add_subcommand("ops", "List every op of kiln's op table");

  kiln::tools::CompileArgs ca;
  kiln::tools::PipelineFlags compileFlags;
  auto *compile = app.add_subcommand(
      "compile", "Compile a model ahead of time to an object file and a C header (inference, and training with --train)");
  ca.addTo(*compile);
  compileFlags.addTo(*compile);

  TrainArgs ta;
  auto *train = app.add_subcommand("train", "Train a classifier on Fashion-MNIST");
  train->add_option("model", ta.modelFile, "A .kir or .onnx model (first input images, first output logits)");
  train->add_option("--model", ta.zooName, "A model of the zoo: mlp, lenet, vgg or vgg16 (default vgg)");
  train->add_option("--dataset", ta.dataset, "The dataset (fashion-mnist)");
  train->add_option("--data", ta.dataDir, "Directory of the Fashion-MNIST files");
  train->add_option("--epochs", ta.epochs, "Epochs")->check(CLI::PositiveNumber);
  train->add_option("--batch-size", ta.batchSize, "Mini-batch size")->check(CLI::PositiveNumber);
  train->add_option("--optimizer", ta.optimizer, "sgd, momentum, nesterov, adam, adamw or rmsprop");
  train->add_option("--lr", ta.lr, "Learning rate");
  train->add_option("--momentum", ta.momentum, "Momentum (momentum, nesterov)");
  train->add_option("--weight-decay", ta.weightDecay, "Weight decay");
  train->add_option("--schedule", ta.schedule, "Learning rate: constant, or cosine (annealed to 0 over the run)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  train->add_option("--seed", ta.seed, "Seed of the initializers, shuffling and dropout");
  train->add_option("--checkpoint", ta.checkpoint, "Write a safetensors checkpoint here after every epoch");
  train->add_option("--resume", ta.resume, "Resume from this checkpoint");
  train->add_option("--export", ta.exportPath,
                    "After training, write the trained model's inference graph here as ONNX (opset 17)");
  train->add_option("--limit", ta.limit, "Train on the first N images only")->check(CLI::PositiveNumber);
  train->add_option("--synthetic", ta.synthetic,
                    "Train on N random images of the zoo model's size instead of Fashion-MNIST (vgg16: 3x224x224)")
      ->check(CLI::PositiveNumber);
  train->add_option("--steps", ta.steps, "Stop after N training steps")->check(CLI::PositiveNumber);
  train->add_option("--test-limit", ta.testLimit, "Test on the first N test images only")->check(CLI::PositiveNumber);
  train->add_option("--output-dir", ta.outputDir, "Where the training curve (curve.csv, curve.svg) goes");
  train->add_flag("--profile", ta.profile, "Print where the training step's time went, kernel by kernel");
  train->add_option("--dump-kernels", ta.dumpKernels, "Write the training step's kernel IR (last batch size) to FILE");
  train->add_option("--backend", ta.backend, "llvm (native kernels, the default) or reference (the interpreter)")
      ->check(CLI::IsMember({"llvm", "reference"}));
  train->add_option("--device", ta.device, "cpu or cuda (the GPU; an error naming what is missing where there is "
                                           "none); default: the config's device (cpu)")
      ->check(CLI::IsMember({"cpu", "cuda", "gpu"}))
      ->transform(CLI::Transformer({{"gpu", "cuda"}}));

  kiln::tools::ExportArgs ea;
  auto *exportCmd = app.add_subcommand("export", "Write a model, or the model a checkpoint trained, as an ONNX file "
                                                 "(opset 17, symbolic batch, checked by ONNX's checker)");
  ea.addTo(*exportCmd);

  auto *configCmd = app.add_subcommand("config", "Print every configuration value in effect and where it came from "
                                                 "(~/.kilnrc or $KILNRC, KILN_FLAGS, or the default)");

  std::string maxMemory;
  app.add_option("--max-memory", maxMemory,
                 "Refuse a tensor, or a model's parameters or values together, past this size (8G, 512M; default "
                 "80% of physical memory; also the config's max_memory)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  if (const auto &config = kiln::config(); !config) {
    std::cerr << "kiln: " << config.error().message << "\n";
    return 1;
  }
  if (*configCmd)
    return configCommand();
  if (auto limited = kiln::tools::applyMemoryLimit(maxMemory); !limited) {
    std::cerr << "kiln: " << limited.error().message << "\n";
    return 1;
  }
  if (*run)
    return runCommand(ra, runFlags);
  if (*dump)
    return dumpCommand(model, format, stage, flags, dims, da);
  if (*ops)
    return opsCommand();
  if (*compile)
    return kiln::tools::compileCommand(ca, compileFlags);
  if (*train)
    return trainCommand(ta);
  if (*exportCmd)
    return kiln::tools::exportCommand(ea);
  return 1;
}
