//===- frontend/Recurrent.h - RNN, GRU and LSTM over primitives -*- C++ -*-===//
//
// The recurrent layers of ONNX (RNN, GRU, LSTM: forward, reverse and
// bidirectional, initial states, sequence lengths, peepholes, clip, every
// activation ONNX allows), defined once over kiln's primitives and
// unrolled per time step for a sequence of known length: the input's
// product with W for all steps is one matmul, then each step is a matmul
// with R and the gates' elementwise ops, which fuse. Gradients come from
// the primitives'. The ONNX importer and kiln/nn.h's LSTM and GRU layers
// both build through here, with ONNX's weight layout (gates stacked
// i,o,f,c for LSTM and z,r,h for GRU) as the one convention.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace kiln::recurrent {

enum class Cell { Rnn, Gru, Lstm };

/// Gates stacked in W and R: 1, 3 or 4.
int gates(Cell c);

/// An activation function as ONNX names it (Sigmoid, Tanh, Relu, Affine,
/// LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign,
/// Softplus) with its alpha and beta where it takes them.
struct Activation {
  std::string name;
  double alpha = 0, beta = 0;
};

/// The default activations per direction (f, g, h as the cell uses them).
std::vector<Activation> defaultActivations(Cell c);
/// The activation `name` with its alpha and beta taken, where it has them,
/// from alphas[ai++] and betas[bi++] (ONNX's activation_alpha/beta lists,
/// consumed in order) or ONNX's defaults; an error for a name ONNX does not
/// allow.
Expected<Activation> activation(const std::string &name, const std::vector<double> &alphas, size_t &ai,
                                const std::vector<double> &betas, size_t &bi);

struct Spec {
  Cell cell = Cell::Lstm;
  int64_t hidden = 0;
  std::string direction = "forward"; ///< forward, reverse or bidirectional
  /// Per direction, in order (f, g, h); empty: the defaults.
  std::vector<Activation> activations;
  double clip = 0; ///< > 0: the gates' inputs are clipped to [-clip, clip]
  bool linearBeforeReset = false; ///< GRU: R_h applied before the reset gate
  bool inputForget = false;       ///< LSTM: f = 1 - i
  std::string prefix = "rnn";     ///< names of the values made
};

/// The operands, in ONNX's layout. Those not given are kNoValue.
struct Operands {
  ir::ValueId x = ir::kNoValue;       ///< [T, B, I], T constant
  ir::ValueId w = ir::kNoValue;       ///< [D, G*H, I]
  ir::ValueId r = ir::kNoValue;       ///< [D, G*H, H]
  ir::ValueId b = ir::kNoValue;       ///< [D, 2*G*H]: W's bias, then R's
  ir::ValueId seqLens = ir::kNoValue; ///< [B] integers: steps past a row's length keep its state and give 0
  ir::ValueId h0 = ir::kNoValue;      ///< [D, B, H]
  ir::ValueId c0 = ir::kNoValue;      ///< [D, B, H] (LSTM)
  ir::ValueId p = ir::kNoValue;       ///< [D, 3*H] peepholes i, o, f (LSTM)
};

struct Results {
  ir::ValueId y = ir::kNoValue;  ///< [T, D, B, H], every step's hidden state
  ir::ValueId yh = ir::kNoValue; ///< [D, B, H], the last
  ir::ValueId yc = ir::kNoValue; ///< [D, B, H], the last cell state (LSTM)
};

/// Appends the unrolled layer to `g`; errors name what is wrong.
Expected<Results> build(ir::Graph &g, const Operands &ops, const Spec &spec);

} // namespace kiln::recurrent
