#include "lowbit/quant/syq.hpp"

#include <cmath>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/quant/binary.hpp"
#include "lowbit/quant/parallel.hpp"

namespace lowbit::quant {

SyqQuantizer::SyqQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {
  LOWBIT_CHECK(role == Role::kWeight, "quantizer '", spec_.str(),
               "' is for weights only (learned scales per layer/row/pixel); use fixed:k,f or binary for activations");
  alpha_.name = "alpha";
  alpha_.decay = false;
}

int64_t SyqQuantizer::group_count(const Shape& w, Granularity g) {
  const bool conv = w.size() == 4;
  if (g == Granularity::kRow) return conv ? w[2] : 1;
  if (g == Granularity::kPixel) return conv ? w[2] * w[3] : 1;
  return 1;
}

void SyqQuantizer::ensure_shape(const Tensor& w) {
  if (w.shape() == shape_ && alpha_.value.size() == group_count(shape_, spec_.granularity)) return;
  shape_ = w.shape();
  kh_ = shape_.size() == 4 ? shape_[2] : 1;
  kw_ = shape_.size() == 4 ? shape_[3] : 1;
  const int64_t groups = group_count(shape_, spec_.granularity);
  if (alpha_.value.size() != groups) {
    alpha_.value = Tensor({groups}, 1.f);
    alpha_.grad = Tensor({groups}, 0.f);
  }
}

int64_t SyqQuantizer::group_of(int64_t j) const {
  const int64_t pixel = j % (kh_ * kw_);  // (r * kw + c) of the (out, in, r, c) element
  if (spec_.granularity == Granularity::kPixel) return pixel;
  if (spec_.granularity == Granularity::kRow) return pixel / kw_;
  return 0;
}

void SyqQuantizer::init(const Tensor& latent) {
  ensure_shape(latent);
  const int64_t groups = alpha_.value.size();
  std::vector<double> sum(static_cast<size_t>(groups), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(groups), 0);
  for (int64_t j = 0; j < latent.size(); ++j) {
    const int64_t g = group_of(j);
    sum[static_cast<size_t>(g)] += std::fabs(latent[j]);
    ++count[static_cast<size_t>(g)];
  }
  for (int64_t g = 0; g < groups; ++g)
    alpha_.value[g] = count[g] ? static_cast<float>(sum[g] / static_cast<double>(count[g])) : 1.f;
}

bool SyqQuantizer::grid(Grid& out) const {
  if (alpha_.value.size() != 1) return false;
  const float a = alpha_.value[0];
  if (!(a > 0.f) || !std::isfinite(a)) return false;
  out = Grid{{a}, -1, 1};
  return true;
}

bool SyqQuantizer::tap_groups(TapGroups& out) const {
  if (alpha_.value.size() < 2 || alpha_.value.size() != group_count(shape_, spec_.granularity)) return false;
  for (int64_t g = 0; g < alpha_.value.size(); ++g)
    if (!(alpha_.value[g] > 0.f) || !std::isfinite(alpha_.value[g])) return false;
  out.step.assign(alpha_.value.data(), alpha_.value.data() + alpha_.value.size());
  out.tap_group.clear();
  for (int64_t t = 0; t < kh_ * kw_; ++t) out.tap_group.push_back(static_cast<int32_t>(group_of(t)));
  out.code_min = -1;
  out.code_max = 1;
  return true;
}

std::string SyqQuantizer::no_grid_reason() const {
  if (alpha_.value.size() != 1)
    return cat("'", spec_.str(), "' has ", alpha_.value.size(), " scales per weight tensor, which vary along each dot "
               "product: exact evaluation and the runtime take them only as groups of a convolution's kernel taps, "
               "every scale positive and finite (else use layer granularity, 'syq:",
               spec_.bits == 1 ? "binary" : "ternary", ":layer')");
  return cat("'", spec_.str(), "' has a scale that is not positive and finite");
}

void SyqQuantizer::forward(const Tensor& x, Tensor& y, const Context&) {
  ensure_shape(x);
  const int64_t n = x.size();
  const float* xp = x.data();
  eta_ = 0.f;
  if (spec_.bits == 2) {
    float m = 0.f;
    for (int64_t j = 0; j < n; ++j) m = std::max(m, std::fabs(xp[j]));
    eta_ = 0.05f * m;
  }
  q_.resize(x.shape());
  y.resize(x.shape());
  float* qp = q_.data();
  float* yp = y.data();
  const float* a = alpha_.value.data();
  const bool ternary = spec_.bits == 2;
  const float eta = eta_;
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      float q = sign_pm1(xp[j]);
      if (ternary && std::fabs(xp[j]) < eta) q = 0.f;
      qp[j] = q;
      yp[j] = a[group_of(j)] * q;
    }
  });
}

void SyqQuantizer::backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  const int64_t n = x.size();
  dx.resize(x.shape());
  const float* gp = dy.data();
  const float* qp = q_.data();
  const float* a = alpha_.value.data();
  float* dp = dx.data();
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) dp[j] = a[group_of(j)] * gp[j];
  });
  const int64_t groups = alpha_.value.size();
  std::vector<double> da(static_cast<size_t>(groups), 0.0);
  for (int64_t j = 0; j < n; ++j) da[static_cast<size_t>(group_of(j))] += static_cast<double>(gp[j]) * qp[j];
  for (int64_t g = 0; g < groups; ++g) alpha_.grad[g] = static_cast<float>(da[static_cast<size_t>(g)]);
}

}  // namespace lowbit::quant
