#include "lowbit/optim/low_precision_update.hpp"

#include <utility>

#include "lowbit/core/error.hpp"

namespace lowbit::optim {

LowPrecisionUpdate::LowPrecisionUpdate(const quant::LowPrecisionConfig& config, std::vector<nn::NamedParam> params,
                                       uint64_t seed)
    : config_(config), params_(std::move(params)), seed_(seed) {
  for (const nn::NamedParam& p : params_) LOWBIT_CHECK(p.param != nullptr, "low-precision update: null parameter");
  if (config_.accumulator)
    for (const nn::NamedParam& p : params_) acc_.push_back(p.param->value);
}

void LowPrecisionUpdate::swap_accumulator() {
  for (size_t i = 0; i < acc_.size(); ++i) {
    Tensor& v = params_[i].param->value;
    LOWBIT_CHECK(v.shape() == acc_[i].shape(), "low-precision update: parameter ", params_[i].name,
                 " changed shape from ", shape_str(acc_[i].shape()), " to ", shape_str(v.shape()));
    std::swap(v, acc_[i]);
  }
}

void LowPrecisionUpdate::before_step(uint64_t step) {
  for (const nn::NamedParam& p : params_)
    quant::round_tensor(p.param->grad, config_.grads, config_.rounding, {seed_, step, cat("grads/", p.name)});
  if (config_.accumulator) swap_accumulator();
}

void LowPrecisionUpdate::after_step(uint64_t step, const std::vector<Optimizer*>& optimizers) {
  if (config_.state.active())
    for (Optimizer* opt : optimizers)
      for (auto& [name, t] : opt->state_tensors())
        quant::round_tensor(*t, config_.state, config_.rounding, {seed_, step, cat("state/", name)});
  if (config_.accumulator) {
    swap_accumulator();  // the parameters hold their old rounded values again, acc_ the updated copies
    for (size_t i = 0; i < acc_.size(); ++i) {
      quant::round_tensor(acc_[i], config_.acc, config_.rounding, {seed_, step, cat("acc/", params_[i].name)});
      Tensor& v = params_[i].param->value;
      v = acc_[i];
      quant::round_tensor(v, config_.weights, config_.rounding, {seed_, step, cat("weights/", params_[i].name)});
    }
    return;
  }
  for (const nn::NamedParam& p : params_)
    quant::round_tensor(p.param->value, config_.weights, config_.rounding, {seed_, step, cat("weights/", p.name)});
}

std::vector<std::pair<std::string, Tensor*>> LowPrecisionUpdate::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < acc_.size(); ++i) out.emplace_back(cat("lp.acc.", params_[i].name), &acc_[i]);
  return out;
}

}  // namespace lowbit::optim
