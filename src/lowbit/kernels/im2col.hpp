// Convolution lowering: im2col / col2im, and a naive direct convolution used by tests
// as an independent oracle. All functions are pure: raw pointers in, raw pointers out,
// no allocation, no threads (callers parallelise over images).
//
// Layout: one image is C planes of H x W (NCHW without the batch dimension). The
// column matrix has C*kh*kw rows (row index (c*kh + i)*kw + j, matching a weight tensor
// (out, C, kh, kw) read as out x (C*kh*kw)) and OH*OW columns (output pixel oh*OW + ow).
// Taps that fall into the padding read as pad_value (0 unless given; binary networks may
// pad with -1 or +1, ARCHITECTURE.md) in im2col and are dropped in col2im (constants).
#pragma once
#include <cstdint>

namespace lowbit::kernels {

// Output size of a convolution / pooling window along one axis: floor((in + 2p - k) / s) + 1,
// or 0 when the (padded) input is smaller than the kernel.
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p) {
  const int64_t span = in + 2 * p - k;
  return span < 0 ? 0 : span / s + 1;
}

// col[C*kh*kw, OH*OW] = patches of img. `ldcol` is the row stride of col (0 means
// OH*OW); a larger stride lets several images be placed side by side in one matrix.
void im2col(const float* img, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
            float* col, int64_t ldcol = 0, float pad_value = 0.f);

// The adjoint of im2col: img += scatter(col). ACCUMULATES into img (zero it first for a
// plain transpose). `ldcol` as for im2col.
void col2im(const float* col, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
            float* img, int64_t ldcol = 0);

// Direct convolution, naive loops, double accumulation:
//   y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * x[n, c, oh*sh - ph + i, ow*sw - pw + j]
// (x outside the image = pad_value). x is (N, C, H, W), w is (OC, C, kh, kw), b is (OC) or
// nullptr, y is (N, OC, OH, OW).
void conv2d_ref(const float* x, const float* w, const float* b, int N, int C, int H, int W, int OC,
                int kh, int kw, int sh, int sw, int ph, int pw, float* y, float pad_value = 0.f);

// Gradients of conv2d_ref for upstream gradient dy (N, OC, OH, OW), naive loops, double
// accumulation. Any of dx / dw / db may be nullptr to skip it; the others are OVERWRITTEN.
void conv2d_backward_ref(const float* x, const float* w, const float* dy, int N, int C, int H, int W,
                         int OC, int kh, int kw, int sh, int sw, int ph, int pw, float* dx, float* dw,
                         float* db);

}  // namespace lowbit::kernels
