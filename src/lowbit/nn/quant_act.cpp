#include "lowbit/nn/quant_act.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

QuantAct::QuantAct(const std::string& spec) : q_(quant::make_quantizer(spec, quant::Role::kActivation)) {
  LOWBIT_CHECK(q_ != nullptr, "quant_act: quantizer 'none' makes this layer an identity; remove the layer instead");
}

void QuantAct::forward(const Tensor& x, Tensor& y, const Context& ctx) { q_->forward(x, y, ctx); }

void QuantAct::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (dx) q_->backward(x, dy, *dx);
  else if (!q_->params().empty()) q_->backward(x, dy, scratch_);
}

}  // namespace lowbit::nn
