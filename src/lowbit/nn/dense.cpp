#include "lowbit/nn/dense.hpp"

#include <atomic>

#include "lowbit/core/error.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/nn/limits.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/kernels/xnor_gemm.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

using kernels::gemm;
using kernels::Trans;

Dense::Dense(int64_t in_features, int64_t out_features, bool bias, Init init, const QuantConfig& quant)
    : in_(in_features), out_(out_features), has_bias_(bias), init_(init) {
  LOWBIT_CHECK(in_ > 0 && out_ > 0, "dense: features must be positive (in=", in_, ", out=", out_, ")");
  LOWBIT_CHECK(in_ <= kMaxSampleValues && out_ <= kMaxUnits && in_ * out_ <= kMaxLayerParams, "dense: ", in_, " x ",
               out_, " weights are too many (at most ", kMaxLayerParams, ")");
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
  quant_.configure(quant.weights, quant.input, weight_, quant.weight_clip);
}

Shape Dense::output_shape(const Shape& in) const {
  if (shape_numel(in) != in_) fail(where(*this), "expects ", in_, " input features, got shape ", shape_str(in));
  return {out_};
}

void Dense::init(Rng& rng) {
  init_tensor(weight_.value, init_, in_, out_, rng);
  if (has_bias_) bias_.value.zero();
  quant_.init(weight_);
}

void Dense::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  LOWBIT_CHECK(x.rank() >= 1 && x.size() == x.dim(0) * in_, where(*this), "expected ", in_,
               " features per sample, got input ", shape_str(x.shape()));
  const int64_t n = x.dim(0);
  y.resize({n, out_});
  const Tensor* xin = &quant_.input(x, ctx);
  const Tensor* w = &quant_.weights(weight_, ctx);
  if (!ctx.training && quant_.to_codes(*xin, *w, in_)) {
    // Exact evaluation: integer codes, then one scale per output (LayerQuantizers).
    if (quant_.wide())
      kernels::gemm_integers(Trans::No, Trans::Yes, n, out_, in_, quant_.input_codes().data(), in_,
                             quant_.weight_codes().data(), in_, y.data(), out_);
    else
      product(quant_.input_codes(), quant_.weight_codes(), n, nullptr, y, kernels::GemmCompute::kFloat32);
    quant_.scale_output(y, has_bias_ ? bias_.value.data() : nullptr);
    return;
  }
  product(*xin, *w, n, has_bias_ ? bias_.value.data() : nullptr, y, kernels::gemm_compute());
}

void Dense::product(const Tensor& xin, const Tensor& w, int64_t n, const float* bias, Tensor& y,
                    kernels::GemmCompute compute) {
  float* yp = y.data();
  if (xnor_forward(xin, w, n, bias, yp)) return;
  if (bias) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_; ++j) yp[i * out_ + j] = bias[j];
  }
  gemm(Trans::No, Trans::Yes, n, out_, in_, 1.f, xin.data(), in_, w.data(), in_, bias ? 1.f : 0.f, yp, out_, compute);
}

bool Dense::xnor_forward(const Tensor& x, const Tensor& w, int64_t n, const float* bias, float* y) {
  const quant::Quantizer* wq = quant_.weight_quantizer();
  if (!kernels::binary_kernels_enabled() || !wq || !wq->spec().is_sign() || n == 0) return false;
  const int64_t words = kernels::packed_words(in_);
  xbits_.resize(static_cast<size_t>(n * words));
  if (!kernels::pack_rows_pm1(x.data(), n, in_, xbits_.data())) return false;  // input not binary
  wbits_.resize(static_cast<size_t>(out_ * words));
  std::atomic<bool> binary{true};
  parallel_for(out_, Grain::kArithmetic, [&](int64_t j0, int64_t j1) {
    if (!kernels::pack_cols_pm1(w.data(), out_, in_, wbits_.data(), j0, j1)) binary = false;
  }, out_ * in_);
  if (!binary) return false;  // e.g. progressive in training
  parallel_for(n, Grain::kElementwise, [&](int64_t i0, int64_t i1) {
    kernels::xnor_gemm(i1 - i0, out_, in_, xbits_.data() + i0 * words, wbits_.data(), y + i0 * out_, out_);
  }, n * out_ * words);
  if (bias)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_; ++j) y[i * out_ + j] += bias[j];
  return true;
}

void Dense::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int64_t n = x.dim(0);
  const Tensor& xin = quant_.last_input(x);
  const Tensor& w = quant_.last_weights(weight_);
  // dW = dy^T x  (out x in), with the quantized x and W the forward used.
  Tensor& dw = quant_.weight_grad_target(weight_);
  gemm(Trans::Yes, Trans::No, out_, in_, n, 1.f, dy.data(), out_, xin.data(), in_, 0.f, dw.data(), in_);
  quant_.finish_weight_grad(weight_);
  if (has_bias_) {
    float* db = bias_.grad.data();
    for (int64_t j = 0; j < out_; ++j) db[j] = 0.f;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_; ++j) db[j] += dy[i * out_ + j];
  }
  if (Tensor* dxin = quant_.input_grad_target(x, dx)) {  // dx = dy W  (n x in), same shape as x
    dxin->resize(x.shape());
    gemm(Trans::No, Trans::No, n, in_, out_, 1.f, dy.data(), out_, w.data(), in_, 0.f, dxin->data(), in_);
    quant_.finish_input_grad(x, dx);
  }
}

std::vector<Param*> Dense::params() {
  std::vector<Param*> out{&weight_};
  if (has_bias_) out.push_back(&bias_);
  for (Param* p : quant_.params()) out.push_back(p);
  return out;
}

json Dense::spec() const {
  json j = {{"type", "dense"}, {"units", out_}, {"bias", has_bias_}, {"init", init_.str()}};
  quant_.add_to_spec(j);
  return j;
}

}  // namespace lowbit::nn
