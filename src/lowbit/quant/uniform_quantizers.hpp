// Uniform-grid quantizers with fixed ranges: DoReFa (weights and activations) and the
// unsigned fixed-point activation fixed:k,f. The scalar functions in dorefa.hpp and
// fixed.hpp are the reference; these classes run the same math over threads and, for
// DoReFa weights, compute tanh once per step and reuse it in the backward.
#pragma once
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

class DoReFaQuantizer : public Quantizer {
 public:
  DoReFaQuantizer(QuantSpec spec, Role role) : Quantizer(std::move(spec), role) {}
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  // L = 2^k - 1, step 1/L; weights: codes -L, -L+2, ..., L; activations: 0..L.
  bool grid(Grid& out) const override;

 private:
  Tensor tanh_;        // weights: tanh(w) of the last forward
  float max_ = 1.f;    // weights: max |tanh(w)| (1 when all are 0)
  int64_t arg_ = -1;   // its first index, -1 when all are 0
};

class FixedQuantizer : public Quantizer {
 public:
  FixedQuantizer(QuantSpec spec, Role role);
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override;
  bool grid(Grid& out) const override;  // codes 0..2^k - 1, step 2^-f
};

}  // namespace lowbit::quant
