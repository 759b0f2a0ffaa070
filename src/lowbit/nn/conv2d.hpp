// 2-D convolution on NCHW float tensors, zero padding, weight (out, in, kh, kw) as in
// PyTorch. y[n] = W * im2col(x[n]) + b, one BLAS gemm per group of images.
//
// Parallelism: the batch is split into one contiguous range of images per OpenMP thread;
// each thread lowers its images into its own column buffer and calls gemm, which runs
// single-threaded inside our parallel region (OpenBLAS OpenMP build), so cores are never
// oversubscribed. With batch 1 the region is inactive and BLAS itself uses the threads.
// When an image has few output pixels (OH*OW small), several images of a thread's range
// are placed side by side in one column matrix so that gemm sees a wide enough product.
//
// Backward: dW and db are accumulated per thread into per-thread buffers and then summed
// in fixed thread order, so results are deterministic for a fixed thread count. dx is
// W^T dY followed by col2im (skipped when dx == nullptr). 1x1 stride-1 unpadded
// convolutions skip im2col and read x directly.
//
// Optional weight and input quantizers (QuantConfig): the convolution runs on Q_in(x) and
// Q_w(W), W being the real-valued latent weights (see layer_quantizers.hpp).
//
// Scratch buffers are members and only grow, so after the first batch of a given size
// forward/backward do not allocate.
#pragma once
#include "lowbit/nn/init.hpp"
#include "lowbit/nn/weighted_layer.hpp"

namespace lowbit::nn {

class Conv2d : public WeightedLayer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride = 1,
         int padding = 0, bool bias = true, Init init = {}, const QuantConfig& quant = {});
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride_h, int stride_w,
         int pad_h, int pad_w, bool bias = true, Init init = {}, const QuantConfig& quant = {});

  std::string type() const override { return "conv2d"; }
  Shape output_shape(const Shape& in) const override;  // {C, H, W} -> {out, OH, OW}
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  std::vector<Param*> params() override;
  std::vector<std::pair<std::string, Tensor*>> buffers() override { return quant_.buffers(); }
  void init(Rng& rng) override;
  int64_t macs(const Shape& in) const override;
  json spec() const override;

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int kernel_h() const { return kh_; }
  int kernel_w() const { return kw_; }
  int stride_h() const { return sh_; }
  int stride_w() const { return sw_; }
  int pad_h() const { return ph_; }
  int pad_w() const { return pw_; }
  // The value padded taps read: 0 (default, exact zero) or, for binary networks, -1 or +1
  // (ARCHITECTURE.md: an explicit attribute shared by training and the runtime).
  float pad_value() const { return pad_value_; }
  void set_pad_value(float v);
  bool has_bias() const { return has_bias_; }
  const Init& init_spec() const { return init_; }
  Param& weight() override { return weight_; }
  int64_t fan_in() const override { return in_ * kh_ * kw_; }
  int64_t fan_out() const override { return out_ * kh_ * kw_; }
  // WeightedLayer::exact_form, after checking that a non-zero pad value is a code of the
  // input's grid (padded taps then read that code).
  std::string exact_form(Tensor& codes, std::vector<float>& out_scale, GroupedScales* groups) override;
  Param* bias() { return has_bias_ ? &bias_ : nullptr; }

 private:
  // The code padded taps read in exact evaluation (0 without padding or for pad_value 0);
  // false when pad_value is not a code of the input's grid.
  bool pad_code(float& code) const;
  struct Geometry {
    int64_t n, h, w, oh, ow;
    int64_t k;      // in * kh * kw, rows of the column matrix
    int64_t p;      // oh * ow, columns per image
    int64_t group;  // images per gemm (side by side in the column matrix)
    bool direct;    // 1x1, stride 1, no padding: x itself is the column matrix
  };
  Geometry geometry(const Tensor& x, int threads) const;
  // The column matrix of images [s, s + count) of the batch at xp, for one GEMM: x itself
  // for direct convolutions, else im2col into col (row stride group * p). Sets ldb.
  // Patch matrix of images [s, s + count) (padded taps read `pad`).
  const float* columns(const float* xp, const Geometry& g, int64_t s, int64_t count, float* col, int64_t& ldb,
                       float pad) const;
  bool is_pointwise() const { return kh_ == 1 && kw_ == 1 && sh_ == 1 && sw_ == 1 && ph_ == 0 && pw_ == 0; }

  int64_t in_, out_;
  int kh_, kw_, sh_, sw_, ph_, pw_;
  float pad_value_ = 0.f;
  bool has_bias_;
  Init init_;
  Param weight_, bias_;
  // Per-thread scratch, [threads, ...] flattened; grown on demand, never shrunk.
  Tensor col_;     // column matrices (also dcol in backward)
  Tensor ybuf_;    // grouped output / gathered dy, used when group > 1
  Tensor group_w_, group_y_;  // SYQ grouped evaluation: one tap group's weight codes, its partial sums
  Tensor dw_acc_;  // per-thread dW partial sums
  Tensor db_acc_;  // per-thread db partial sums
};

}  // namespace lowbit::nn
