// Inverted dropout (Srivastava et al. 2014): in training each element is kept with
// probability 1 - rate and kept values are scaled by 1 / (1 - rate), so eval is the
// identity. The mask is drawn from ctx.rng (an error naming the layer when training with
// rate > 0 and ctx.rng is null): one 64-bit seed is taken from ctx.rng per forward and
// element chunks draw from independent streams Rng(seed, chunk), so the mask does not
// depend on the thread count. Chunks count global elements (Context::row_offset), so a batch
// split across data-parallel ranks gets the mask of the whole batch. The mask (0 or
// 1/(1-rate) per element) is kept for backward.
#pragma once
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

class Dropout : public Layer {
 public:
  explicit Dropout(float rate);

  std::string type() const override { return "dropout"; }
  bool identity_in_evaluation() const override { return true; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  json spec() const override { return {{"type", "dropout"}, {"rate", rate_}}; }

  float rate() const { return rate_; }
  // The multiplier applied by the last forward (0 or 1/(1-rate) per element); only
  // meaningful when masked(), i.e. that forward was in training mode with rate > 0.
  const Tensor& mask() const { return mask_; }
  bool masked() const { return masked_; }

 private:
  float rate_;
  bool masked_ = false;  // last forward applied mask_ (training with rate > 0)
  Tensor mask_;
};

}  // namespace lowbit::nn
