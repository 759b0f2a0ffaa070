#include "lowbit/nn/conv2d.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include "lowbit/core/parallel.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/nn/limits.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/kernels/im2col.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit::nn {

using kernels::gemm;
using kernels::Trans;

namespace {

// Aim for at least this many columns per gemm; below it images are grouped.
constexpr int64_t kMinGemmCols = 256;

// Grow a flat scratch tensor to at least n elements (never shrinks, so no reallocation
// once the largest batch has been seen).
void ensure(Tensor& t, int64_t n) {
  if (t.size() < n) t.resize({n});
}

// Balanced contiguous split of [0, n) into `parts`; the range of part `i`.
std::pair<int64_t, int64_t> split(int64_t n, int parts, int i) {
  const int64_t base = n / parts, rem = n % parts;
  const int64_t begin = i * base + std::min<int64_t>(i, rem);
  return {begin, begin + base + (i < rem ? 1 : 0)};
}

// out[i] = sum_{t < parts} partial[t * len + i], summed in order t = 0, 1, ... for every i.
void ordered_sum(const float* partial, int parts, int64_t len, float* out) {
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (len + kBlock - 1) / kBlock;
  parallel_for(blocks, Grain::kElementwise, [&](int64_t blk_begin, int64_t blk_end) {
    for (int64_t blk = blk_begin; blk < blk_end; ++blk) {
      const int64_t b0 = blk * kBlock, b1 = std::min(len, b0 + kBlock);
      for (int64_t i = b0; i < b1; ++i) out[i] = partial[i];
      for (int t = 1; t < parts; ++t) {
        const float* p = partial + t * len;
        for (int64_t i = b0; i < b1; ++i) out[i] += p[i];
      }
    }
  }, len * parts);
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride, int padding,
               bool bias, Init init, const QuantConfig& quant)
    : Conv2d(in_channels, out_channels, kernel_h, kernel_w, stride, stride, padding, padding, bias, init, quant) {}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride_h, int stride_w,
               int pad_h, int pad_w, bool bias, Init init, const QuantConfig& quant)
    : in_(in_channels),
      out_(out_channels),
      kh_(kernel_h),
      kw_(kernel_w),
      sh_(stride_h),
      sw_(stride_w),
      ph_(pad_h),
      pw_(pad_w),
      has_bias_(bias),
      init_(init) {
  LOWBIT_CHECK(in_ > 0 && out_ > 0, "conv2d: channels must be positive (in=", in_, ", out=", out_, ")");
  LOWBIT_CHECK(kh_ > 0 && kw_ > 0, "conv2d: kernel must be positive (", kh_, "x", kw_, ")");
  LOWBIT_CHECK(sh_ > 0 && sw_ > 0, "conv2d: stride must be positive (", sh_, "x", sw_, ")");
  LOWBIT_CHECK(ph_ >= 0 && pw_ >= 0, "conv2d: padding must be non-negative (", ph_, "x", pw_, ")");
  LOWBIT_CHECK(in_ <= kMaxUnits && out_ <= kMaxUnits && kh_ <= kMaxWindow && kw_ <= kMaxWindow, "conv2d: ", in_, " -> ",
               out_, " channels with a ", kh_, "x", kw_, " kernel is beyond the limits (", kMaxUnits, " channels, ",
               kMaxWindow, " kernel)");
  const int64_t k = in_ * kh_ * kw_;
  LOWBIT_CHECK(k < INT_MAX && k * out_ <= kMaxLayerParams, "conv2d: ", out_, " x ", k, " weights are too many (at most ",
               kMaxLayerParams, ")");
  weight_.name = "weight";
  weight_.value = Tensor({out_, in_, kh_, kw_}, 0.f);
  weight_.grad = Tensor({out_, in_, kh_, kw_}, 0.f);
  if (has_bias_) {
    bias_.name = "bias";
    bias_.decay = false;
    bias_.value = Tensor({out_}, 0.f);
    bias_.grad = Tensor({out_}, 0.f);
  }
  quant_.configure(quant.weights, quant.input, weight_, quant.weight_clip);
}

Shape Conv2d::output_shape(const Shape& in) const {
  if (in.size() != 3 || in[0] != in_)
    fail(where(*this), "expects input of shape [", in_, ", H, W] per sample, got ", shape_str(in));
  const int64_t oh = kernels::conv_out_size(in[1], kh_, sh_, ph_);
  const int64_t ow = kernels::conv_out_size(in[2], kw_, sw_, pw_);
  if (oh <= 0 || ow <= 0)
    fail(where(*this), "input ", shape_str(in), " is smaller than the ", kh_, "x", kw_, " kernel (padding ", ph_,
         "x", pw_, ")");
  return {out_, oh, ow};
}

int64_t Conv2d::macs(const Shape& in) const {
  const Shape o = output_shape(in);
  return o[1] * o[2] * out_ * in_ * kh_ * kw_;
}

Conv2d::Geometry Conv2d::geometry(const Tensor& x, int threads) const {
  if (x.rank() != 4)
    fail(where(*this), "expected input of shape [-1, ", in_, ", H, W] (batch first), got ", shape_str(x.shape()));
  Geometry g{};
  g.n = x.dim(0);
  g.h = x.dim(2);
  g.w = x.dim(3);
  g.oh = kernels::conv_out_size(g.h, kh_, sh_, ph_);
  g.ow = kernels::conv_out_size(g.w, kw_, sw_, pw_);
  if (x.dim(1) != in_ || g.oh <= 0 || g.ow <= 0) (void)output_shape({x.dim(1), g.h, g.w});  // throws
  g.k = in_ * kh_ * kw_;
  g.p = g.oh * g.ow;
  LOWBIT_CHECK(g.h < INT_MAX && g.w < INT_MAX && g.p < INT_MAX, where(*this), "input ", shape_str(x.shape()),
               " too large");
  const int64_t per_thread = (g.n + threads - 1) / std::max(threads, 1);
  g.group = std::clamp<int64_t>((kMinGemmCols + g.p - 1) / g.p, 1, std::max<int64_t>(per_thread, 1));
  while (g.group > 1 && g.group * g.p >= INT_MAX) --g.group;
  g.direct = is_pointwise() && g.group == 1;
  return g;
}

void Conv2d::init(Rng& rng) {
  init_tensor(weight_.value, init_, in_ * kh_ * kw_, out_ * kh_ * kw_, rng);
  if (has_bias_) bias_.value.zero();
  quant_.init(weight_);
}

std::vector<Param*> Conv2d::params() {
  std::vector<Param*> out{&weight_};
  if (has_bias_) out.push_back(&bias_);
  for (Param* p : quant_.params()) out.push_back(p);
  return out;
}

void Conv2d::set_pad_value(float v) {
  LOWBIT_CHECK(v == 0.f || v == 1.f || v == -1.f, where(*this), "pad_value must be 0, -1 or +1, got ", v);
  pad_value_ = v;
}

json Conv2d::spec() const {
  auto pair = [](int a, int b) { return a == b ? json(a) : json::array({a, b}); };
  json j = {{"type", "conv2d"}, {"filters", out_},         {"kernel", json::array({kh_, kw_})},
          {"stride", pair(sh_, sw_)}, {"padding", pair(ph_, pw_)}, {"bias", has_bias_},
          {"init", init_.str()}};
  if (pad_value_ != 0.f) j["pad_value"] = pad_value_;
  quant_.add_to_spec(j);
  return j;
}

const float* Conv2d::columns(const float* xp, const Geometry& g, int64_t s, int64_t count, float* col,
                            int64_t& ldb, float pad) const {
  const int64_t in_img = in_ * g.h * g.w;
  if (g.direct) {
    ldb = g.p;
    return xp + s * in_img;
  }
  ldb = g.group * g.p;
  const int C = static_cast<int>(in_), H = static_cast<int>(g.h), W = static_cast<int>(g.w);
  for (int64_t i = 0; i < count; ++i)
    kernels::im2col(xp + (s + i) * in_img, C, H, W, kh_, kw_, sh_, sw_, ph_, pw_, col + i * g.p, ldb, pad);
  return col;
}

void Conv2d::forward(const Tensor& x, Tensor& y, const Context& ctx) {
  const int threads = std::max(1, num_threads());
  const Geometry g = geometry(x, threads);
  if (y.rank() != 4 || y.dim(0) != g.n || y.dim(1) != out_ || y.dim(2) != g.oh || y.dim(3) != g.ow)
    y.resize({g.n, out_, g.oh, g.ow});
  if (g.n == 0) return;

  const int64_t gp = g.group * g.p;  // row stride of a thread's column / output matrices
  if (!g.direct) ensure(col_, threads * g.k * gp);
  if (g.group > 1) ensure(ybuf_, threads * out_ * gp);
  const Tensor* xin = &quant_.input(x, ctx);
  const Tensor* w = &quant_.weights(weight_, ctx);
  // Exact evaluation: integer codes, then one scale per output channel (LayerQuantizers);
  // a non-zero pad value must itself be a code of the input's grid (+-1 for binary).
  float pad = pad_value_;
  const bool pad_on_grid = ctx.training || pad_code(pad);
  if (!pad_on_grid) quant_.set_inexact(cat("its pad_value ", pad_value_, " is not a code of its input's grid"));
  const bool exact = !ctx.training && pad_on_grid && quant_.to_codes(*xin, *w, in_ * kh_ * kw_);
  if (exact) xin = &quant_.input_codes(), w = &quant_.weight_codes();
  else pad = pad_value_;
  const bool wide = exact && quant_.wide();  // products of codes reach 2^24: exact in double
  // Codes are exact in float32, not in bfloat16 (above 256): exact evaluation ignores --compute.
  const kernels::GemmCompute compute = exact ? kernels::GemmCompute::kFloat32 : kernels::gemm_compute();
  const float* wp = w->data();
  const float* bp = has_bias_ && !exact ? bias_.value.data() : nullptr;
  const float* xp = xin->data();
  float* yp = y.data();
  const int64_t out_img = out_ * g.p;

  // y = W X over the batch (W: out x k, row-major), into `yp`.
  auto multiply = [&](const float* wp, float* yp) {
  parallel_team(g.n > 1 ? threads : 1, [&](int tid, int team) {
    const auto [n0, n1] = split(g.n, team, tid);
    float* col = g.direct ? nullptr : col_.data() + tid * g.k * gp;
    float* yb = g.group > 1 ? ybuf_.data() + tid * out_ * gp : nullptr;
    for (int64_t s = n0; s < n1; s += g.group) {
      const int64_t cnt = std::min(g.group, n1 - s);
      int64_t ldb;
      const float* B = columns(xp, g, s, cnt, col, ldb, pad);
      if (g.group == 1) {
        float* yn = yp + s * out_img;
        if (bp)
          for (int64_t o = 0; o < out_; ++o) std::fill(yn + o * g.p, yn + (o + 1) * g.p, bp[o]);
        if (wide)
          kernels::gemm_integers(Trans::No, Trans::No, out_, g.p, g.k, wp, g.k, B, ldb, yn, g.p);
        else
          gemm(Trans::No, Trans::No, out_, g.p, g.k, 1.f, wp, g.k, B, ldb, bp ? 1.f : 0.f, yn, g.p, compute);
      } else {
        if (wide)
          kernels::gemm_integers(Trans::No, Trans::No, out_, cnt * g.p, g.k, wp, g.k, B, ldb, yb, gp);
        else
          gemm(Trans::No, Trans::No, out_, cnt * g.p, g.k, 1.f, wp, g.k, B, ldb, 0.f, yb, gp, compute);
        for (int64_t i = 0; i < cnt; ++i) {
          float* yn = yp + (s + i) * out_img;
          for (int64_t o = 0; o < out_; ++o) {
            const float* src = yb + o * gp + i * g.p;
            float* dst = yn + o * g.p;
            const float b = bp ? bp[o] : 0.f;
            for (int64_t q = 0; q < g.p; ++q) dst[q] = src[q] + b;
          }
        }
      }
    }
  });
  };
  const GroupedScales* groups = exact ? quant_.grouped() : nullptr;
  if (!groups) {
    multiply(wp, yp);
    if (exact) quant_.scale_output(y, has_bias_ ? bias_.value.data() : nullptr);
    return;
  }
  // SYQ row / pixel scales: one exact partial sum per group of kernel taps (the other taps'
  // codes zeroed), combined in group order (format::group_first / group_next), then the bias.
  const int64_t taps = kh_ * kw_, n = y.size();
  ensure(group_w_, out_ * g.k);
  ensure(group_y_, n);
  for (size_t grp = 0; grp < groups->scale.size(); ++grp) {
    for (int64_t j = 0; j < out_ * g.k; ++j)
      group_w_[j] = groups->tap_group[static_cast<size_t>(j % taps)] == static_cast<int32_t>(grp) ? wp[j] : 0.f;
    const float s = groups->scale[grp];
    if (grp == 0) {
      multiply(group_w_.data(), yp);
      for (int64_t i = 0; i < n; ++i) yp[i] = format::group_first(yp[i], s);
    } else {
      multiply(group_w_.data(), group_y_.data());
      const float* pp = group_y_.data();
      for (int64_t i = 0; i < n; ++i) yp[i] = format::group_next(yp[i], pp[i], s);
    }
  }
  if (has_bias_)
    for (int64_t i = 0; i < n; ++i) yp[i] = yp[i] + bias_.value[(i / g.p) % out_];
}

bool Conv2d::pad_code(float& code) const {
  if (pad_value_ == 0.f || ph_ + pw_ == 0) {
    code = 0.f;
    return true;
  }
  quant::Grid gx;
  if (!quant_.input_grid(gx).empty() || gx.step.size() != 1) return false;
  const float c = pad_value_ / gx.step[0];
  if (c != std::nearbyint(c) || c < static_cast<float>(gx.code_min) || c > static_cast<float>(gx.code_max)) return false;
  code = c;
  return true;
}

std::string Conv2d::exact_form(Tensor& codes, std::vector<float>& out_scale, GroupedScales* groups) {
  float code = 0.f;
  if (!pad_code(code)) return cat("its pad_value ", pad_value_, " is not a code of its input's grid");
  return WeightedLayer::exact_form(codes, out_scale, groups);
}

void Conv2d::backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx) {
  const int threads = std::max(1, num_threads());
  const Geometry g = geometry(x, threads);
  if (dy.rank() != 4 || dy.dim(0) != g.n || dy.dim(1) != out_ || dy.dim(2) != g.oh || dy.dim(3) != g.ow)
    fail(where(*this), "output gradient has shape ", shape_str(dy.shape()), ", expected ",
         shape_str({g.n, out_, g.oh, g.ow}));

  const int64_t gp = g.group * g.p;
  const int64_t wsize = out_ * g.k;
  ensure(dw_acc_, threads * wsize);
  if (has_bias_) ensure(db_acc_, threads * out_);
  if (!g.direct) ensure(col_, threads * g.k * gp);
  if (g.group > 1) ensure(ybuf_, threads * out_ * gp);
  Tensor* dxin = quant_.input_grad_target(x, dx);
  if (dxin && dxin->shape() != x.shape()) dxin->resize(x.shape());

  const float* wp = quant_.last_weights(weight_).data();
  const float* xp = quant_.last_input(x).data();
  const float* dyp = dy.data();
  float* dxp = dxin ? dxin->data() : nullptr;
  const int64_t in_img = in_ * g.h * g.w, out_img = out_ * g.p;
  const int C = static_cast<int>(in_), H = static_cast<int>(g.h), W = static_cast<int>(g.w);
  int team_size = 1;

  parallel_team(g.n > 1 ? threads : 1, [&](int tid, int team) {
    if (tid == 0) team_size = team;
    const auto [n0, n1] = split(g.n, team, tid);
    float* col = g.direct ? nullptr : col_.data() + tid * g.k * gp;
    float* yb = g.group > 1 ? ybuf_.data() + tid * out_ * gp : nullptr;
    float* dw = dw_acc_.data() + tid * wsize;
    float* db = has_bias_ ? db_acc_.data() + tid * out_ : nullptr;
    std::fill(dw, dw + wsize, 0.f);
    if (db) std::fill(db, db + out_, 0.f);

    for (int64_t s = n0; s < n1; s += g.group) {
      const int64_t cnt = std::min(g.group, n1 - s);
      const int64_t cols = cnt * g.p;
      // Column matrix B [k, cols] of the group's inputs.
      int64_t ldb;
      const float* B = columns(xp, g, s, cnt, col, ldb, pad_value_);  // dW sees the padded values too
      // Upstream gradient D [out, cols] of the group.
      const float* D = dyp + s * out_img;
      int64_t ldd = g.p;
      if (g.group > 1) {
        for (int64_t o = 0; o < out_; ++o)
          for (int64_t i = 0; i < cnt; ++i)
            std::copy(dyp + (s + i) * out_img + o * g.p, dyp + (s + i) * out_img + (o + 1) * g.p,
                      yb + o * gp + i * g.p);
        D = yb;
        ldd = gp;
      }
      // dW += D B^T
      gemm(Trans::No, Trans::Yes, out_, g.k, cols, 1.f, D, ldd, B, ldb, 1.f, dw, g.k);
      if (db) {
        for (int64_t o = 0; o < out_; ++o) {
          const float* row = D + o * ldd;
          float acc = 0.f;
#pragma omp simd reduction(+ : acc)
          for (int64_t q = 0; q < cols; ++q) acc += row[q];
          db[o] += acc;
        }
      }
      if (dxp) {
        if (g.direct) {  // dx_n = W^T dY_n, straight into dx
          gemm(Trans::Yes, Trans::No, g.k, g.p, out_, 1.f, wp, g.k, D, ldd, 0.f, dxp + s * in_img, g.p);
        } else {  // dcol = W^T D (into the column buffer, no longer needed), then col2im
          gemm(Trans::Yes, Trans::No, g.k, cols, out_, 1.f, wp, g.k, D, ldd, 0.f, col, gp);
          for (int64_t i = 0; i < cnt; ++i) {
            float* dxn = dxp + (s + i) * in_img;
            std::fill(dxn, dxn + in_img, 0.f);
            kernels::col2im(col + i * g.p, C, H, W, kh_, kw_, sh_, sw_, ph_, pw_, dxn, gp);
          }
        }
      }
    }
  });

  ordered_sum(dw_acc_.data(), team_size, wsize, quant_.weight_grad_target(weight_).data());
  quant_.finish_weight_grad(weight_);
  if (has_bias_) ordered_sum(db_acc_.data(), team_size, out_, bias_.grad.data());
  quant_.finish_input_grad(x, dx);
}

}  // namespace lowbit::nn
