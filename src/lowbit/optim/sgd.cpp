#include "lowbit/optim/sgd.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::optim {

Sgd::Sgd(std::vector<nn::Param*> params, SgdOptions options)
    : Optimizer(std::move(params)), options_(options) {
  const float mu = options_.momentum, wd = options_.weight_decay;
  LOWBIT_CHECK(std::isfinite(mu) && mu >= 0.f && mu < 1.f, "sgd: momentum must be in [0, 1), got ", mu);
  LOWBIT_CHECK(!options_.nesterov || mu > 0.f, "sgd: nesterov needs momentum > 0");
  LOWBIT_CHECK(std::isfinite(wd) && wd >= 0.f, "sgd: weight decay must be finite and >= 0, got ", wd);
  velocity_.resize(params_.size());
  if (mu > 0.f) {
    for (size_t i = 0; i < params_.size(); ++i)
      if (owns(i)) velocity_[i] = Tensor(params_[i]->value.shape(), 0.f);
  }
}

void Sgd::check_state(size_t index, const nn::Param& p) const {
  if (options_.momentum > 0.f) check_state_tensor(velocity_[index], "momentum", index, p);
}

std::vector<std::pair<std::string, Tensor*>> Sgd::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  if (options_.momentum == 0.f) return out;
  for (size_t i = 0; i < params_.size(); ++i)
    if (owns(i)) out.emplace_back(cat("sgd.momentum.", i), &velocity_[i]);
  return out;
}

void Sgd::update_range(size_t index, nn::Param& p, float lr, int64_t i_begin, int64_t i_end) {
  float* w = p.value.data();
  const float* g = p.grad.data();
  const float mu = options_.momentum;
  const float wd = p.decay ? options_.weight_decay : 0.f;
  const std::pair<float, float> bounds = clip_bounds(p);
  const float lo = bounds.first, hi = bounds.second;

  if (mu == 0.f) {
#pragma omp simd
    for (int64_t i = i_begin; i < i_end; ++i) w[i] = clamp_to(w[i] - lr * (g[i] + wd * w[i]), lo, hi);
    return;
  }
  float* v = velocity_[index].data();
  if (options_.nesterov) {
#pragma omp simd
    for (int64_t i = i_begin; i < i_end; ++i) {
      const float gi = g[i] + wd * w[i];
      const float vi = mu * v[i] + gi;
      v[i] = vi;
      w[i] = clamp_to(w[i] - lr * (gi + mu * vi), lo, hi);
    }
  } else {
#pragma omp simd
    for (int64_t i = i_begin; i < i_end; ++i) {
      const float vi = mu * v[i] + (g[i] + wd * w[i]);
      v[i] = vi;
      w[i] = clamp_to(w[i] - lr * vi, lo, hi);
    }
  }
}

}  // namespace lowbit::optim
