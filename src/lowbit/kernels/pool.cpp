#include "lowbit/kernels/pool.hpp"

#include <algorithm>

#include "lowbit/kernels/im2col.hpp"

namespace lowbit::kernels {

namespace {


struct Window {
  int64_t h0, h1, w0, w1;  // clipped to the input: rows [h0, h1), columns [w0, w1)
};

inline Window window(int64_t oh, int64_t ow, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                     int64_t ph, int64_t pw) {
  const int64_t hs = oh * sh - ph, ws = ow * sw - pw;
  return {std::max<int64_t>(hs, 0), std::min(hs + kh, H), std::max<int64_t>(ws, 0), std::min(ws + kw, W)};
}

void maxpool_plane(const float* x, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                   int64_t pw, int64_t OH, int64_t OW, float* y, int32_t* am) {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0) {  // the common case, unrolled
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t base = 2 * oh * W;
      const float* r0 = x + base;
      const float* r1 = r0 + W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t j = 2 * ow;
        float best = r0[j];
        int64_t bi = base + j;
        if (r0[j + 1] > best) best = r0[j + 1], bi = base + j + 1;
        if (r1[j] > best) best = r1[j], bi = base + W + j;
        if (r1[j + 1] > best) best = r1[j + 1], bi = base + W + j + 1;
        y[oh * OW + ow] = best;
        am[oh * OW + ow] = static_cast<int32_t>(bi);
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const Window w = window(oh, ow, H, W, kh, kw, sh, sw, ph, pw);
      int64_t bi = w.h0 * W + w.w0;
      float best = x[bi];
      for (int64_t h = w.h0; h < w.h1; ++h)
        for (int64_t c = w.w0; c < w.w1; ++c)
          if (x[h * W + c] > best) best = x[h * W + c], bi = h * W + c;
      y[oh * OW + ow] = best;
      am[oh * OW + ow] = static_cast<int32_t>(bi);
    }
}

void avgpool_plane(const float* x, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                   int64_t pw, int64_t OH, int64_t OW, float* y) {
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const Window w = window(oh, ow, H, W, kh, kw, sh, sw, ph, pw);
      float acc = 0.f;
      for (int64_t h = w.h0; h < w.h1; ++h)
        for (int64_t c = w.w0; c < w.w1; ++c) acc += x[h * W + c];
      y[oh * OW + ow] = acc / static_cast<float>((w.h1 - w.h0) * (w.w1 - w.w0));
    }
}

void avgpool_backward_plane(const float* dy, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                            int64_t ph, int64_t pw, int64_t OH, int64_t OW, float* dx) {
  std::fill(dx, dx + H * W, 0.f);
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const Window w = window(oh, ow, H, W, kh, kw, sh, sw, ph, pw);
      const float g = dy[oh * OW + ow] / static_cast<float>((w.h1 - w.h0) * (w.w1 - w.w0));
      for (int64_t h = w.h0; h < w.h1; ++h)
        for (int64_t c = w.w0; c < w.w1; ++c) dx[h * W + c] += g;
    }
}

}  // namespace

void maxpool2d(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
               float* y, int32_t* argmax) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  const int64_t in = static_cast<int64_t>(H) * W, out = OH * OW;
  for (int64_t p = 0; p < planes; ++p)
    maxpool_plane(x + p * in, H, W, kh, kw, sh, sw, ph, pw, OH, OW, y + p * out, argmax + p * out);
}

void maxpool2d_backward(const float* dy, const int32_t* argmax, int64_t planes, int H, int W, int OH, int OW,
                        float* dx) {
  const int64_t in = static_cast<int64_t>(H) * W, out = static_cast<int64_t>(OH) * OW;
  for (int64_t p = 0; p < planes; ++p) {
    float* d = dx + p * in;
    const float* g = dy + p * out;
    const int32_t* a = argmax + p * out;
    std::fill(d, d + in, 0.f);
    for (int64_t i = 0; i < out; ++i) d[a[i]] += g[i];
  }
}

void avgpool2d(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
               float* y) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  const int64_t in = static_cast<int64_t>(H) * W, out = OH * OW;
  for (int64_t p = 0; p < planes; ++p) avgpool_plane(x + p * in, H, W, kh, kw, sh, sw, ph, pw, OH, OW, y + p * out);
}

void avgpool2d_backward(const float* dy, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph,
                        int pw, float* dx) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  const int64_t in = static_cast<int64_t>(H) * W, out = OH * OW;
  for (int64_t p = 0; p < planes; ++p)
    avgpool_backward_plane(dy + p * out, H, W, kh, kw, sh, sw, ph, pw, OH, OW, dx + p * in);
}

// ---- naive references -------------------------------------------------------------

void maxpool2d_ref(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                   float* y, int32_t* argmax) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float best = 0.f;
        int64_t bi = -1;
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t h = oh * sh - ph + i, w = ow * sw - pw + j;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;  // padding: -inf, never chosen
            const float v = x[(p * H + h) * W + w];
            if (bi < 0 || v > best) best = v, bi = h * W + w;
          }
        y[(p * OH + oh) * OW + ow] = best;
        argmax[(p * OH + oh) * OW + ow] = static_cast<int32_t>(bi);
      }
}

void avgpool2d_ref(const float* x, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                   float* y) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double acc = 0;
        int count = 0;
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t h = oh * sh - ph + i, w = ow * sw - pw + j;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            acc += x[(p * H + h) * W + w];
            ++count;
          }
        y[(p * OH + oh) * OW + ow] = static_cast<float>(acc / count);
      }
}

void avgpool2d_backward_ref(const float* dy, int64_t planes, int H, int W, int kh, int kw, int sh, int sw, int ph,
                            int pw, float* dx) {
  const int64_t OH = conv_out_size(H, kh, sh, ph), OW = conv_out_size(W, kw, sw, pw);
  std::fill(dx, dx + planes * H * W, 0.f);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int count = 0;
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t h = oh * sh - ph + i, w = ow * sw - pw + j;
            count += (h >= 0 && h < H && w >= 0 && w < W);
          }
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t h = oh * sh - ph + i, w = ow * sw - pw + j;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            dx[(p * H + h) * W + w] += dy[(p * OH + oh) * OW + ow] / static_cast<float>(count);
          }
      }
}

}  // namespace lowbit::kernels
