// Fully connected layer: y = x W^T + b, W of shape (out, in) as in PyTorch.
// Input of any per-sample shape is treated as flattened (in = product of dims).
// Optional weight and input quantizers (QuantConfig): y = Q_in(x) Q_w(W)^T + b, with W the
// real-valued latent weights (see layer_quantizers.hpp). When both Q_in(x) and Q_w(W) are
// exactly +-1 (W1A1) the forward product runs as an XNOR-popcount GEMM on packed bits
// (kernels/xnor_gemm.hpp): exact integers, so the same values as the float GEMM, faster.
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/kernels/gemm.hpp"
#include "lowbit/nn/init.hpp"
#include "lowbit/nn/weighted_layer.hpp"

namespace lowbit::nn {

class Dense : public WeightedLayer {
 public:
  Dense(int64_t in_features, int64_t out_features, bool bias = true, Init init = {}, const QuantConfig& quant = {});

  std::string type() const override { return "dense"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override { return quant_.buffers(); }
  void init(Rng& rng) override;
  int64_t macs(const Shape& in) const override { return in_ * out_; }
  json spec() const override;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Param& weight() override { return weight_; }
  int64_t fan_in() const override { return in_; }
  int64_t fan_out() const override { return out_; }
  Param* bias() { return has_bias_ ? &bias_ : nullptr; }

 private:
  int64_t in_, out_;
  bool has_bias_;
  Init init_;
  Param weight_, bias_;
  std::vector<uint64_t> xbits_, wbits_;  // packed operands of the XNOR path

  // y = xin w^T (+ bias): by XNOR-popcount when both are exactly +-1, else by GEMM at
  // `compute` (float32 for exact code products: codes above 256 are not bfloat16 values).
  void product(const Tensor& xin, const Tensor& w, int64_t n, const float* bias, Tensor& y,
               kernels::GemmCompute compute);
  // y = x W^T by XNOR-popcount if x and W are exactly +-1; false (nothing written) otherwise.
  bool xnor_forward(const Tensor& x, const Tensor& w, int64_t n, const float* bias, float* y);
};

}  // namespace lowbit::nn
