// Element-wise activations. HardTanh(x) = clip(x, lo, hi) is BinaryNet's real-valued
// stand-in for sign; its gradient 1_{lo<x<hi} is the straight-through clip gradient.
#pragma once
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

class ReLU : public Layer {
 public:
  std::string type() const override { return "relu"; }
  bool monotone_in_evaluation() const override { return true; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  json spec() const override { return {{"type", "relu"}}; }
};

class HardTanh : public Layer {
 public:
  explicit HardTanh(float lo = -1.f, float hi = 1.f);
  std::string type() const override { return "hardtanh"; }
  bool monotone_in_evaluation() const override { return true; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  json spec() const override { return {{"type", "hardtanh"}, {"min", lo_}, {"max", hi_}}; }

 private:
  float lo_, hi_;
};

}  // namespace lowbit::nn
