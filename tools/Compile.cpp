//===- tools/Compile.cpp - kiln compile: a model ahead of time ------------===//
#include "tools/Compile.h"
#include "ir/DimExpr.h"

#include "Model.h"
#include "codegen/aot/AotAbi.h"
#include "codegen/llvm/Aot.h"
#include "driver/Driver.h"
#include "ir/File.h"
#include "ir/TypeRules.h"
#include "kiln/train.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executable.h"
#include "runtime/Parallel.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>

namespace kiln::tools {

using namespace ir;
using Graph = ir::Graph;

void CompileArgs::addTo(CLI::App &app) {
  app.add_option("model", model, "Model file (.kir or .onnx)");
  app.add_option("--model", zoo, "A model of the zoo instead of a file: mlp, lenet or vgg");
  app.add_option("-o,--output", object, "The object file to write (NAME.o)")->required();
  app.add_option("--header", header, "The C header to write (default: the object's name with .h)");
  app.add_option("--name", name, "The C prefix of the entries (default: the object file's stem)");
  app.add_option("--cpu", cpu, "The CPU to compile for: native (the default), x86-64, x86-64-v2, x86-64-v3, ...");
  app.add_option("--threads", threads, "The threads the schedules are shaped for; 1: no OpenMP at all")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch", maxBatch, "The largest batch the object runs (default 256)")->check(CLI::PositiveNumber);
  app.add_option("--batch-sizes", batchSizes,
                 "The batch sizes compiled (specialized); others run as chunks of them (default 1,8,32)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--dims", dims, "Sizes of symbolic dims other than the batch, as S=128")->delimiter(',');
  app.add_option("--weights", weights,
                 "Write the weights to this .safetensors file instead of embedding them; init loads it");
  app.add_option("--load-weights", loadWeights, "The data of a .kir model's elided tensors (.safetensors)");
  app.add_flag("--train", train, "Also compile the training step (loss, optimizer, state entries)");
  app.add_option("--loss", loss, "The training loss: softmax_cross_entropy")
      ->check(CLI::IsMember({"softmax_cross_entropy"}));
  app.add_option("--optimizer", optimizer, "sgd, momentum, nesterov, adam, adamw or rmsprop");
  app.add_option("--lr", lr, "The learning rate the embedded state was made for (the step takes lr as an argument)");
  app.add_option("--momentum", momentum, "Momentum (momentum, nesterov)");
  app.add_option("--weight-decay", weightDecay, "Weight decay");
  app.add_option("--seed", seed, "Seed of a zoo model's initializers");
}

namespace {

using Clock = std::chrono::steady_clock;

int64_t align64(int64_t n) { return (n + 63) / 64 * 64; }

/// A C (and C++) identifier from a tensor or model name.
std::string identifier(const std::string &name) {
  static const std::set<std::string> keywords = {
      "auto", "bool", "break", "case", "catch", "char", "class", "const", "continue", "default", "delete", "do",
      "double", "else", "enum", "explicit", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int",
      "long", "namespace", "new", "operator", "private", "protected", "public", "register", "restrict", "return",
      "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true", "try", "typedef",
      "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "while"};
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "t_" + out;
  return keywords.count(out) ? out + "_" : out;
}

const char *cType(DType t) {
  switch (t) {
  case DType::F32: return "float";
  case DType::F64: return "double";
  case DType::F16:
  case DType::BF16: return "uint16_t";
  case DType::I64: return "int64_t";
  case DType::I32: return "int32_t";
  case DType::I8: return "int8_t";
  case DType::U8:
  case DType::Bool: return "uint8_t";
  }
  return "void";
}

struct Ref {
  int64_t kind = KILN_AOT_WORK, index = 0, offset = 0;
};

/// The programs, calls, references, kernels and constants of one object.
struct Tables {
  std::vector<std::array<int64_t, KILN_AOT_PROGRAM_WORDS>> programs;
  std::vector<int64_t> calls, refs;
  std::vector<kernel::Kernel> kernels;
  std::string consts;
  std::map<std::string, int64_t> constAt;

  int64_t numCalls() const { return static_cast<int64_t>(calls.size() / KILN_AOT_CALL_WORDS); }
  void call(int64_t kernel, int64_t extent, int64_t bytes, const std::vector<Ref> &rs) {
    int64_t first = static_cast<int64_t>(refs.size() / KILN_AOT_REF_WORDS);
    for (const Ref &r : rs)
      refs.insert(refs.end(), {r.kind, r.index, r.offset});
    calls.insert(calls.end(), {kernel, extent, bytes, first, static_cast<int64_t>(rs.size())});
  }
  int64_t constant(const std::string &bytes) {
    auto [it, fresh] = constAt.emplace(bytes, static_cast<int64_t>(consts.size()));
    if (fresh)
      consts.resize(static_cast<size_t>(align64(static_cast<int64_t>(consts.size() + bytes.size()))), '\0'),
          std::memcpy(consts.data() + it->second, bytes.data(), bytes.size());
    return it->second;
  }
};

/// Where each parameter of the state lives, in which layout.
struct State {
  struct Entry {
    std::string name;
    Type type; ///< the compute layout it is stored in
    int64_t offset = 0, bytes = 0;
    HostTensor initial; ///< logical
  };
  std::vector<Entry> entries;
  std::map<std::string, size_t> byName;
  int64_t bytes = 0;
};

struct Build {
  const PipelineFlags &flags;
  codegen::AotTarget target;
  int threads = 1;
  Tables t;
  State state;
  std::string batchSym;                 ///< the batch dim's symbol; empty: a model of fixed shape
  std::map<std::string, int64_t> dims; ///< the other symbols' sizes
  double compileSeconds = 0;

  driver::Options options(const std::map<std::string, Sizes> &inputs, std::vector<std::string> passes) const {
    driver::Options o;
    o.passes = std::move(passes);
    o.passOptions = flags.options();
    o.inputs = inputs;
    o.machine = lower::Machine{target.vectorBytes, threads};
    o.stopAfter = driver::Stage::Lower;
    o.nativeOnly = true;
    o.planInPlace = false;
    return o;
  }

  /// The sizes of `g`'s inputs at batch `b`.
  Expected<std::map<std::string, Sizes>> sizesAt(const Graph &g, int64_t b) const {
    std::map<std::string, int64_t> bound = dims;
    if (!batchSym.empty())
      bound[batchSym] = b;
    std::map<std::string, Sizes> out;
    for (ValueId v : g.inputs()) {
      auto s = driver::sizesOf(g.type(v).shape, bound);
      if (!s) {
        for (const Dim &d : g.type(v).shape)
          for (const std::string &sym : dimSymbols(d))
            if (!bound.count(sym))
              return makeError("input '{}' ({}): symbolic dim '{}' has no bound: give --dims {}=SIZE", g.nameOf(v),
                               toString(g.type(v)), sym, sym);
        return makeError("input '{}' ({}) has a dim only known at run time", g.nameOf(v), toString(g.type(v)));
      }
      out[g.nameOf(v)] = *s;
    }
    return out;
  }

  /// The constant holding, for each logical element of `sizes` in order,
  /// its element offset in layout `l`; -1 for the identity.
  int64_t permutation(const Sizes &sizes, Layout l) {
    if (l.kind == Layout::RowMajor)
      return -1;
    int64_t n = 1;
    for (int64_t d : sizes)
      n *= d;
    std::vector<int64_t> offsets(static_cast<size_t>(n));
    Sizes coords(sizes.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
      offsets[static_cast<size_t>(i)] = physicalOffset(sizes, l, coords.data());
      for (size_t d = sizes.size(); d-- > 0;) {
        if (++coords[d] < sizes[d])
          break;
        coords[d] = 0;
      }
    }
    return t.constant(std::string(reinterpret_cast<const char *>(offsets.data()), offsets.size() * sizeof(int64_t)));
  }

  /// Appends the call converting a tensor of logical `type` from layout
  /// `from` (at `src`) to `to` (at `dst`): a copy, a strided copy (kernel
  /// -3: both layouts strided), or a permuting copy through two tables of
  /// offsets (kernel -2: blocked and flat layouts).
  Status convert(Type type, Layout from, Layout to, Ref src, Ref dst) {
    int64_t elements = type.numElements().value_or(0), width = static_cast<int64_t>(dtypeSize(type.dtype));
    if (from == to || sameStorage(type.shape, from, to)) {
      t.call(-1, 0, elements * width, {src, dst});
      return {};
    }
    Sizes sizes;
    for (const Dim &d : type.shape)
      sizes.push_back(d.value);
    // Strided layouts (row-major, NHWC) as their strides: a few words.
    auto toStrides = physicalStrides(sizes, to), fromStrides = physicalStrides(sizes, from);
    if (toStrides && fromStrides && !to.isFlat() && !from.isFlat() && sizes.size() <= KILN_AOT_MAX_RANK) {
      std::vector<int64_t> desc = {static_cast<int64_t>(sizes.size())};
      desc.insert(desc.end(), sizes.begin(), sizes.end());
      desc.insert(desc.end(), toStrides->begin(), toStrides->end());
      desc.insert(desc.end(), fromStrides->begin(), fromStrides->end());
      int64_t at = t.constant(std::string(reinterpret_cast<const char *>(desc.data()), desc.size() * sizeof(int64_t)));
      t.call(-3, elements, width, {src, dst, Ref{KILN_AOT_CONST, 0, at}});
      return {};
    }
    int64_t pTo = permutation(sizes, to), pFrom = permutation(sizes, from);
    t.call(-2, elements, width, {src, dst, Ref{KILN_AOT_CONST, pTo < 0 ? -1 : 0, std::max<int64_t>(pTo, 0)},
                                  Ref{KILN_AOT_CONST, pFrom < 0 ? -1 : 0, std::max<int64_t>(pFrom, 0)}});
    return {};
  }

  /// One program: graph `g` (before the passes) compiled at its inputs'
  /// sizes; inputs and outputs in the order given, each output copied to the
  /// caller's buffer at the end, each update to the state.
  Expected<int64_t> program(const Graph &g, int64_t batch, const std::map<std::string, Sizes> &sizes,
                            const std::vector<std::string> &inputs, const std::vector<std::string> &outputs) {
    auto t0 = Clock::now();
    auto pipeline = flags.pipeline(2);
    if (!pipeline)
      return pipeline.error();
    auto compiled = driver::compile(g, options(sizes, *pipeline));
    if (!compiled)
      return compiled.error();
    driver::Compiled c = compiled.take();
    const Graph &cg = c.graph;
    std::vector<std::optional<Ref>> loc(cg.numValues());
    int64_t workEnd = align64(c.plan.peakBytes);
    int64_t firstCall = t.numCalls();
    for (size_t i = 0; i < inputs.size(); ++i) {
      ValueId v = cg.lookup(inputs[i]);
      if (v == kNoValue)
        continue; // an input the passes found unused
      if (cg.type(v).layout.kind != Layout::RowMajor)
        return makeError("input '{}' is read in layout {}: kiln compile takes inputs in row-major order only",
                         inputs[i], layoutName(cg.type(v).layout));
      loc[v] = Ref{KILN_AOT_INPUT, static_cast<int64_t>(i), 0};
    }
    for (const Param &p : cg.params()) {
      const std::string &name = cg.nameOf(p.value);
      auto it = state.byName.find(name);
      if (it == state.byName.end())
        return makeError("parameter '{}' of the compiled graph is not in the state", name);
      const State::Entry &e = state.entries[it->second];
      Ref at{KILN_AOT_STATE, 0, e.offset};
      if (!(e.type.layout == cg.type(p.value).layout)) { // this graph reads it in another layout
        Ref copy{KILN_AOT_WORK, 0, workEnd};
        workEnd = align64(workEnd + e.bytes);
        KILN_TRY(convert(e.type, e.type.layout, cg.type(p.value).layout, at, copy));
        at = copy;
      }
      loc[p.value] = at;
    }
    for (const Const &k : cg.consts()) {
      HostTensor data = toPhysical(k.data, cg.type(k.value).layout);
      loc[k.value] = Ref{KILN_AOT_CONST, 0,
                         t.constant(std::string(reinterpret_cast<const char *>(data.data()), data.byteSize()))};
    }
    for (const passes::MemoryPlan::Buffer &b : c.plan.buffers)
      for (ValueId v : b.values)
        loc[v] = Ref{KILN_AOT_WORK, 0, b.offset};
    for (const driver::Step &s : c.steps) {
      const Node &n = cg.nodes()[s.node];
      if (s.kind == driver::Step::View) {
        if (!loc[n.operands[0]])
          return makeError("node {}: its operand has no buffer", cg.describe(n));
        loc[n.results[0]] = loc[n.operands[0]];
        continue;
      }
      if (s.kind == driver::Step::Reference)
        return makeError("node {} cannot be compiled to a native kernel yet", cg.describe(n));
      kernel::Kernel k = std::move(c.kernels[static_cast<size_t>(s.kernel)]);
      std::vector<Ref> refs;
      for (ValueId v : n.operands)
        if (!loc[v])
          return makeError("node {}: operand %{} has no buffer", cg.describe(n), cg.nameOf(v));
      for (ValueId v : n.results)
        if (!loc[v])
          return makeError("node {}: result %{} has no buffer", cg.describe(n), cg.nameOf(v));
      for (ValueId o : n.operands)
        refs.push_back(*loc[o]);
      for (ValueId r : n.results)
        refs.push_back(*loc[r]);
      for (const kernel::Buffer &b : k.buffers)
        if (b.shared) {
          refs.push_back(Ref{KILN_AOT_WORK, 0, workEnd});
          workEnd = align64(workEnd + b.elements * static_cast<int64_t>(dtypeSize(b.type)));
        }
      k.name = fmt::format("p{}_{}", t.programs.size(), k.name);
      int64_t extent = k.parallelExtent();
      t.kernels.push_back(std::move(k));
      t.call(static_cast<int64_t>(t.kernels.size() - 1), extent, 0, refs);
    }
    for (size_t j = 0; j < outputs.size(); ++j) {
      // By position: the passes keep the outputs' order, not always their
      // names (an output folded to a constant, or merged by cse).
      ValueId v = j < cg.outputs().size() ? cg.outputs()[j] : kNoValue;
      if (v == kNoValue || !loc[v])
        return makeError("output '{}' is not computed by the compiled graph", outputs[j]);
      Type logical = cg.type(v);
      auto s = driver::sizesOf(logical.shape, c.dims);
      logical.shape.clear();
      for (int64_t d : *s)
        logical.shape.push_back(Dim::of(d));
      KILN_TRY(convert(logical, cg.type(v).layout, Layout{}, *loc[v], Ref{KILN_AOT_OUTPUT, static_cast<int64_t>(j), 0}));
    }
    for (const Update &u : cg.updates()) {
      if (!loc[u.value] || !state.byName.count(cg.nameOf(u.param)))
        return makeError("the update of %{} has no buffer", cg.nameOf(u.param));
      const State::Entry &e = state.entries[state.byName.at(cg.nameOf(u.param))];
      KILN_TRY(convert(e.type, cg.type(u.value).layout, e.type.layout, *loc[u.value], Ref{KILN_AOT_STATE, 0, e.offset}));
    }
    t.programs.push_back({batch, workEnd, firstCall, t.numCalls() - firstCall});
    compileSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    return static_cast<int64_t>(t.programs.size() - 1);
  }
};

/// Why a graph cannot run a batch as independent chunks: the first node
/// that mixes its samples (reduces, moves or normalizes over the batch dim),
/// or nullopt when every sample's results depend on that sample alone.
std::optional<std::string> mixesSamples(const Graph &g, const std::string &batch) {
  std::vector<bool> batched(g.numValues(), false);
  auto batchDimOnlyFirst = [&](ValueId v) {
    const Shape &s = g.type(v).shape;
    if (s.empty() || s[0].sym != batch)
      return false;
    for (size_t d = 1; d < s.size(); ++d)
      if (s[d].sym == batch)
        return false;
    return true;
  };
  for (ValueId v : g.inputs())
    batched[v] = !g.type(v).shape.empty() && g.type(v).shape[0].sym == batch;
  for (const Node &n : g.nodes()) {
    bool any = false;
    for (ValueId o : n.operands)
      any = any || batched[o];
    if (!any)
      continue;
    for (ValueId r : n.results) {
      batched[r] = true;
      if (!batchDimOnlyFirst(r))
        return fmt::format("{}: its result {} does not keep the batch as its first dim", g.describe(n),
                           toString(g.type(r)));
    }
    for (ValueId o : n.operands)
      if (batched[o] && !batchDimOnlyFirst(o))
        return g.describe(n);
    AttrView a = n.attrView();
    auto has0 = [&](const char *attr) {
      auto axes = normalizeAxes(a.getInts(attr), g.type(n.operands[0]).rank());
      return !axes || axes->empty() || (*axes)[0] == 0;
    };
    auto axisIs0 = [&](int rank) {
      int64_t ax = a.getInt("axis");
      return ax == 0 || ax + rank == 0;
    };
    const OpInfo &info = n.info();
    int rank = g.type(n.operands[0]).rank();
    bool mixes = false;
    if (info.category == OpCategory::Elementwise || n.op == OpKind::Identity || n.op == OpKind::Reshape ||
        n.op == OpKind::LayoutConvert || n.op == OpKind::BroadcastTo)
      mixes = false;
    else if (info.has(trait::AxisReduce))
      mixes = has0("axes");
    else if (n.op == OpKind::ArgMax || n.op == OpKind::ArgMin || n.op == OpKind::Softmax || n.op == OpKind::LogSoftmax ||
             n.op == OpKind::Concat || n.op == OpKind::GatherElements)
      mixes = axisIs0(rank);
    else if (n.op == OpKind::Gather)
      mixes = batched[n.operands[0]] && axisIs0(rank);
    else if (n.op == OpKind::OneHot)
      mixes = axisIs0(rank + 1);
    else if (n.op == OpKind::Transpose)
      mixes = !a.getInts("perm").empty() ? a.getInts("perm")[0] != 0 : rank > 1;
    else if (n.op == OpKind::Slice) {
      std::vector<int64_t> axes = a.getInts("axes");
      for (size_t i = 0; i < a.getInts("starts").size(); ++i)
        mixes = mixes || (axes.empty() ? i == 0 : axes[i] == 0 || axes[i] + rank == 0);
    } else if (n.op == OpKind::Pad)
      mixes = a.getInts("pads")[0] != 0 || a.getInts("pads")[static_cast<size_t>(rank)] != 0;
    else if (n.op == OpKind::MatMul)
      mixes = batched[n.operands[1]] && rank == 2;
    else if (n.op == OpKind::Conv || n.op == OpKind::ConvTranspose || info.has(trait::Windowed) ||
             n.op == OpKind::GlobalAvgPool || n.op == OpKind::GlobalMaxPool || n.op == OpKind::BatchNormInfer)
      mixes = n.operands.size() > 1 && batched[n.operands[1]] && n.op != OpKind::BatchNormInfer;
    else if (n.op == OpKind::SoftmaxCrossEntropy)
      mixes = a.getString("reduction") != "none";
    else
      mixes = true; // batch statistics, dropout's positions, anything not known to keep samples apart
    if (mixes)
      return g.describe(n);
  }
  return std::nullopt;
}

std::string tensorComment(const std::string &name, const Type &t, const std::string &batch) {
  return fmt::format("{} {} ({}, row-major{})", name, toString(t), dtypeName(t.dtype),
                     batch.empty() ? "" : ", " + batch + " is the batch");
}

/// A tensor record of the table: dims per sample when batched.
void tensorRecord(std::vector<int64_t> &table, std::string &strings, const std::string &name, const Type &type,
                  const std::map<std::string, int64_t> &dims, const std::string &batch, int64_t offset = 0,
                  int64_t import = -1, int64_t exportProgram = -1) {
  std::vector<int64_t> w(KILN_AOT_TENSOR_WORDS, 0);
  w[KILN_AOT_T_NAME] = static_cast<int64_t>(strings.size());
  strings += name + std::string(1, '\0');
  w[KILN_AOT_T_DTYPE] = static_cast<int64_t>(type.dtype);
  w[KILN_AOT_T_RANK] = type.rank();
  bool batched = !batch.empty() && !type.shape.empty() && type.shape[0].sym == batch;
  int64_t elements = 1;
  for (int d = 0; d < type.rank() && d < KILN_AOT_MAX_RANK; ++d) {
    const Dim &dim = type.shape[static_cast<size_t>(d)];
    int64_t size = d == 0 && batched ? 1 : dimValue(dim, dims).value_or(1);
    w[KILN_AOT_T_DIMS + d] = size;
    elements *= size;
  }
  w[KILN_AOT_T_BATCHED] = batched;
  w[KILN_AOT_T_BYTES] = elements * static_cast<int64_t>(dtypeSize(type.dtype));
  w[KILN_AOT_T_OFFSET] = offset;
  w[KILN_AOT_T_IMPORT] = import;
  w[KILN_AOT_T_EXPORT] = exportProgram;
  table.insert(table.end(), w.begin(), w.end());
}

struct Io {
  std::vector<std::string> names;
  std::vector<Type> types;
};

/// The names and types of `values` (a graph's inputs or outputs).
Io ioOf(const Graph &g, const std::vector<ValueId> &values) {
  Io io;
  for (ValueId v : values) {
    io.names.push_back(g.nameOf(v));
    io.types.push_back(g.type(v));
  }
  return io;
}

/// C field names for tensor names: identifiers, unique.
std::vector<std::string> fields(const std::vector<std::string> &names) {
  std::vector<std::string> out;
  std::set<std::string> taken;
  for (const std::string &n : names) {
    std::string f = identifier(n);
    for (int i = 2; taken.count(f); ++i)
      f = identifier(n) + "_" + std::to_string(i);
    taken.insert(f);
    out.push_back(f);
  }
  return out;
}

struct HeaderInfo {
  std::string name, model, batch, cpu, weights;
  Io in, out, trainIn, trainOut;
  std::vector<int64_t> sizes, trainSizes;
  int64_t maxBatch = 1;
  bool chunked = false, openmp = true, train = false, embedded = true;
  std::string mixes;
};

std::string headerText(const HeaderInfo &h) {
  const std::string &p = h.name;
  std::string P = p;
  std::transform(P.begin(), P.end(), P.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  auto list = [](const std::vector<int64_t> &v) { return fmt::format("{}", fmt::join(v, ", ")); };
  std::vector<std::string> inF = fields(h.in.names), outF = fields(h.out.names);
  std::string s;
  s += fmt::format("/* {}.h: {} compiled ahead of time by `kiln compile` for the CPU {}.\n *\n", p, h.model, h.cpu);
  s += " * Link the object with libc and libm";
  s += h.openmp ? " and an OpenMP runtime (cc main.c " + p + ".o -fopenmp -lm).\n" : " (cc main.c " + p + ".o -lm).\n";
  s += " * Nothing of kiln is needed at link or run time. A complete use:\n *\n";
  s += fmt::format(" *   #include \"{}.h\"\n *   #include <stdio.h>\n *   #include <stdlib.h>\n *\n", p);
  s += " *   int main(void) {\n";
  s += fmt::format(" *     {}_model *m;\n *     int st = {}_init(&m, {});\n", p, p, h.embedded ? "NULL" : "\"" + h.weights + "\"");
  s += fmt::format(" *     if (st) {{ fprintf(stderr, \"%s\\n\", {}_error(st)); return 1; }}\n", p);
  s += fmt::format(" *     int64_t batch = 1;\n *     void *ws = malloc({}_workspace_size(batch));\n", p);
  for (size_t i = 0; i < h.in.names.size(); ++i)
    s += fmt::format(" *     {} *{} = calloc(batch * {}_{}_SAMPLE_ELEMENTS, sizeof *{});\n", cType(h.in.types[i].dtype),
                     inF[i], P, identifier(inF[i]), inF[i]);
  for (size_t i = 0; i < h.out.names.size(); ++i)
    s += fmt::format(" *     {} *{} = malloc(batch * {}_{}_SAMPLE_ELEMENTS * sizeof *{});\n", cType(h.out.types[i].dtype),
                     outF[i], P, identifier(outF[i]), outF[i]);
  s += fmt::format(" *     {}_inputs in = {{", p);
  for (size_t i = 0; i < inF.size(); ++i)
    s += (i ? ", " : "") + inF[i];
  s += fmt::format("}};\n *     {}_outputs out = {{", p);
  for (size_t i = 0; i < outF.size(); ++i)
    s += (i ? ", " : "") + outF[i];
  s += fmt::format("}};\n *     st = {}_run(m, batch, &in, &out, ws);\n", p);
  s += fmt::format(" *     if (st) fprintf(stderr, \"%s\\n\", {}_error(st));\n *     free(ws);\n *     {}_free(m);\n", p, p);
  s += " *     return st != 0;\n *   }\n *\n";
  if (h.batch.empty())
    s += " * The model's shapes are fixed: pass batch 1.\n";
  else if (h.chunked)
    s += fmt::format(" * Any batch from 1 to {} runs; the batch sizes {} are compiled as they are\n"
                     " * (specialized), others run as chunks of them, largest first.\n",
                     h.maxBatch, list(h.sizes));
  else
    s += fmt::format(" * Only the batch sizes {} run: node {} mixes the samples of a batch,\n"
                     " * so a batch cannot be split into chunks.\n",
                     list(h.sizes), h.mixes);
  s += " * Buffers are the caller's, row-major, of the dtypes below; the workspace\n"
       " * (any alignment) is the caller's too, of at least _workspace_size(batch)\n"
       " * bytes. A model object is used by one thread at a time.\n */\n";
  s += fmt::format("#ifndef {}_H\n#define {}_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", P, P);
  s += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  s += fmt::format("#define {}_MAX_BATCH {}\n", P, h.maxBatch);
  s += fmt::format("#define {}_INPUT_COUNT {}\n#define {}_OUTPUT_COUNT {}\n", P, h.in.names.size(), P, h.out.names.size());
  auto describe = [&](const char *what, const Io &io, const std::vector<std::string> &f) {
    std::string out;
    for (size_t i = 0; i < io.names.size(); ++i) {
      const Type &t = io.types[i];
      bool batched = !h.batch.empty() && !t.shape.empty() && t.shape[0].sym == h.batch;
      int64_t elements = 1;
      std::string dimsText;
      for (size_t d = 0; d < t.shape.size(); ++d) {
        const Dim &dim = t.shape[d];
        int64_t size = d == 0 && batched ? 1 : dim.isConst() ? dim.value : 1;
        elements *= size;
        dimsText += fmt::format("{}{}", d ? ", " : "", d == 0 && batched ? std::string("batch") : std::to_string(size));
      }
      std::string id = identifier(f[i]);
      out += fmt::format("/* {} {}: {} */\n", what, i, tensorComment(io.names[i], t, batched ? h.batch : ""));
      out += fmt::format("#define {}_{}_NAME \"{}\"\n", P, id, io.names[i]);
      out += fmt::format("#define {}_{}_DTYPE {}\n", P, id, cType(t.dtype));
      out += fmt::format("#define {}_{}_RANK {}\n", P, id, t.shape.size());
      out += fmt::format("#define {}_{}_DIMS {{{}}}\n", P, id, dimsText);
      out += fmt::format("#define {}_{}_SAMPLE_ELEMENTS {} /* elements per sample{} */\n", P, id, elements,
                         batched ? "" : " (the whole tensor: it has no batch dim)");
    }
    return out;
  };
  s += describe("input", h.in, inF);
  s += describe("output", h.out, outF);
  if (h.train) {
    s += describe("training input", h.trainIn, fields(h.trainIn.names));
    s += describe("training output", h.trainOut, fields(h.trainOut.names));
  }
  s += fmt::format("\n/* Status codes: 0, or one of these ({}_error gives its message). */\n", p);
  const char *codes[] = {"OK", "NULL_ARGUMENT", "BAD_BATCH", "OUT_OF_MEMORY", "CANNOT_OPEN", "BAD_FILE", "CANNOT_WRITE",
                         "NOT_TRAINABLE", "NO_WEIGHTS"};
  for (int i = 0; i < 9; ++i)
    s += fmt::format("#define {}_{} {}\n", P, codes[i], i);
  s += fmt::format("\ntypedef struct {}_model {}_model;\n", p, p);
  auto ioStruct = [&](const char *what, const Io &io, bool isConst) {
    std::string out = "typedef struct {\n";
    std::vector<std::string> f = fields(io.names);
    for (size_t i = 0; i < io.names.size(); ++i)
      out += fmt::format("  {}{} *{};\n", isConst ? "const " : "", cType(io.types[i].dtype), f[i]);
    return out + fmt::format("}} {}_{};\n", p, what);
  };
  s += ioStruct("inputs", h.in, true);
  s += ioStruct("outputs", h.out, false);
  s += fmt::format(R"(
/* Makes a model object holding the state (the weights{}): from the
 * {} when `weights` is NULL, else from that safetensors file. */
int {p}_init({p}_model **model, const char *weights);
void {p}_free({p}_model *model);
/* The workspace bytes a call at `batch` needs. */
size_t {p}_workspace_size(int64_t batch);
int64_t {p}_max_batch(void);
/* Threads of the OpenMP parallel loops (0: the OpenMP runtime's default). */
void {p}_set_threads(int n);
/* Inference on `batch` samples. */
int {p}_run({p}_model *model, int64_t batch, const {p}_inputs *inputs, {p}_outputs *outputs, void *workspace);
/* The state as safetensors (logical layouts, a CRC-32 per tensor). */
int {p}_save({p}_model *model, const char *path);
int {p}_load({p}_model *model, const char *path);
const char *{p}_error(int status);
/* Introspection (kind 0 inputs, 1 outputs, 2 the state, 3 and 4 the training
 * step's inputs and outputs): dims per sample (dim 0 is 1) when batched;
 * dtype is kiln's: 0 f32, 1 f64, 2 f16, 3 bf16, 4 i64, 5 i32, 6 i8, 7 u8, 8 bool. */
int {p}_tensor_count(int kind);
int {p}_tensor_info(int kind, int i, const char **name, int *dtype, int *rank, int64_t *dims, int *batched);
)",
                   h.train ? " and the optimizer's state" : "", h.embedded ? "values embedded in the object" : "file given",
                   fmt::arg("p", p));
  if (h.train) {
    s += ioStruct("train_inputs", h.trainIn, true);
    s += ioStruct("train_outputs", h.trainOut, false);
    std::vector<std::string> ti = fields(h.trainIn.names), to = fields(h.trainOut.names);
    s += fmt::format(R"(
/* One training step at one of the batch sizes {} (a step at another batch
 * is {P}_BAD_BATCH): the loss and optimizer of `kiln train`, the state
 * updated in place. */
int {p}_train_step({p}_model *model, int64_t batch, const {p}_train_inputs *inputs, {p}_train_outputs *outputs,
                   void *workspace);
)",
                     list(h.trainSizes), fmt::arg("p", p), fmt::arg("P", P));
    if (ti.size() == 3 && to.size() == 2 && h.trainIn.names[2] == "lr")
      s += fmt::format(R"(/* The step with the learning rate as an argument: the schedule is the caller's. */
static inline int {p}_step({p}_model *model, int64_t batch, const {} *{}, const {} *{}, float lr, float *loss,
                           float *correct, void *workspace) {{
  {p}_train_inputs in = {{{}, {}, &lr}};
  {p}_train_outputs out = {{loss, correct}};
  return {p}_train_step(model, batch, &in, &out, workspace);
}}
)",
                       cType(h.trainIn.types[0].dtype), ti[0], cType(h.trainIn.types[1].dtype), ti[1], ti[0], ti[1],
                       fmt::arg("p", p));
  }
  s += fmt::format("\n#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {}_H */\n", P);
  return s;
}

} // namespace

int compileCommand(const CompileArgs &a, const PipelineFlags &flags) {
  auto fail = [](const std::string &m) {
    std::cerr << "kiln: " << m << "\n";
    return 1;
  };
  std::string what = a.zoo.empty() ? a.model : "the " + a.zoo + " model";
  if (a.model.empty() == a.zoo.empty())
    return fail("error: kiln compile takes a model file or --model NAME (one of them)");
  if (flags.target == "cuda")
    return fail("error: --target cuda: kiln has no CUDA backend yet; compile for the cpu");
  // Where it writes, checked before it compiles.
  std::string header = a.header.empty() ? std::filesystem::path(a.object).replace_extension(".h").string() : a.header;
  for (const std::string &path : {a.object, header, a.weights}) {
    if (path.empty())
      continue;
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      return fail(fmt::format("error: {}: the directory {} does not exist", path, dir.string()));
    if (::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0)
      return fail(fmt::format("error: {}: cannot write there ({})", path, std::strerror(errno)));
  }
  std::string name = identifier(a.name.empty() ? std::filesystem::path(a.object).stem().string() : a.name);
  auto parsedDims = parseDims(a.dims);
  if (!parsedDims)
    return fail("error: " + parsedDims.error().message);
  auto target = codegen::aotTarget(a.cpu);
  if (!target)
    return fail("error: --cpu: " + target.error().message);

  // The graphs: inference, and the training step.
  auto method = optim::parseMethod(a.optimizer);
  if (!method)
    return fail("error: " + method.error().message);
  optim::Options o;
  o.method = *method;
  o.lr = a.lr;
  o.momentum = a.momentum;
  o.weightDecay = a.weightDecay;
  o.schedule.kind = optim::Schedule::Input;
  Expected<Graph> inference = makeError("no model"), training = makeError("no model");
  if (!a.zoo.empty()) {
    auto net = nn::zoo::byName(a.zoo);
    if (!net)
      return fail("error: " + net.error().message);
    inference = classifierForward(*net, {1, 28, 28}, a.seed);
    if (a.train)
      training = classifierStep(*net, {1, 28, 28}, o, a.seed, true);
  } else {
    auto g = loadModel(a.model, a.loadWeights);
    if (!g)
      return fail(g.error().message);
    inference = g.take();
    if (a.train)
      training = classifierStep(*inference, o, true);
  }
  if (!inference)
    return fail(fmt::format("{}: error: {}", what, inference.error().message));
  if (a.train && !training)
    return fail(fmt::format("{}: error: --train: {}", what, training.error().message));

  Build b{flags, *target, a.threads > 0 ? a.threads : parallelThreads(), {}, {}, {}, {}, 0};
  b.dims = *parsedDims;
  const Graph &g = *inference;
  if (g.inputs().empty())
    ; // a model of constants: one program
  else if (const Shape &s0 = g.type(g.inputs()[0]).shape; !s0.empty() && s0[0].isSymbol() && !b.dims.count(s0[0].sym))
    b.batchSym = s0[0].sym;
  for (ValueId v : g.outputs())
    if (g.type(v).layout.kind != Layout::RowMajor)
      return fail(fmt::format("{}: error: output '{}' is declared in a layout", what, g.nameOf(v)));

  // The state: the training step's parameters (weights and optimizer
  // state) or the model's, each in the layout the passes give it.
  const Graph &stateGraph = a.train ? *training : g;
  {
    auto sizes = b.sizesAt(stateGraph, 1);
    if (!sizes)
      return fail(fmt::format("{}: error: {}", what, sizes.error().message));
    auto pipeline = flags.pipeline(2);
    if (!pipeline)
      return fail("error: " + pipeline.error().message);
    driver::Options po = b.options(*sizes, *pipeline);
    po.stopAfter = driver::Stage::Passes;
    auto optimized = driver::compile(stateGraph, po);
    if (!optimized)
      return fail(fmt::format("{}: error: {}", what, optimized.error().message));
    for (const Param &p : stateGraph.params()) {
      State::Entry e;
      e.name = stateGraph.nameOf(p.value);
      e.type = stateGraph.type(p.value);
      if (ValueId v = optimized->graph.lookup(e.name); v != kNoValue)
        e.type.layout = optimized->graph.type(v).layout;
      e.bytes = static_cast<int64_t>(p.data.byteSize());
      e.offset = b.state.bytes;
      e.initial = p.data;
      b.state.bytes = align64(b.state.bytes + e.bytes);
      b.state.byName[e.name] = b.state.entries.size();
      b.state.entries.push_back(std::move(e));
    }
  }

  // Inference programs, by ascending batch.
  std::vector<int64_t> sizes = a.batchSizes;
  HeaderInfo h;
  h.chunked = !b.batchSym.empty();
  if (!b.batchSym.empty()) {
    if (auto why = mixesSamples(g, b.batchSym)) {
      h.chunked = false;
      h.mixes = *why;
      std::cerr << "kiln: note: " << *why << " mixes the samples of a batch: the object runs only the batch sizes "
                << "compiled (--batch-sizes)\n";
    }
    if (sizes.empty())
      sizes = h.chunked ? std::vector<int64_t>{1, 8, 32} : std::vector<int64_t>{a.maxBatch};
    if (h.chunked)
      sizes.push_back(1); // every batch decomposes
    std::erase_if(sizes, [&](int64_t s) { return s > a.maxBatch; });
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    if (sizes.empty())
      return fail(fmt::format("error: --batch-sizes: none is at most --max-batch {}", a.maxBatch));
  } else {
    sizes = {1};
  }
  Io in = ioOf(g, g.inputs()), out = ioOf(g, g.outputs());
  for (int64_t batch : sizes) {
    auto s = b.sizesAt(g, batch);
    if (!s)
      return fail(fmt::format("{}: error: {}", what, s.error().message));
    auto p = b.program(g, batch, *s, in.names, out.names);
    if (!p)
      return fail(fmt::format("{}: error: {}", what, p.error().message));
  }
  // Training programs at the batch sizes given (64 by default).
  Io trainIn, trainOut;
  std::vector<int64_t> trainSizes;
  if (a.train) {
    trainIn = ioOf(*training, training->inputs());
    trainOut = ioOf(*training, training->outputs());
    trainSizes = a.batchSizes.empty() ? std::vector<int64_t>{64} : a.batchSizes;
    std::sort(trainSizes.begin(), trainSizes.end());
    trainSizes.erase(std::unique(trainSizes.begin(), trainSizes.end()), trainSizes.end());
    for (int64_t batch : trainSizes) {
      auto s = b.sizesAt(*training, batch);
      if (!s)
        return fail(fmt::format("{}: error: {}", what, s.error().message));
      auto p = b.program(*training, batch, *s, trainIn.names, trainOut.names);
      if (!p)
        return fail(fmt::format("{}: error: --train: {}", what, p.error().message));
    }
  }
  // Conversion programs of the state between logical and compute layouts.
  std::vector<std::pair<int64_t, int64_t>> conversions;
  int64_t numPrograms = static_cast<int64_t>(b.t.programs.size());
  for (const State::Entry &e : b.state.entries) {
    if (e.type.layout.kind == Layout::RowMajor) {
      conversions.emplace_back(-1, -1);
      continue;
    }
    int64_t first = static_cast<int64_t>(b.t.programs.size()) - numPrograms;
    for (bool import : {true, false}) {
      int64_t firstCall = b.t.numCalls();
      Type logical = e.type;
      logical.layout = Layout{};
      Status st = import ? b.convert(logical, Layout{}, e.type.layout, Ref{KILN_AOT_INPUT, 0, 0}, Ref{KILN_AOT_INPUT, 1, 0})
                         : b.convert(logical, e.type.layout, Layout{}, Ref{KILN_AOT_INPUT, 0, 0}, Ref{KILN_AOT_INPUT, 1, 0});
      if (!st)
        return fail(fmt::format("{}: error: {}", what, st.error().message));
      b.t.programs.push_back({0, 0, firstCall, b.t.numCalls() - firstCall});
    }
    conversions.emplace_back(first, first + 1);
  }

  // The table (codegen/aot/AotAbi.h).
  codegen::AotObject obj;
  obj.prefix = name;
  obj.cpu = a.cpu;
  obj.openmp = b.threads > 1;
  std::vector<int64_t> &table = obj.table;
  table.assign(KILN_AOT_HEADER_WORDS, 0);
  table[KILN_AOT_H_MAGIC] = KILN_AOT_MAGIC;
  table[KILN_AOT_H_INPUTS] = static_cast<int64_t>(in.names.size());
  table[KILN_AOT_H_OUTPUTS] = static_cast<int64_t>(out.names.size());
  table[KILN_AOT_H_PARAMS] = static_cast<int64_t>(b.state.entries.size());
  table[KILN_AOT_H_MAX_BATCH] = b.batchSym.empty() ? 1 : h.chunked ? a.maxBatch : sizes.back();
  table[KILN_AOT_H_CHUNKED] = h.chunked;
  table[KILN_AOT_H_INFER] = static_cast<int64_t>(sizes.size());
  table[KILN_AOT_H_TRAIN] = static_cast<int64_t>(trainSizes.size());
  table[KILN_AOT_H_CONVERT] = static_cast<int64_t>(b.t.programs.size()) - numPrograms;
  table[KILN_AOT_H_PARAM_BYTES] = b.state.bytes;
  table[KILN_AOT_H_EMBEDDED] = a.weights.empty();
  table[KILN_AOT_H_TRAIN_INPUTS] = static_cast<int64_t>(trainIn.names.size());
  table[KILN_AOT_H_TRAIN_OUTPUTS] = static_cast<int64_t>(trainOut.names.size());
  table[KILN_AOT_H_TENSORS_AT] = static_cast<int64_t>(table.size());
  std::map<std::string, int64_t> bound = b.dims;
  for (size_t i = 0; i < in.names.size(); ++i)
    tensorRecord(table, obj.strings, in.names[i], in.types[i], bound, b.batchSym);
  for (size_t i = 0; i < out.names.size(); ++i)
    tensorRecord(table, obj.strings, out.names[i], out.types[i], bound, b.batchSym);
  for (size_t i = 0; i < b.state.entries.size(); ++i) {
    const State::Entry &e = b.state.entries[i];
    Type logical = e.type;
    logical.layout = Layout{};
    tensorRecord(table, obj.strings, e.name, logical, bound, "", e.offset, conversions[i].first,
                 conversions[i].second);
  }
  for (size_t i = 0; i < trainIn.names.size(); ++i)
    tensorRecord(table, obj.strings, trainIn.names[i], trainIn.types[i], bound, b.batchSym);
  for (size_t i = 0; i < trainOut.names.size(); ++i)
    tensorRecord(table, obj.strings, trainOut.names[i], trainOut.types[i], bound, b.batchSym);
  table[KILN_AOT_H_PROGRAMS_AT] = static_cast<int64_t>(table.size());
  for (const auto &p : b.t.programs)
    table.insert(table.end(), p.begin(), p.end());
  table[KILN_AOT_H_CALLS_AT] = static_cast<int64_t>(table.size());
  table.insert(table.end(), b.t.calls.begin(), b.t.calls.end());
  table[KILN_AOT_H_REFS_AT] = static_cast<int64_t>(table.size());
  table.insert(table.end(), b.t.refs.begin(), b.t.refs.end());

  // The state's initial values: embedded in compute layouts, or written
  // (logical) to the weights file.
  if (a.weights.empty()) {
    obj.stateInit.assign(static_cast<size_t>(b.state.bytes), '\0');
    for (const State::Entry &e : b.state.entries) {
      HostTensor phys = toPhysical(e.initial, e.type.layout);
      std::memcpy(obj.stateInit.data() + e.offset, phys.data(), phys.byteSize());
    }
  } else {
    checkpoint::Tensors tensors;
    for (const State::Entry &e : b.state.entries)
      tensors.emplace(e.name, e.initial);
    if (auto st = checkpoint::save(a.weights, tensors, {{"format", "kiln training checkpoint"}}); !st)
      return fail("error: --weights: " + st.error().message);
  }
  obj.consts = std::move(b.t.consts);
  obj.kernels = std::move(b.t.kernels);
  size_t kernels = obj.kernels.size();
  auto t0 = Clock::now();
  auto bytes = codegen::emitObject(obj);
  if (!bytes)
    return fail(fmt::format("{}: error: codegen: {}", what, bytes.error().message));
  double codegenSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (auto st = writeFileAtomic(a.object, *bytes); !st)
    return fail("error: " + st.error().message);

  h.name = name;
  h.model = a.zoo.empty() ? std::filesystem::path(a.model).filename().string() : what;
  h.batch = b.batchSym;
  h.cpu = target->cpu;
  h.weights = a.weights;
  h.in = in;
  h.out = out;
  h.trainIn = trainIn;
  h.trainOut = trainOut;
  h.sizes = sizes;
  h.trainSizes = trainSizes;
  h.maxBatch = table[KILN_AOT_H_MAX_BATCH];
  h.openmp = obj.openmp;
  h.train = a.train;
  h.embedded = a.weights.empty();
  if (auto st = writeFileAtomic(header, headerText(h)); !st)
    return fail("error: " + st.error().message);
  fmt::print("wrote {} ({} bytes: {} kernels, {} programs, {} bytes of state) and {}; compile {:.2f} s, codegen "
             "{:.2f} s\n",
             a.object, bytes->size(), kernels, b.t.programs.size(), b.state.bytes, header, b.compileSeconds,
             codegenSeconds);
  return 0;
}

} // namespace kiln::tools
