#include "lowbit/nn/loss.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/format/semantics.hpp"

namespace lowbit::nn {

static void check_logits(const Tensor& logits, const int32_t* labels, const char* loss) {
  LOWBIT_CHECK(logits.rank() == 2, loss, ": expected logits of shape [N, K], got ", shape_str(logits.shape()));
  const int64_t n = logits.dim(0), k = logits.dim(1);
  for (int64_t i = 0; i < n; ++i)
    LOWBIT_CHECK(labels[i] >= 0 && labels[i] < k, loss, ": label ", labels[i], " of sample ", i,
                 " outside [0, ", k, ")");
}

double SoftmaxCrossEntropy::compute(const Tensor& logits, const int32_t* labels, Tensor* dlogits, int64_t mean_over) const {
  check_logits(logits, labels, "cross_entropy");
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (dlogits) dlogits->resize(logits.shape());
  double total = 0;
  LOWBIT_CHECK(mean_over == 0 || mean_over >= n, "cross_entropy: mean over ", mean_over, " samples, fewer than the ", n, " rows");
  const double inv_n = 1.0 / static_cast<double>(mean_over ? mean_over : n);
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * k;
    float m = *std::max_element(z, z + k);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j]) - m);
    double log_sum = std::log(sum) + m;
    total += log_sum - z[labels[i]];
    if (dlogits) {
      float* d = dlogits->data() + i * k;
      for (int64_t j = 0; j < k; ++j) {
        double p = std::exp(static_cast<double>(z[j]) - log_sum);
        d[j] = static_cast<float>((p - (j == labels[i] ? 1.0 : 0.0)) * inv_n);
      }
    }
  }
  return total * inv_n;
}

double SquaredHinge::compute(const Tensor& logits, const int32_t* labels, Tensor* dlogits, int64_t mean_over) const {
  check_logits(logits, labels, "squared_hinge");
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (dlogits) dlogits->resize(logits.shape());
  LOWBIT_CHECK(mean_over == 0 || mean_over >= n, "squared_hinge: mean over ", mean_over, " samples, fewer than the ", n, " rows");
  const double inv = 1.0 / static_cast<double>((mean_over ? mean_over : n) * k);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      double t = j == labels[i] ? 1.0 : -1.0;
      double z = logits[i * k + j];
      double margin = std::max(0.0, 1.0 - t * z);
      total += margin * margin;
      if (dlogits) (*dlogits)[i * k + j] = static_cast<float>(-2.0 * t * margin * inv);
    }
  }
  return total * inv;
}

std::unique_ptr<Loss> make_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "ce") return std::make_unique<SoftmaxCrossEntropy>();
  if (name == "squared_hinge") return std::make_unique<SquaredHinge>();
  fail("unknown loss '", name, "'; valid: cross_entropy, squared_hinge");
}

void argmax_rows(const Tensor& logits, int32_t* out) {
  const int64_t n = logits.dim(0), k = logits.dim(1);
  for (int64_t i = 0; i < n; ++i) out[i] = format::argmax_first(logits.data() + i * k, k);
}

}  // namespace lowbit::nn
