#include "lowbit/optim/adam.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::optim {

Adam::Adam(std::vector<nn::Param*> params, AdamOptions options) : Adam(std::move(params), options, false) {}

Adam::Adam(std::vector<nn::Param*> params, AdamOptions options, bool decoupled)
    : Optimizer(std::move(params)), options_(options), decoupled_(decoupled) {
  const AdamOptions& o = options_;
  const std::string n = name();
  LOWBIT_CHECK(std::isfinite(o.beta1) && o.beta1 >= 0.f && o.beta1 < 1.f, n, ": beta1 must be in [0, 1), got ", o.beta1);
  LOWBIT_CHECK(std::isfinite(o.beta2) && o.beta2 >= 0.f && o.beta2 < 1.f, n, ": beta2 must be in [0, 1), got ", o.beta2);
  LOWBIT_CHECK(std::isfinite(o.eps) && o.eps > 0.f, n, ": eps must be finite and > 0, got ", o.eps);
  LOWBIT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.f, n,
               ": weight decay must be finite and >= 0, got ", o.weight_decay);
  m_.resize(params_.size());
  v_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!owns(i)) continue;
    m_[i] = Tensor(params_[i]->value.shape(), 0.f);
    v_[i] = Tensor(params_[i]->value.shape(), 0.f);
  }
}

void Adam::check_state(size_t index, const nn::Param& p) const {
  check_state_tensor(m_[index], "first-moment", index, p);
  check_state_tensor(v_[index], "second-moment", index, p);
}

std::vector<std::pair<std::string, Tensor*>> Adam::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  const std::string n = name();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!owns(i)) continue;
    out.emplace_back(cat(n, ".m.", i), &m_[i]);
    out.emplace_back(cat(n, ".v.", i), &v_[i]);
  }
  return out;
}

void Adam::update_range(size_t index, nn::Param& p, float lr, int64_t i_begin, int64_t i_end) {
  float* w = p.value.data();
  const float* g = p.grad.data();
  float* m = m_[index].data();
  float* v = v_[index].data();

  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  const float c1 = 1.f - b1, c2 = 1.f - b2;
  const float wd = p.decay ? options_.weight_decay : 0.f;
  const std::pair<float, float> bounds = clip_bounds(p);
  const float lo = bounds.first, hi = bounds.second;
  const float l2 = decoupled_ ? 0.f : wd;                 // Adam: L2 in the gradient
  const float shrink = decoupled_ ? 1.f - lr * wd : 1.f;  // AdamW: w *= 1 - lr * wd
  // Bias corrections in double: 1 - b^t loses digits in float for b2 near 1.
  const double t = static_cast<double>(steps());
  const double bc1 = 1.0 - std::pow(static_cast<double>(b1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(b2), t);
  const float step_size = static_cast<float>(lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));

  // Note: GCC vectorises this loop only with -fno-math-errno (sqrtf may set errno, which
  // it cannot rule out although v >= 0); with it the loop runs 2.5-4x faster.
#pragma omp simd
  for (int64_t i = i_begin; i < i_end; ++i) {
    const float gi = g[i] + l2 * w[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    w[i] = clamp_to(w[i] * shrink - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps), lo, hi);
  }
}

}  // namespace lowbit::optim
