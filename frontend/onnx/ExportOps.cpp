//===- frontend/onnx/ExportOps.cpp - Each kiln op as ONNX nodes -----------===//
//
// One case per op of the table (no default: a new op must say how it
// exports). Most are one ONNX node of the same meaning; a few are short
// compositions where opset 17 has no such op (expm1, log1p, rsqrt, gelu,
// matmul's transposes); the gradient and training ops are in ExportGrad.cpp.
// What ONNX cannot say at opset 17 is an error naming the node.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Exporter.h"

namespace kiln::onnxexport {

using namespace ir;

namespace {

/// Window attributes (conv, pooling): ONNX's names, empty lists left out
/// (ONNX's defaults are kiln's: 1s and 0s).
std::vector<OAttr> windowAttrs(const AttrView &a, bool withDilation = true) {
  std::vector<OAttr> out;
  auto add = [&](const char *kiln, const char *onnx) {
    if (a.declares(kiln) && !a.getInts(kiln).empty())
      out.push_back({onnx, a.getInts(kiln)});
  };
  add("kernel", "kernel_shape");
  add("stride", "strides");
  add("pad", "pads");
  if (withDilation)
    add("dilation", "dilations");
  if (a.declares("groups"))
    out.push_back({"group", a.getInt("groups")});
  if (a.declares("ceil_mode"))
    out.push_back({"ceil_mode", int64_t{a.getBool("ceil_mode")}});
  return out;
}

bool allOnes(const std::vector<int64_t> &v) {
  for (int64_t x : v)
    if (x != 1)
      return false;
  return true;
}

/// ONNX's reductions of opset 17 for scatter ops: none, add and mul.
Expected<std::string> scatterReduction(Emitter &e, const Node &n) {
  std::string r = n.attrView().getString("reduction");
  if (r != "none" && r != "add" && r != "mul")
    return e.error(n, fmt::format("reduction '{}' needs ONNX opset 18 (kiln exports 17)", r));
  return r;
}

/// matmul's operand, transposed in its last two dims when `t`.
std::string maybeTranspose(Emitter &e, const std::string &v, const Type &t, bool transpose) {
  if (!transpose || t.rank() < 2)
    return v;
  std::vector<int64_t> perm;
  for (int i = 0; i < t.rank(); ++i)
    perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return e.op("Transpose", {v}, {{"perm", perm}});
}

/// broadcast_to's target as Expand's shape: 1 where the operand already
/// has the dim (Expand broadcasts both ways), else the dim itself.
Expected<std::string> expandShape(Emitter &e, const Type &x, const Shape &target) {
  Shape s = target;
  size_t offset = target.size() - std::min(target.size(), x.shape.size());
  for (size_t i = offset; i < target.size(); ++i)
    if (x.shape[i - offset] == target[i])
      s[i] = Dim::of(1);
  return e.shape(s);
}

Status exportResize(Emitter &e, const Node &n, const std::vector<std::string> &in,
                    const std::vector<std::string> &out) {
  AttrView a = n.attrView();
  const std::vector<double> &scales = a.getFloats("scales"), &roi = a.getFloats("roi");
  const std::vector<int64_t> &sizes = a.getInts("sizes");
  bool partialSizes = std::find(sizes.begin(), sizes.end(), -1) != sizes.end();
  if (!sizes.empty() && !scales.empty() && !partialSizes)
    return e.error(n, "both scales and sizes are given");
  auto floats = [&](const std::vector<double> &v) {
    HostTensor t(DType::F32, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i)
      t.set(static_cast<int64_t>(i), v[i]);
    return e.tensor(t, "floats");
  };
  std::string roiIn = roi.empty() ? "" : floats(roi), scalesIn, sizesIn;
  if (partialSizes) {
    // Sizes for some dims, scales for the rest: ONNX takes one or the
    // other, so the sizes come from the result's type.
    const Type &t = e.type(n.results[0]);
    Shape full = t.shape;
    for (size_t i = 0; i < sizes.size() && i < full.size(); ++i)
      if (sizes[i] >= 0)
        full[i] = Dim::of(sizes[i]);
    KILN_ASSIGN(sizesIn, e.shape(full));
  } else if (!sizes.empty()) {
    sizesIn = e.ints(sizes);
  } else {
    scalesIn = floats(scales);
  }
  if (!sizesIn.empty() && scalesIn.empty())
    scalesIn = "";
  e.node("Resize", {in[0], roiIn, scalesIn, sizesIn}, out,
         {{"mode", a.getString("mode")},
          {"coordinate_transformation_mode", a.getString("coordinate_transformation_mode")},
          {"nearest_mode", a.getString("nearest_mode")},
          {"cubic_coeff_a", a.getFloat("cubic_coeff_a")},
          {"exclude_outside", int64_t{a.getBool("exclude_outside")}},
          {"extrapolation_value", a.getFloat("extrapolation_value")}});
  return {};
}

Status exportClip(Emitter &e, const Node &n, const std::vector<std::string> &in, const std::vector<std::string> &out) {
  AttrView a = n.attrView();
  DType dt = e.type(n.operands[0]).dtype;
  auto bound = [&](double v) { return std::isinf(v) ? std::string() : e.scalar(v, dt); };
  double lo = a.getFloat("min"), hi = a.getFloat("max");
  std::string loIn = isFloat(dt) ? e.scalar(lo, dt) : bound(lo), hiIn = isFloat(dt) ? e.scalar(hi, dt) : bound(hi);
  e.node("Clip", {in[0], loIn, hiIn}, out);
  return {};
}

Status exportDropout(Emitter &e, const Node &n, const std::vector<std::string> &in,
                     const std::vector<std::string> &out) {
  if (n.operands.size() > 1)
    return e.error(n, "dropout with an offset operand (a mask per training step) has no ONNX form");
  AttrView a = n.attrView();
  // Training mode, with kiln's seed: ONNX leaves the mask to the runtime,
  // and kiln's importer reads a kiln-made Dropout back as its own.
  e.node("Dropout", {in[0], e.scalar(a.getFloat("ratio"), e.type(n.operands[0]).dtype), e.scalar(1, DType::Bool)},
         out, {{"seed", a.getInt("seed")}});
  return {};
}

} // namespace

Status exportNode(Emitter &e, const Node &n) {
  std::vector<std::string> in = e.names(n.operands), out = e.names(n.results);
  AttrView a = n.attrView();
  DType dt = n.results.empty() ? DType::F32 : e.type(n.results[0]).dtype;
  auto simple = [&e, &in, &out](std::string_view op, const std::vector<OAttr> &attrs = {}) -> Status {
    e.node(op, in, out, attrs);
    return {};
  };
  auto reduce = [&](std::string_view op) -> Status {
    const std::vector<int64_t> &axes = a.getInts("axes");
    std::vector<OAttr> attrs = {{"keepdims", int64_t{a.getBool("keepdims")}}};
    if (op == "ReduceSum") { // axes an input from opset 13
      e.node(op, {in[0], axes.empty() ? "" : e.ints(axes)}, out, attrs);
      return {};
    }
    if (!axes.empty())
      attrs.push_back({"axes", axes});
    e.node(op, in, out, attrs);
    return {};
  };
  auto argReduce = [&](std::string_view op) {
    return simple(op, {{"axis", a.getInt("axis")},
                       {"keepdims", int64_t{a.getBool("keepdims")}},
                       {"select_last_index", int64_t{a.getBool("select_last_index")}}});
  };
  auto noLayout = [&]() -> Status {
    if (a.has("out_layout"))
      return e.error(n, "out_layout is set by the layout pass: export the graph before the passes");
    return {};
  };
  switch (n.op) {
  case OpKind::Neg: return simple("Neg");
  case OpKind::Abs: return simple("Abs");
  case OpKind::Exp: return simple("Exp");
  case OpKind::Expm1: e.node("Sub", {e.op("Exp", in), e.scalar(1, dt)}, out); return {};
  case OpKind::Log: return simple("Log");
  case OpKind::Log1p: e.node("Log", {e.op("Add", {in[0], e.scalar(1, dt)})}, out); return {};
  case OpKind::Sqrt: return simple("Sqrt");
  case OpKind::Rsqrt: e.node("Reciprocal", {e.op("Sqrt", in)}, out); return {};
  case OpKind::Reciprocal: return simple("Reciprocal");
  case OpKind::Tanh: return simple("Tanh");
  case OpKind::Sigmoid: return simple("Sigmoid");
  case OpKind::Relu: return simple("Relu");
  case OpKind::LeakyRelu: return simple("LeakyRelu", {{"alpha", a.getFloat("alpha")}});
  case OpKind::Elu: return simple("Elu", {{"alpha", a.getFloat("alpha")}});
  case OpKind::Selu: return simple("Selu", {{"alpha", a.getFloat("alpha")}, {"gamma", a.getFloat("gamma")}});
  case OpKind::Softplus: return simple("Softplus");
  case OpKind::Softsign: return simple("Softsign");
  case OpKind::HardSwish: return simple("HardSwish");
  case OpKind::Gelu: { // ONNX's Gelu is opset 20: x/2 (1 + erf(x / sqrt 2))
    std::string erf = e.op("Erf", {e.op("Mul", {in[0], e.scalar(0.70710678118654752440, dt)})});
    e.node("Mul", {e.op("Mul", {in[0], e.scalar(0.5, dt)}), e.op("Add", {erf, e.scalar(1, dt)})}, out);
    return {};
  }
  case OpKind::Sign: return simple("Sign");
  case OpKind::Floor: return simple("Floor");
  case OpKind::Ceil: return simple("Ceil");
  case OpKind::Round: return simple("Round");
  case OpKind::Erf: return simple("Erf");
  case OpKind::Sin: return simple("Sin");
  case OpKind::Cos: return simple("Cos");
  case OpKind::Atan: return simple("Atan");
  case OpKind::Asin: return simple("Asin");
  case OpKind::Acos: return simple("Acos");
  case OpKind::Asinh: return simple("Asinh");
  case OpKind::Acosh: return simple("Acosh");
  case OpKind::Atanh: return simple("Atanh");
  case OpKind::Add: return simple("Add");
  case OpKind::Sub: return simple("Sub");
  case OpKind::Mul: return simple("Mul");
  case OpKind::Div: return simple("Div");
  case OpKind::Pow: return simple("Pow");
  case OpKind::Fmod: return simple("Mod", {{"fmod", int64_t{1}}});
  case OpKind::Max: return simple("Max");
  case OpKind::Min: return simple("Min");
  case OpKind::Equal: return simple("Equal");
  case OpKind::Less: return simple("Less");
  case OpKind::Greater: return simple("Greater");
  case OpKind::And: return simple("And");
  case OpKind::Or: return simple("Or");
  case OpKind::Select: return simple("Where");
  case OpKind::Cast: return simple("Cast", {{"to", int64_t{onnxDType(a.getDType("to"))}}});
  case OpKind::Clip: return exportClip(e, n, in, out);
  case OpKind::ReduceSum: return reduce("ReduceSum");
  case OpKind::ReduceMean: return reduce("ReduceMean");
  case OpKind::ReduceMax: return reduce("ReduceMax");
  case OpKind::ReduceMin: return reduce("ReduceMin");
  case OpKind::ReduceProd: return reduce("ReduceProd");
  case OpKind::ArgMax: return argReduce("ArgMax");
  case OpKind::ArgMin: return argReduce("ArgMin");
  case OpKind::MatMul:
    e.node("MatMul",
           {maybeTranspose(e, in[0], e.type(n.operands[0]), a.getBool("transpose_a")),
            maybeTranspose(e, in[1], e.type(n.operands[1]), a.getBool("transpose_b"))},
           out);
    return {};
  case OpKind::Conv: KILN_TRY(noLayout()); return simple("Conv", windowAttrs(a));
  case OpKind::ConvTranspose: {
    KILN_TRY(noLayout());
    std::vector<OAttr> attrs = windowAttrs(a);
    if (!a.getInts("output_padding").empty())
      attrs.push_back({"output_padding", a.getInts("output_padding")});
    return simple("ConvTranspose", attrs);
  }
  case OpKind::ConvGradInput: KILN_TRY(noLayout()); return exportConvGradInput(e, n);
  case OpKind::ConvGradWeight: KILN_TRY(noLayout()); return exportConvGradWeight(e, n);
  case OpKind::MaxPool: return simple("MaxPool", windowAttrs(a));
  case OpKind::AvgPool:
    if (!allOnes(a.getInts("dilation")))
      return e.error(n, "average pooling with dilations needs ONNX opset 19 (kiln exports 17)");
    {
      std::vector<OAttr> attrs = windowAttrs(a, false);
      attrs.push_back({"count_include_pad", int64_t{a.getBool("count_include_pad")}});
      return simple("AveragePool", attrs);
    }
  case OpKind::GlobalAvgPool: return simple("GlobalAveragePool");
  case OpKind::GlobalMaxPool: return simple("GlobalMaxPool");
  case OpKind::MaxPoolGrad: return exportMaxPoolGrad(e, n);
  case OpKind::AvgPoolGrad: return exportAvgPoolGrad(e, n);
  case OpKind::Identity: return simple("Identity");
  case OpKind::Reshape: e.node("Reshape", {in[0], e.ints(a.getInts("shape"))}, out); return {};
  case OpKind::Transpose:
    return a.getInts("perm").empty() ? simple("Transpose") : simple("Transpose", {{"perm", a.getInts("perm")}});
  case OpKind::BroadcastTo: {
    auto shape = expandShape(e, e.type(n.operands[0]), a.getShape("shape"));
    if (!shape)
      return e.error(n, shape.error().message);
    e.node("Expand", {in[0], *shape}, out);
    return {};
  }
  case OpKind::Concat:
    if (a.has("out_layout"))
      return e.error(n, "out_layout is set by the layout pass: export the graph before the passes");
    return simple("Concat", {{"axis", a.getInt("axis")}});
  case OpKind::Slice:
    e.node("Slice",
           {in[0], e.ints(a.getInts("starts")), e.ints(a.getInts("ends")),
            a.getInts("axes").empty() ? "" : e.ints(a.getInts("axes")),
            a.getInts("steps").empty() ? "" : e.ints(a.getInts("steps"))},
           out);
    return {};
  case OpKind::Pad:
    e.node("Pad", {in[0], e.ints(a.getInts("pads")), e.scalar(a.getFloat("value"), dt)}, out,
           {{"mode", a.getString("mode")}});
    return {};
  case OpKind::Gather: return simple("Gather", {{"axis", a.getInt("axis")}});
  case OpKind::GatherElements: return simple("GatherElements", {{"axis", a.getInt("axis")}});
  case OpKind::OneHot: {
    HostTensor values(dt, {2});
    values.set(0, 0);
    values.set(1, 1);
    e.node("OneHot", {in[0], e.ints({a.getInt("depth")}), e.tensor(values, "values")}, out,
           {{"axis", a.getInt("axis")}});
    return {};
  }
  case OpKind::LayoutConvert:
    return e.error(n, "layout_convert is made by the layout pass: export the graph before the passes");
  case OpKind::TopK:
    e.node("TopK", {in[0], e.ints({a.getInt("k")})}, {e.fresh(out[0] + "_values"), out[0]},
           {{"axis", a.getInt("axis")}, {"largest", int64_t{a.getBool("largest")}}, {"sorted", int64_t{1}}});
    return {};
  case OpKind::ScatterElements: {
    KILN_ASSIGN(std::string r, scatterReduction(e, n));
    return simple("ScatterElements", {{"axis", a.getInt("axis")}, {"reduction", r}});
  }
  case OpKind::GatherND: return simple("GatherND", {{"batch_dims", a.getInt("batch_dims")}});
  case OpKind::ScatterND: {
    KILN_ASSIGN(std::string r, scatterReduction(e, n));
    return simple("ScatterND", {{"reduction", r}});
  }
  case OpKind::Resize: return exportResize(e, n, in, out);
  case OpKind::CumSum: {
    HostTensor axis(DType::I64, {});
    axis.setInt(0, a.getInt("axis"));
    e.node("CumSum", {in[0], e.tensor(axis, "axis")}, out,
           {{"exclusive", int64_t{a.getBool("exclusive")}}, {"reverse", int64_t{a.getBool("reverse")}}});
    return {};
  }
  case OpKind::Softmax: return simple("Softmax", {{"axis", a.getInt("axis")}});
  case OpKind::LogSoftmax: return simple("LogSoftmax", {{"axis", a.getInt("axis")}});
  case OpKind::SoftmaxCrossEntropy: {
    std::vector<OAttr> attrs = {{"reduction", a.getString("reduction")}};
    if (a.has("ignore_index"))
      attrs.push_back({"ignore_index", a.getInt("ignore_index")});
    DType lt = e.type(n.operands[1]).dtype;
    if (lt != DType::I64 && lt != DType::I32) // ONNX's labels are int32 or int64
      in[1] = e.op("Cast", {in[1]}, {{"to", int64_t{onnxDType(DType::I64)}}});
    return simple("SoftmaxCrossEntropyLoss", attrs);
  }
  case OpKind::BatchNormTrain: return exportBatchNormTrain(e, n);
  case OpKind::BatchNormInfer: return simple("BatchNormalization", {{"epsilon", a.getFloat("epsilon")}});
  case OpKind::BatchNormGrad: return exportBatchNormGrad(e, n);
  case OpKind::Dropout: return exportDropout(e, n, in, out);
  case OpKind::Fused:
    return e.error(n, "a fused kernel is made by the fuse pass: export the graph before the passes");
  }
  return e.error(n, "no ONNX form");
}

} // namespace kiln::onnxexport
