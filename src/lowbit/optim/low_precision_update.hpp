// The optimizer side of low-precision training (quant/low_precision.hpp): QPyTorch's
// OptimLP around the trainer's optimizers. One object per training run, over the model's
// named parameters, in the step order the config documents:
//   before_step(step): round every gradient onto `grads`; with an accumulator, swap each
//                      parameter's value with its high-precision copy, so that the
//                      optimizers update the copy;
//   (the optimizers' step() calls)
//   after_step(step):  round every optimizer state tensor onto `state`; with an
//                      accumulator, round the copy onto `acc`, swap back and write the
//                      parameter as the copy rounded onto `weights`; without one, round
//                      the updated parameter onto `weights` in place.
// Each parameter takes the formats of its layer (LowPrecisionConfig::format with the layer
// named before the first '.' of the parameter's name: per-layer overrides).
// Stochastic bits are keyed by (seed, step, site) with sites "grads/NAME", "state/NAME",
// "acc/NAME" and "weights/NAME" (NAME: the parameter's or state tensor's checkpoint name),
// so resumed runs and any thread count reproduce them.
#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lowbit/core/tensor.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/optim/optimizer.hpp"
#include "lowbit/quant/low_precision.hpp"

namespace lowbit::optim {

class LowPrecisionUpdate {
 public:
  // The accumulator starts as a copy of each parameter's value (unrounded); parameters whose
  // name contains "quantizer." (quant::rounds_parameter: learned QAT scales, SYQ, AddNet, LSQ-style) are left in
  // float32 by every rounding here, as the QAT method's own parameters.
  LowPrecisionUpdate(const quant::LowPrecisionConfig& config, std::vector<nn::NamedParam> params, uint64_t seed);
  LowPrecisionUpdate(const LowPrecisionUpdate&) = delete;  // formats_ points into config_
  LowPrecisionUpdate& operator=(const LowPrecisionUpdate&) = delete;

  // One training step: the optimizers' step(lr) with every rounding above, fused into the
  // update slice by slice (Optimizer::SliceHooks) so that each parameter-sized tensor is
  // read and written once where the formats allow: elementwise formats (fixed, float)
  // round inside the slices; per-tensor bfp rounds gradients inside them from a max found
  // first, and state, accumulator and weights in one pass after them from maxima the
  // slices collect; bfp along an axis rounds whole tensors before or after the update.
  // Bit for bit the result of before_step(); each optimizer's step(lr); after_step().
  // `optimizers`: the run's optimizers (non-null), together owning every parameter.
  void step(uint64_t step, float lr, const std::vector<Optimizer*>& optimizers);

  // The same in whole-tensor passes, in the documented order: the specification step() is
  // tested against (and three times slower on LFC).
  void before_step(uint64_t step);
  void after_step(uint64_t step, const std::vector<Optimizer*>& optimizers);

  // Sets the accumulator to the parameters' current values: call it after initialising
  // them (a resumed run loads it from the checkpoint through state_tensors() instead).
  void reset_accumulator();

  // The accumulator copies for checkpoints: ("lp.acc.NAME", tensor); empty without one.
  std::vector<std::pair<std::string, Tensor*>> state_tensors();
  const quant::LowPrecisionConfig& config() const { return config_; }

 private:
  void swap_accumulator();
  class Hooks;

  // The formats of one parameter (its layer's), pointing into config_.
  struct Formats {
    const quant::NumberFormat *grads, *weights, *state;
  };

  quant::LowPrecisionConfig config_;
  std::vector<nn::NamedParam> params_;
  std::vector<Formats> formats_;  // one per params_ entry
  std::unordered_map<const nn::Param*, size_t> index_of_;  // params_ position of each parameter
  std::vector<Tensor> acc_;  // one per parameter with an accumulator
  uint64_t seed_;
};

}  // namespace lowbit::optim
