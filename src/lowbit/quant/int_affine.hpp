// Integer quantization "int:k[:signed|unsigned][:narrow][:channel]" (Jacob et al., CVPR
// 2018): a real value r is represented as r = S (q - Z) with an integer code q in
// [qmin, qmax], a scale S > 0 and an integer zero point Z. Training sees the "fake
// quantized" value S (clamp(rnd(x / S) + Z, qmin, qmax) - Z) and a clipped straight-through
// gradient. The scalar functions below are the specification; IntQuantizer runs them over
// threads and keeps the ranges (per weight tensor or channel, or an EMA for activations).
// Formulas, flags and sources: docs/QUANTIZERS.md, section "Integer affine".
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// Quantization parameters of one tensor or channel: r = scale * (q - zero_point),
// q in [qmin, qmax].
struct AffineParams {
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;
};

// Integer range of int:k in `mode` (narrow drops the most negative code):
//   affine    [0, 2^k - 1]            narrow [1, 2^k - 1]
//   signed    [-2^(k-1), 2^(k-1) - 1] narrow [-(2^(k-1) - 1), 2^(k-1) - 1]
//   unsigned  [0, 2^k - 1]            narrow: an Error (it would leave out the zero point 0)
// Throws lowbit::Error for bits outside 2..16.
void int_code_range(int bits, IntMode mode, bool narrow, int32_t& qmin, int32_t& qmax);

// Parameters that cover the real range [lo, hi]:
//   affine:   [lo, hi] widened to contain 0, S = (hi - lo) / (qmax - qmin),
//             Z = rnd(qmin - lo / S) clamped to [qmin, qmax] (the "nudged" zero point, so
//             real 0 is exactly representable);
//   signed:   S = max(|lo|, |hi|) / (2^(k-1) - 1), Z = 0;
//   unsigned: S = max(hi, 0) / (2^k - 1), Z = 0.
// A degenerate range (S not positive and finite: an all-zero tensor, an infinite or NaN
// bound) gives S = 1 and Z = max(qmin, 0): outputs stay finite and 0 still maps to 0.
AffineParams choose_affine_params(float lo, float hi, int bits, IntMode mode, bool narrow);

// y = S (q - Z), q = clamp(rnd(x / S) + Z, qmin, qmax), rnd = round half to even
// (std::nearbyint in the default rounding mode). y may alias x.
void fake_quant_forward(const float* x, float* y, int64_t n, const AffineParams& p);

// Straight-through inside the representable range, zero outside (gradients clipped as in
// Jacob et al.): dx = dy * 1[S (qmin - Z) <= x <= S (qmax - Z)]. dx may alias dy.
void fake_quant_backward(const float* x, const float* dy, float* dx, int64_t n, const AffineParams& p);

// Smallest and largest non-NaN value of x[0, n) ({0, 0} when there is none).
void affine_min_max(const float* x, int64_t n, float& lo, float& hi);

// int:k quantizer.
//   Weights: range = min/max of the current tensor at every forward, per tensor or, with
//     :channel, per output channel (row of dim 0).
//   Activations (per tensor only): range = exponential moving average (decay 0.99) of the
//     batch min/max, updated by every training forward *before* it quantizes (the first
//     training batch sets it directly); evaluation uses the EMA, or the batch range if the
//     quantizer never trained. Buffers "ema_min", "ema_max", "ema_init" ({1} each). In
//     data-parallel training (Context::comm) the batch range is the whole batch's, reduced
//     over the ranks, so every rank keeps the same EMA.
class IntQuantizer : public Quantizer {
 public:
  static constexpr float kEmaDecay = 0.99f;

  // Throws lowbit::Error for :unsigned with :narrow, and for :channel on activations.
  IntQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  // codes q - Z in [min(qmin - Z), max(qmax - Z)] over the groups, step S per group; false
  // before an activation range is calibrated or for a scale that is not positive and finite.
  bool grid(Grid& out) const override;
  std::string no_grid_reason() const override;
  // Scales of the last forward: one per output channel (:channel) or one.
  const Tensor* scales() const override { return &scales_; }
  // Zero points and full parameters of the last forward, in the order of scales().
  const std::vector<int32_t>& zero_points() const { return zero_points_; }
  const std::vector<AffineParams>& last_params() const { return params_; }

 private:
  void choose_weight_params(const Tensor& w);
  void choose_activation_params(const Tensor& x, bool training, Communicator* comm);
  void set_params(std::vector<AffineParams> params);

  std::vector<AffineParams> params_;  // per group, from the last forward
  std::vector<int32_t> zero_points_;
  Tensor scales_;
  Tensor ema_min_{Shape{1}, 0.f}, ema_max_{Shape{1}, 0.f}, ema_init_{Shape{1}, 0.f};
};

}  // namespace lowbit::quant
