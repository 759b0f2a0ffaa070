#include "lowbit/quant/dorefa.hpp"

#include <cmath>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {
namespace {

float levels(int k) {
  LOWBIT_CHECK(k >= 1 && k <= 8, "dorefa: bits ", k, " outside 1..8");
  return static_cast<float>((1 << k) - 1);
}

// max |tanh(w)|, its first index, and the scale used (1 when the max is 0).
struct TanhMax {
  float m = 1.f;
  int64_t arg = -1;
};

TanhMax tanh_max(const float* w, int64_t n) {
  TanhMax r;
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    float a = std::fabs(std::tanh(w[i]));
    if (a > m) {
      m = a;
      r.arg = i;
    }
  }
  if (m > 0.f) r.m = m;
  else r.arg = -1;
  return r;
}

}  // namespace

void dorefa_weight_forward(const float* w, float* y, int64_t n, int k) {
  const float L = levels(k);
  const float m = tanh_max(w, n).m;
  const float inv2m = 0.5f / m;
  for (int64_t i = 0; i < n; ++i) {
    float wp = std::tanh(w[i]) * inv2m + 0.5f;
    wp = wp < 0.f ? 0.f : (wp > 1.f ? 1.f : wp);  // guard rounding error at the ends
    y[i] = 2.f * (std::round(L * wp) / L) - 1.f;
  }
}

void dorefa_weight_backward(const float* w, const float* dy, float* dx, int64_t n) {
  const TanhMax tm = tanh_max(w, n);
  const float m = tm.m;
  double dot = 0;  // sum_i dy_i t_i, taken before dx is written (dx may alias dy)
  if (tm.arg >= 0)
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(dy[i]) * std::tanh(w[i]);
  float corr = 0.f;
  if (tm.arg >= 0) {
    float ta = std::tanh(w[tm.arg]);
    corr = static_cast<float>((ta >= 0.f ? 1.0 : -1.0) * (1.0 - double(ta) * ta) / (double(m) * m) * dot);
  }
  const float inv_m = 1.f / m;
  for (int64_t i = 0; i < n; ++i) {
    float t = std::tanh(w[i]);
    dx[i] = dy[i] * (1.f - t * t) * inv_m;
  }
  if (tm.arg >= 0) dx[tm.arg] -= corr;
}

void dorefa_act_forward(const float* x, float* y, int64_t n, int k) {
  const float L = levels(k);
  for (int64_t i = 0; i < n; ++i) {
    float c = x[i] < 0.f ? 0.f : (x[i] > 1.f ? 1.f : x[i]);
    y[i] = std::round(L * c) / L;
  }
}

void dorefa_act_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i], v = x[i];  // unconditional loads: the select vectorises
    dx[i] = (v >= 0.f) & (v <= 1.f) ? g : 0.f;
  }
}

}  // namespace lowbit::quant
