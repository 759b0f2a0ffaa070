// Flatten: (N, d1, d2, ...) -> (N, d1*d2*...). Tensors have no views, so forward copies
// x into y and backward copies dy into dx with x's shape (a memcpy each way).
#pragma once
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

class Flatten : public Layer {
 public:
  std::string type() const override { return "flatten"; }
  bool identity_in_evaluation() const override { return true; }
  Shape output_shape(const Shape& in) const override { return {shape_numel(in)}; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  json spec() const override { return {{"type", "flatten"}}; }
};

}  // namespace lowbit::nn
