#include "lowbit/quant/uniform_quantizers.hpp"

#include <cmath>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/quant/dorefa.hpp"
#include "lowbit/quant/fixed.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::quant {

void DoReFaQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int k = spec_.bits;
  if (role_ == Role::kActivation) {
    for_chunks(x.size(), [&](int64_t b, int64_t e) { dorefa_act_forward(xp + b, yp + b, e - b, k); });
    return;
  }
  // Weights: the scalar dorefa_weight_forward, with tanh cached and the max found per chunk.
  const int64_t n = x.size();
  tanh_.resize(x.shape());
  float* t = tanh_.data();
  std::vector<std::pair<float, int64_t>> best(static_cast<size_t>(omp_get_max_threads()), {0.f, -1});
  for_chunks(n, [&](int64_t b, int64_t e) {
    float m = 0.f;
    int64_t arg = -1;
    for (int64_t i = b; i < e; ++i) {
      t[i] = std::tanh(xp[i]);
      const float a = std::fabs(t[i]);
      if (a > m) m = a, arg = i;
    }
    best[static_cast<size_t>(omp_get_thread_num())] = {m, arg};
  });
  max_ = 0.f;
  arg_ = -1;
  for (const auto& [m, arg] : best)  // chunks are in index order, so this keeps the first index on ties
    if (arg >= 0 && (m > max_ || (m == max_ && arg < arg_))) max_ = m, arg_ = arg;
  if (arg_ < 0) max_ = 1.f;
  const float L = static_cast<float>((1 << k) - 1), inv2m = 0.5f / max_;
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float wp = t[i] * inv2m + 0.5f;
      wp = wp < 0.f ? 0.f : (wp > 1.f ? 1.f : wp);
      yp[i] = 2.f * (std::round(L * wp) / L) - 1.f;
    }
  });
}

void DoReFaQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  const int64_t n = x.size();
  if (role_ == Role::kActivation) {
    for_chunks(n, [&](int64_t b, int64_t e) { dorefa_act_backward(xp + b, gp + b, dp + b, e - b); });
    return;
  }
  const float* t = tanh_.data();
  const float inv_m = 1.f / max_;
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dp[i] = gp[i] * (1.f - t[i] * t[i]) * inv_m;
  });
  if (arg_ >= 0) {  // dependence of m on the arg-max element (see dorefa.hpp)
    double dot = 0;
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(gp[i]) * t[i];
    const double ta = t[arg_];
    dp[arg_] -= static_cast<float>((ta >= 0 ? 1.0 : -1.0) * (1.0 - ta * ta) / (double(max_) * max_) * dot);
  }
}

FixedQuantizer::FixedQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  LOWBIT_CHECK(role == Role::kActivation, "quantizer '", spec_.str(),
               "' is for activations only (fixed point); for weights use int:k, dorefa:k or a sign family");
}

void FixedQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int k = spec_.bits, f = spec_.frac_bits;
  if (spec_.fixed_signed)
    for_chunks(x.size(), [&](int64_t b, int64_t e) { signed_fixed_act_forward(xp + b, yp + b, e - b, k, f); });
  else
    for_chunks(x.size(), [&](int64_t b, int64_t e) { fixed_act_forward(xp + b, yp + b, e - b, k, f); });
}

void FixedQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  const int k = spec_.bits, f = spec_.frac_bits;
  if (spec_.fixed_signed)
    for_chunks(x.size(), [&](int64_t b, int64_t e) { signed_fixed_act_backward(xp + b, gp + b, dp + b, e - b, k, f); });
  else
    for_chunks(x.size(), [&](int64_t b, int64_t e) { fixed_act_backward(xp + b, gp + b, dp + b, e - b, k, f); });
}

bool DoReFaQuantizer::grid(Grid& out) const {
  const int32_t L = (int32_t{1} << spec_.bits) - 1;
  out = Grid{{1.f / static_cast<float>(L)}, role_ == Role::kWeight ? -L : 0, L};
  return true;
}

bool FixedQuantizer::grid(Grid& out) const {
  const int32_t half = int32_t{1} << (spec_.bits - 1);
  if (spec_.fixed_signed)
    out = Grid{{std::ldexp(1.f, -spec_.frac_bits)}, -half, half - 1};
  else
    out = Grid{{std::ldexp(1.f, -spec_.frac_bits)}, 0, (int32_t{1} << spec_.bits) - 1};
  return true;
}

}  // namespace lowbit::quant
