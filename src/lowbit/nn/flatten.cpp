#include "lowbit/nn/flatten.hpp"

#include <cstring>

#include "lowbit/core/error.hpp"

namespace lowbit::nn {

void Flatten::forward(const Tensor& x, Tensor& y, const Context&) {
  if (x.rank() < 1) fail(where(*this), "expected a batch, got a scalar");
  const int64_t n = x.dim(0), per = n ? x.size() / n : shape_numel(Shape(x.shape().begin() + 1, x.shape().end()));
  if (y.rank() != 2 || y.dim(0) != n || y.dim(1) != per) y.resize({n, per});
  if (x.size()) std::memcpy(y.data(), x.data(), sizeof(float) * static_cast<size_t>(x.size()));
}

void Flatten::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  if (dy.size() != x.size() || dy.rank() != 2 || (x.rank() >= 1 && dy.dim(0) != x.dim(0)))
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected [", x.rank() ? x.dim(0) : 0,
         ", ", x.rank() && x.dim(0) ? x.size() / x.dim(0) : 0, "] for input ", shape_str(x.shape()));
  if (!dx) return;
  if (dx->shape() != x.shape()) dx->resize(x.shape());
  if (x.size()) std::memcpy(dx->data(), dy.data(), sizeof(float) * static_cast<size_t>(x.size()));
}

}  // namespace lowbit::nn
