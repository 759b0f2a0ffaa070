// AddNet weights "addnet:2|3|4" (Faraone et al., AddNet; Faraone's PhD thesis, Ch. 6):
// every weight becomes sign(w) * lambda * c with c from the coefficient set of a
// reconfigurable constant coefficient multiplier (RCCM) built from 2, 3 or 4 adders
// (thesis Table 6.2), and lambda a learned per-layer scale initialised by distribution
// matching (eq 6.2). The scalar functions below are the specification; AddNetQuantizer
// runs them over threads and owns lambda. Formulas and sources: docs/QUANTIZERS.md,
// section "AddNet".
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// The non-negative coefficients of the n-adder RCCM, ascending, starting with 0 (thesis
// Table 6.2; the codebook is {+c, -c}: 15, 59 and 207 codes for 2, 3 and 4 adders).
// Throws lowbit::Error for adders outside 2..4.
const std::vector<float>& addnet_coefficients(int adders);

// c*(a): the coefficient nearest to a >= 0 (eq 6.3); a tie goes to the smaller
// coefficient, a beyond the largest gives the largest.
float addnet_nearest(float a, int adders);

// y_j = sign(w_j) * lambda * c*(|w_j| / lambda), sign(0) = +1 (0 maps to 0).
// lambda must be positive and finite (else lowbit::Error). y may alias w.
void addnet_forward(const float* w, float* y, int64_t n, float lambda, int adders);

// dw_j = dy_j * 1[|w_j| <= lambda * c_max] (STE, eq 6.4, clipped to the codebook's range);
// returns dL/dlambda = sum_j dy_j sign(w_j) c*_j (exact with c* held fixed), summed in
// double in index order. dw may alias dy.
double addnet_backward(const float* w, const float* dy, float* dw, int64_t n, float lambda, int adders);

// Distribution matching: the lambda whose codebook histogram R best matches the weight
// histogram P (31 equal bins on [-m, m], m = max|w|) in D_KL(P || R), searched over 400
// log-spaced values with lambda * c_max in [m/4, 4m]. 1 when m == 0 or n == 0.
float addnet_match_scale(const float* w, int64_t n, int adders);

// addnet:2|3|4, weights only. Param "lambda" ({1}, no weight decay), set by init() from
// distribution matching and learned afterwards.
class AddNetQuantizer : public Quantizer {
 public:
  // The weights are lambda * c with integer coefficients c (the RCCM's outputs): a grid of
  // step lambda and codes -c_max..c_max (sparse: only the codebook's values occur), so an
  // AddNet layer is an integer GEMM followed by one scale (thesis Ch. 6; docs/DEPLOYMENT.md).
  bool grid(Grid& out) const override;
  std::string no_grid_reason() const override {
    return cat("'", spec_.str(), "' has a scale lambda = ", lambda_.value[0], " that is not positive and finite");
  }
  // Throws lowbit::Error on activations.
  AddNetQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  std::vector<Param*> params() override { return {&lambda_}; }
  // "lambda_rate": lambda's value at init, which sets its learning-rate scale. A buffer so
  // that a checkpoint restores the rate with the value (a resumed run would otherwise take
  // the rate from whatever weights it was built with).
  std::vector<std::pair<std::string, Tensor*>> buffers() override { return {{"lambda_rate", &lambda_rate_}}; }
  void init(const Tensor& latent) override;
  const Tensor* scales() const override { return &lambda_.value; }
  float lambda() const { return lambda_.value[0]; }

 private:
  Param lambda_;
  Tensor lambda_rate_{Shape{1}, 1.f};
  float forward_lambda_ = 1.f;  // the lambda of the last forward, which backward differentiates
};

}  // namespace lowbit::quant
