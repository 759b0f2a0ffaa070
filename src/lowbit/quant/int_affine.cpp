#include "lowbit/quant/int_affine.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "lowbit/core/communicator.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::quant {

void int_code_range(int bits, IntMode mode, bool narrow, int32_t& qmin, int32_t& qmax) {
  LOWBIT_CHECK(bits >= 2 && bits <= 16, "int:", bits, ": bits must be in 2..16");
  LOWBIT_CHECK(!(narrow && mode == IntMode::kUnsigned), "int:", bits,
               ":unsigned:narrow: 'narrow' cannot be combined with 'unsigned' (the range [1, 2^k - 1] would leave "
               "out the zero point 0); use int:", bits, ":unsigned or int:", bits, ":narrow");
  const int32_t levels = int32_t{1} << bits, half = levels / 2;
  if (mode == IntMode::kSigned) {
    qmin = narrow ? -(half - 1) : -half;
    qmax = half - 1;
  } else {
    qmin = narrow ? 1 : 0;
    qmax = levels - 1;
  }
}

AffineParams choose_affine_params(float lo, float hi, int bits, IntMode mode, bool narrow) {
  AffineParams p;
  int_code_range(bits, mode, narrow, p.qmin, p.qmax);
  double s = 0;
  if (!std::isnan(lo) && !std::isnan(hi)) {
    // double: hi - lo cannot overflow for finite float bounds.
    switch (mode) {
      case IntMode::kAffine:
        lo = std::min(lo, 0.f), hi = std::max(hi, 0.f);
        s = (double(hi) - lo) / (p.qmax - p.qmin);
        break;
      case IntMode::kSigned: s = std::max(std::fabs(double(lo)), std::fabs(double(hi))) / p.qmax; break;
      case IntMode::kUnsigned: s = std::max(double(hi), 0.0) / p.qmax; break;
    }
  }
  p.scale = static_cast<float>(s);
  if (!(p.scale > 0.f) || !std::isfinite(p.scale)) {
    // All-zero (or non-finite) range: any S reproduces 0; 1 keeps the outputs finite.
    p.scale = 1.f;
    p.zero_point = std::max(p.qmin, 0);
    return p;
  }
  if (mode == IntMode::kAffine) {
    const double z = std::nearbyint(p.qmin - double(lo) / p.scale);
    p.zero_point = static_cast<int32_t>(std::clamp(z, double(p.qmin), double(p.qmax)));
  }
  return p;
}

void fake_quant_forward(const float* x, float* y, int64_t n, const AffineParams& p) {
  const float s = p.scale, z = static_cast<float>(p.zero_point);
  const float qmin = static_cast<float>(p.qmin), qmax = static_cast<float>(p.qmax);
  for (int64_t i = 0; i < n; ++i) {
    // Exact integer arithmetic in float: |codes| <= 2^16, so rnd(x/S) + Z only rounds
    // far outside [qmin, qmax], where the clamp discards it.
    float q = std::nearbyint(x[i] / s) + z;
    q = q < qmin ? qmin : (q > qmax ? qmax : q);
    y[i] = s * (q - z);
  }
}

void fake_quant_backward(const float* x, const float* dy, float* dx, int64_t n, const AffineParams& p) {
  const float z = static_cast<float>(p.zero_point);
  // The same float expressions as the forward's end points, so the edge codes pass.
  const float lo = p.scale * (static_cast<float>(p.qmin) - z), hi = p.scale * (static_cast<float>(p.qmax) - z);
  for (int64_t i = 0; i < n; ++i) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.f;
}

void affine_min_max(const float* x, int64_t n, float& lo, float& hi) {
  lo = std::numeric_limits<float>::infinity();
  hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  if (lo > hi) lo = hi = 0.f;  // empty or all NaN
}

namespace {

// Fixed-size blocks so the result never depends on the thread count.
constexpr int64_t kRangeBlock = int64_t{1} << 14;

void parallel_min_max(const float* x, int64_t n, float& lo, float& hi) {
  if (n < kQuantParallelMin) return affine_min_max(x, n, lo, hi);
  const int64_t blocks = (n + kRangeBlock - 1) / kRangeBlock;
  std::vector<float> blo(static_cast<size_t>(blocks)), bhi(static_cast<size_t>(blocks));
  parallel_for(blocks, kQuantParallelMin, [&](int64_t b_begin, int64_t b_end) {
    for (int64_t b = b_begin; b < b_end; ++b) {
      const int64_t begin = b * kRangeBlock, len = std::min(kRangeBlock, n - begin);
      affine_min_max(x + begin, len, blo[static_cast<size_t>(b)], bhi[static_cast<size_t>(b)]);
    }
  }, n);
  lo = *std::min_element(blo.begin(), blo.end());
  hi = *std::max_element(bhi.begin(), bhi.end());
}

// Per-group (lo, hi) of `groups` consecutive runs of `len` elements.
void group_ranges(const float* x, int64_t groups, int64_t len, std::vector<float>& lo, std::vector<float>& hi) {
  lo.assign(static_cast<size_t>(groups), 0.f);
  hi.assign(static_cast<size_t>(groups), 0.f);
  if (groups == 1) return parallel_min_max(x, len, lo[0], hi[0]);
  parallel_for(groups, kQuantParallelMin, [&](int64_t g_begin, int64_t g_end) {
    for (int64_t g = g_begin; g < g_end; ++g)
      affine_min_max(x + g * len, len, lo[static_cast<size_t>(g)], hi[static_cast<size_t>(g)]);
  }, groups * len);
}

// fn(group, begin, end) over [0, n) cut at multiples of len, split across threads.
template <class F>
void for_groups(int64_t n, int64_t len, F&& fn) {
  for_chunks(n, [&](int64_t b, int64_t e) {
    while (b < e) {
      const int64_t g = b / len, end = std::min(e, (g + 1) * len);
      fn(g, b, end);
      b = end;
    }
  });
}

float ema(float avg, float batch) { return IntQuantizer::kEmaDecay * avg + (1.f - IntQuantizer::kEmaDecay) * batch; }

}  // namespace

IntQuantizer::IntQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  LOWBIT_CHECK(spec_.kind == QuantKind::kInt, "IntQuantizer needs an int:k spec, got '", spec_.str(), "'");
  LOWBIT_CHECK(!(spec_.narrow && spec_.int_mode == IntMode::kUnsigned), "quantizer '", spec_.str(),
               "': 'narrow' cannot be combined with 'unsigned' (the range [1, 2^k - 1] would leave out the zero "
               "point 0); drop one of the two flags");
  LOWBIT_CHECK(!(role_ == Role::kActivation && spec_.granularity == Granularity::kChannel), "quantizer '",
               spec_.str(), "' on activations: flag 'channel' (one scale per output channel) is for weights only; "
               "activations use one range per tensor");
  int32_t qmin, qmax;
  int_code_range(spec_.bits, spec_.int_mode, spec_.narrow, qmin, qmax);  // validates the bits
}

std::vector<std::pair<std::string, Tensor*>> IntQuantizer::buffers() {
  if (role_ != Role::kActivation) return {};
  return {{"ema_min", &ema_min_}, {"ema_max", &ema_max_}, {"ema_init", &ema_init_}};
}

void IntQuantizer::set_params(std::vector<AffineParams> params) {
  params_ = std::move(params);
  const int64_t groups = static_cast<int64_t>(params_.size());
  scales_.resize({groups});
  zero_points_.resize(params_.size());
  for (int64_t g = 0; g < groups; ++g) {
    scales_[g] = params_[static_cast<size_t>(g)].scale;
    zero_points_[static_cast<size_t>(g)] = params_[static_cast<size_t>(g)].zero_point;
  }
}

void IntQuantizer::choose_weight_params(const Tensor& w) {
  const bool channel = spec_.granularity == Granularity::kChannel && w.rank() >= 1;
  const int64_t groups = channel ? w.dim(0) : 1;
  const int64_t len = groups ? w.size() / groups : 0;
  std::vector<float> lo, hi;
  group_ranges(w.data(), groups, len, lo, hi);
  std::vector<AffineParams> params(static_cast<size_t>(groups));
  for (size_t g = 0; g < params.size(); ++g)
    params[g] = choose_affine_params(lo[g], hi[g], spec_.bits, spec_.int_mode, spec_.narrow);
  set_params(std::move(params));
}

void IntQuantizer::choose_activation_params(const Tensor& x, bool training, Communicator* comm) {
  float lo, hi;
  parallel_min_max(x.data(), x.size(), lo, hi);
  if (training && comm && comm->distributed()) {  // the whole batch's range, split across ranks
    comm->min(&lo, 1);
    comm->max(&hi, 1);
  }
  if (training && !x.empty()) {
    const bool first = ema_init_[0] == 0.f;
    ema_min_[0] = first ? lo : ema(ema_min_[0], lo);
    ema_max_[0] = first ? hi : ema(ema_max_[0], hi);
    ema_init_[0] = 1.f;
  }
  if (ema_init_[0] != 0.f) lo = ema_min_[0], hi = ema_max_[0];
  set_params({choose_affine_params(lo, hi, spec_.bits, spec_.int_mode, spec_.narrow)});
}

void IntQuantizer::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  if (role_ == Role::kWeight) choose_weight_params(x);
  else choose_activation_params(x, ctx.training, ctx.comm);
  y.resize(x.shape());
  const int64_t n = x.size(), groups = static_cast<int64_t>(params_.size());
  if (n == 0) return;
  const float* xp = x.data();
  float* yp = y.data();
  for_groups(n, n / groups, [&](int64_t g, int64_t b, int64_t e) {
    fake_quant_forward(xp + b, yp + b, e - b, params_[static_cast<size_t>(g)]);
  });
}

void IntQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  dx.resize(x.shape());
  const int64_t n = x.size(), groups = static_cast<int64_t>(params_.size());
  if (n == 0) return;
  LOWBIT_CHECK(groups > 0 && n % groups == 0 && dy.size() == n, "quantizer '", spec_.str(),
               "': backward needs the x of the last forward and a dy of its shape");
  const float *xp = x.data(), *gp = dy.data();
  float* dp = dx.data();
  for_groups(n, n / groups, [&](int64_t g, int64_t b, int64_t e) {
    fake_quant_backward(xp + b, gp + b, dp + b, e - b, params_[static_cast<size_t>(g)]);
  });
}

bool IntQuantizer::grid(Grid& out) const {
  // Before training has set its running range, an activation quantizer takes each batch's
  // own range: its codes are not a function of the value alone, so no fixed grid.
  if (role_ == Role::kActivation && ema_init_[0] == 0.f) return false;
  // A calibrated activation quantizer's evaluation parameters are a function of its EMA
  // alone (choose_activation_params), so its grid is known without a forward pass (export
  // reads it from a freshly loaded checkpoint); weights' come from their last forward.
  const std::vector<AffineParams> ema_params = {
      choose_affine_params(ema_min_[0], ema_max_[0], spec_.bits, spec_.int_mode, spec_.narrow)};
  const std::vector<AffineParams>& params = role_ == Role::kActivation ? ema_params : params_;
  if (params.empty()) return false;
  // The grid's codes are the values over the step, q - Z (Jacob et al. eq. 1: r = S (q - Z)),
  // so a zero point shifts the code range and integer layers multiply q - Z: the zero-point
  // terms of their eq. 7 are in the codes. Per-channel zero points: the union of the ranges.
  Grid g{{}, INT32_MAX, INT32_MIN};
  for (const AffineParams& p : params) {
    if (!(p.scale > 0.f) || !std::isfinite(p.scale)) return false;
    g.step.push_back(p.scale);
    g.code_min = std::min(g.code_min, p.qmin - p.zero_point);
    g.code_max = std::max(g.code_max, p.qmax - p.zero_point);
  }
  out = std::move(g);
  return true;
}

std::string IntQuantizer::no_grid_reason() const {
  const std::string q = spec_.str();
  if (role_ == Role::kActivation && ema_init_[0] == 0.f)
    return cat("'", q, "' has no calibrated range yet: activation ranges are running averages that training sets "
               "(untrained, each batch uses its own range)");
  if (params_.empty()) return cat("'", q, "' has not quantized anything yet (no forward pass)");
  return cat("'", q, "' has a scale that is not positive and finite");
}

}  // namespace lowbit::quant
