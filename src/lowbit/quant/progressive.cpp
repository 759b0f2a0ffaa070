#include "lowbit/quant/progressive.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/quant/binary.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::quant {

float progressive_scale(double t, float vmax) {
  t = std::clamp(t, 0.0, 1.0);
  return static_cast<float>(std::pow(static_cast<double>(vmax), t));
}

ProgressiveQuantizer::ProgressiveQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  v_ = Tensor({1}, 1.f);
}

void ProgressiveQuantizer::set_progress(double t) { v_[0] = progressive_scale(t, spec_.vmax); }

void ProgressiveQuantizer::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  last_training_ = ctx.training;
  if (!ctx.training) {
    for_chunks(x.size(), [&](int64_t b, int64_t e) { binary_forward(xp + b, yp + b, e - b); });
    return;
  }
  const float v = v_[0];
  for_chunks(x.size(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] = std::clamp(v * xp[i], -1.f, 1.f);
  });
}

void ProgressiveQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  const float v = v_[0];
  for_chunks(x.size(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = v * gp[i];  // unconditional load: the select vectorises
      dp[i] = std::fabs(v * xp[i]) <= 1.f ? g : 0.f;
    }
  });
}

bool ProgressiveQuantizer::grid(Grid& out) const {
  if (last_training_) return false;
  out = Grid{{1.f}, -1, 1};
  return true;
}

}  // namespace lowbit::quant
