#include "lowbit/nn/activations.hpp"

#include <algorithm>

#include "lowbit/core/error.hpp"
#include "lowbit/core/parallel.hpp"

namespace lowbit::nn {

namespace {

// fn(i) for i in [0, n), split over threads for large tensors only (core/parallel.hpp: export
// applies these layers to single values millions of times while it bisects thresholds).
template <class F>
void elementwise(int64_t n, F&& fn) {
  parallel_for(n, Grain::kElementwise, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

}  // namespace

void ReLU::forward(const Tensor& x, Tensor& y, const Context&) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.size();
  elementwise(n, [&](int64_t i) { yp[i] = xp[i] > 0.f ? xp[i] : 0.f; });
}

void ReLU::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  const float* xp = x.data();
  const float* g = dy.data();
  float* d = dx->data();
  const int64_t n = x.size();
  elementwise(n, [&](int64_t i) {
    const float gi = g[i];  // loaded unconditionally so the select vectorises (no branch)
    d[i] = xp[i] > 0.f ? gi : 0.f;
  });
}

HardTanh::HardTanh(float lo, float hi) : lo_(lo), hi_(hi) {
  LOWBIT_CHECK(lo < hi, "hardtanh: min (", lo, ") must be below max (", hi, ")");
}

void HardTanh::forward(const Tensor& x, Tensor& y, const Context&) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.size();
  const float lo = lo_, hi = hi_;
  elementwise(n, [&](int64_t i) { yp[i] = std::clamp(xp[i], lo, hi); });
}

void HardTanh::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  dx->resize(x.shape());
  const float* xp = x.data();
  const float* g = dy.data();
  float* d = dx->data();
  const int64_t n = x.size();
  const float lo = lo_, hi = hi_;
  elementwise(n, [&](int64_t i) {
    const float gi = g[i], xi = xp[i];  // unconditional loads: a branch-free select
    d[i] = (xi >= lo) & (xi <= hi) ? gi : 0.f;
  });
}

}  // namespace lowbit::nn
