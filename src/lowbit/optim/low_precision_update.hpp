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
// Stochastic bits are keyed by (seed, step, site) with sites "grads/NAME", "state/NAME",
// "acc/NAME" and "weights/NAME" (NAME: the parameter's or state tensor's checkpoint name),
// so resumed runs and any thread count reproduce them.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "lowbit/core/tensor.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/optim/optimizer.hpp"
#include "lowbit/quant/low_precision.hpp"

namespace lowbit::optim {

class LowPrecisionUpdate {
 public:
  // The accumulator starts as a copy of each parameter's value (unrounded).
  LowPrecisionUpdate(const quant::LowPrecisionConfig& config, std::vector<nn::NamedParam> params, uint64_t seed);

  void before_step(uint64_t step);
  // `optimizers`: the run's optimizers (non-null), whose state tensors are rounded.
  void after_step(uint64_t step, const std::vector<Optimizer*>& optimizers);

  // The accumulator copies for checkpoints: ("lp.acc.NAME", tensor); empty without one.
  std::vector<std::pair<std::string, Tensor*>> state_tensors();
  const quant::LowPrecisionConfig& config() const { return config_; }

 private:
  void swap_accumulator();

  quant::LowPrecisionConfig config_;
  std::vector<nn::NamedParam> params_;
  std::vector<Tensor> acc_;  // one per parameter with an accumulator
  uint64_t seed_;
};

}  // namespace lowbit::optim
