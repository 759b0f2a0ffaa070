// Quantizers whose levels are signs: binary (STE / ApproxSign / SwishSign), stochastic,
// xnor (sign times mean|W|) and ternary. Element-wise math in binary.hpp, stochastic.hpp
// and ternary.hpp; formulas and sources in docs/QUANTIZERS.md.
#pragma once
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// binary, binary:approx, binary:swish[:B]: y = sign(x), sign(0) = +1.
class BinaryQuantizer : public Quantizer {
 public:
  BinaryQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {}
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  bool backward_is_identity() const override { return spec_.kind == QuantKind::kBinary && within_unit_; }
  float latent_clip() const override { return 1.f; }
  bool grid(Grid& out) const override;  // codes +-1, step 1

 private:
  bool within_unit_ = false;  // every |x| <= 1 in the last forward
};

// stochastic: +1 with probability hard_sigmoid(x) while training (needs ctx.rng; one
// seed is drawn from it per call and each 4096-element block gets its own derived stream,
// so blocks run in parallel and results do not depend on the thread count); the
// deterministic sign in evaluation, which is also what export packs. STE backward.
class StochasticQuantizer : public Quantizer {
 public:
  StochasticQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {}
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  bool backward_is_identity() const override { return within_unit_; }
  float latent_clip() const override { return 1.f; }
  bool grid(Grid& out) const override;  // after an evaluation forward: codes +-1, step 1

 private:
  bool within_unit_ = false;
  bool last_training_ = false;
};

// xnor (weights): y_j = a_g sign(w_j), a_g = mean over the group g of |w| (a group is an
// output channel, or the whole tensor for xnor:tensor). The backward is the exact
// derivative with the STE for sign:
//   dw_j = a_g dy_j 1[|w_j| <= 1] + sign(w_j) / n_g * sum_{i in g} dy_i sign(w_i).
class XnorQuantizer : public Quantizer {
 public:
  XnorQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {}
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  const Tensor* scales() const override { return &alpha_; }
  float latent_clip() const override { return 1.f; }
  bool grid(Grid& out) const override;  // codes +-1, step alpha per group (false if some alpha is 0)
  std::string no_grid_reason() const override {
    return cat("'", spec_.str(), "' has an output channel whose scale mean|W| is 0 or not finite (all its weights 0?)");
  }

 private:
  Tensor alpha_;  // one per group, from the last forward
};

// ternary[:T]: y in {-1, 0, +1}, threshold T or 0.7 mean|x| (TWN, weights only). STE backward.
class TernaryQuantizer : public Quantizer {
 public:
  TernaryQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  float latent_clip() const override { return 1.f; }
  bool grid(Grid& out) const override;  // codes -1, 0, +1, step 1
  float last_threshold() const { return threshold_; }

 private:
  float threshold_ = 0.f;
};

}  // namespace lowbit::quant
