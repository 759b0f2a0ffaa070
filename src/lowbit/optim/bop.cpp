#include "lowbit/optim/bop.hpp"

#include <cmath>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/quant/binary.hpp"  // sign_pm1: the project-wide sign convention

namespace lowbit::optim {

Bop::Bop(std::vector<nn::Param*> params, BopOptions options)
    : Optimizer(std::move(params), "binary"), options_(options) {
  LOWBIT_CHECK(std::isfinite(options_.gamma) && options_.gamma > 0.f && options_.gamma <= 1.f,
               "bop: gamma must be in (0, 1], got ", options_.gamma);
  LOWBIT_CHECK(std::isfinite(options_.threshold) && options_.threshold >= 0.f,
               "bop: threshold must be finite and >= 0, got ", options_.threshold);
  m_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i)
    if (owns(i)) m_[i] = Tensor(params_[i]->value.shape(), 0.f);
}

void Bop::check_state(size_t index, const nn::Param& p) const {
  check_state_tensor(m_[index], "moving average", index, p);
}

std::vector<std::pair<std::string, Tensor*>> Bop::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < params_.size(); ++i)
    if (owns(i)) out.emplace_back(cat("bop.m.", i), &m_[i]);
  return out;
}

void Bop::update_range(size_t index, nn::Param& p, float, int64_t i_begin, int64_t i_end) {
  float* w = p.value.data();
  float* m = m_[index].data();
  const float* g = p.grad.data();
  const float gamma = options_.gamma, tau = options_.threshold;
#pragma omp simd
  for (int64_t i = i_begin; i < i_end; ++i) {
    m[i] = (1.f - gamma) * m[i] + gamma * g[i];
    const float s = quant::sign_pm1(w[i]);
    w[i] = w[i] * m[i] > tau ? -s : s;
  }
}

}  // namespace lowbit::optim
