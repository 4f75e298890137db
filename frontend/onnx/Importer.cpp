//===- frontend/onnx/Importer.cpp - ONNX import: model, tensors, graph ----===//
#include "frontend/onnx/Importer.h"
#include "ir/Limits.h"

#include "ir/File.h"
#include "reference/Reference.h"

#include <cstring>
#include <unordered_map>

#include <onnx/checker.h>
#include <fstream>
#include <sstream>

namespace kiln::onnximport {

using namespace ir;
using TP = ::onnx::TensorProto;

Expected<DType> dtypeFromOnnx(int32_t t) {
  switch (t) {
  case TP::FLOAT: return DType::F32;
  case TP::DOUBLE: return DType::F64;
  case TP::FLOAT16: return DType::F16;
  case TP::BFLOAT16: return DType::BF16;
  case TP::INT64: return DType::I64;
  case TP::INT32: return DType::I32;
  case TP::INT8: return DType::I8;
  case TP::UINT8: return DType::U8;
  case TP::BOOL: return DType::Bool;
  default: break;
  }
  std::string name = TP::DataType_IsValid(t) ? TP::DataType_Name(static_cast<TP::DataType>(t)) : std::to_string(t);
  return makeError("unsupported element type {} (kiln has f32 f64 f16 bf16 i64 i32 i8 u8 bool)", name);
}

Expected<HostTensor> tensorFromProto(const TP &t) {
  auto dt = dtypeFromOnnx(t.data_type());
  if (!dt)
    return dt.error();
  Sizes sizes;
  for (int64_t d : t.dims()) {
    if (d < 0)
      return makeError("tensor '{}' has a negative dim {}", t.name(), d);
    sizes.push_back(d);
  }
  // Sized and checked against its data before anything is allocated: 8
  // bytes of data claiming dims [2^32] are an error, not a 32 GiB tensor.
  KILN_TRY(checkedTensorBytes(*dt, sizes, fmt::format("tensor '{}'", t.name())));
  int64_t n = *checkedProduct(sizes);
  if (t.data_location() == TP::EXTERNAL)
    return makeError("tensor '{}' keeps its data in an external file, which is unsupported", t.name());
  size_t elem = dtypeSize(*dt);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != static_cast<size_t>(n) * elem)
      return makeError("tensor '{}' of shape {} needs {} bytes of data, it has {}", t.name(), toString(sizes),
                       static_cast<size_t>(n) * elem, t.raw_data().size());
    HostTensor out(*dt, sizes);
    if (n)
      std::memcpy(out.data(), t.raw_data().data(), out.byteSize());
    return out;
  }
  int64_t stored = *dt == DType::F32   ? t.float_data_size()
                   : *dt == DType::F64 ? t.double_data_size()
                   : *dt == DType::I64 ? t.int64_data_size()
                                       : t.int32_data_size();
  if (stored != n)
    return makeError("tensor '{}' of shape {} needs {} values, its data holds {}", t.name(), toString(sizes), n,
                     stored);
  HostTensor out(*dt, sizes);
  switch (*dt) {
  case DType::F32:
    for (int64_t i = 0; i < n; ++i)
      out.set(i, t.float_data(static_cast<int>(i)));
    return out;
  case DType::F64:
    for (int64_t i = 0; i < n; ++i)
      out.set(i, t.double_data(static_cast<int>(i)));
    return out;
  case DType::I64:
    for (int64_t i = 0; i < n; ++i)
      out.setInt(i, t.int64_data(static_cast<int>(i)));
    return out;
  case DType::F16:
  case DType::BF16: // stored as their bit patterns in int32_data
    for (int64_t i = 0; i < n; ++i) {
      auto bits = static_cast<uint16_t>(t.int32_data(static_cast<int>(i)));
      std::memcpy(out.data() + i * 2, &bits, 2);
    }
    return out;
  default:
    for (int64_t i = 0; i < n; ++i)
      out.setInt(i, t.int32_data(static_cast<int>(i)));
    return out;
  }
}

// --- The import ----------------------------------------------------------------------

std::string Importer::nodeLabel(const ::onnx::NodeProto &n) const {
  std::string name = n.name().empty() ? (n.output_size() ? n.output(0) : std::string("?")) : n.name();
  return fmt::format("node '{}' ({})", name, n.op_type());
}

Status Importer::checkOpset() {
  for (const auto &op : model_.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx")
      opset_ = op.version();
  if (model_.opset_import_size() == 0)
    return makeError("{}: error: the model imports no opset (its opset_import list is empty or lost), so its ops "
                     "have no definite meaning",
                     file_);
  if (opset_ < 1 || opset_ > 17)
    return makeError("{}: error: opset {} is unsupported (kiln imports opsets 1 to 17 of the default domain)", file_,
                     opset_);
  return {};
}

Status Importer::checkSchemas() {
  // Each node against ONNX's own schema of its op at the model's opset:
  // input and output counts, attribute names and types, required
  // attributes. The checker throws; its exceptions stop here.
  ::onnx::checker::CheckerContext ctx;
  ctx.set_ir_version(static_cast<int>(model_.ir_version()));
  std::unordered_map<std::string, int> opsets;
  for (const auto &op : model_.opset_import())
    opsets[op.domain()] = static_cast<int>(op.version());
  ctx.set_opset_imports(opsets);
  ::onnx::checker::LexicalScopeContext scope;
  for (const auto &n : model_.graph().node()) {
    if (!(n.domain().empty() || n.domain() == "ai.onnx"))
      continue; // checkSupported names ops of other domains
    try {
      ::onnx::checker::check_node(n, ctx, scope);
    } catch (const std::exception &e) {
      std::string why = e.what();
      if (size_t cut = why.find("\n\n==>"); cut != std::string::npos) // the checker appends the node's text
        why.resize(cut);
      return makeError("{}: error: {} does not match ONNX's schema of {} at opset {}: {}", file_, nodeLabel(n),
                       n.op_type(), opset_, why);
    }
  }
  return {};
}

Status Importer::checkSupported() {
  // Every unsupported op type, with the nodes that use it, in one error.
  std::map<std::string, std::vector<std::string>> missing;
  for (const auto &n : model_.graph().node()) {
    bool defaultDomain = n.domain().empty() || n.domain() == "ai.onnx";
    if (defaultDomain && findOnnxOp(n.op_type()))
      continue;
    std::string type = defaultDomain ? n.op_type() : n.domain() + "." + n.op_type();
    missing[type].push_back(n.name().empty() ? (n.output_size() ? n.output(0) : "?") : n.name());
  }
  if (missing.empty())
    return {};
  std::string list;
  for (const auto &[type, nodes] : missing) {
    std::string shown;
    for (size_t i = 0; i < nodes.size() && i < 5; ++i)
      shown += (i ? ", '" : "'") + nodes[i] + "'";
    if (nodes.size() > 5)
      shown += fmt::format(" and {} more", nodes.size() - 5);
    list += fmt::format("\n  {} (node{} {})", type, nodes.size() > 1 ? "s" : "", shown);
  }
  return makeError("{}: error: the model uses {} unsupported op type{}:{}", file_, missing.size(),
                   missing.size() > 1 ? "s" : "", list);
}

Expected<std::vector<const ::onnx::NodeProto *>> Importer::sortNodes() {
  const auto &graph = model_.graph();
  std::set<std::string> available;
  for (const auto &i : graph.input())
    available.insert(i.name());
  for (const auto &t : graph.initializer())
    available.insert(t.name());
  std::map<std::string, int> producer;
  for (int i = 0; i < graph.node_size(); ++i)
    for (const auto &o : graph.node(i).output())
      if (!o.empty()) {
        if (available.count(o) || !producer.emplace(o, i).second)
          return makeError("{}: error: {} defines '{}', which is already defined", file_, nodeLabel(graph.node(i)), o);
      }
  for (int i = 0; i < graph.node_size(); ++i)
    for (const auto &in : graph.node(i).input())
      if (!in.empty() && !available.count(in) && !producer.count(in))
        return makeError("{}: error: {} uses '{}', which no node, input or initializer defines", file_,
                         nodeLabel(graph.node(i)), in);
  // Kahn's algorithm, keeping the file's order where it is already valid.
  std::vector<const ::onnx::NodeProto *> order;
  std::vector<bool> done(static_cast<size_t>(graph.node_size()));
  bool progress = true;
  while (progress && order.size() < done.size()) {
    progress = false;
    for (int i = 0; i < graph.node_size(); ++i) {
      if (done[i])
        continue;
      bool ready = true;
      for (const auto &in : graph.node(i).input())
        if (!in.empty() && !available.count(in))
          ready = false;
      if (!ready)
        continue;
      done[i] = true;
      progress = true;
      order.push_back(&graph.node(i));
      for (const auto &o : graph.node(i).output())
        available.insert(o);
    }
  }
  if (order.size() < done.size()) {
    std::string cycle;
    for (size_t i = 0; i < done.size() && cycle.size() < 200; ++i)
      if (!done[i])
        cycle += (cycle.empty() ? "" : ", ") + nodeLabel(graph.node(static_cast<int>(i)));
    return makeError("{}: error: the graph has a cycle through {}", file_, cycle);
  }
  return order;
}

std::string Importer::tempName(const std::string &base) {
  std::string name = base;
  for (int i = 1; g_.lookup(name) != kNoValue || onnxNames_.count(name); ++i)
    name = fmt::format("{}_{}", base, i);
  return name;
}

Status Importer::bindName(const std::string &onnxName, ValueId v) {
  values_[onnxName] = v;
  return {};
}

Expected<ValueId> Importer::value(const std::string &onnxName) const {
  auto it = values_.find(onnxName);
  if (it == values_.end())
    return makeError("'{}' is not defined", onnxName);
  return it->second;
}

Expected<HostTensor> Importer::constantValue(ValueId v) {
  const Value &val = g_.value(v);
  if (val.kind == ValueKind::Const)
    return g_.consts()[static_cast<size_t>(val.owner)].data;
  if (val.kind == ValueKind::Param) // an initializer used as a shape: its initial value
    return g_.params()[static_cast<size_t>(val.owner)].data;
  if (val.kind != ValueKind::Result)
    return makeError("'{}' is a graph input whose value the model needs at import (give it: kiln run specializes the "
                     "model on `--input {}=FILE.npy`, OnnxImportOptions::knownInputs in the API)",
                     val.name, val.name);
  auto it = folded_.find(v);
  if (it != folded_.end())
    return it->second;
  const Node &n = g_.producer(v);
  for (ValueId r : n.results) {
    auto count = g_.type(r).numElements();
    if (!count || *count > (int64_t{1} << 24))
      return makeError("'{}' ({}) is too large or not static enough to fold at import", g_.nameOf(r),
                       toString(g_.type(r)));
  }
  std::vector<HostTensor> operands;
  for (ValueId o : n.operands) {
    auto c = constantValue(o);
    if (!c)
      return c.error();
    operands.push_back(c.take());
  }
  auto results = ref::evaluateNode(g_, n, operands);
  if (!results)
    return results.error();
  for (size_t i = 0; i < n.results.size(); ++i)
    folded_[n.results[i]] = (*results)[i];
  return folded_[v];
}

Status Importer::declareValues() {
  const auto &graph = model_.graph();
  std::set<std::string> initializers;
  for (const auto &t : graph.initializer()) {
    auto data = tensorFromProto(t);
    if (!data)
      return makeError("{}: error: initializer '{}': {}", file_, t.name(), data.error().message);
    auto v = options_.initializersAsConstants ? g_.addConst(t.name(), data.take()) : g_.addParam(t.name(), data.take());
    if (!v)
      return makeError("{}: error: initializer '{}': {}", file_, t.name(), v.error().message);
    values_[t.name()] = *v;
    initializers.insert(t.name());
  }
  for (const auto &in : graph.input()) {
    if (initializers.count(in.name()))
      continue; // an input with a default value (IR version < 4): the initializer
    auto known = options_.knownInputs.find(in.name());
    if (known != options_.knownInputs.end() && constInputNames_.count(in.name())) {
      auto v = g_.addConst(in.name(), known->second);
      if (!v)
        return makeError("{}: error: input '{}': {}", file_, in.name(), v.error().message);
      values_[in.name()] = *v;
      continue;
    }
    if (!in.type().has_tensor_type())
      return makeError("{}: error: input '{}' is not a tensor, which is unsupported", file_, in.name());
    const auto &tt = in.type().tensor_type();
    auto dt = dtypeFromOnnx(tt.elem_type());
    if (!dt)
      return makeError("{}: error: input '{}': {}", file_, in.name(), dt.error().message);
    Type type;
    type.dtype = *dt;
    if (!tt.has_shape())
      return makeError("{}: error: input '{}' has no shape (its rank is unknown), which is unsupported", file_, in.name());
    int64_t elements = 1;
    for (const auto &d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0 || __builtin_mul_overflow(elements, d.dim_value(), &elements))
          return makeError("{}: error: input '{}': dimension {} is negative or overflows", file_, in.name(), d.dim_value());
        type.shape.push_back(Dim::of(d.dim_value()));
      } else if (d.has_dim_param() && !d.dim_param().empty()) {
        std::string sym;
        for (char c : d.dim_param())
          sym += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
        if (std::isdigit(static_cast<unsigned char>(sym[0])))
          sym = "d" + sym;
        type.shape.push_back(Dim::symbol(sym));
      } else {
        type.shape.push_back(Dim::unknown());
      }
    }
    auto v = g_.addInput(in.name(), type);
    if (!v)
      return makeError("{}: error: input '{}': {}", file_, in.name(), v.error().message);
    values_[in.name()] = *v;
  }
  return {};
}

Expected<Graph> Importer::run() {
  KILN_TRY(checkSupported());
  KILN_TRY(checkOpset());
  KILN_TRY(checkSchemas());
  const auto &graph = model_.graph();
  g_.setName(graph.name().empty() ? "main" : graph.name());
  for (const auto &n : graph.node())
    for (const auto &o : n.output())
      onnxNames_.insert(o);
  for (const auto &i : graph.input())
    onnxNames_.insert(i.name());
  for (const auto &t : graph.initializer())
    onnxNames_.insert(t.name());
  for (const auto &n : graph.node())
    if (const OnnxOp *op = findOnnxOp(n.op_type()))
      for (int i : op->constInputs)
        if (i < n.input_size())
          constInputNames_.insert(n.input(i));
  auto order = sortNodes();
  if (!order)
    return order.error();
  KILN_TRY(declareValues());
  // Every node that cannot be imported is reported, not just the first: a
  // failed node's outputs are left undefined and the nodes that read them
  // are skipped (their inputs, not they, are what is wrong).
  std::vector<std::string> failures;
  std::set<std::string> undefined;
  for (const ::onnx::NodeProto *n : *order) {
    bool readsUndefined = false;
    for (const auto &in : n->input())
      readsUndefined |= undefined.count(in) != 0;
    std::string failure;
    if (!readsUndefined) {
      NodeCtx ctx(*this, *n);
      if (auto s = findOnnxOp(n->op_type())->convert(ctx); !s)
        failure = fmt::format("{}: {}", nodeLabel(*n), s.error().message);
      for (const auto &o : n->output())
        if (failure.empty() && !o.empty() && !values_.count(o))
          failure = fmt::format("{}: output '{}' is unsupported", nodeLabel(*n), o);
    }
    if (!readsUndefined && failure.empty())
      continue;
    if (!failure.empty())
      failures.push_back(failure);
    for (const auto &o : n->output())
      undefined.insert(o);
  }
  if (failures.size() == 1)
    return makeError("{}: error: {}", file_, failures[0]);
  if (!failures.empty()) {
    bool unsupported = false;
    std::string list;
    for (const std::string &f : failures) {
      unsupported |= f.find("unsupported") != std::string::npos;
      list += "\n  " + f;
    }
    return makeError("{}: error: {} nodes cannot be imported{}:{}", file_, failures.size(),
                     unsupported ? " (some use what is unsupported)" : "", list);
  }
  for (const auto &out : graph.output()) {
    auto v = value(out.name());
    if (!v)
      return makeError("{}: error: graph output '{}' is never defined", file_, out.name());
    KILN_TRY(g_.addOutput(*v));
  }
  return std::move(g_);
}

} // namespace kiln::onnximport

namespace kiln {

Expected<ir::Graph> importOnnxBytes(std::string_view bytes, std::string_view name, const OnnxImportOptions &options) {
  ::onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return makeError("{}: error: not a valid ONNX model (the protobuf does not parse; is the file truncated?)", name);
  if (!model.has_graph())
    return makeError("{}: error: not a valid ONNX model (it has no graph)", name);
  return onnximport::Importer(model, std::string(name), options).run();
}

Expected<ir::Graph> importOnnx(const std::string &path, const OnnxImportOptions &options) {
  // A protobuf holds at most 2 GiB; the memory limit may be lower.
  auto bytes = readFile(path, std::min<int64_t>(ir::memoryLimit(), INT32_MAX));
  if (!bytes)
    return bytes.error();
  return importOnnxBytes(*bytes, path, options);
}

Expected<std::vector<std::string>> onnxInputNames(const std::string &path) {
  auto bytes = readFile(path, std::min<int64_t>(ir::memoryLimit(), INT32_MAX));
  if (!bytes)
    return bytes.error();
  ::onnx::ModelProto model;
  if (bytes->size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) || !model.has_graph())
    return makeError("{}: error: not a valid ONNX model (the protobuf does not parse; is the file truncated?)", path);
  std::set<std::string> initializers;
  for (const auto &t : model.graph().initializer())
    initializers.insert(t.name());
  std::vector<std::string> names;
  for (const auto &in : model.graph().input())
    if (!initializers.count(in.name()))
      names.push_back(in.name());
  return names;
}

Expected<ir::HostTensor> loadOnnxTensor(const std::string &path, std::string *name) {
  auto bytes = readFile(path);
  if (!bytes)
    return bytes.error();
  ::onnx::TensorProto t;
  if (!t.ParseFromString(*bytes))
    return makeError("{}: error: not a serialized ONNX TensorProto", path);
  // ONNX's test data stores bf16 as its bits in UINT16 tensors (NumPy has
  // no bfloat16); kiln has no uint16, so such a file is bf16.
  if (t.data_type() == ::onnx::TensorProto::UINT16)
    t.set_data_type(::onnx::TensorProto::BFLOAT16);
  if (name)
    *name = t.name();
  auto r = onnximport::tensorFromProto(t);
  if (!r)
    return makeError("{}: error: {}", path, r.error().message);
  return r;
}

} // namespace kiln
