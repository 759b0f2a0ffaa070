#include "lowbit/nn/batchnorm.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/communicator.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::nn {

namespace {

// Channel c of sample n is the contiguous run x[(n*C + c)*S, +S). Work is split into
// blocks of channels [c0, c0 + nb) processed in parallel; when S is small several
// channels share a block so a thread reads whole cache lines. With S == 1 (rank-2 input)
// the loops run across the channels of a row instead, so they vectorise.
constexpr int64_t kMaxBlock = 64;

template <class F>
void for_channel_blocks(int64_t C, int64_t S, int64_t total, F&& body) {
  const int64_t cb = std::clamp<int64_t>(kMaxBlock / std::max<int64_t>(S, 1), 1, kMaxBlock);
  const int64_t blocks = (C + cb - 1) / cb;
  parallel_for(blocks, Grain::kArithmetic, [&](int64_t b_begin, int64_t b_end) {
    for (int64_t b = b_begin; b < b_end; ++b) {
      const int64_t c0 = b * cb;
      body(c0, std::min(C, c0 + cb) - c0);
    }
  }, total);
}

struct Block {
  int64_t N, C, S, c0, nb;
  const float* run(const float* base, int64_t n, int64_t j) const { return base + (n * C + c0 + j) * S; }
  float* run(float* base, int64_t n, int64_t j) const { return base + (n * C + c0 + j) * S; }
};

// sum[j] = sum of x over channel c0 + j.
void channel_sum(const Block& b, const float* x, double* sum) {
  for (int64_t j = 0; j < b.nb; ++j) sum[j] = 0.0;
  for (int64_t n = 0; n < b.N; ++n) {
    if (b.S == 1) {
      const float* row = b.run(x, n, 0);
      for (int64_t j = 0; j < b.nb; ++j) sum[j] += row[j];
      continue;
    }
    for (int64_t j = 0; j < b.nb; ++j) {
      const float* r = b.run(x, n, j);
      double a = 0.0;
#pragma omp simd reduction(+ : a)
      for (int64_t s = 0; s < b.S; ++s) a += r[s];
      sum[j] += a;
    }
  }
}

// sq[j] = sum of (x - mean[j])^2 over channel c0 + j (a second pass: no cancellation).
void channel_sq_dev(const Block& b, const float* x, const double* mean, double* sq) {
  for (int64_t j = 0; j < b.nb; ++j) sq[j] = 0.0;
  for (int64_t n = 0; n < b.N; ++n) {
    if (b.S == 1) {
      const float* row = b.run(x, n, 0);
      for (int64_t j = 0; j < b.nb; ++j) {
        const double d = row[j] - mean[j];
        sq[j] += d * d;
      }
      continue;
    }
    for (int64_t j = 0; j < b.nb; ++j) {
      const float* r = b.run(x, n, j);
      const double m = mean[j];
      double a = 0.0;
#pragma omp simd reduction(+ : a)
      for (int64_t s = 0; s < b.S; ++s) {
        const double d = r[s] - m;
        a += d * d;
      }
      sq[j] += a;
    }
  }
}

// sum_g[j] = sum dy, sum_gx[j] = sum dy * (x - mean[j]) over channel c0 + j.
void channel_grad_sums(const Block& b, const float* x, const float* dy, const float* mean, double* sum_g,
                       double* sum_gx) {
  for (int64_t j = 0; j < b.nb; ++j) sum_g[j] = sum_gx[j] = 0.0;
  for (int64_t n = 0; n < b.N; ++n) {
    if (b.S == 1) {
      const float* xr = b.run(x, n, 0);
      const float* gr = b.run(dy, n, 0);
      for (int64_t j = 0; j < b.nb; ++j) {
        const double g = gr[j];
        sum_g[j] += g;
        sum_gx[j] += g * static_cast<double>(xr[j] - mean[j]);
      }
      continue;
    }
    for (int64_t j = 0; j < b.nb; ++j) {
      const float* xr = b.run(x, n, j);
      const float* gr = b.run(dy, n, j);
      const float m = mean[j];
      double a = 0.0, c = 0.0;
#pragma omp simd reduction(+ : a, c)
      for (int64_t s = 0; s < b.S; ++s) {
        const double g = gr[s];
        a += g;
        c += g * static_cast<double>(xr[s] - m);
      }
      sum_g[j] += a;
      sum_gx[j] += c;
    }
  }
}

// out = u * ku[j] + (v - mean[j]) * kv[j] + k0[j] per channel; u may be null (then ku unused).
void channel_affine(const Block& b, const float* u, const float* v, float* out, const float* mean, const float* ku,
                    const float* kv, const float* k0) {
  for (int64_t n = 0; n < b.N; ++n) {
    if (b.S == 1) {
      const float* vr = b.run(v, n, 0);
      float* o = b.run(out, n, 0);
      if (u) {
        const float* ur = b.run(u, n, 0);
        for (int64_t j = 0; j < b.nb; ++j) o[j] = ur[j] * ku[j] + (vr[j] - mean[j]) * kv[j] + k0[j];
      } else {
        for (int64_t j = 0; j < b.nb; ++j) o[j] = format::bn_eval(vr[j], mean[j], kv[j], k0[j]);
      }
      continue;
    }
    for (int64_t j = 0; j < b.nb; ++j) {
      const float* vr = b.run(v, n, j);
      float* o = b.run(out, n, j);
      const float m = mean[j], a = kv[j], c = k0[j];
      if (u) {
        const float* ur = b.run(u, n, j);
        const float k = ku[j];
        for (int64_t s = 0; s < b.S; ++s) o[s] = ur[s] * k + (vr[s] - m) * a + c;
      } else {
        for (int64_t s = 0; s < b.S; ++s) o[s] = format::bn_eval(vr[s], m, a, c);
      }
    }
  }
}

}  // namespace

BatchNorm::BatchNorm(int64_t channels, float momentum, float eps, bool affine, bool per_tensor)
    : channels_(channels),
      momentum_(momentum),
      eps_(eps),
      affine_(affine),
      per_tensor_(per_tensor),
      groups_(per_tensor ? 1 : channels) {
  LOWBIT_CHECK(channels_ > 0, "batchnorm: channels must be positive (got ", channels_, ")");
  LOWBIT_CHECK(momentum_ >= 0.f && momentum_ <= 1.f, "batchnorm: momentum must be in [0, 1] (got ", momentum_, ")");
  LOWBIT_CHECK(eps_ > 0.f, "batchnorm: eps must be positive (got ", eps_, ")");
  gamma_.name = "gamma";
  gamma_.decay = false;
  beta_.name = "beta";
  beta_.decay = false;
  if (affine_) {
    gamma_.value = Tensor({groups_}, 1.f);
    gamma_.grad = Tensor({groups_}, 0.f);
    beta_.value = Tensor({groups_}, 0.f);
    beta_.grad = Tensor({groups_}, 0.f);
  }
  running_mean_ = Tensor({groups_}, 0.f);
  running_var_ = Tensor({groups_}, 1.f);
  const auto c = static_cast<size_t>(groups_);
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
  json j = {{"type", "batchnorm"}, {"momentum", momentum_}, {"eps", eps_}, {"affine", affine_}};
  if (per_tensor_) j["per_tensor"] = true;
  return j;
}

void BatchNorm::eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const {
  const auto C = static_cast<size_t>(channels_);
  scale.resize(C);
  shift.resize(C);
  for (size_t c = 0; c < C; ++c) {
    const int64_t i = per_tensor_ ? 0 : static_cast<int64_t>(c);
    const double g = affine_ ? gamma_.value[i] : 1.0;
    const double b = affine_ ? beta_.value[i] : 0.0;
    scale[c] = g / std::sqrt(static_cast<double>(running_var_[i]) + eps_);
    shift[c] = b - running_mean_[i] * scale[c];
  }
}

void BatchNorm::eval_constants(std::vector<float>& mean, std::vector<float>& scale, std::vector<float>& shift) const {
  const auto C = static_cast<size_t>(channels_);
  mean.resize(C), scale.resize(C), shift.resize(C);
  for (size_t c = 0; c < C; ++c) {
    const int64_t i = per_tensor_ ? 0 : static_cast<int64_t>(c);
    // The same expressions as forward()'s evaluation branch.
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(running_var_[i]) + eps_);
    mean[c] = static_cast<float>(static_cast<double>(running_mean_[i]));
    scale[c] = static_cast<float>((affine_ ? static_cast<double>(gamma_.value[i]) : 1.0) * inv_std);
    shift[c] = affine_ ? beta_.value[i] : 0.f;
  }
}

void BatchNorm::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  // per_tensor: the per-sample tensor is one channel of channels_ * spatial values.
  const int64_t S = per_tensor_ ? channels_ * spatial(x) : spatial(x);
  const int64_t N = x.dim(0), C = groups_;
  // Batch statistics in training, unless frozen (PBNN's threshold form: running statistics).
  const bool training = ctx.training && !frozen_;
  // Sync BN: the batch is split across data-parallel ranks, and the statistics are those of
  // the whole batch (per-channel sums reduced over the ranks, as PyTorch's SyncBatchNorm).
  sync_ = training && ctx.comm && ctx.comm->distributed() ? ctx.comm : nullptr;
  double M = static_cast<double>(N * S);
  if (sync_) {
    // One pass for every channel's sum (and the count), one reduction, then the deviations.
    sum_a_.resize(static_cast<size_t>(C) + 1);
    for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t nb) { channel_sum({N, C, S, c0, nb}, x.data(), sum_a_.data() + c0); });
    sum_a_[static_cast<size_t>(C)] = M;
    sync_->sum(sum_a_.data(), C + 1);
    M = sum_a_[static_cast<size_t>(C)];
  }
  if (training && M < 2)
    fail(where(*this), "training needs more than one value per channel, got input ", shape_str(x.shape()),
         sync_ ? cat(" (", M, " values per channel on all ranks together)") : std::string());
  count_ = M;
  if (y.shape() != x.shape()) y.resize(x.shape());
  last_training_ = training;

  const float* xp = x.data();
  float* yp = y.data();
  const float* gp = affine_ ? gamma_.value.data() : nullptr;
  const float* bp = affine_ ? beta_.value.data() : nullptr;
  float* rm = running_mean_.data();
  float* rv = running_var_.data();
  const double mom = momentum_, eps = eps_;

  if (sync_) {
    for (int64_t c = 0; c < C; ++c) mean_[static_cast<size_t>(c)] = sum_a_[static_cast<size_t>(c)] / M;
    for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t nb) {
      channel_sq_dev({N, C, S, c0, nb}, xp, mean_.data() + c0, sum_b_.data() + c0);
    });
    sync_->sum(sum_b_.data(), C);
  }
  for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t nb) {
    const Block b{N, C, S, c0, nb};
    double* mean = mean_.data() + c0;
    double* inv_std = inv_std_.data() + c0;
    if (training) {
      double* sum = sum_a_.data() + c0;
      double* sq = sum_b_.data() + c0;
      if (!sync_) {
        channel_sum(b, xp, sum);
        for (int64_t j = 0; j < nb; ++j) mean[j] = sum[j] / M;
        channel_sq_dev(b, xp, mean, sq);
      }
      for (int64_t j = 0; j < nb; ++j) {
        const int64_t c = c0 + j;
        inv_std[j] = 1.0 / std::sqrt(sq[j] / M + eps);
        const double unbiased = sq[j] / (M - 1);
        rm[c] = static_cast<float>((1.0 - mom) * rm[c] + mom * mean[j]);
        rv[c] = static_cast<float>((1.0 - mom) * rv[c] + mom * unbiased);
      }
    } else {
      for (int64_t j = 0; j < nb; ++j) {
        mean[j] = rm[c0 + j];
        inv_std[j] = 1.0 / std::sqrt(static_cast<double>(rv[c0 + j]) + eps);
      }
    }
    // y = (x - mean) * (gamma * inv_std) + beta
    float mean_f[kMaxBlock], scale_f[kMaxBlock], shift_f[kMaxBlock];
    for (int64_t j = 0; j < nb; ++j) {
      mean_f[j] = static_cast<float>(mean[j]);
      scale_f[j] = static_cast<float>((gp ? gp[c0 + j] : 1.0) * inv_std[j]);
      shift_f[j] = bp ? bp[c0 + j] : 0.f;
    }
    channel_affine(b, nullptr, xp, yp, mean_f, nullptr, scale_f, shift_f);
  });
}

void BatchNorm::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int64_t S = per_tensor_ ? channels_ * spatial(x) : spatial(x);
  const int64_t N = x.dim(0), C = groups_;
  if (dy.shape() != x.shape())
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected ", shape_str(x.shape()));
  if (dx && dx->shape() != x.shape()) dx->resize(x.shape());

  const float* xp = x.data();
  const float* dyp = dy.data();
  float* dxp = dx ? dx->data() : nullptr;
  const float* gamma = affine_ ? gamma_.value.data() : nullptr;
  float* dgamma_out = affine_ ? gamma_.grad.data() : nullptr;
  float* dbeta_out = affine_ ? beta_.grad.data() : nullptr;
  const bool training = last_training_;
  // The count of values per channel the forward normalised over (all ranks' under sync BN).
  const double M = training ? count_ : static_cast<double>(N * S);
  Communicator* sync = training ? sync_ : nullptr;

  // sum_a_ = sum dy (= dbeta), sum_b_ = sum dy (x - mean), per channel. The parameters'
  // gradients are this rank's part (the trainer sums every gradient over the ranks); the
  // input gradient needs the whole batch's sums.
  auto local_sums = [&](int64_t c0, int64_t nb) {
    const Block b{N, C, S, c0, nb};
    float mean_f[kMaxBlock];
    for (int64_t j = 0; j < nb; ++j) mean_f[j] = static_cast<float>(mean_[c0 + j]);
    channel_grad_sums(b, xp, dyp, mean_f, sum_a_.data() + c0, sum_b_.data() + c0);
    if (dgamma_out)
      for (int64_t j = 0; j < nb; ++j) {
        dgamma_out[c0 + j] = static_cast<float>(sum_b_[c0 + j] * inv_std_[c0 + j]);  // sum dy * xhat
        dbeta_out[c0 + j] = static_cast<float>(sum_a_[c0 + j]);
      }
  };
  if (sync) {
    for_channel_blocks(C, S, x.size(), local_sums);
    sum_a_.resize(static_cast<size_t>(2 * C));  // [sum dy | sum dy (x - mean)] in one reduction
    std::copy(sum_b_.begin(), sum_b_.begin() + C, sum_a_.begin() + C);
    sync->sum(sum_a_.data(), 2 * C);
    std::copy(sum_a_.begin() + C, sum_a_.begin() + 2 * C, sum_b_.begin());
  }
  for_channel_blocks(C, S, x.size(), [&](int64_t c0, int64_t nb) {
    const Block b{N, C, S, c0, nb};
    if (!sync) local_sums(c0, nb);
    const double* inv_std = inv_std_.data() + c0;
    const double* sum_g = sum_a_.data() + c0;
    const double* sum_gx = sum_b_.data() + c0;
    float mean_f[kMaxBlock];
    for (int64_t j = 0; j < nb; ++j) mean_f[j] = static_cast<float>(mean_[c0 + j]);
    float k_dy[kMaxBlock], k_x[kMaxBlock], k_0[kMaxBlock];
    for (int64_t j = 0; j < nb; ++j) {
      const int64_t c = c0 + j;
      const double dbeta = sum_g[j];
      const double dgamma = sum_gx[j] * inv_std[j];  // sum dy * xhat
      // training: dx = k * (dy - dbeta/M - xhat * dgamma/M) with k = gamma * inv_std;
      // eval: dx = k * dy.
      const double k = (gamma ? gamma[c] : 1.0) * inv_std[j];
      k_dy[j] = static_cast<float>(k);
      k_x[j] = training ? static_cast<float>(-k * inv_std[j] * dgamma / M) : 0.f;
      k_0[j] = training ? static_cast<float>(-k * dbeta / M) : 0.f;
    }
    if (dxp) channel_affine(b, dyp, xp, dxp, mean_f, k_dy, k_x, k_0);
  });
}

}  // namespace lowbit::nn
