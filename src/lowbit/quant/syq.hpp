// SYQ: symmetric quantization with learned scaling factors (Faraone, Fraser, Blott &
// Leong, CVPR 2018; Faraone thesis ch. 5, seed 003). Weights only.
//   Q = sign(W) (syq:binary) or sign(W) * 1[|W| >= eta] (syq:ternary, eta = 0.05 max|W|
//   per layer, the threshold of TTQ that the SYQ code uses), y_j = alpha_g Q_j for the
//   subgroup g of element j:
//     layer: one alpha;  row: one per kernel row (K of them, conv (out, in, K, K) weights);
//     pixel: one per kernel position (K*K). Dense weights have a 1x1 "kernel", so row and
//     pixel are one scale there (the thesis uses layer-wise scaling for FC layers).
//   alpha_g starts at mean_{j in g} |W_j| (eq. 5.12) and is learned:
//     dE/dalpha_g = sum_{j in g} dE/dy_j Q_j              (eq. 5.10; dy_j/dalpha_g = Q_j)
//     dE/dW_j     = alpha_g dE/dy_j                        (eq. 5.11, the scaled STE)
#pragma once
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

class SyqQuantizer : public Quantizer {
 public:
  SyqQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  std::vector<Param*> params() override { return {&alpha_}; }
  void init(const Tensor& latent) override;
  const Tensor* scales() const override { return &alpha_.value; }
  // One scale for the whole tensor (layer granularity, or a dense layer's 1x1 "kernel"):
  // codes +-1 (binary) or -1, 0, +1 (ternary), step alpha; false for several scales (they
  // vary along a dot product, not per output channel) or alpha <= 0.
  bool grid(Grid& out) const override;
  // Several scales (row, pixel on a convolution): one group per kernel row or pixel, codes
  // +-1 (binary) or -1, 0, +1 (ternary), step alpha_g; false when some alpha_g <= 0.
  bool tap_groups(TapGroups& out) const override;
  std::string no_grid_reason() const override;
  float last_threshold() const { return eta_; }

  // Subgroup count and the subgroup of each kernel position for weights of this shape.
  static int64_t group_count(const Shape& w, Granularity g);

 private:
  // Subgroup of element j (flat index into the weight tensor).
  int64_t group_of(int64_t j) const;
  void ensure_shape(const Tensor& w);

  Param alpha_;
  Shape shape_;    // weight shape the groups were laid out for
  int64_t kh_ = 1, kw_ = 1;
  float eta_ = 0.f;  // ternary threshold of the last forward
  Tensor q_;         // Q (the unscaled levels) of the last forward
};

}  // namespace lowbit::quant
