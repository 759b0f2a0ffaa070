// Losses on logits (N, K) with integer labels. Each returns the mean loss over the
// batch and writes dL/dlogits (already divided by N) when asked.
//   cross_entropy:  L = -mean_n log softmax(z_n)[y_n]           (stable log-sum-exp)
//   squared_hinge:  L = mean_{n,k} max(0, 1 - t_nk z_nk)^2, t = +1 for the true class,
//                   -1 otherwise (BinaryNet, Courbariaux et al. 2016).
#pragma once
#include <memory>
#include <string>

#include "lowbit/core/tensor.hpp"

namespace lowbit::nn {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // dlogits may be null (evaluation). Throws if a label is outside [0, K). mean_over: the
  // number of samples the mean runs over, when these N rows are a slice of a larger batch
  // (data-parallel ranks, docs/DISTRIBUTED.md): the loss returned and dlogits are then this
  // slice's part of the batch mean (sum over the slice / mean_over), so that the parts add
  // up over the ranks. 0 = N.
  virtual double compute(const Tensor& logits, const int32_t* labels, Tensor* dlogits, int64_t mean_over = 0) const = 0;
};

class SoftmaxCrossEntropy : public Loss {
 public:
  std::string name() const override { return "cross_entropy"; }
  double compute(const Tensor& logits, const int32_t* labels, Tensor* dlogits, int64_t mean_over = 0) const override;
};

class SquaredHinge : public Loss {
 public:
  std::string name() const override { return "squared_hinge"; }
  double compute(const Tensor& logits, const int32_t* labels, Tensor* dlogits, int64_t mean_over = 0) const override;
};

std::unique_ptr<Loss> make_loss(const std::string& name);  // throws listing valid names

// Index of the largest logit per row (first on ties), written to out[N].
void argmax_rows(const Tensor& logits, int32_t* out);

}  // namespace lowbit::nn
