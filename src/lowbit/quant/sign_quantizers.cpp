#include "lowbit/quant/sign_quantizers.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/quant/binary.hpp"
#include "lowbit/quant/parallel.hpp"
#include "lowbit/quant/stochastic.hpp"
#include "lowbit/quant/ternary.hpp"

namespace lowbit::quant {

namespace {

// y = sign(x); returns whether every |x| <= 1 (found in the same pass, so the STE mask of
// clipped latent weights costs nothing).
bool sign_forward(const Tensor& x, Tensor& y) {
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.size();
  std::atomic<bool> any_outside{false};
  parallel_for(n, kQuantParallelMin, [&](int64_t b, int64_t e) {
    // Local copies of the captured pointers: through the closure, a store to y[i] might
    // change xp or yp as far as GCC can tell, and the loop stayed scalar.
    const float* __restrict xs = xp;
    float* __restrict ys = yp;
    int outside = 0;
#pragma omp simd reduction(| : outside)
    for (int64_t i = b; i < e; ++i) {
      ys[i] = sign_pm1(xs[i]);  // binary_forward, inlined for the fused check
      outside |= static_cast<int>(!(std::fabs(xs[i]) <= 1.f));
    }
    if (outside) any_outside = true;
  });
  return !any_outside;
}

void ste_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  for_chunks(x.size(), [&](int64_t b, int64_t e) { binary_ste_backward(xp + b, gp + b, dp + b, e - b); });
}

// Rows of a weight tensor for per-channel scales: dim 0, or 1 row for the whole tensor.
int64_t group_count(const Tensor& w, Granularity g) {
  return g == Granularity::kChannel && w.rank() >= 1 ? w.dim(0) : 1;
}

}  // namespace

void BinaryQuantizer::forward(const Tensor& x, Tensor& y, const Context&) { within_unit_ = sign_forward(x, y); }

void BinaryQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  const QuantKind kind = spec_.kind;
  const float beta = spec_.beta;
  for_chunks(x.size(), [&](int64_t b, int64_t e) {
    if (kind == QuantKind::kApproxSign) approx_sign_backward(xp + b, gp + b, dp + b, e - b);
    else if (kind == QuantKind::kSwishSign) swish_sign_backward(xp + b, gp + b, dp + b, e - b, beta);
    else binary_ste_backward(xp + b, gp + b, dp + b, e - b);
  });
}

void StochasticQuantizer::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  within_unit_ = false;
  last_training_ = ctx.training;
  if (!ctx.training) {
    within_unit_ = sign_forward(x, y);
    return;
  }
  LOWBIT_CHECK(ctx.rng != nullptr, "stochastic quantizer: training forward needs a random stream");
  y.resize(x.shape());
  // One seed from the batch stream, then an independent stream per fixed-size block, so
  // blocks run in parallel and the draws do not depend on the thread count.
  constexpr int64_t kBlock = 4096;
  const uint64_t seed = ctx.rng->next_u64();
  const int64_t n = x.size();
  // Activations of a batch split across data-parallel ranks (Context::row_offset): blocks
  // count global elements, so each rank draws what one process draws for the whole batch;
  // a block straddling the slice's start skips the draws before it.
  const int64_t per_row = role_ == Role::kActivation && x.rank() >= 1 && x.dim(0) ? n / x.dim(0) : 0;
  const int64_t g0 = ctx.row_offset * per_row;
  const int64_t first = g0 / kBlock, blocks = n ? (g0 + n + kBlock - 1) / kBlock - first : 0;
  const float* xp = x.data();
  float* yp = y.data();
  parallel_for(blocks, kQuantParallelMin, [&](int64_t b_begin, int64_t b_end) {
    for (int64_t b = first + b_begin; b < first + b_end; ++b) {
      Rng rng(seed, static_cast<uint64_t>(b));
      const int64_t start = std::max(b * kBlock, g0), end = std::min((b + 1) * kBlock, g0 + n);
      for (int64_t skip = b * kBlock; skip < start; ++skip) rng.next_u64();
      stochastic_binary_forward(xp + (start - g0), yp + (start - g0), end - start, rng);
    }
  }, n);
}

void StochasticQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) { ste_backward(x, dy, dx); }

void XnorQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  const int64_t groups = group_count(x, spec_.granularity);
  const int64_t len = groups ? x.size() / groups : 0;
  alpha_.resize({groups});
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  parallel_for(groups, kQuantParallelMin, [&](int64_t g_begin, int64_t g_end) {
    for (int64_t g = g_begin; g < g_end; ++g) {
      const float* w = xp + g * len;
      double s = 0;
      for (int64_t j = 0; j < len; ++j) s += std::fabs(w[j]);
      const float a = len ? static_cast<float>(s / static_cast<double>(len)) : 0.f;
      alpha_[g] = a;
      float* o = yp + g * len;
      for (int64_t j = 0; j < len; ++j) o[j] = w[j] >= 0.f ? a : -a;
    }
  }, x.size());
}

void XnorQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  const int64_t groups = alpha_.size();
  const int64_t len = groups ? x.size() / groups : 0;
  dx.resize(x.shape());
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  parallel_for(groups, kQuantParallelMin, [&](int64_t g_begin, int64_t g_end) {
    for (int64_t g = g_begin; g < g_end; ++g) {
      const float* w = xp + g * len;
      const float* d = gp + g * len;
      double s = 0;  // sum_i dy_i sign(w_i)
      for (int64_t j = 0; j < len; ++j) s += w[j] >= 0.f ? d[j] : -d[j];
      const float mean_term = static_cast<float>(s / static_cast<double>(len));
      const float a = alpha_[g];
      float* o = dp + g * len;
      for (int64_t j = 0; j < len; ++j) {
        const float sgn = sign_pm1(w[j]);
        o[j] = (std::fabs(w[j]) <= 1.f ? a * d[j] : 0.f) + sgn * mean_term;
      }
    }
  }, x.size());
}

TernaryQuantizer::TernaryQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  LOWBIT_CHECK(spec_.threshold.has_value() || role == Role::kWeight,
               "quantizer 'ternary' on activations needs a fixed threshold, e.g. 'ternary:0.5' (the TWN threshold "
               "0.7 * mean|x| would depend on the batch)");
  if (spec_.threshold) threshold_ = *spec_.threshold;
}

void TernaryQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  if (!spec_.threshold) threshold_ = twn_threshold(x.data(), x.size());
  y.resize(x.shape());
  const float* xp = x.data();
  float* yp = y.data();
  const float t = threshold_;
  for_chunks(x.size(), [&](int64_t b, int64_t e) { ternary_forward(xp + b, yp + b, e - b, t); });
}

void TernaryQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) { ste_backward(x, dy, dx); }

namespace {
Grid pm1_grid(std::vector<float> step) { return Grid{std::move(step), -1, 1}; }
}  // namespace

bool BinaryQuantizer::grid(Grid& out) const {
  out = pm1_grid({1.f});
  return true;
}

bool StochasticQuantizer::grid(Grid& out) const {
  if (last_training_) return false;
  out = pm1_grid({1.f});
  return true;
}

bool XnorQuantizer::grid(Grid& out) const {
  if (alpha_.empty()) return false;
  std::vector<float> step(alpha_.data(), alpha_.data() + alpha_.size());
  for (float a : step)
    if (!(a > 0.f) || !std::isfinite(a)) return false;
  out = pm1_grid(std::move(step));
  return true;
}

bool TernaryQuantizer::grid(Grid& out) const {
  out = Grid{{1.f}, -1, 1};
  return true;
}

}  // namespace lowbit::quant
