// Low-precision training (docs/NUMERICS.md): which tensors of training are rounded onto
// which number format (quant/number_format.hpp), as QPyTorch's Quantizer (activations in
// forward, errors in backward) and OptimLP (gradients, weights, optimizer state, an
// accumulator) do, and as PBNN (seed 001) trains in 8- and 16-bit fixed point.
//
// Where each format applies, in training only (evaluation and export compute in float32
// with the weights as stored, which are the weight format's values after any step):
//   acts    the output of every layer in forward (nn::Sequential; leaf layers and residual
//           sums, not nested Sequentials, whose output is their last layer's), logits included;
//   errors  the gradient at each of those outputs in backward, before the layer's own
//           backward uses it (dL/dlogits included);
//   grads   every parameter gradient, before the optimizer step;
//   state   every optimizer state tensor (momentum, Adam moments, Bop's average), after it;
//   weights every parameter (weights, biases, BatchNorm, learned quantizer scales), after
//           the step;
//   acc     with an accumulator, the optimizer updates a high-precision copy of every
//           parameter (held in `acc`, float32 = unrounded), and the parameters are that copy
//           rounded onto `weights` (QPyTorch's acc_quant; "master weights"). Without one the
//           optimizer updates the rounded weights themselves.
// The matrix products accumulate in float32 (or per --compute) whatever the formats say:
// the operands are the formats' values, the sums are not rounded until the next site.
// The step order (an optimizer-step golden test pins it): round grads -> optimizer update
// in float32 (on the accumulator when there is one) -> round state -> round the
// accumulator -> weights = round(accumulator or updated weights).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "lowbit/quant/number_format.hpp"

namespace lowbit::quant {

struct LowPrecisionConfig {
  NumberFormat acts, errors, grads, weights, state;
  bool accumulator = false;  // keep a high-precision copy of the parameters
  NumberFormat acc;          // its format (float32: unrounded)
  Rounding rounding = Rounding::kNearestEven;  // for formats without their own '@rounding'

  // Any format set, or an accumulator.
  bool active() const;
  // "acts=bfp:8 errors=bfp:8 ... rounding=stochastic" (the rounding when a format uses it),
  // or "float32" when inactive.
  std::string str() const;
};

// {"acts": "bfp:8@stochastic", ..., "acc": "float32" ("none" or absent: no accumulator)}: every
// active format with the rounding it uses, so equal configurations write equal JSON; a
// "rounding" key (the default for formats without '@') is read but not written.
// absent keys are float32. from_json throws lowbit::Error naming `where` and the key.
nlohmann::json to_json(const LowPrecisionConfig& c);
LowPrecisionConfig low_precision_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace lowbit::quant
