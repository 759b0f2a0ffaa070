// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight
// decay, with PyTorch's torch.optim.SGD semantics (dampening 0):
//   g = grad + wd * w            (wd only when p.decay)
//   v = mu * v + g               (momentum buffer, starts at zero)
//   u = nesterov ? g + mu * v : v      (u = g when mu == 0)
//   w -= lr * u
// Sources: Polyak 1964 (heavy ball); Sutskever et al., ICML 2013 (Nesterov form).
#pragma once
#include "lowbit/optim/optimizer.hpp"

namespace lowbit::optim {

struct SgdOptions {
  float momentum = 0.9f;     // mu in [0, 1); 0 = plain SGD (no state)
  bool nesterov = false;     // needs momentum > 0
  float weight_decay = 0.f;  // L2 coefficient added to the gradient, >= 0
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<nn::Param*> params, SgdOptions options = {});

  std::string name() const override { return "sgd"; }
  std::vector<std::pair<std::string, Tensor*>> state_tensors() override;
  const SgdOptions& options() const { return options_; }

 protected:
  void update_range(size_t index, nn::Param& p, float lr, int64_t begin, int64_t end) override;
  void check_state(size_t index, const nn::Param& p) const override;

 private:
  SgdOptions options_;
  std::vector<Tensor> velocity_;  // per parameter; empty when momentum == 0 or not owned
};

}  // namespace lowbit::optim
