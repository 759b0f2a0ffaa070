// Batch normalisation (Ioffe & Szegedy 2015) with PyTorch semantics, one class for
//   rank 2 input (N, C)        -- "batchnorm1d": statistics per channel over N
//   rank 4 input (N, C, H, W)  -- "batchnorm2d": statistics per channel over N, H, W
// (any rank >= 2 works: channel is dimension 1, statistics run over all the others).
//
// Training: normalise with the batch mean and the biased batch variance, then update
//   running_mean = (1 - momentum) * running_mean + momentum * batch_mean
//   running_var  = (1 - momentum) * running_var  + momentum * unbiased_batch_var
// (needs more than one value per channel, as in PyTorch). Eval: normalise with the
// running statistics. y = gamma * (x - mean) / sqrt(var + eps) + beta.
// backward() differentiates the mode of the preceding forward(): the exact batch-statistics
// gradient after a training forward, the plain per-channel affine map after an eval one.
// Per-channel sums are accumulated in double.
//
// Sync BN (data-parallel training, docs/DISTRIBUTED.md): when the training forward's
// Context::comm is a group of several ranks each holding a slice of the batch, the mean and
// variance are those of the whole batch (per-channel sums and squared deviations reduced over
// the ranks), and backward reduces its two per-channel sums the same way, so N ranks compute
// what one process computes for the whole batch (up to summation order), as PyTorch's
// SyncBatchNorm. The parameter gradients stay this rank's part: the trainer sums every
// gradient over the ranks.
//
// per_tensor: one set of statistics and one gamma/beta for the whole per-sample tensor (all
// channels and positions together), as if it had one channel. On the last layer of a
// classifier every class then shares one affine map, so the class order of the scores is
// the order of the raw accumulators -- what FINN's BNN-PYNQ CNV overlays compute (they
// output raw accumulators; docs/HARDWARE.md). Parameters and buffers then have one element.
#pragma once
#include <vector>

#include "lowbit/format/semantics.hpp"
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

// BatchNorm's evaluation map of one value: format/semantics.hpp, shared with export and the
// runtime (forward() applies it per element).
using format::bn_eval;

class BatchNorm : public Layer {
 public:
  explicit BatchNorm(int64_t channels, float momentum = 0.1f, float eps = 1e-5f, bool affine = true,
                     bool per_tensor = false);

  std::string type() const override { return "batchnorm"; }
  Shape output_shape(const Shape& in) const override;
  // 2 when each set of statistics has one value per sample ([C], or [C, 1, 1]; per_tensor:
  // a one-value tensor), else 1.
  int64_t min_training_batch(const Shape& in) const override {
    return shape_numel(in) == (per_tensor_ ? 1 : channels_) ? 2 : 1;
  }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  // Resets gamma = 1, beta = 0, running_mean = 0, running_var = 1.
  void init(Rng& rng) override;
  json spec() const override;

  // Frozen statistics: training forwards normalise with the running statistics, as
  // evaluation does, and leave them unchanged; backward is then the per-channel affine map
  // (gamma and beta still learn). PBNN (seed 001, eq. 4-5) switches every BatchNorm to this
  // once its progressive scale v >= 500: sign(BN(x)) is then XNOR(x > T, gamma > 0) with
  // T = running_mean - sqrt(running_var + eps) * beta / gamma, the threshold the deployed
  // binary network applies. Not saved in checkpoints: the trainer sets it from the schedule.
  void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

  int64_t channels() const { return channels_; }
  float momentum() const { return momentum_; }
  float eps() const { return eps_; }
  bool affine() const { return affine_; }
  bool per_tensor() const { return per_tensor_; }
  // nullptr when affine == false (then gamma = 1, beta = 0).
  Param* gamma() { return affine_ ? &gamma_ : nullptr; }
  Param* beta() { return affine_ ? &beta_ : nullptr; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  // The eval-mode map as y = scale * x + shift per channel (per_tensor: the same for all) (scale = gamma / sqrt(running_var
  // + eps), shift = beta - running_mean * scale), computed in double; for folding BN into
  // thresholds or the preceding layer.
  void eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const;
  // The float constants evaluation applies, y = (x - mean) * scale + shift (bn_eval below),
  // bit for bit: what export folds and the runtime's score layer reproduces.
  void eval_constants(std::vector<float>& mean, std::vector<float>& scale, std::vector<float>& shift) const;

 private:
  // Per-sample (C, ...) -> spatial size S (product of the trailing dims); throws naming the layer.
  int64_t spatial(const Tensor& x) const;

  int64_t channels_;
  float momentum_, eps_;
  bool affine_;
  bool per_tensor_;
  int64_t groups_;  // sets of statistics: channels_, or 1 when per_tensor_
  Param gamma_, beta_;
  Tensor running_mean_, running_var_;
  bool frozen_ = false;
  // State of the last forward, for backward.
  bool last_training_ = false;  // normalised with batch statistics
  std::vector<double> mean_;     // mean used for normalising (batch or running)
  std::vector<double> inv_std_;  // 1 / sqrt(var + eps) used for normalising
  std::vector<double> sum_a_, sum_b_;  // per-channel scratch sums
  // Sync BN: the group the last training forward reduced its statistics over (null: none),
  // and the values per channel it normalised over (all ranks together).
  Communicator* sync_ = nullptr;
  double count_ = 0;
};

}  // namespace lowbit::nn
