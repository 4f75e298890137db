//===- tools/kiln-opt.cpp - Run passes on .kir files (for tests) ----------===//
//
//   kiln-opt FILE.kir [--passes=a,b | -O0|-O1|-O2] [--print-after=PASS|all]
//            [--print-before=...] [--verify-each] [--time-passes] [--dump-dir DIR]
//            [--plan-memory] [--lower [--vector-bytes 32] [--threads 1]]
//            [--dims N=64] [--format text|dot]
//   kiln-opt --kernels FILE|-
//
// Parses and verifies a .kir file, runs the passes asked for (none by
// default) and prints the result; the golden tests of passes run through it.
// --lower runs the compile driver through lowering instead (the passes
// asked for, the memory plan, lowering and the kernel-IR verifier, no
// codegen) and prints the launch list and the kernels, for a machine of the
// given vector width and thread count (fixed by default, so golden tests of
// schedules read the same on every host). --kernels reads kernel IR text
// instead (what --lower and `kiln dump --stage kernels` print), verifies
// every kernel and prints it again: the text round-trips. Errors go to
// stderr with exit status 1.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "PipelineFlags.h"
#include "driver/Driver.h"
#include "ir/kernel/Parser.h"
#include "ir/kernel/Verifier.h"
#include "passes/PlanMemory.h"
#include "ir/Dot.h"
#include "ir/Printer.h"

#include <fstream>
#include <iostream>
#include <iterator>

namespace {

int lowerCommand(const std::string &file, const kiln::ir::Graph &g, const kiln::tools::PipelineFlags &flags,
                 const std::vector<std::string> &dims, const kiln::lower::Machine &machine) {
  auto fail = [&](const kiln::Error &e) {
    std::cerr << "kiln-opt: " << file << ": error: " << e.message << "\n";
    return 1;
  };
  auto bound = kiln::tools::parseDims(dims);
  if (!bound)
    return fail(bound.error());
  auto sizes = kiln::tools::inputSizes(g, *bound);
  if (!sizes)
    return fail(sizes.error());
  auto pipeline = flags.pipeline(0);
  if (!pipeline)
    return fail(pipeline.error());
  kiln::driver::Options o;
  o.passes = *pipeline;
  o.passOptions = flags.options();
  o.inputs = *sizes;
  o.machine = machine;
  o.verifyKernels = true;
  o.stopAfter = kiln::driver::Stage::Lower;
  auto c = kiln::driver::compile(g, o);
  if (!c)
    return fail(c.error());
  std::cerr << c->printed;
  if (flags.timePasses)
    std::cerr << kiln::passes::formatStats(c->stats);
  std::cout << kiln::driver::describe(*c);
  return 0;
}

int kernelsCommand(const std::string &file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "kiln-opt: " << file << ": error: cannot read the file\n";
      return 1;
    }
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto ks = kiln::kernel::parse(text);
  if (!ks) {
    std::cerr << "kiln-opt: " << file << ": error: " << ks.error().message << "\n";
    return 1;
  }
  for (const kiln::kernel::Kernel &k : *ks) {
    if (auto s = kiln::kernel::verify(k); !s) {
      std::cerr << "kiln-opt: " << file << ": error: " << s.error().message << "\n";
      return 1;
    }
    std::cout << kiln::kernel::print(k);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"kiln-opt: parse, verify, transform and print a .kir file"};
  std::string file, format = "text";
  kiln::tools::PipelineFlags flags;
  app.add_option("file", file, "The .kir file (with --kernels: kernel IR text, - for stdin)")->required();
  app.add_option("--format", format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
  flags.addTo(app);
  bool plan = false;
  std::vector<std::string> dims;
  app.add_flag("--plan-memory", plan, "Print the static memory plan of the result (after the passes)");
  app.add_option("--dims", dims, "Sizes of symbolic dims for --plan-memory and --lower, as N=64")->delimiter(',');
  bool lower = false, kernels = false;
  app.add_flag("--kernels", kernels, "The file is kernel IR text: parse, verify and print it");
  int vectorBytes = 32, threads = 1;
  app.add_flag("--lower", lower, "Lower the graph (after the passes) and print its kernels");
  app.add_option("--vector-bytes", vectorBytes, "Vector register width the schedules assume (--lower)")
      ->check(CLI::IsMember({16, 32, 64}));
  app.add_option("--threads", threads, "Threads the schedules are shaped for (--lower)")->check(CLI::Range(1, 256));
  std::string maxMemory;
  app.add_option("--max-memory", maxMemory,
                 "Refuse a tensor, or a model's parameters or values together, past this size (8G, 512M; default "
                 "80% of physical memory; also KILN_FLAGS=max_memory=...)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  if (auto limited = kiln::tools::applyMemoryLimit(maxMemory); !limited) {
    std::cerr << "kiln-opt: " << limited.error().message << "\n";
    return 1;
  }
  if (kernels)
    return kernelsCommand(file);
  auto g = kiln::loadModel(file);
  if (!g) {
    std::cerr << "kiln-opt: " << g.error().message << "\n";
    return 1;
  }
  if (lower)
    return lowerCommand(file, *g, flags, dims, kiln::lower::Machine{vectorBytes, threads});
  auto out = flags.run(*g, 0);
  if (!out) {
    std::cerr << "kiln-opt: " << file << ": error: " << out.error().message << "\n";
    return 1;
  }
  std::cout << (format == "dot" ? kiln::ir::toDot(*out) : kiln::ir::print(*out));
  if (plan) {
    auto sizes = kiln::tools::parseDims(dims);
    if (!sizes) {
      std::cerr << "kiln-opt: error: " << sizes.error().message << "\n";
      return 1;
    }
    auto p = kiln::passes::planMemory(*out, *sizes);
    if (!p) {
      std::cerr << "kiln-opt: " << file << ": error: " << p.error().message << "\n";
      return 1;
    }
    std::cout << kiln::passes::formatPlan(*out, *p);
  }
  return 0;
}
