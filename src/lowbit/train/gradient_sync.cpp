#include "lowbit/train/gradient_sync.hpp"

#include <algorithm>
#include <cstring>

namespace lowbit::train {

void sum_gradients(Communicator& comm, const std::vector<Param*>& params, std::vector<float>& scratch,
                   int64_t bucket_floats) {
  if (!comm.distributed()) return;
  LOWBIT_CHECK(bucket_floats >= 1, "gradient bucket of ", bucket_floats, " floats");
  size_t i = 0;
  while (i < params.size()) {
    Tensor& g = params[i]->grad;
    if (g.size() >= bucket_floats) {  // a large gradient alone, in place
      comm.sum(g.data(), g.size());
      ++i;
      continue;
    }
    // The next parameters that fit one bucket, packed in order.
    size_t end = i;
    int64_t total = 0;
    while (end < params.size() && params[end]->grad.size() < bucket_floats &&
           total + params[end]->grad.size() <= bucket_floats)
      total += params[end++]->grad.size();
    scratch.resize(static_cast<size_t>(total));
    int64_t at = 0;
    for (size_t k = i; k < end; ++k) {
      const Tensor& t = params[k]->grad;
      if (t.size()) std::memcpy(scratch.data() + at, t.data(), sizeof(float) * static_cast<size_t>(t.size()));
      at += t.size();
    }
    comm.sum(scratch.data(), total);
    at = 0;
    for (size_t k = i; k < end; ++k) {
      Tensor& t = params[k]->grad;
      if (t.size()) std::memcpy(t.data(), scratch.data() + at, sizeof(float) * static_cast<size_t>(t.size()));
      at += t.size();
    }
    i = end;
  }
}

}  // namespace lowbit::train
