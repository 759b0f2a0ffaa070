// 2-D pooling on NCHW float tensors: square kernel k, stride s (default k), padding p
// (default 0, at most k/2 so every window holds a real pixel). Output size
// floor((H + 2p - k) / s) + 1 (PyTorch's ceil_mode=False).
//   MaxPool2d: padding counts as -inf (never chosen). forward() stores the argmax of each
//              window; backward() routes dy to it (first maximum in row-major window order
//              on ties; overlapping windows accumulate).
//   AvgPool2d: averages the valid taps only (PyTorch count_include_pad=False). Without
//              padding every window has k*k taps, so on an integer grid the averages are
//              the window sums of the codes on step / (k*k) (map_grid): a Dense/Conv2d
//              after it evaluates exactly, and export folds it as the IR's sum pooling.
// Pooling has no parameters and works on any number of channels.
#pragma once
#include "lowbit/nn/layer.hpp"

namespace lowbit::nn {

// Shared geometry of the pooling layers.
class Pool2d : public Layer {
 public:
  Shape output_shape(const Shape& in) const override;  // {C, H, W} -> {C, OH, OW}
  json spec() const override;

  int kernel() const { return k_; }
  int stride() const { return s_; }
  int padding() const { return p_; }

 protected:
  Pool2d(const char* what, int kernel, int stride, int padding);
  struct Geometry {
    int64_t n, c, h, w, oh, ow;
    bool is_output_shape(const Shape& s) const {
      return s.size() == 4 && s[0] == n && s[1] == c && s[2] == oh && s[3] == ow;
    }
  };
  Geometry geometry(const Tensor& x) const;
  void check_dy(const Geometry& g, const Tensor& dy) const;

  int k_, s_, p_;
};

class MaxPool2d : public Pool2d {
 public:
  // stride 0 means stride = kernel.
  explicit MaxPool2d(int kernel, int stride = 0, int padding = 0);
  std::string type() const override { return "maxpool2d"; }
  bool keeps_grid() const override { return true; }
  bool monotone_in_evaluation() const override { return true; }
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
  // Per output element, the index h*W + w of the selected tap in its input plane (last forward).
  const TensorI32& argmax() const { return argmax_; }

 private:
  TensorI32 argmax_;
};

class AvgPool2d : public Pool2d {
 public:
  // stride 0 means stride = kernel.
  explicit AvgPool2d(int kernel, int stride = 0, int padding = 0);
  std::string type() const override { return "avgpool2d"; }
  // Unpadded: quant::averages_grid(g, k*k), when evaluation's float averages round back to
  // the exact window sums (the bound is argued in pool.cpp); padded: no grid (edge windows
  // divide by fewer taps).
  std::string map_grid(quant::Grid& g) const override;
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx) override;
};

}  // namespace lowbit::nn
