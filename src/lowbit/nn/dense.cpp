#include "lowbit/nn/dense.hpp"

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/gemm.hpp"

namespace lowbit::nn {

using kernels::gemm;
using kernels::Trans;

Dense::Dense(int64_t in_features, int64_t out_features, bool bias, Init init)
    : in_(in_features), out_(out_features), has_bias_(bias), init_(init) {
  LOWBIT_CHECK(in_ > 0 && out_ > 0, "dense: features must be positive (in=", in_, ", out=", out_, ")");
  weight_.name = "weight";
  weight_.value.resize({out_, in_});
  weight_.grad.resize({out_, in_});
  weight_.value.zero();
  if (has_bias_) {
    bias_.name = "bias";
    bias_.decay = false;
    bias_.value = Tensor({out_}, 0.f);
    bias_.grad = Tensor({out_}, 0.f);
  }
}

Shape Dense::output_shape(const Shape& in) const {
  if (shape_numel(in) != in_) fail(where(*this), "expects ", in_, " input features, got shape ", shape_str(in));
  return {out_};
}

void Dense::init(Rng& rng) {
  init_tensor(weight_.value, init_, in_, out_, rng);
  if (has_bias_) bias_.value.zero();
}

void Dense::forward(const Tensor& x, Tensor& y, const Context&) {
  LOWBIT_CHECK(x.rank() >= 1 && x.size() == x.dim(0) * in_, where(*this), "expected ", in_,
               " features per sample, got input ", shape_str(x.shape()));
  const int64_t n = x.dim(0);
  y.resize({n, out_});
  float* yp = y.data();
  if (has_bias_) {
    const float* b = bias_.value.data();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_; ++j) yp[i * out_ + j] = b[j];
  }
  gemm(Trans::No, Trans::Yes, n, out_, in_, 1.f, x.data(), in_, weight_.value.data(), in_,
       has_bias_ ? 1.f : 0.f, yp, out_);
}

void Dense::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int64_t n = x.dim(0);
  // dW = dy^T x  (out x in)
  gemm(Trans::Yes, Trans::No, out_, in_, n, 1.f, dy.data(), out_, x.data(), in_, 0.f,
       weight_.grad.data(), in_);
  if (has_bias_) {
    float* db = bias_.grad.data();
    for (int64_t j = 0; j < out_; ++j) db[j] = 0.f;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_; ++j) db[j] += dy[i * out_ + j];
  }
  if (dx) {  // dx = dy W  (n x in), same shape as x
    dx->resize(x.shape());
    gemm(Trans::No, Trans::No, n, in_, out_, 1.f, dy.data(), out_, weight_.value.data(), in_, 0.f,
         dx->data(), in_);
  }
}

std::vector<Param*> Dense::params() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

json Dense::spec() const {
  return {{"type", "dense"}, {"units", out_}, {"bias", has_bias_}, {"init", init_.str()}};
}

}  // namespace lowbit::nn
