// Adam (Kingma & Ba, ICLR 2015, Algorithm 1, with bias correction) and AdamW (Loshchilov
// & Hutter, ICLR 2019, decoupled weight decay), with PyTorch's torch.optim.Adam/AdamW
// semantics. At step t (1-based), per element, with wd only when p.decay:
//   Adam:  g = grad + wd * w                          (L2 folded into the gradient)
//   AdamW: g = grad;  w -= lr * wd * w                (decoupled decay, before the update)
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g^2
//   w -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#pragma once
#include "lowbit/optim/optimizer.hpp"

namespace lowbit::optim {

struct AdamOptions {
  float beta1 = 0.9f;        // in [0, 1)
  float beta2 = 0.999f;      // in [0, 1)
  float eps = 1e-8f;         // > 0
  float weight_decay = 0.f;  // >= 0; L2 for Adam, decoupled for AdamW
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<nn::Param*> params, AdamOptions options = {});

  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  // "<name>.m.<i>" and "<name>.v.<i>" for each owned parameter i.
  std::vector<std::pair<std::string, Tensor*>> state_tensors() override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::vector<nn::Param*> params, AdamOptions options, bool decoupled);
  void update_range(size_t index, nn::Param& p, float lr, int64_t begin, int64_t end) override;
  void check_state(size_t index, const nn::Param& p) const override;

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;  // first and second moments; empty for parameters not owned
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<nn::Param*> params, AdamOptions options = {})
      : Adam(std::move(params), options, /*decoupled=*/true) {}
};

}  // namespace lowbit::optim
