#include "lowbit/kernels/im2col.hpp"

#include <algorithm>
#include <cstring>

// The rows copied here are short (OW elements, often 4 to 32). GCC turns the copy and
// zero loops into memcpy/memset calls, whose call overhead dominates on such rows
// (measured 1.1-1.3x slower on 4x4 to 16x16 outputs); keep them as inline loops.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

namespace lowbit::kernels {

namespace {

// For kernel column offset j: the output columns ow whose input column ow*sw - pw + j
// lies inside [0, W) form the range [lo, hi).
struct ValidRange {
  int64_t lo, hi;
};

inline ValidRange valid_range(int64_t W, int64_t OW, int64_t s, int64_t p, int64_t j) {
  // ow*s + (j - p) >= 0   <=>  ow >= ceil((p - j) / s)
  const int64_t a = p - j;
  int64_t lo = a > 0 ? (a + s - 1) / s : 0;
  // ow*s + (j - p) <= W - 1  <=>  ow <= floor((W - 1 + p - j) / s)
  const int64_t b = W - 1 + p - j;
  int64_t hi = b < 0 ? 0 : b / s + 1;
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
  return {lo, hi};
}

}  // namespace

void im2col(const float* img, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
            float* col, int64_t ldcol, float pad_value) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  const int64_t P = OH * OW;
  if (ldcol == 0) ldcol = P;
  const int64_t plane_size = static_cast<int64_t>(H) * W;
  if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {  // a plain copy
    for (int64_t c = 0; c < C; ++c)
      std::memcpy(col + c * ldcol, img + c * plane_size, sizeof(float) * static_cast<size_t>(P));
    return;
  }
  for (int64_t c = 0; c < C; ++c) {
    const float* plane = img + c * plane_size;
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = 0; j < kw; ++j) {
        float* row = col + ((c * kh + i) * kw + j) * ldcol;
        const ValidRange v = valid_range(W, OW, sw, pw, j);
        const int64_t off = j - pw;
        for (int64_t oh = 0; oh < OH; ++oh) {
          float* r = row + oh * OW;
          const int64_t ih = oh * sh - ph + i;
          if (ih < 0 || ih >= H) {
            std::fill(r, r + OW, pad_value);
            continue;
          }
          const float* src = plane + ih * W;
          for (int64_t ow = 0; ow < v.lo; ++ow) r[ow] = pad_value;
          if (sw == 1) {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) r[ow] = src[ow + off];
          } else {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) r[ow] = src[ow * sw + off];
          }
          for (int64_t ow = v.hi; ow < OW; ++ow) r[ow] = pad_value;
        }
      }
    }
  }
}

void col2im(const float* col, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
            float* img, int64_t ldcol) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  const int64_t P = OH * OW;
  if (ldcol == 0) ldcol = P;
  const int64_t plane_size = static_cast<int64_t>(H) * W;
  for (int64_t c = 0; c < C; ++c) {
    float* plane = img + c * plane_size;
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = 0; j < kw; ++j) {
        const float* row = col + ((c * kh + i) * kw + j) * ldcol;
        const ValidRange v = valid_range(W, OW, sw, pw, j);
        const int64_t off = j - pw;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * sh - ph + i;
          if (ih < 0 || ih >= H) continue;
          const float* r = row + oh * OW;
          float* dst = plane + ih * W;
          if (sw == 1) {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) dst[ow + off] += r[ow];
          } else {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) dst[ow * sw + off] += r[ow];
          }
        }
      }
    }
  }
}

void conv2d_ref(const float* x, const float* w, const float* b, int N, int C, int H, int W, int OC,
                int kh, int kw, int sh, int sw, int ph, int pw, float* y, float pad_value) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? static_cast<double>(b[o]) : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                acc += static_cast<double>(w[((o * C + c) * kh + i) * kw + j]) *
                       (inside ? x[((n * C + c) * H + ih) * W + iw] : pad_value);
              }
          y[((n * OC + o) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
}

void conv2d_backward_ref(const float* x, const float* w, const float* dy, int N, int C, int H, int W,
                         int OC, int kh, int kw, int sh, int sw, int ph, int pw, float* dx, float* dw,
                         float* db) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  auto dy_at = [&](int64_t n, int64_t o, int64_t oh, int64_t ow) {
    return static_cast<double>(dy[((n * OC + o) * OH + oh) * OW + ow]);
  };
  if (db) {
    for (int64_t o = 0; o < OC; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) acc += dy_at(n, o, oh, ow);
      db[o] = static_cast<float>(acc);
    }
  }
  if (dw) {
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            double acc = 0;
            for (int64_t n = 0; n < N; ++n)
              for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const int64_t ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  acc += dy_at(n, o, oh, ow) * x[((n * C + c) * H + ih) * W + iw];
                }
            dw[((o * C + c) * kh + i) * kw + j] = static_cast<float>(acc);
          }
  }
  if (dx) {
    // Gather form: each input pixel sums over the (o, i, j) taps whose output lands on the grid.
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t ih = 0; ih < H; ++ih)
          for (int64_t iw = 0; iw < W; ++iw) {
            double acc = 0;
            for (int64_t o = 0; o < OC; ++o)
              for (int64_t i = 0; i < kh; ++i)
                for (int64_t j = 0; j < kw; ++j) {
                  const int64_t th = ih + ph - i, tw = iw + pw - j;
                  if (th < 0 || tw < 0 || th % sh != 0 || tw % sw != 0) continue;
                  const int64_t oh = th / sh, ow = tw / sw;
                  if (oh >= OH || ow >= OW) continue;
                  acc += dy_at(n, o, oh, ow) * w[((o * C + c) * kh + i) * kw + j];
                }
            dx[((n * C + c) * H + ih) * W + iw] = static_cast<float>(acc);
          }
  }
}

}  // namespace lowbit::kernels
