//===- bench/kernels.cpp - kiln's contraction kernels against their peers -===//
//
//   build/kiln-bench-kernels [--runs R] [--json FILE] [--quick] [--only sgemm|eltwise|conv]
//
// Measures, each row against its peers in the same run (median of R runs,
// GFLOP/s):
//   - the machine's peak FMA rate on 1 and 2 threads (a loop of independent
//     vector FMAs, the host's vector width);
//   - sgemm at 128 ... 2048 on 1 and 2 threads: kiln's matmul kernel (the
//     LLVM backend's BLIS schedule) against OpenBLAS (cblas_sgemm) and oneDNN
//     (dnnl_sgemm);
//   - conv forward, input gradient and weight gradient of every conv layer of
//     the VGG-style net at batch 64 on 2 threads: kiln's kernels (NHWC, as
//     the layout pass chooses) against oneDNN's primitives (layouts of their
//     choice, reorders not timed);
//   - exp, log, tanh and erf over 4M floats on 2 threads (elements/s).
// Prints a markdown table and writes the rows as JSON (nlohmann-json).
//
//===----------------------------------------------------------------------===//
#include "ir/Graph.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"
#include "runtime/Parallel.h"

#include <CLI/CLI.hpp>
#include <cblas.h>
#include <immintrin.h>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <span>

using namespace kiln;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Seconds of one call of `f`, median (or best) of `runs` after one warm-up
/// call.
double timeIt(int runs, const std::function<void()> &f, bool best = false) {
  f();
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best ? *std::min_element(t.begin(), t.end()) : median(t);
}

/// 12 independent chains of 8-wide FMAs (enough to cover the FMA latency of
/// two pipes), `iters` steps each.
__attribute__((target("avx2,fma"))) float fmaChains(int64_t iters) {
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  const float d = 0.01f; // distinct chains, which the compiler cannot merge
  __m256 a0 = _mm256_set1_ps(1 + d), a1 = _mm256_set1_ps(1 + 2 * d), a2 = _mm256_set1_ps(1 + 3 * d);
  __m256 a3 = _mm256_set1_ps(1 + 4 * d), a4 = _mm256_set1_ps(1 + 5 * d), a5 = _mm256_set1_ps(1 + 6 * d);
  __m256 a6 = _mm256_set1_ps(1 + 7 * d), a7 = _mm256_set1_ps(1 + 8 * d), a8 = _mm256_set1_ps(1 + 9 * d);
  __m256 a9 = _mm256_set1_ps(1 + 10 * d), a10 = _mm256_set1_ps(1 + 11 * d), a11 = _mm256_set1_ps(1 + 12 * d);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y), a2 = _mm256_fmadd_ps(a2, x, y);
    a3 = _mm256_fmadd_ps(a3, x, y), a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y), a8 = _mm256_fmadd_ps(a8, x, y);
    a9 = _mm256_fmadd_ps(a9, x, y), a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float sink[8];
  _mm256_storeu_ps(sink, s);
  return sink[0];
}

/// GFLOP/s of fmaChains on each of `threads` threads, the best of `runs`.
double peakFma(int threads, int runs) {
  const int64_t iters = 20'000'000;
  double secs = timeIt(runs, [&] {
    float sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    sum += fmaChains(iters);
    if (sum == 42.0f)
      fmt::print("");
  }, true); // the machine's best, not its typical load
  return 2.0 * 8 * 12 * static_cast<double>(iters) * threads / secs / 1e9;
}

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float &x : v)
    x = u(rng);
  return v;
}

ir::HostTensor tensorOf(const std::vector<float> &v, ir::Sizes sizes) {
  ir::HostTensor t(ir::DType::F32, std::move(sizes));
  std::memcpy(t.data(), v.data(), v.size() * sizeof(float));
  return t;
}

/// A one-node graph of `op` on f32 inputs of the given sizes, after -O2 for
/// the CPU (so a conv gets its NHWC layouts), compiled.
std::unique_ptr<Executable> compileOne(ir::OpKind op, const std::vector<ir::Sizes> &operands, const ir::AttrList &attrs,
                                       ref::TensorMap &feeds) {
  ir::Graph g("bench");
  std::vector<ir::ValueId> args;
  std::map<std::string, ir::Sizes> sizes;
  for (size_t i = 0; i < operands.size(); ++i) {
    std::string name = fmt::format("x{}", i);
    ir::Shape shape;
    for (int64_t d : operands[i])
      shape.push_back(ir::Dim::of(d));
    args.push_back(*g.addInput(name, ir::Type{ir::DType::F32, shape, {}}));
    feeds[name] = tensorOf(randomFloats(static_cast<size_t>(ir::product(operands[i])), 7 + static_cast<unsigned>(i)), operands[i]);
    sizes[name] = operands[i];
  }
  auto r = g.addNode(op, args, attrs);
  if (!r || !g.addOutput((*r)[0])) {
    fmt::print(stderr, "cannot build the {} graph\n", ir::opInfo(op).name);
    std::exit(1);
  }
  auto opt = passes::runPipeline(g, passes::pipelineFor(2));
  if (!opt) {
    fmt::print(stderr, "{}\n", opt.error().message);
    std::exit(1);
  }
  auto exe = Executable::compile(opt->graph, sizes);
  if (!exe) {
    fmt::print(stderr, "{}\n", exe.error().message);
    std::exit(1);
  }
  return exe.take();
}

/// Median seconds of the kernel of `op` alone in runs of `exe`.
double kernelSeconds(Executable &exe, const ref::TensorMap &feeds, ir::OpKind op, int runs) {
  std::vector<double> t;
  (void)exe.run(feeds, false);
  for (int r = 0; r < runs; ++r) {
    std::vector<double> before = exe.stepSeconds();
    (void)exe.run(feeds, false);
    double s = 0;
    for (size_t i = 0; i < before.size(); ++i)
      if (exe.stepIsKernel(i, op))
        s += exe.stepSeconds()[i] - before[i];
    t.push_back(s);
  }
  return median(t);
}

struct Row {
  std::string what;
  int threads;
  double kiln, openblas, onednn; ///< GFLOP/s (0: not measured)
};

double sgemmOpenBlas(int n, int runs) {
  auto a = randomFloats(size_t(n) * n, 1), b = randomFloats(size_t(n) * n, 2);
  std::vector<float> c(size_t(n) * n);
  return timeIt(runs, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
}

double sgemmOneDnn(int n, int runs) {
  auto a = randomFloats(size_t(n) * n, 1), b = randomFloats(size_t(n) * n, 2);
  std::vector<float> c(size_t(n) * n);
  return timeIt(runs, [&] { dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); });
}

/// One conv layer's three primitives on oneDNN, seconds each.
struct ConvShape {
  int64_t batch, in, out, size;
};

std::array<double, 3> convOneDnn(const ConvShape &s, int runs) {
  using namespace dnnl;
  using tag = memory::format_tag;
  using dt = memory::data_type;
  engine eng(engine::kind::cpu, 0);
  stream st(eng);
  memory::dims src = {s.batch, s.in, s.size, s.size}, wei = {s.out, s.in, 3, 3}, dst = {s.batch, s.out, s.size, s.size};
  memory::dims strides = {1, 1}, pad = {1, 1};
  auto any = [](const memory::dims &d) { return memory::desc(d, dt::f32, tag::any); };
  auto fwdDesc = convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, any(src),
                                           any(wei), any(dst), strides, pad, pad);
  auto fwd = convolution_forward::primitive_desc(fwdDesc, eng);
  auto bwdDataDesc = convolution_backward_data::desc(algorithm::convolution_direct, any(src), any(wei), any(dst),
                                                      strides, pad, pad);
  auto bwdData = convolution_backward_data::primitive_desc(bwdDataDesc, eng, fwd);
  auto bwdWeiDesc = convolution_backward_weights::desc(algorithm::convolution_direct, any(src), any(wei), any(dst),
                                                        strides, pad, pad);
  auto bwdWei = convolution_backward_weights::primitive_desc(bwdWeiDesc, eng, fwd);
  auto fill = [&](const memory::desc &d) {
    memory m(d, eng);
    auto *p = static_cast<float *>(m.get_data_handle());
    auto v = randomFloats(d.get_size() / sizeof(float), 3);
    std::copy(v.begin(), v.end(), p);
    return m;
  };
  memory x = fill(fwd.src_desc()), w = fill(fwd.weights_desc()), y = fill(fwd.dst_desc());
  memory dx = fill(bwdData.diff_src_desc()), dy = fill(bwdData.diff_dst_desc()), dw = fill(bwdWei.diff_weights_desc());
  memory dy2 = fill(bwdWei.diff_dst_desc()), x2 = fill(bwdWei.src_desc()), w2 = fill(bwdData.weights_desc());
  convolution_forward f(fwd);
  convolution_backward_data bd(bwdData);
  convolution_backward_weights bw(bwdWei);
  double tf = timeIt(runs, [&] {
    f.execute(st, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
    st.wait();
  });
  double td = timeIt(runs, [&] {
    bd.execute(st, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w2}, {DNNL_ARG_DIFF_SRC, dx}});
    st.wait();
  });
  double tw = timeIt(runs, [&] {
    bw.execute(st, {{DNNL_ARG_SRC, x2}, {DNNL_ARG_DIFF_DST, dy2}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    st.wait();
  });
  return {tf, td, tw};
}

std::array<double, 3> convKiln(const ConvShape &s, int runs) {
  using V = std::vector<int64_t>;
  ir::Sizes x = {s.batch, s.in, s.size, s.size}, w = {s.out, s.in, 3, 3}, y = {s.batch, s.out, s.size, s.size};
  std::array<double, 3> t{};
  const ir::OpKind ops[3] = {ir::OpKind::Conv, ir::OpKind::ConvGradInput, ir::OpKind::ConvGradWeight};
  const std::vector<ir::Sizes> operands[3] = {{x, w}, {y, w}, {x, y}};
  const ir::AttrList attrs[3] = {{{"pad", V{1, 1, 1, 1}}},
                                 {{"pad", V{1, 1, 1, 1}}, {"input_size", V{s.size, s.size}}},
                                 {{"pad", V{1, 1, 1, 1}}, {"kernel_size", V{3, 3}}}};
  for (int i = 0; i < 3; ++i) {
    ref::TensorMap feeds;
    auto exe = compileOne(ops[i], operands[i], attrs[i], feeds);
    t[static_cast<size_t>(i)] = kernelSeconds(*exe, feeds, ops[i], runs);
  }
  return t;
}

void setThreads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

} // namespace

int main(int argc, char **argv) {
  int runs = 5;
  std::string json = "bench-kernels.json", only;
  bool quick = false;
  CLI::App app{"kiln's contraction kernels against OpenBLAS and oneDNN"};
  app.add_option("--runs", runs, "runs per figure (the median is kept)")->check(CLI::Range(1, 1000));
  app.add_option("--json", json, "where the rows go as JSON");
  app.add_flag("--quick", quick, "sgemm at 256 and 1024 only");
  app.add_option("--only", only, "one family of rows")->check(CLI::IsMember({"sgemm", "conv", "eltwise"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 1; // --help is 0, a bad option 1
  }
  std::vector<Row> rows;
  nlohmann::json out = nlohmann::json::array();
  auto emit = [&](const Row &r, double peak) {
    auto cell = [](double v) { return v > 0 ? fmt::format("{:.1f}", v) : std::string("-"); };
    auto ratio = [](double a, double b) { return a > 0 && b > 0 ? fmt::format("{:.2f}x", a / b) : std::string("-"); };
    fmt::print("| {} | {} | {} | {} | {} | {} | {} | {} |\n", r.what, r.threads, cell(r.kiln), cell(r.openblas),
               cell(r.onednn), ratio(r.kiln, r.openblas), ratio(r.kiln, r.onednn),
               peak > 0 ? fmt::format("{:.0f}%", 100 * r.kiln / peak) : "-");
    out.push_back({{"what", r.what}, {"threads", r.threads}, {"kiln_gflops", r.kiln}, {"openblas_gflops", r.openblas},
                   {"onednn_gflops", r.onednn}, {"peak_gflops", peak}});
    std::fflush(stdout);
  };
  fmt::print("| kernel | threads | kiln GFLOP/s | OpenBLAS | oneDNN | kiln/OpenBLAS | kiln/oneDNN | kiln / peak |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  double peak[3] = {0, 0, 0};
  for (int threads : {1, 2}) {
    setThreads(threads);
    peak[threads] = peakFma(threads, runs);
    emit({"peak FMA rate", threads, peak[threads], 0, 0}, 0);
  }
  std::vector<int> sizes = only == "conv" || only == "eltwise" ? std::vector<int>{} : quick ? std::vector<int>{256, 1024} : std::vector<int>{128, 256, 512, 1024, 2048};
  for (int threads : {1, 2}) {
    setThreads(threads);
    for (int n : sizes) {
      double flop = 2.0 * n * n * n;
      ref::TensorMap feeds;
      auto exe = compileOne(ir::OpKind::MatMul, {{n, n}, {n, n}}, {}, feeds);
      int r = n >= 1024 ? std::max(3, runs / 2) : runs * 4;
      double k = kernelSeconds(*exe, feeds, ir::OpKind::MatMul, r);
      emit({fmt::format("sgemm {}", n), threads, flop / k / 1e9, flop / sgemmOpenBlas(n, r) / 1e9,
            flop / sgemmOneDnn(n, r) / 1e9},
           peak[threads]);
    }
  }
  // Transcendental elementwise kernels on 2 threads (vector libmvec calls):
  // giga-elements per second in the GFLOP/s column, no peer.
  setThreads(2);
  for (ir::OpKind op : {ir::OpKind::Exp, ir::OpKind::Log, ir::OpKind::Tanh, ir::OpKind::Erf}) {
    if (!only.empty() && only != "eltwise")
      break;
    const int64_t n = int64_t(1) << 22;
    ref::TensorMap feeds;
    auto exe = compileOne(op, {{n}}, {}, feeds);
    if (op == ir::OpKind::Log) // positive operands
      for (float &v : std::span(reinterpret_cast<float *>(feeds["x0"].data()), static_cast<size_t>(n)))
        v = std::abs(v) + 0.5f;
    double secs = kernelSeconds(*exe, feeds, op, runs * 4);
    emit({fmt::format("{} on 4M f32 (G elements/s)", ir::opInfo(op).name), 2, n / secs / 1e9, 0, 0}, 0);
  }
  const ConvShape convs[] = {{64, 1, 32, 28}, {64, 32, 32, 28}, {64, 32, 64, 14}, {64, 64, 64, 14}};
  const char *names[3] = {"forward", "input gradient", "weight gradient"};
  for (const ConvShape &c : convs) {
    if (only == "sgemm" || only == "eltwise")
      break;
    double flop = 2.0 * c.batch * c.out * c.size * c.size * c.in * 9;
    auto k = convKiln(c, runs);
    auto d = convOneDnn(c, runs);
    for (size_t i = 0; i < 3; ++i)
      emit({fmt::format("conv {}->{} {}x{} {}", c.in, c.out, c.size, c.size, names[i]), 2, flop / k[i] / 1e9, 0,
            flop / d[i] / 1e9},
           peak[2]);
  }
  std::ofstream(json) << out.dump(2) << "\n";
  fmt::print("\nwrote {}\n", json);
  return 0;
}
