//===- frontend/onnx/NodeCtx.cpp - ONNX import: a converter's helpers -----===//
#include "frontend/onnx/Importer.h"
#include "ir/TypeRules.h"

namespace kiln::onnximport {

using namespace ir;

int64_t NodeCtx::opset() const { return im_.opset(); }
bool NodeCtx::madeByKiln() const { return im_.madeByKiln(); }

int NodeCtx::numInputs() const {
  int n = node_.input_size();
  while (n > 0 && node_.input(n - 1).empty())
    --n;
  return n;
}

Expected<ValueId> NodeCtx::in(int i) const {
  if (!hasInput(i))
    return error(fmt::format("input {} is missing", i));
  return im_.value(node_.input(i));
}

Expected<std::pair<ValueId, ValueId>> NodeCtx::binaryIn() {
  KILN_ASSIGN(ValueId a, in(0));
  KILN_ASSIGN(ValueId b, in(1));
  if (opset() >= 7 || attrInt("broadcast", 0) == 0)
    return std::pair{a, b};
  const Shape sa = typeOf(a).shape, sb = typeOf(b).shape;
  int64_t axis = attrInt("axis", static_cast<int64_t>(sa.size()) - static_cast<int64_t>(sb.size()));
  if (axis < 0)
    axis += static_cast<int64_t>(sa.size());
  if (axis < 0 || axis + sb.size() > sa.size())
    return error(fmt::format("legacy broadcast of {} onto {} from axis {} does not fit", toString(sb), toString(sa),
                             attrInt("axis", axis)));
  Shape shape(static_cast<size_t>(axis), Dim::of(1));
  shape.insert(shape.end(), sb.begin(), sb.end());
  shape.resize(sa.size(), Dim::of(1));
  KILN_ASSIGN(b, reshapeTo(b, shape));
  return std::pair{a, b};
}

ir::Graph &NodeCtx::graph() { return im_.graph(); }

Type NodeCtx::typeOf(ValueId v) const { return im_.graph().type(v); }

Expected<HostTensor> NodeCtx::constIn(int i) const {
  auto v = in(i);
  if (!v)
    return v.error();
  auto c = im_.constantValue(*v);
  if (!c)
    return unsupported(fmt::format("input '{}' must be known when the model is imported: {}", node_.input(i),
                                   c.error().message));
  return c;
}

Expected<ShapeElems> NodeCtx::shapeIn(int i) const {
  KILN_ASSIGN(ValueId v, in(i));
  auto e = im_.shapeElems(v);
  if (!e)
    return unsupported(fmt::format("input '{}' must be known when the model is imported or computed from shapes: {}",
                                   node_.input(i), e.error().message));
  return e;
}

void NodeCtx::setShapeElems(ValueId v, ShapeElems e) { im_.setShapeElems(v, std::move(e)); }

Expected<std::vector<int64_t>> NodeCtx::constInts(int i) const {
  auto t = constIn(i);
  if (!t) {
    // Constants that a shape computation gives (a static dim picked out of
    // a symbolic shape) are known too.
    KILN_ASSIGN(ValueId v, in(i));
    auto e = im_.shapeElems(v);
    if (!e)
      return t.error();
    std::vector<int64_t> out;
    for (const ShapeElem &x : *e) {
      if (x.symbolic())
        return unsupported(fmt::format("input '{}' is {} at run time, where kiln needs it known at import",
                                       node_.input(i), shapeText(*e)));
      out.push_back(x.value);
    }
    return out;
  }
  if (!isInteger(t->dtype()))
    return error(fmt::format("input '{}' must be an integer tensor", node_.input(i)));
  std::vector<int64_t> out;
  for (int64_t k = 0; k < t->numElements(); ++k)
    out.push_back(t->getInt(k));
  return out;
}

const ::onnx::AttributeProto *NodeCtx::attr(std::string_view name) const {
  for (const auto &a : node_.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

bool NodeCtx::hasAttr(std::string_view name) const { return attr(name) != nullptr; }

int64_t NodeCtx::attrInt(std::string_view name, int64_t def) const {
  const auto *a = attr(name);
  return a ? a->i() : def;
}

double NodeCtx::attrFloat(std::string_view name, double def) const {
  const auto *a = attr(name);
  return a ? a->f() : def;
}

std::string NodeCtx::attrString(std::string_view name, std::string def) const {
  const auto *a = attr(name);
  return a ? a->s() : def;
}

std::vector<int64_t> NodeCtx::attrInts(std::string_view name) const {
  const auto *a = attr(name);
  if (!a)
    return {};
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

Expected<std::vector<ValueId>> NodeCtx::emitMulti(OpKind op, std::vector<ValueId> operands, const AttrList &attrs) {
  std::vector<std::string> names;
  std::string base = fmt::format("{}.{}", node_.output_size() ? node_.output(0) : "t", opInfo(op).name);
  for (int i = 0; i < opInfo(op).numResults; ++i)
    names.push_back(im_.tempName(i ? fmt::format("{}.{}", base, i) : base));
  auto r = im_.graph().addNode(op, std::move(operands), attrs, names);
  if (!r)
    return error(r.error().message);
  return r;
}

Expected<ValueId> NodeCtx::emit(OpKind op, std::vector<ValueId> operands, const AttrList &attrs) {
  auto r = emitMulti(op, std::move(operands), attrs);
  if (!r)
    return r.error();
  return (*r)[0];
}

Expected<ValueId> NodeCtx::constant(HostTensor t) {
  auto v = im_.graph().addConst(im_.tempName(fmt::format("{}.const", node_.output_size() ? node_.output(0) : "c")), std::move(t));
  if (!v)
    return error(v.error().message);
  return v;
}

Expected<ValueId> NodeCtx::scalar(double v, DType dt) { return constant(HostTensor::scalar(dt, v)); }

Expected<ValueId> NodeCtx::reshapeTo(ValueId x, const Shape &shape) {
  const Shape in = typeOf(x).shape;
  // kiln's reshape reads 0 as "copy": a literal 0 is exact only over an input dim of 0.
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i].isConst() && shape[i].value == 0 && !(i < in.size() && in[i] == shape[i]))
      return unsupported("a reshape to a literal size 0");
  auto spec = reshapeSpec(in, shape);
  if (!spec)
    return unsupported(spec.error().message);
  return emit(OpKind::Reshape, {x}, {{"shape", *spec}});
}

Status NodeCtx::bind(int i, ValueId v) {
  if (i >= node_.output_size() || node_.output(i).empty())
    return {};
  const std::string &name = node_.output(i);
  // Give the value its ONNX name when it has a temporary one; else alias it.
  const Value &val = im_.graph().value(v);
  if ((val.kind == ValueKind::Result || val.kind == ValueKind::Const) && im_.graph().lookup(name) == kNoValue && val.name != name &&
      !im_.onnxNames_.count(val.name)) {
    if (auto s = im_.graph().rename(v, name); !s)
      return error(s.error().message);
  }
  return im_.bindName(name, v);
}

Status NodeCtx::checkConstantSize(int64_t elements) const {
  if (elements < 0 || elements > (int64_t{1} << 28))
    return unsupported(fmt::format("a constant of {} elements made at import", elements));
  return {};
}

Error NodeCtx::unsupported(const std::string &what) const { return makeError("unsupported: {}", what); }
Error NodeCtx::error(const std::string &what) const { return Error{what}; }

} // namespace kiln::onnximport
