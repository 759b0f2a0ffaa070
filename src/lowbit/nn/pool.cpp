#include "lowbit/nn/pool.hpp"

#include <climits>

#include "lowbit/core/error.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/kernels/im2col.hpp"
#include "lowbit/kernels/pool.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

Pool2d::Pool2d(const char* what, int kernel, int stride, int padding)
    : k_(kernel), s_(stride == 0 ? kernel : stride), p_(padding) {
  LOWBIT_CHECK(k_ > 0, what, ": kernel must be positive (got ", k_, ")");
  LOWBIT_CHECK(s_ > 0, what, ": stride must be positive (got ", stride, ")");
  LOWBIT_CHECK(p_ >= 0 && 2 * p_ <= k_, what, ": padding must be in [0, kernel/2] (got ", p_, " for kernel ", k_,
               ")");
}

Shape Pool2d::output_shape(const Shape& in) const {
  if (in.size() != 3) fail(where(*this), "expects per-sample shape [C, H, W], got ", shape_str(in));
  const int64_t oh = kernels::conv_out_size(in[1], k_, s_, p_);
  const int64_t ow = kernels::conv_out_size(in[2], k_, s_, p_);
  if (oh <= 0 || ow <= 0)
    fail(where(*this), "input ", shape_str(in), " is smaller than the ", k_, "x", k_, " window (padding ", p_, ")");
  return {in[0], oh, ow};
}

json Pool2d::spec() const { return {{"type", type()}, {"kernel", k_}, {"stride", s_}, {"padding", p_}}; }

Pool2d::Geometry Pool2d::geometry(const Tensor& x) const {
  if (x.rank() != 4) fail(where(*this), "expected input of shape [-1, C, H, W] (batch first), got ", shape_str(x.shape()));
  const int64_t oh = kernels::conv_out_size(x.dim(2), k_, s_, p_), ow = kernels::conv_out_size(x.dim(3), k_, s_, p_);
  if (oh <= 0 || ow <= 0) (void)output_shape({x.dim(1), x.dim(2), x.dim(3)});  // throws
  LOWBIT_CHECK(x.dim(2) * x.dim(3) < INT_MAX, where(*this), "input plane too large: ", shape_str(x.shape()));
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), oh, ow};
}

void Pool2d::check_dy(const Geometry& g, const Tensor& dy) const {
  if (!g.is_output_shape(dy.shape()))
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected ",
         shape_str({g.n, g.c, g.oh, g.ow}));
}

MaxPool2d::MaxPool2d(int kernel, int stride, int padding) : Pool2d("maxpool2d", kernel, stride, padding) {}

void MaxPool2d::forward(const Tensor& x, Tensor& y, const Context&) {
  const Geometry g = geometry(x);
  if (!g.is_output_shape(y.shape())) y.resize({g.n, g.c, g.oh, g.ow});
  if (!g.is_output_shape(argmax_.shape())) argmax_.resize({g.n, g.c, g.oh, g.ow});
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(g.n * g.c, Grain::kArithmetic, [&](int64_t p0, int64_t p1) {
    kernels::maxpool2d(x.data() + p0 * in, p1 - p0, static_cast<int>(g.h), static_cast<int>(g.w), k_, k_, s_, s_, p_,
                       p_, y.data() + p0 * out, argmax_.data() + p0 * out);
  }, g.n * g.c * in);
}

void MaxPool2d::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const Geometry g = geometry(x);
  check_dy(g, dy);
  if (!g.is_output_shape(argmax_.shape()))
    fail(where(*this), "backward() without a matching forward() (argmax shape ", shape_str(argmax_.shape()), ")");
  if (!dx) return;
  if (dx->shape() != x.shape()) dx->resize(x.shape());
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(g.n * g.c, Grain::kArithmetic, [&](int64_t p0, int64_t p1) {
    kernels::maxpool2d_backward(dy.data() + p0 * out, argmax_.data() + p0 * out, p1 - p0, static_cast<int>(g.h),
                                static_cast<int>(g.w), static_cast<int>(g.oh), static_cast<int>(g.ow),
                                dx->data() + p0 * in);
  }, g.n * g.c * in);
}

AvgPool2d::AvgPool2d(int kernel, int stride, int padding) : Pool2d("avgpool2d", kernel, stride, padding) {}

// Why the codes evaluation takes from the averages are the exact window sums. The next
// layer computes with rnd(a / s') (LayerQuantizers::to_codes), where s' = fl(step / n) is
// the grid's step and a = fl(fl(v_1 + ... + v_n) / n) the kernel's average (kernels::
// avgpool2d: a float sum in any order, one division) of the window's values v_i, the
// quantizer's floats of c_i * step. Let u = 2^-24, S = sum c_i, A = sum |c_i| <= n max|c|,
// and sigma the real step both the v_i and step round: v_i = c_i sigma (1 + e_i) and
// step = sigma (1 + e), |e_i|, |e| <= u (dorefa: fl(c / L) and fl(1 / L); int:k: fl(c s) and
// s; binary, fixed: exact). Then
//   |sum v_i - sigma S| <= u sigma A,   |fl(sum) - sum v_i| <= (n - 1) u (1 + u)^2 sigma A,
// and the division by n, e, the rounding of s' and of the quotient are four relative
// errors of at most u, so |a / s' - S| < (n + 5) u A <= (n + 5) n max|c| 2^-24. Below 1/2,
// rnd gives S: required here with a factor 2 to spare, (n + 5) n max|c| < 2^22 (8x8 windows
// of 8-bit codes pass, 16x16 ones do not; 45x45 windows of +-1 codes pass; the deployment
// format's own bound, sums of at most 8 bits, is far inside it). Averages of averages are
// refused: their inputs are not quantizer floats, so the argument does not apply as it is.
std::string AvgPool2d::map_grid(quant::Grid& g) const {
  if (p_ != 0)
    return cat("padded average pooling (padding ", p_, ") divides edge windows by fewer pixels than inner ones, so "
               "its averages lie on no single grid (use padding 0)");
  const int64_t n = int64_t{k_} * k_;
  if (g.count != 1) return "average pooling of averages (one average pooling per activation quantizer)";
  if ((n + 5) * n * g.max_abs_code() >= (int64_t{1} << 22))
    return cat("the averages of ", n, " codes up to ", g.max_abs_code(), " may not round back to the exact window "
               "sums in float ((n + 5) n max|code| >= 2^22): use a smaller window or fewer activation bits");
  g = quant::averages_grid(g, static_cast<int32_t>(n));
  return "";
}

void AvgPool2d::forward(const Tensor& x, Tensor& y, const Context&) {
  const Geometry g = geometry(x);
  if (!g.is_output_shape(y.shape())) y.resize({g.n, g.c, g.oh, g.ow});
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(g.n * g.c, Grain::kArithmetic, [&](int64_t p0, int64_t p1) {
    kernels::avgpool2d(x.data() + p0 * in, p1 - p0, static_cast<int>(g.h), static_cast<int>(g.w), k_, k_, s_, s_, p_,
                       p_, y.data() + p0 * out);
  }, g.n * g.c * in);
}

void AvgPool2d::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const Geometry g = geometry(x);
  check_dy(g, dy);
  if (!dx) return;
  if (dx->shape() != x.shape()) dx->resize(x.shape());
  const int64_t in = g.h * g.w, out = g.oh * g.ow;
  parallel_for(g.n * g.c, Grain::kArithmetic, [&](int64_t p0, int64_t p1) {
    kernels::avgpool2d_backward(dy.data() + p0 * out, p1 - p0, static_cast<int>(g.h), static_cast<int>(g.w), k_, k_, s_,
                                s_, p_, p_, dx->data() + p0 * in);
  }, g.n * g.c * in);
}

}  // namespace lowbit::nn
