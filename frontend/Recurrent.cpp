//===- frontend/Recurrent.cpp - RNN, GRU and LSTM over primitives ---------===//
//
// ONNX's equations (operators.md, LSTM/GRU/RNN), one direction at a time:
//
//   LSTM  i = f(Xi + H Ri + Pi.C + b)   f = f(Xf + H Rf + Pf.C + b)
//         c = g(Xc + H Rc + b)          C' = f.C + i.c
//         o = f(Xo + H Ro + Po.C' + b)  H' = o.h(C')
//   GRU   z = f(Xz + H Rz + b)  r = f(Xr + H Rr + b)
//         h = g(Xh + (r.H) Rh + Rbh + Wbh), or with linear_before_reset
//         h = g(Xh + r.(H Rh + Rbh) + Wbh);  H' = (1 - z).h + z.H
//   RNN   H' = f(Xi + H Ri + b)
//
// X's product with W is one matmul over all steps. A row whose sequence
// length has passed keeps its state (H' = H + m (H' - H), m the row's 0/1
// mask for the step) and outputs 0, so the reverse direction starts at each
// row's own last step.
//
//===----------------------------------------------------------------------===//
#include "Recurrent.h"

#include <fmt/format.h>

namespace kiln::recurrent {

using namespace ir;
using Ints = std::vector<int64_t>;

int gates(Cell c) {
  switch (c) {
  case Cell::Rnn: return 1;
  case Cell::Gru: return 3;
  case Cell::Lstm: return 4;
  }
  return 1;
}

std::vector<Activation> defaultActivations(Cell c) {
  switch (c) {
  case Cell::Rnn: return {{"Tanh"}};
  case Cell::Gru: return {{"Sigmoid"}, {"Tanh"}};
  case Cell::Lstm: return {{"Sigmoid"}, {"Tanh"}, {"Tanh"}};
  }
  return {};
}

Expected<Activation> activation(const std::string &name, const std::vector<double> &alphas, size_t &ai,
                                const std::vector<double> &betas, size_t &bi) {
  struct Known {
    const char *name;
    bool alpha, beta;
    double a, b; // ONNX's defaults
  };
  static constexpr Known kKnown[] = {
      {"Sigmoid", false, false, 0, 0},       {"Tanh", false, false, 0, 0},       {"Relu", false, false, 0, 0},
      {"Affine", true, true, 1.0, 0.0},      {"LeakyRelu", true, false, 0.01, 0}, {"ThresholdedRelu", true, false, 1.0, 0},
      {"ScaledTanh", true, true, 1.0, 1.0},  {"HardSigmoid", true, true, 0.2, 0.5}, {"Elu", true, false, 1.0, 0},
      {"Softsign", false, false, 0, 0},      {"Softplus", false, false, 0, 0},
  };
  for (const Known &k : kKnown) {
    if (name != k.name)
      continue;
    Activation a{name, k.a, k.b};
    if (k.alpha && ai < alphas.size())
      a.alpha = alphas[ai++];
    if (k.beta && bi < betas.size())
      a.beta = betas[bi++];
    return a;
  }
  return makeError("activation '{}' is not one ONNX allows (Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, "
                   "ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)",
                   name);
}

namespace {

/// Appends nodes named after the layer.
class Emitter {
public:
  Emitter(Graph &g, std::string prefix, DType dt) : g_(g), prefix_(std::move(prefix)), dt_(dt) {}

  Expected<ValueId> op(OpKind k, std::vector<ValueId> in, const AttrList &attrs = {}) {
    std::string name = g_.freshName(fmt::format("{}.{}", prefix_, opInfo(k).name));
    KILN_ASSIGN(std::vector<ValueId> r, g_.addNode(k, std::move(in), attrs, {name}));
    return r[0];
  }
  Expected<ValueId> scalar(double v) {
    return g_.addConst(g_.freshName(prefix_ + ".k"), HostTensor::scalar(dt_, v));
  }
  Expected<ValueId> slice(ValueId x, int64_t axis, int64_t start, int64_t end) {
    return op(OpKind::Slice, {x}, {{"starts", Ints{start}}, {"ends", Ints{end}}, {"axes", Ints{axis}}});
  }
  Expected<ValueId> reshape(ValueId x, Ints spec) { return op(OpKind::Reshape, {x}, {{"shape", std::move(spec)}}); }
  /// Direction d of a [D, ...] operand, as `spec`.
  Expected<ValueId> part(ValueId x, int64_t d, Ints spec) {
    KILN_ASSIGN(ValueId s, slice(x, 0, d, d + 1));
    return reshape(s, std::move(spec));
  }
  /// Zeros of x's shape (less(x, x) is false everywhere, NaN included).
  Expected<ValueId> zerosLike(ValueId x) {
    KILN_ASSIGN(ValueId no, op(OpKind::Less, {x, x}));
    return op(OpKind::Cast, {no}, {{"to", dt_}});
  }
  Expected<ValueId> add(ValueId a, ValueId b) { return op(OpKind::Add, {a, b}); }
  Expected<ValueId> mul(ValueId a, ValueId b) { return op(OpKind::Mul, {a, b}); }
  Expected<ValueId> sub(ValueId a, ValueId b) { return op(OpKind::Sub, {a, b}); }

  Expected<ValueId> apply(const Activation &a, ValueId x) {
    const std::string &n = a.name;
    if (n == "Sigmoid")
      return op(OpKind::Sigmoid, {x});
    if (n == "Tanh")
      return op(OpKind::Tanh, {x});
    if (n == "Relu")
      return op(OpKind::Relu, {x});
    if (n == "LeakyRelu")
      return op(OpKind::LeakyRelu, {x}, {{"alpha", a.alpha}});
    if (n == "Elu")
      return op(OpKind::Elu, {x}, {{"alpha", a.alpha}});
    if (n == "Softsign")
      return op(OpKind::Softsign, {x});
    if (n == "Softplus")
      return op(OpKind::Softplus, {x});
    if (n == "ThresholdedRelu") {
      KILN_ASSIGN(ValueId t, scalar(a.alpha));
      KILN_ASSIGN(ValueId above, op(OpKind::Greater, {x, t}));
      KILN_ASSIGN(ValueId zero, scalar(0));
      return op(OpKind::Select, {above, x, zero});
    }
    KILN_ASSIGN(ValueId alpha, scalar(a.alpha));
    KILN_ASSIGN(ValueId beta, scalar(a.beta));
    if (n == "ScaledTanh") { // alpha * tanh(beta * x)
      KILN_ASSIGN(ValueId bx, mul(x, beta));
      KILN_ASSIGN(ValueId t, op(OpKind::Tanh, {bx}));
      return mul(t, alpha);
    }
    KILN_ASSIGN(ValueId ax, mul(x, alpha)); // Affine and HardSigmoid: alpha * x + beta
    KILN_ASSIGN(ValueId axb, add(ax, beta));
    if (n == "HardSigmoid")
      return op(OpKind::Clip, {axb}, {{"min", 0.0}, {"max", 1.0}});
    return axb;
  }
  Expected<ValueId> clipped(ValueId x, double clip) {
    if (clip <= 0)
      return x;
    return op(OpKind::Clip, {x}, {{"min", -clip}, {"max", clip}});
  }

private:
  Graph &g_;
  std::string prefix_;
  DType dt_;
};

struct Direction {
  int64_t d;
  bool reverse;
  const Activation *f, *g, *h;
};

/// One direction over all steps: its hidden states [T, 1, B, H] and last
/// states [1, B, H].
Expected<Results> runDirection(Emitter &e, const Graph &graph, const Operands &ops, const Spec &spec,
                               const Direction &dir) {
  const Type xt = graph.type(ops.x);
  const int64_t T = xt.shape[0].value, I = xt.shape[2].value, H = spec.hidden, G = gates(spec.cell);
  const int64_t d = dir.d;
  KILN_ASSIGN(ValueId w, e.part(ops.w, d, {G * H, I}));
  KILN_ASSIGN(ValueId r, e.part(ops.r, d, {G * H, H}));
  KILN_ASSIGN(ValueId x2, e.reshape(ops.x, {-1, I}));
  KILN_ASSIGN(ValueId xw, e.op(OpKind::MatMul, {x2, w}, {{"transpose_b", true}}));
  ValueId rbh = kNoValue; // GRU: R's bias of the h gate, applied with R
  if (ops.b != kNoValue) {
    KILN_ASSIGN(ValueId bias, e.part(ops.b, d, {2 * G * H}));
    KILN_ASSIGN(ValueId wb, e.slice(bias, 0, 0, G * H));
    KILN_ASSIGN(ValueId rb, e.slice(bias, 0, G * H, 2 * G * H));
    if (spec.cell == Cell::Gru) {
      KILN_ASSIGN(rbh, e.slice(rb, 0, 2 * H, 3 * H));
      KILN_ASSIGN(ValueId rzr, e.slice(rb, 0, 0, 2 * H));
      KILN_ASSIGN(ValueId zero, e.zerosLike(rbh));
      KILN_ASSIGN(rb, e.op(OpKind::Concat, {rzr, zero}, {{"axis", int64_t{0}}}));
    }
    KILN_ASSIGN(ValueId both, e.add(wb, rb));
    KILN_ASSIGN(xw, e.add(xw, both));
  }
  KILN_ASSIGN(ValueId xw3, e.reshape(xw, {T, -1, G * H}));
  KILN_ASSIGN(ValueId first, e.part(xw3, 0, {-1, G * H}));
  KILN_ASSIGN(ValueId firstH, e.slice(first, 1, 0, H));
  ValueId h = kNoValue, c = kNoValue;
  if (ops.h0 != kNoValue) {
    KILN_ASSIGN(h, e.part(ops.h0, d, {-1, H}));
  } else {
    KILN_ASSIGN(h, e.zerosLike(firstH));
  }
  if (spec.cell == Cell::Lstm) {
    if (ops.c0 != kNoValue) {
      KILN_ASSIGN(c, e.part(ops.c0, d, {-1, H}));
    } else {
      KILN_ASSIGN(c, e.zerosLike(firstH));
    }
  }
  ValueId pi = kNoValue, po = kNoValue, pf = kNoValue;
  if (ops.p != kNoValue) {
    KILN_ASSIGN(ValueId p, e.part(ops.p, d, {3 * H}));
    KILN_ASSIGN(pi, e.slice(p, 0, 0, H));
    KILN_ASSIGN(po, e.slice(p, 0, H, 2 * H));
    KILN_ASSIGN(pf, e.slice(p, 0, 2 * H, 3 * H));
  }
  ValueId lens = kNoValue;
  if (ops.seqLens != kNoValue) {
    KILN_ASSIGN(lens, e.op(OpKind::Cast, {ops.seqLens}, {{"to", graph.type(ops.x).dtype}}));
  }
  ValueId rzr = kNoValue, rh = kNoValue; // GRU without linear_before_reset: R's z,r rows and its h rows
  if (spec.cell == Cell::Gru && !spec.linearBeforeReset) {
    KILN_ASSIGN(rzr, e.slice(r, 0, 0, 2 * H));
    KILN_ASSIGN(rh, e.slice(r, 0, 2 * H, 3 * H));
  }
  // Gate k of a [B, G*H] value.
  auto gate = [&e, H](ValueId v, int64_t k) { return e.slice(v, 1, k * H, (k + 1) * H); };
  std::vector<ValueId> ys(static_cast<size_t>(T));
  for (int64_t s = 0; s < T; ++s) {
    int64_t t = dir.reverse ? T - 1 - s : s;
    KILN_ASSIGN(ValueId xs, e.part(xw3, t, {-1, G * H}));
    ValueId hNew = kNoValue, cNew = kNoValue;
    if (spec.cell == Cell::Lstm) {
      KILN_ASSIGN(ValueId hr, e.op(OpKind::MatMul, {h, r}, {{"transpose_b", true}}));
      KILN_ASSIGN(ValueId all, e.add(xs, hr));
      KILN_ASSIGN(ValueId i, gate(all, 0));
      KILN_ASSIGN(ValueId o, gate(all, 1));
      KILN_ASSIGN(ValueId f, gate(all, 2));
      KILN_ASSIGN(ValueId cc, gate(all, 3));
      if (pi != kNoValue) {
        KILN_ASSIGN(ValueId pic, e.mul(pi, c));
        KILN_ASSIGN(i, e.add(i, pic));
        KILN_ASSIGN(ValueId pfc, e.mul(pf, c));
        KILN_ASSIGN(f, e.add(f, pfc));
      }
      KILN_ASSIGN(i, e.clipped(i, spec.clip));
      KILN_ASSIGN(i, e.apply(*dir.f, i));
      if (spec.inputForget) {
        KILN_ASSIGN(ValueId one, e.scalar(1));
        KILN_ASSIGN(f, e.sub(one, i));
      } else {
        KILN_ASSIGN(f, e.clipped(f, spec.clip));
        KILN_ASSIGN(f, e.apply(*dir.f, f));
      }
      KILN_ASSIGN(cc, e.clipped(cc, spec.clip));
      KILN_ASSIGN(cc, e.apply(*dir.g, cc));
      KILN_ASSIGN(ValueId fc, e.mul(f, c));
      KILN_ASSIGN(ValueId ic, e.mul(i, cc));
      KILN_ASSIGN(cNew, e.add(fc, ic));
      if (po != kNoValue) {
        KILN_ASSIGN(ValueId poc, e.mul(po, cNew));
        KILN_ASSIGN(o, e.add(o, poc));
      }
      KILN_ASSIGN(o, e.clipped(o, spec.clip));
      KILN_ASSIGN(o, e.apply(*dir.f, o));
      KILN_ASSIGN(ValueId hc, e.apply(*dir.h, cNew));
      KILN_ASSIGN(hNew, e.mul(o, hc));
    } else if (spec.cell == Cell::Gru) {
      KILN_ASSIGN(ValueId xz, gate(xs, 0));
      KILN_ASSIGN(ValueId xr, gate(xs, 1));
      KILN_ASSIGN(ValueId xh, gate(xs, 2));
      // H R for the z and r gates (and, with linear_before_reset, h's too).
      KILN_ASSIGN(ValueId hr, e.op(OpKind::MatMul, {h, spec.linearBeforeReset ? r : rzr}, {{"transpose_b", true}}));
      KILN_ASSIGN(ValueId hz, gate(hr, 0));
      KILN_ASSIGN(ValueId hrr, gate(hr, 1));
      KILN_ASSIGN(ValueId z, e.add(xz, hz));
      KILN_ASSIGN(ValueId rg, e.add(xr, hrr));
      KILN_ASSIGN(z, e.clipped(z, spec.clip));
      KILN_ASSIGN(z, e.apply(*dir.f, z));
      KILN_ASSIGN(rg, e.clipped(rg, spec.clip));
      KILN_ASSIGN(rg, e.apply(*dir.f, rg));
      ValueId hh = kNoValue;
      if (spec.linearBeforeReset) { // h = g(Xh + r.(H Rh + Rbh))
        KILN_ASSIGN(ValueId hhh, gate(hr, 2));
        if (rbh != kNoValue) {
          KILN_ASSIGN(hhh, e.add(hhh, rbh));
        }
        KILN_ASSIGN(ValueId gated, e.mul(rg, hhh));
        KILN_ASSIGN(hh, e.add(xh, gated));
      } else { // h = g(Xh + (r.H) Rh + Rbh)
        KILN_ASSIGN(ValueId rhv, e.mul(rg, h));
        KILN_ASSIGN(ValueId rhr, e.op(OpKind::MatMul, {rhv, rh}, {{"transpose_b", true}}));
        KILN_ASSIGN(hh, e.add(xh, rhr));
        if (rbh != kNoValue) {
          KILN_ASSIGN(hh, e.add(hh, rbh));
        }
      }
      KILN_ASSIGN(hh, e.clipped(hh, spec.clip));
      KILN_ASSIGN(hh, e.apply(*dir.g, hh));
      KILN_ASSIGN(ValueId diff, e.sub(h, hh)); // H' = h + z (H - h)
      KILN_ASSIGN(ValueId zd, e.mul(z, diff));
      KILN_ASSIGN(hNew, e.add(hh, zd));
    } else {
      KILN_ASSIGN(ValueId hr, e.op(OpKind::MatMul, {h, r}, {{"transpose_b", true}}));
      KILN_ASSIGN(ValueId all, e.add(xs, hr));
      KILN_ASSIGN(all, e.clipped(all, spec.clip));
      KILN_ASSIGN(hNew, e.apply(*dir.f, all));
    }
    ValueId y = hNew;
    if (lens != kNoValue) { // rows past their length keep their state and give 0
      KILN_ASSIGN(ValueId step, e.scalar(static_cast<double>(t)));
      KILN_ASSIGN(ValueId live, e.op(OpKind::Less, {step, lens}));
      KILN_ASSIGN(ValueId m1, e.op(OpKind::Cast, {live}, {{"to", graph.type(ops.x).dtype}}));
      KILN_ASSIGN(ValueId m, e.reshape(m1, {-1, 1}));
      KILN_ASSIGN(y, e.mul(hNew, m));
      KILN_ASSIGN(ValueId dh, e.sub(hNew, h));
      KILN_ASSIGN(ValueId mdh, e.mul(dh, m));
      KILN_ASSIGN(hNew, e.add(h, mdh));
      if (cNew != kNoValue) {
        KILN_ASSIGN(ValueId dc, e.sub(cNew, c));
        KILN_ASSIGN(ValueId mdc, e.mul(dc, m));
        KILN_ASSIGN(cNew, e.add(c, mdc));
      }
    }
    KILN_ASSIGN(ys[static_cast<size_t>(t)], e.reshape(y, {1, 1, -1, H}));
    h = hNew;
    c = cNew;
  }
  Results out;
  if (ys.size() == 1) {
    out.y = ys[0];
  } else {
    KILN_ASSIGN(out.y, e.op(OpKind::Concat, ys, {{"axis", int64_t{0}}}));
  }
  KILN_ASSIGN(out.yh, e.reshape(h, {1, -1, H}));
  if (c != kNoValue) {
    KILN_ASSIGN(out.yc, e.reshape(c, {1, -1, H}));
  }
  return out;
}

Status checkOperands(const Graph &g, const Operands &ops, const Spec &spec, int64_t dirs) {
  const Type x = g.type(ops.x);
  if (x.rank() != 3 || !x.shape[0].isConst() || !x.shape[2].isConst())
    return makeError("X must be [T, B, I] with T and I known when the model is built (the steps are unrolled), got {}",
                     toString(x));
  if (!isFloat(x.dtype))
    return makeError("X must be floating-point, got {}", toString(x));
  if (x.shape[0].value < 1)
    return makeError("X has no time steps ({})", toString(x));
  if (spec.hidden < 1)
    return makeError("hidden_size must be at least 1, got {}", spec.hidden);
  int64_t gh = gates(spec.cell) * spec.hidden;
  auto expect = [&g](ValueId v, const char *what, Shape want) -> Status {
    if (v == kNoValue)
      return {};
    const Type t = g.type(v);
    bool ok = t.rank() == static_cast<int>(want.size());
    for (size_t i = 0; ok && i < want.size(); ++i)
      ok = want[i].isUnknown() || t.shape[i].isUnknown() || want[i] == t.shape[i];
    if (!ok)
      return makeError("{} must be {}, got {}", what, toString(want), toString(t));
    return {};
  };
  const Dim &batch = x.shape[1];
  KILN_TRY(expect(ops.w, "W", {dirs, gh, x.shape[2].value}));
  KILN_TRY(expect(ops.r, "R", {dirs, gh, spec.hidden}));
  KILN_TRY(expect(ops.b, "B", {dirs, 2 * gh}));
  KILN_TRY(expect(ops.seqLens, "sequence_lens", {batch}));
  KILN_TRY(expect(ops.h0, "initial_h", {dirs, batch, spec.hidden}));
  KILN_TRY(expect(ops.c0, "initial_c", {dirs, batch, spec.hidden}));
  KILN_TRY(expect(ops.p, "P", {dirs, 3 * spec.hidden}));
  return {};
}

} // namespace

Expected<Results> build(Graph &g, const Operands &ops, const Spec &spec) {
  if (spec.direction != "forward" && spec.direction != "reverse" && spec.direction != "bidirectional")
    return makeError("direction must be forward, reverse or bidirectional, got \"{}\"", spec.direction);
  int64_t dirs = spec.direction == "bidirectional" ? 2 : 1;
  KILN_TRY(checkOperands(g, ops, spec, dirs));
  std::vector<Activation> acts = spec.activations.empty() ? defaultActivations(spec.cell) : spec.activations;
  size_t per = defaultActivations(spec.cell).size();
  if (acts.size() == per && dirs == 2) { // one list for both directions
    std::vector<Activation> once = acts;
    acts.insert(acts.end(), once.begin(), once.end());
  }
  if (acts.size() != per * static_cast<size_t>(dirs))
    return makeError("{} activations given, {} wanted ({} per direction)", spec.activations.size(),
                     per * static_cast<size_t>(dirs), per);
  Emitter e(g, spec.prefix, g.type(ops.x).dtype);
  std::vector<ValueId> y, yh, yc;
  for (int64_t d = 0; d < dirs; ++d) {
    const Activation *a = &acts[static_cast<size_t>(d) * per];
    Direction dir{d, spec.direction == "reverse" || d == 1, &a[0], per > 1 ? &a[1] : &a[0], per > 2 ? &a[2] : &a[0]};
    KILN_ASSIGN(Results r, runDirection(e, g, ops, spec, dir));
    y.push_back(r.y);
    yh.push_back(r.yh);
    yc.push_back(r.yc);
  }
  Results out{y[0], yh[0], yc[0]};
  if (dirs == 2) {
    KILN_ASSIGN(out.y, e.op(OpKind::Concat, y, {{"axis", int64_t{1}}}));
    KILN_ASSIGN(out.yh, e.op(OpKind::Concat, yh, {{"axis", int64_t{0}}}));
    if (spec.cell == Cell::Lstm) {
      KILN_ASSIGN(out.yc, e.op(OpKind::Concat, yc, {{"axis", int64_t{0}}}));
    }
  }
  return out;
}

} // namespace kiln::recurrent
