// What layers, quantizers and optimizers share: a trainable tensor with its gradient and
// optimizer hints (Param), and what a forward pass needs beyond its input (Context).
// They live in core so that quantizers (which own learned scales) and layers can both use
// them without quant depending on nn.
#pragma once
#include <string>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/tensor.hpp"

namespace lowbit::quant {
struct LowPrecisionConfig;
}

namespace lowbit {

class Communicator;

// Train/eval mode and a random stream (dropout, stochastic quantizers). The trainer
// derives the stream from (seed, step) so that resumed training replays the same randomness.
// In training, `numerics` (null: none) names the low-precision formats of activations and
// errors (quant/low_precision.hpp): containers round each layer's output (leaves, residual sums) in forward and
// the error at it in backward, with stochastic bits keyed by (seed, step, site). Containers
// keep the Context of their last forward for that backward (the backward context).
struct Context {
  bool training = false;
  Rng* rng = nullptr;
  const quant::LowPrecisionConfig* numerics = nullptr;
  uint64_t seed = 0;  // the run's seed, for the numerics' stochastic rounding
  uint64_t step = 0;  // the global training step (epoch * steps per epoch + batch)
  // Data-parallel training (docs/DISTRIBUTED.md): this process holds rows [row_offset,
  // row_offset + N) of a global batch split across the ranks of `comm`. Training forwards
  // reduce their batch statistics over `comm` (BatchNorm: sync BN; int:k activation ranges),
  // and per-element random draws (dropout, stochastic binarization) are keyed by the global
  // element index, so N ranks draw what one process with the global batch draws. null / 0:
  // the batch is the whole batch.
  Communicator* comm = nullptr;
  int64_t row_offset = 0;
};

// A trainable tensor with its gradient and the hints an optimizer needs.
struct Param {
  std::string name;  // "weight", "bias", "gamma", "weight_quantizer.alpha"; the model prefixes the layer name
  Tensor value;
  Tensor grad;
  bool decay = true;      // apply weight decay (off for biases, BatchNorm and quantizer scales)
  float lr_scale = 1.f;   // per-parameter learning-rate multiplier (BinaryNet's Glorot scale)
  // Post-step clipping of the latent value to [-clip, clip] (0 = none), as BinaryNet does.
  float clip = 0.f;
  // Optimizer group: "" = the main optimizer; "binary" = Bop (optim/bop.hpp).
  std::string group;
  // Pruning mask (quantization pruning, thesis 003 eq. 3.6-3.8): empty = none; else one
  // entry per element of `value`, each exactly 0 (pruned) or 1 (kept). Optimizers hold
  // pruned elements at exactly 0: their gradient is zeroed before the update, their value
  // and optimizer state after it (Optimizer::step). Checkpoints keep it ("mask:NAME").
  Tensor mask;
  bool masked() const { return mask.size() != 0; }
};

}  // namespace lowbit
