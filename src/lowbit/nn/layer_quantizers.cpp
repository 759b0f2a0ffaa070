#include "lowbit/nn/layer_quantizers.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

void LayerQuantizers::configure(const std::string& weight_spec, const std::string& input_spec, Param& weight,
                                float weight_clip) {
  weight_q_ = quant::make_quantizer(weight_spec, quant::Role::kWeight);
  input_q_ = quant::make_quantizer(input_spec, quant::Role::kActivation);
  clip_override_ = weight_clip;
  // Name the quantizers' own parameters once, relative to the layer ("weight_quantizer.alpha").
  for (auto* q : {weight_q_.get(), input_q_.get()})
    if (q)
      for (Param* p : q->params()) p->name = (q == weight_q_.get() ? "weight_quantizer." : "input_quantizer.") + p->name;
  weight.clip = weight_clip >= 0.f ? weight_clip : (weight_q_ ? weight_q_->latent_clip() : 0.f);
  for (Param* p : params()) p->decay = false;
  // Shape the quantizer's own parameters (SYQ scales per subgroup) now, so a model built
  // to load a checkpoint has them before any init(); the layer's init() sets real values.
  if (weight_q_) weight_q_->init(weight.value);
}

const Tensor& LayerQuantizers::weights(const Param& w, const Context& ctx) {
  if (!weight_q_) return w.value;
  weight_q_->forward(w.value, wq_, ctx);
  return wq_;
}

const Tensor& LayerQuantizers::input(const Tensor& x, const Context& ctx) {
  if (!input_q_) return x;
  input_q_->forward(x, xq_, ctx);
  return xq_;
}

Tensor& LayerQuantizers::weight_grad_target(Param& w) {
  if (!weight_q_ || weight_q_->backward_is_identity()) return w.grad;
  dwq_.resize(w.value.shape());
  return dwq_;
}

void LayerQuantizers::finish_weight_grad(Param& w) {
  if (weight_q_ && !weight_q_->backward_is_identity()) weight_q_->backward(w.value, dwq_, w.grad);
}

Tensor* LayerQuantizers::input_grad_target(const Tensor& x, Tensor* dx) {
  if (!dx) return nullptr;
  if (!input_q_) return dx;
  dxq_.resize(x.shape());
  return &dxq_;
}

void LayerQuantizers::finish_input_grad(const Tensor& x, Tensor* dx) {
  if (dx && input_q_) input_q_->backward(x, dxq_, *dx);
}

std::vector<Param*> LayerQuantizers::params() {
  std::vector<Param*> out;
  for (auto* q : {weight_q_.get(), input_q_.get()})
    if (q)
      for (Param* p : q->params()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> LayerQuantizers::buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  if (weight_q_)
    for (auto& [n, t] : weight_q_->buffers()) out.emplace_back("weight_quantizer." + n, t);
  if (input_q_)
    for (auto& [n, t] : input_q_->buffers()) out.emplace_back("input_quantizer." + n, t);
  return out;
}

void LayerQuantizers::init(const Param& w) {
  if (weight_q_) weight_q_->init(w.value);
}

void LayerQuantizers::add_to_spec(json& spec) const {
  if (weight_q_) spec["weight_quantizer"] = weight_spec();
  if (input_q_) spec["input_quantizer"] = input_spec();
  if (clip_override_ >= 0.f) spec["weight_clip"] = clip_override_;
}

}  // namespace lowbit::nn
