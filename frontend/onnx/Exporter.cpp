//===- frontend/onnx/Exporter.cpp - ONNX export: model, values, checker ---===//
//
// The straight line of an export: the model's header (IR version 8, opset
// 17, producer kiln), graph inputs with their shapes, parameters and
// constants as initializers, each node through exportNode (ExportOps.cpp),
// the outputs with their shapes, then ONNX's full check of the result.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Exporter.h"

#include "ir/DimExpr.h"
#include "ir/File.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <cctype>
#include <exception>

namespace kiln::onnxexport {

using namespace ir;
using TP = ::onnx::TensorProto;

int32_t onnxDType(DType dt) {
  switch (dt) {
  case DType::F32: return TP::FLOAT;
  case DType::F64: return TP::DOUBLE;
  case DType::F16: return TP::FLOAT16;
  case DType::BF16: return TP::BFLOAT16;
  case DType::I64: return TP::INT64;
  case DType::I32: return TP::INT32;
  case DType::I8: return TP::INT8;
  case DType::U8: return TP::UINT8;
  case DType::Bool: return TP::BOOL;
  }
  return TP::UNDEFINED;
}

namespace {

void fillTensor(TP &t, const HostTensor &h, const std::string &name) {
  t.set_name(name);
  t.set_data_type(onnxDType(h.dtype()));
  for (int64_t d : h.sizes())
    t.add_dims(d);
  if (h.byteSize())
    t.set_raw_data(reinterpret_cast<const char *>(h.data()), h.byteSize());
}

/// A value's type as ONNX writes it: a named symbol becomes a dim_param,
/// an expression an unnamed dim (ONNX's inference refines it).
void fillType(::onnx::ValueInfoProto &vi, const std::string &name, const Type &t) {
  vi.set_name(name);
  auto *tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnxDType(t.dtype));
  auto *shape = tt->mutable_shape();
  for (const Dim &d : t.shape) {
    auto *od = shape->add_dim();
    if (d.isConst())
      od->set_dim_value(d.value);
    else if (isNamedSymbol(d))
      od->set_dim_param(d.sym);
  }
}

void setAttr(::onnx::AttributeProto &p, const OAttr &a) {
  using AP = ::onnx::AttributeProto;
  p.set_name(a.name);
  if (const auto *i = std::get_if<int64_t>(&a.value)) {
    p.set_type(AP::INT);
    p.set_i(*i);
  } else if (const auto *f = std::get_if<double>(&a.value)) {
    p.set_type(AP::FLOAT);
    p.set_f(static_cast<float>(*f));
  } else if (const auto *s = std::get_if<std::string>(&a.value)) {
    p.set_type(AP::STRING);
    p.set_s(*s);
  } else if (const auto *is = std::get_if<std::vector<int64_t>>(&a.value)) {
    p.set_type(AP::INTS);
    for (int64_t v : *is)
      p.add_ints(v);
  } else if (const auto *fs = std::get_if<std::vector<double>>(&a.value)) {
    p.set_type(AP::FLOATS);
    for (double v : *fs)
      p.add_floats(static_cast<float>(v));
  } else {
    p.set_type(AP::TENSOR);
    fillTensor(*p.mutable_t(), std::get<HostTensor>(a.value), "");
  }
}

} // namespace

Emitter::Emitter(const Graph &g, ::onnx::GraphProto &out) : g_(g), out_(out) {
  names_.reserve(g.numValues());
  for (size_t v = 0; v < g.numValues(); ++v) {
    std::string n = g.nameOf(static_cast<ValueId>(v));
    names_.push_back(used_.count(n) || n.empty() ? fresh(n.empty() ? "v" : n) : n);
    used_.insert(names_.back());
  }
}

std::vector<std::string> Emitter::names(const std::vector<ValueId> &vs) const {
  std::vector<std::string> out;
  for (ValueId v : vs)
    out.push_back(v == kNoValue ? std::string() : name(v));
  return out;
}

std::string Emitter::fresh(std::string_view base) {
  for (int i = 0;; ++i) {
    std::string n = fmt::format("{}__{}", base, i);
    if (used_.insert(n).second)
      return n;
  }
}

std::vector<std::string> Emitter::node(std::string_view op, std::vector<std::string> inputs,
                                       std::vector<std::string> outputs, const std::vector<OAttr> &attrs) {
  auto *n = out_.add_node();
  n->set_op_type(std::string(op));
  n->set_name(outputs.empty() ? fresh(op) : outputs[0]);
  while (!inputs.empty() && inputs.back().empty())
    inputs.pop_back(); // trailing optional inputs left out
  for (const std::string &i : inputs)
    n->add_input(i);
  for (const std::string &o : outputs)
    n->add_output(o);
  for (const OAttr &a : attrs)
    setAttr(*n->add_attribute(), a);
  return outputs;
}

std::string Emitter::op(std::string_view opType, std::vector<std::string> inputs, const std::vector<OAttr> &attrs) {
  std::string out = fresh(opType);
  node(opType, std::move(inputs), {out}, attrs);
  return out;
}

std::string Emitter::tensor(const HostTensor &t, std::string_view base) {
  std::string n = fresh(base);
  fillTensor(*out_.add_initializer(), t, n);
  return n;
}

std::string Emitter::ints(const std::vector<int64_t> &v) {
  HostTensor t(DType::I64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i)
    t.setInt(static_cast<int64_t>(i), v[i]);
  return tensor(t, "ints");
}

std::string Emitter::scalar(double v, DType dt) {
  HostTensor t(dt, {});
  t.set(0, v);
  return tensor(t, "scalar");
}

Expected<std::string> Emitter::symbol(const std::string &sym) {
  if (auto it = symbolTensors_.find(sym); it != symbolTensors_.end())
    return it->second;
  for (ValueId v : g_.inputs()) {
    const Shape &s = g_.type(v).shape;
    for (size_t axis = 0; axis < s.size(); ++axis)
      if (s[axis].isSymbol() && s[axis].sym == sym) {
        std::string d = op("Gather", {op("Shape", {name(v)}), ints({static_cast<int64_t>(axis)})});
        return symbolTensors_[sym] = d;
      }
  }
  return makeError("the symbolic dim '{}' is no graph input's dim, so the exported model cannot compute it", sym);
}

// The canonical text of a dim expression (ir/DimExpr.h): sums and products
// of sizes, names and parenthesized floor quotients, read left to right.
Expected<std::string> Emitter::factor(std::string_view text, size_t &pos) {
  if (pos < text.size() && text[pos] == '(') {
    ++pos;
    KILN_ASSIGN(std::string inner, expression(text, pos));
    if (pos >= text.size() || text[pos] != ')')
      return makeError("dim expression '{}': a ')' is missing", text);
    ++pos;
    return inner;
  }
  size_t start = pos;
  while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_'))
    ++pos;
  std::string atom(text.substr(start, pos - start));
  if (atom.empty())
    return makeError("dim expression '{}': no size or name at {}", text, start);
  if (std::isdigit(static_cast<unsigned char>(atom[0])))
    return ints({std::stoll(atom)});
  return symbol(atom);
}

Expected<std::string> Emitter::term(std::string_view text, size_t &pos) {
  KILN_ASSIGN(std::string acc, factor(text, pos));
  while (pos < text.size() && (text[pos] == '*' || text[pos] == '/')) {
    char o = text[pos++];
    KILN_ASSIGN(std::string rhs, factor(text, pos));
    acc = op(o == '*' ? "Mul" : "Div", {acc, rhs}); // sizes are >= 0: Div's truncation is the floor
  }
  return acc;
}

Expected<std::string> Emitter::expression(std::string_view text, size_t &pos) {
  KILN_ASSIGN(std::string acc, term(text, pos));
  while (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    char o = text[pos++];
    KILN_ASSIGN(std::string rhs, term(text, pos));
    acc = op(o == '+' ? "Add" : "Sub", {acc, rhs});
  }
  return acc;
}

Expected<std::string> Emitter::dim(const Dim &d) {
  if (d.isConst())
    return ints({d.value});
  if (!d.isSymbol())
    return makeError("a dim of unknown size cannot be computed in the exported model");
  if (isNamedSymbol(d))
    return symbol(d.sym);
  size_t pos = 0;
  KILN_ASSIGN(std::string v, expression(d.sym, pos));
  if (pos != d.sym.size())
    return makeError("dim expression '{}': unexpected '{}'", d.sym, d.sym.substr(pos));
  return v;
}

Expected<std::string> Emitter::shape(const Shape &s) {
  std::vector<int64_t> sizes;
  bool known = true;
  for (const Dim &d : s) {
    known = known && d.isConst();
    sizes.push_back(d.value);
  }
  if (known)
    return ints(sizes);
  std::vector<std::string> parts;
  for (const Dim &d : s) {
    KILN_ASSIGN(std::string p, dim(d));
    parts.push_back(p);
  }
  return op("Concat", parts, {{"axis", int64_t{0}}});
}

Error Emitter::error(const Node &n, const std::string &what) const {
  std::string result = n.results.empty() ? std::string() : fmt::format(" %{}", g_.nameOf(n.results[0]));
  return makeError("node{} ({}): {}", result, opInfo(n.op).name, what);
}

namespace {

/// Refuses what only the passes make: layouts other than the logical one.
Status checkLogical(const Graph &g) {
  for (size_t v = 0; v < g.numValues(); ++v) {
    const Type &t = g.type(static_cast<ValueId>(v));
    if (t.layout.kind != Layout::RowMajor)
      return makeError("%{} is stored {}: only a graph in the logical layout exports (export the model as built "
                       "or imported, not after the passes)",
                       g.nameOf(static_cast<ValueId>(v)), layoutName(t.layout));
  }
  return {};
}

} // namespace

} // namespace kiln::onnxexport

namespace kiln {

using namespace ir;
using onnxexport::Emitter;

Status checkOnnxModel(std::string_view bytes, std::string_view name) {
  ::onnx::ModelProto m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return makeError("{}: not a serialized ONNX model", name);
  try {
    ::onnx::checker::check_model(m);
    ::onnx::shape_inference::InferShapes(m, ::onnx::OpSchemaRegistry::Instance(),
                                         ::onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception &e) {
    return makeError("{}: ONNX's checker refuses the model: {}", name, e.what());
  }
  return {};
}

Expected<std::string> exportOnnxBytes(const Graph &g, const OnnxExportOptions &options) {
  if (options.opset != 17)
    return makeError("kiln exports ONNX opset 17, not {}", options.opset);
  KILN_TRY(onnxexport::checkLogical(g));
  if (g.outputs().empty())
    return makeError("graph @{} has no outputs: there is nothing to export", g.name());
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("kiln");
  m.set_producer_version(KILN_VERSION_STRING);
  m.set_doc_string(options.docString);
  auto *opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  ::onnx::GraphProto &gp = *m.mutable_graph();
  gp.set_name(g.name());
  Emitter e(g, gp);
  for (ValueId v : g.inputs())
    onnxexport::fillType(*gp.add_input(), e.name(v), g.type(v));
  for (const Param &p : g.params())
    onnxexport::fillTensor(*gp.add_initializer(), p.data, e.name(p.value));
  for (const Const &c : g.consts())
    onnxexport::fillTensor(*gp.add_initializer(), c.data, e.name(c.value));
  for (const Node &n : g.nodes())
    KILN_TRY(onnxexport::exportNode(e, n));
  std::set<ValueId> written;
  for (ValueId v : g.outputs()) {
    std::string name = e.name(v);
    // An output that is an input, an initializer or an earlier output is
    // a copy of it under its own name.
    if (g.value(v).kind != ValueKind::Result || !written.insert(v).second) {
      name = e.fresh(g.nameOf(v) + "_output");
      e.node("Identity", {e.name(v)}, {name});
    }
    onnxexport::fillType(*gp.add_output(), name, g.type(v));
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes))
    return makeError("graph @{}: the ONNX model does not serialize (over 2 GiB?)", g.name());
  KILN_TRY(checkOnnxModel(bytes, fmt::format("the export of @{}", g.name())));
  return bytes;
}

Status exportOnnx(const Graph &g, const std::string &path, const OnnxExportOptions &options) {
  auto bytes = exportOnnxBytes(g, options);
  if (!bytes)
    return makeError("{}: {}", path, bytes.error().message);
  return writeFileAtomic(path, *bytes);
}

} // namespace kiln
