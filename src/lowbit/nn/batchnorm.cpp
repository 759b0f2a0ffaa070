#include "lowbit/nn/batchnorm.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

namespace {

// Channel c of sample n is the contiguous run x[(n*C + c)*S, +S). Runs body(c0, c1) in
// parallel over blocks of channels; when S is small several channels share a block so a
// thread reads whole cache lines. Blocks hold at most kMaxBlock channels.
constexpr int64_t kMaxBlock = 64;

template <class F>
void for_channel_blocks(int64_t C, int64_t S, int64_t total, F&& body) {
  const int64_t cb = std::clamp<int64_t>(kMaxBlock / std::max<int64_t>(S, 1), 1, kMaxBlock);
  const int64_t blocks = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (total > (1 << 15) && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) body(b * cb, std::min(C, (b + 1) * cb));
}

}  // namespace

BatchNorm::BatchNorm(int64_t channels, float momentum, float eps, bool affine)
    : channels_(channels), momentum_(momentum), eps_(eps), affine_(affine) {
  LOWBIT_CHECK(channels_ > 0, "batchnorm: channels must be positive (got ", channels_, ")");
  LOWBIT_CHECK(momentum_ >= 0.f && momentum_ <= 1.f, "batchnorm: momentum must be in [0, 1] (got ", momentum_, ")");
  LOWBIT_CHECK(eps_ > 0.f, "batchnorm: eps must be positive (got ", eps_, ")");
  gamma_.name = "gamma";
  gamma_.decay = false;
  beta_.name = "beta";
  beta_.decay = false;
  if (affine_) {
    gamma_.value = Tensor({channels_}, 1.f);
    gamma_.grad = Tensor({channels_}, 0.f);
    beta_.value = Tensor({channels_}, 0.f);
    beta_.grad = Tensor({channels_}, 0.f);
  }
  running_mean_ = Tensor({channels_}, 0.f);
  running_var_ = Tensor({channels_}, 1.f);
  const auto c = static_cast<size_t>(channels_);
  mean_.assign(c, 0.0);
  inv_std_.assign(c, 1.0);
  sum_a_.assign(c, 0.0);
  sum_b_.assign(c, 0.0);
}

Shape BatchNorm::output_shape(const Shape& in) const {
  if (in.empty() || in[0] != channels_)
    fail(where(*this), "expects ", channels_, " channels in dimension 1 (per-sample shape [", channels_,
         "] or [", channels_, ", H, W]), got per-sample shape ", shape_str(in));
  return in;
}

int64_t BatchNorm::spatial(const Tensor& x) const {
  if (x.rank() < 2 || x.dim(1) != channels_)
    fail(where(*this), "expected input of shape [-1, ", channels_, "] or [-1, ", channels_,
         ", H, W] (batch first), got ", shape_str(x.shape()));
  int64_t s = 1;
  for (int i = 2; i < x.rank(); ++i) s *= x.dim(i);
  return s;
}

void BatchNorm::init(Rng&) {
  if (affine_) {
    gamma_.value.fill(1.f);
    beta_.value.zero();
  }
  running_mean_.zero();
  running_var_.fill(1.f);
}

std::vector<Param*> BatchNorm::params() {
  if (affine_) return {&gamma_, &beta_};
  return {};
}

std::vector<std::pair<std::string, Tensor*>> BatchNorm::buffers() {
  return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
}

json BatchNorm::spec() const {
  return {{"type", "batchnorm"}, {"momentum", momentum_}, {"eps", eps_}, {"affine", affine_}};
}

void BatchNorm::eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const {
  const auto C = static_cast<size_t>(channels_);
  scale.resize(C);
  shift.resize(C);
  for (size_t c = 0; c < C; ++c) {
    const double g = affine_ ? gamma_.value[static_cast<int64_t>(c)] : 1.0;
    const double b = affine_ ? beta_.value[static_cast<int64_t>(c)] : 0.0;
    scale[c] = g / std::sqrt(static_cast<double>(running_var_[static_cast<int64_t>(c)]) + eps_);
    shift[c] = b - running_mean_[static_cast<int64_t>(c)] * scale[c];
  }
}

void BatchNorm::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  const int64_t S = spatial(x);
  const int64_t N = x.dim(0), C = channels_, M = N * S;
  if (ctx.training && M < 2)
    fail(where(*this), "training needs more than one value per channel, got input ", shape_str(x.shape()));
  if (y.shape() != x.shape()) y.resize(x.shape());
  last_training_ = ctx.training;

  const float* xp = x.data();
  float* yp = y.data();
  const float* gp = affine_ ? gamma_.value.data() : nullptr;
  const float* bp = affine_ ? beta_.value.data() : nullptr;
  float* rm = running_mean_.data();
  float* rv = running_var_.data();
  const bool training = ctx.training;
  const double mom = momentum_, eps = eps_;

  for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t c1) {
    if (training) {
      for (int64_t c = c0; c < c1; ++c) sum_a_[c] = sum_b_[c] = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = c0; c < c1; ++c) {
          const float* row = xp + (n * C + c) * S;
          double a = 0.0;
#pragma omp simd reduction(+ : a)
          for (int64_t s = 0; s < S; ++s) a += row[s];
          sum_a_[c] += a;
        }
      for (int64_t c = c0; c < c1; ++c) mean_[c] = sum_a_[c] / static_cast<double>(M);
      for (int64_t n = 0; n < N; ++n)  // second pass: sum of squared deviations (no cancellation)
        for (int64_t c = c0; c < c1; ++c) {
          const float* row = xp + (n * C + c) * S;
          const double m = mean_[c];
          double a = 0.0;
#pragma omp simd reduction(+ : a)
          for (int64_t s = 0; s < S; ++s) {
            const double d = row[s] - m;
            a += d * d;
          }
          sum_b_[c] += a;
        }
      for (int64_t c = c0; c < c1; ++c) {
        const double var = sum_b_[c] / static_cast<double>(M);
        inv_std_[c] = 1.0 / std::sqrt(var + eps);
        const double unbiased = sum_b_[c] / static_cast<double>(M - 1);
        rm[c] = static_cast<float>((1.0 - mom) * rm[c] + mom * mean_[c]);
        rv[c] = static_cast<float>((1.0 - mom) * rv[c] + mom * unbiased);
      }
    } else {
      for (int64_t c = c0; c < c1; ++c) {
        mean_[c] = rm[c];
        inv_std_[c] = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      }
    }
    // y = (x - mean) * (gamma * inv_std) + beta
    float mean_f[kMaxBlock], scale_f[kMaxBlock], shift_f[kMaxBlock];
    for (int64_t c = c0; c < c1; ++c) {
      mean_f[c - c0] = static_cast<float>(mean_[c]);
      scale_f[c - c0] = static_cast<float>((gp ? gp[c] : 1.0) * inv_std_[c]);
      shift_f[c - c0] = bp ? bp[c] : 0.f;
    }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const float* row = xp + (n * C + c) * S;
        float* out = yp + (n * C + c) * S;
        const float m = mean_f[c - c0], a = scale_f[c - c0], b = shift_f[c - c0];
        for (int64_t s = 0; s < S; ++s) out[s] = (row[s] - m) * a + b;
      }
  });
}

void BatchNorm::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int64_t S = spatial(x);
  const int64_t N = x.dim(0), C = channels_, M = N * S;
  if (dy.shape() != x.shape())
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected ", shape_str(x.shape()));
  if (dx && dx->shape() != x.shape()) dx->resize(x.shape());

  const float* xp = x.data();
  const float* gp_ = dy.data();
  float* dxp = dx ? dx->data() : nullptr;
  const float* gamma = affine_ ? gamma_.value.data() : nullptr;
  float* dgamma_out = affine_ ? gamma_.grad.data() : nullptr;
  float* dbeta_out = affine_ ? beta_.grad.data() : nullptr;
  const bool training = last_training_;

  for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t c1) {
    // sum_a = sum dy, sum_b = sum dy * (x - mean)
    for (int64_t c = c0; c < c1; ++c) sum_a_[c] = sum_b_[c] = 0.0;
    float mean_f[kMaxBlock];
    for (int64_t c = c0; c < c1; ++c) mean_f[c - c0] = static_cast<float>(mean_[c]);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const float* xr = xp + (n * C + c) * S;
        const float* gr = gp_ + (n * C + c) * S;
        const float m = mean_f[c - c0];
        double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
        for (int64_t s = 0; s < S; ++s) {
          const double g = gr[s];
          a += g;
          b += g * static_cast<double>(xr[s] - m);
        }
        sum_a_[c] += a;
        sum_b_[c] += b;
      }
    float coef_dy[kMaxBlock], coef_x[kMaxBlock], coef_c[kMaxBlock];
    for (int64_t c = c0; c < c1; ++c) {
      const double dbeta = sum_a_[c];
      const double dgamma = sum_b_[c] * inv_std_[c];  // sum dy * xhat
      if (dgamma_out) {
        dgamma_out[c] = static_cast<float>(dgamma);
        dbeta_out[c] = static_cast<float>(dbeta);
      }
      const double k = (gamma ? gamma[c] : 1.0) * inv_std_[c];
      // training: dx = k * (dy - dbeta/M - xhat * dgamma/M); eval: dx = k * dy
      coef_dy[c - c0] = static_cast<float>(k);
      coef_x[c - c0] = training ? static_cast<float>(-k * inv_std_[c] * dgamma / static_cast<double>(M)) : 0.f;
      coef_c[c - c0] = training ? static_cast<float>(-k * dbeta / static_cast<double>(M)) : 0.f;
    }
    if (!dxp) return;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const float* xr = xp + (n * C + c) * S;
        const float* gr = gp_ + (n * C + c) * S;
        float* out = dxp + (n * C + c) * S;
        const float m = mean_f[c - c0], a = coef_dy[c - c0], bx = coef_x[c - c0], cc = coef_c[c - c0];
        for (int64_t s = 0; s < S; ++s) out[s] = a * gr[s] + bx * (xr[s] - m) + cc;
      }
  });
}

}  // namespace lowbit::nn
