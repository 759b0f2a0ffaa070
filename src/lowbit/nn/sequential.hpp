// Containers: Sequential runs layers in order; Residual adds a body's output to a
// shortcut's (identity, or e.g. 1x1 conv + BatchNorm): y = body(x) + shortcut(x).
// Containers keep every intermediate activation of the last forward for backward.
#pragma once
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  void add(LayerPtr layer) { layers_.push_back(std::move(layer)); }
  size_t size() const { return layers_.size(); }
  Layer& at(size_t i) { return *layers_.at(i); }
  const Layer& at(size_t i) const { return *layers_.at(i); }

  std::string type() const override { return "sequential"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  void init(Rng& rng) override;
  int64_t macs(const Shape& in) const override;
  int64_t min_training_batch(const Shape& in) const override;
  json spec() const override;  // {"type":"sequential","layers":[...]}
  json layers_spec() const;    // just the array
  std::vector<Layer*> children() override;

  // Output of layer i in the last forward (i < size()-1; the last one is the caller's y).
  const Tensor& activation(size_t i) const { return acts_.at(i); }

 private:
  std::vector<LayerPtr> layers_;
  std::vector<Tensor> acts_;   // outputs of layers 0..n-2
  Tensor grad_[2];             // ping-pong buffers for backward
  Tensor err_;                 // the rounded error at the last layer (low-precision errors)
  Context ctx_;                // of the last forward: the backward context
};

class Residual : public Layer {
 public:
  // shortcut == nullptr means identity.
  Residual(std::unique_ptr<Sequential> body, std::unique_ptr<Sequential> shortcut);

  std::string type() const override { return "residual"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override;
  void init(Rng& rng) override;
  int64_t macs(const Shape& in) const override;
  int64_t min_training_batch(const Shape& in) const override;
  json spec() const override;
  std::vector<Layer*> children() override;

  Sequential& body() { return *body_; }
  Sequential* shortcut() { return shortcut_.get(); }  // null: identity

 private:
  std::unique_ptr<Sequential> body_, shortcut_;
  Tensor body_out_, short_out_, grad_tmp_;
};

// True when the layer (or any layer inside it) has trainable parameters.
bool has_params(Layer& layer);

// True for the layers whose output the low-precision formats round in training
// (quant/low_precision.hpp): every layer but a nested Sequential, whose output is its own
// last layer's (already rounded). Residual sums are rounded.
bool rounds_output(const Layer& layer);

}  // namespace lowbit::nn
