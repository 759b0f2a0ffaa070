// Bop, the latent-free optimizer for binary weights (Helwegen et al., "Latent Weights Do
// Not Exist: Rethinking Binarized Neural Network Optimization", NeurIPS 2019), as Larq's
// lq.optimizers.Bop. It owns the parameters whose group is "binary" (the trainer puts the
// weights of 1-bit weight quantizers there with --binary-optimizer bop); a normal optimizer
// (Adam, SGD) updates everything else. Per weight, with gradient g:
//   m = (1 - gamma) m + gamma g                 (exponential moving average of g)
//   w = -sign(w)  if w m > tau,  else sign(w)   (flip when the signal agrees with w and is
//                                                strong enough; sign(0) = +1)
// so the weights become +-1 after the first step and stay there. The learning rate passed
// to step() is not used; gamma (adaptivity rate) and tau (threshold) play its role.
#pragma once
#include "lowbit/optim/optimizer.hpp"

namespace lowbit::optim {

struct BopOptions {
  float gamma = 1e-4f;      // in (0, 1]
  float threshold = 1e-8f;  // tau >= 0
};

class Bop : public Optimizer {
 public:
  Bop(std::vector<nn::Param*> params, BopOptions options = {});

  std::string name() const override { return "bop"; }
  std::vector<std::pair<std::string, Tensor*>> state_tensors() override;
  const BopOptions& options() const { return options_; }

 protected:
  void update_range(size_t index, nn::Param& p, float lr, int64_t begin, int64_t end) override;
  void check_state(size_t index, const nn::Param& p) const override;

 private:
  BopOptions options_;
  std::vector<Tensor> m_;  // per parameter; empty when not owned
};

}  // namespace lowbit::optim
