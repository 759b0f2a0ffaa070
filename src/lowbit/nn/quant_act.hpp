// A standalone activation quantizer (Larq's QuantIdentity / Brevitas' QuantReLU,
// QuantHardTanh): y = Q(x) with Q any activation quantizer of quant/spec.hpp. In the
// presets it replaces the float activation after BatchNorm, so BatchNorm + QuantAct is
// the pair that export folds into integer thresholds.
#pragma once
#include <memory>

#include "lowbit/nn/layer.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

class QuantAct : public Layer {
 public:
  explicit QuantAct(const std::string& spec);

  std::string type() const override { return "quant_act"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override { return q_->params(); }
  std::vector<std::pair<std::string, Tensor*>> buffers() override { return q_->buffers(); }
  json spec() const override { return {{"type", "quant_act"}, {"quantizer", q_->spec().str()}}; }
  std::vector<quant::Quantizer*> quantizers() override { return {q_.get()}; }

  quant::Quantizer& quantizer() { return *q_; }

 private:
  std::unique_ptr<quant::Quantizer> q_;
  Tensor scratch_;  // dx when the caller needs none but the quantizer has parameters
};

}  // namespace lowbit::nn
