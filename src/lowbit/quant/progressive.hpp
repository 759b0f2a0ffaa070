// Progressive binarization (PBNN; Lammie, Xiang & Rahimi Azghadi, ISCAS 2020, seed 001,
// after Lahoud et al.'s self-binarizing networks):
//   training:  theta(P) = clip(v P, -1, 1),  d theta / dP = v 1[|v P| <= 1]
//   v rises log-uniformly from 1 to V (default 1000) over training: v = V^t, t = the fraction
//   of training done at the start of the epoch (epoch / (epochs - 1); 1 for one epoch).
//   evaluation and export: sign(theta) = sign(P), the binary network that is deployed.
// Works on weights (the latent P) and on activations.
#pragma once
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// v = vmax^t for t in [0, 1] (t is clamped).
float progressive_scale(double t, float vmax);

class ProgressiveQuantizer : public Quantizer {
 public:
  ProgressiveQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override { return {{"v", &v_}}; }
  void set_progress(double t) override;
  bool grid(Grid& out) const override;  // after an evaluation forward: codes +-1, step 1
  float v() const { return v_[0]; }

 private:
  Tensor v_;  // {1}: the current scale, kept in checkpoints
  bool last_training_ = false;
};

}  // namespace lowbit::quant
