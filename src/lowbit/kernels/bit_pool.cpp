// maxpool_or and im2col_bits on packed NHWC maps, with Highway's run-time dispatch (one
// compile per SIMD target, see bit_gemm.cpp). Both work pixel by pixel on whole words:
// pooling ORs the window's pixels, vectors across a pixel's words; im2col copies, for each
// window row, its kw pixels, which are kw * cw consecutive words of the input.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_pool.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void MaxpoolImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* HWY_RESTRICT src,
                 uint64_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<uint64_t> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const uint64_t* p = src + ((img * h + y * s) * w + x * s) * cw;
        uint64_t* o = dst + ((img * oh + y) * ow + x) * cw;
        int64_t q = 0;
        for (; q + L <= cw; q += L) {
          auto v = hn::LoadU(d, p + q);
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = hn::Or(v, hn::LoadU(d, p + (dy * w + dx) * cw + q));
          hn::StoreU(v, d, o + q);
        }
        for (; q < cw; ++q) {
          uint64_t v = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v |= p[(dy * w + dx) * cw + q];
          o[q] = v;
        }
      }
}

// Max pooling of int32 accumulator maps (the runtime pools before thresholding, which is
// exact for k-bit codes too): vectors across a pixel's channels.
void MaxpoolI32Impl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* HWY_RESTRICT src,
                    int32_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<int32_t> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const int32_t* p = src + ((img * h + y * s) * w + x * s) * c;
        int32_t* o = dst + ((img * oh + y) * ow + x) * c;
        int64_t q = 0;
        for (; q + L <= c; q += L) {
          auto v = hn::LoadU(d, p + q);
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = hn::Max(v, hn::LoadU(d, p + (dy * w + dx) * c + q));
          hn::StoreU(v, d, o + q);
        }
        for (; q < c; ++q) {
          int32_t v = p[q];
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = std::max(v, p[(dy * w + dx) * c + q]);
          o[q] = v;
        }
      }
}

// count words from p to o: vectors, then the tail in smaller vectors with no loop over
// single words (such a loop became a libc memmove call per window row: spans are a few
// words, 3 for a 3x3 window of 64 channels; 8% of a CNV batch). Masked loads are not used:
// on SSE4 they may read past the end.
HWY_INLINE void CopyWords(const uint64_t* HWY_RESTRICT p, int64_t count, uint64_t* HWY_RESTRICT o) {
  const hn::ScalableTag<uint64_t> d;
  const hn::CappedTag<uint64_t, 4> d4;
  const hn::CappedTag<uint64_t, 2> d2;
  const hn::CappedTag<uint64_t, 1> d1;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), L4 = static_cast<int64_t>(hn::Lanes(d4)),
                L2 = static_cast<int64_t>(hn::Lanes(d2));
  int64_t q = 0;
  for (; q + L <= count; q += L) hn::StoreU(hn::LoadU(d, p + q), d, o + q);
  for (; q + L4 <= count; q += L4) hn::StoreU(hn::LoadU(d4, p + q), d4, o + q);
  for (; q + L2 <= count; q += L2) hn::StoreU(hn::LoadU(d2, p + q), d2, o + q);
  if (q < count) hn::StoreU(hn::LoadU(d1, p + q), d1, o + q);
}

HWY_INLINE void ZeroWords(int64_t count, uint64_t* HWY_RESTRICT o) {  // the same way (not a memset call)
  const hn::ScalableTag<uint64_t> d;
  const hn::CappedTag<uint64_t, 4> d4;
  const hn::CappedTag<uint64_t, 2> d2;
  const hn::CappedTag<uint64_t, 1> d1;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), L4 = static_cast<int64_t>(hn::Lanes(d4)),
                L2 = static_cast<int64_t>(hn::Lanes(d2));
  int64_t q = 0;
  for (; q + L <= count; q += L) hn::StoreU(hn::Zero(d), d, o + q);
  for (; q + L4 <= count; q += L4) hn::StoreU(hn::Zero(d4), d4, o + q);
  for (; q + L2 <= count; q += L2) hn::StoreU(hn::Zero(d2), d2, o + q);
  if (q < count) hn::StoreU(hn::Zero(d1), d1, o + q);
}

void Im2colImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, int64_t ph,
                int64_t pw, const uint64_t* HWY_RESTRICT src, uint64_t* HWY_RESTRICT dst) {
  const int64_t cw = packed_words(c), oh = (h + 2 * ph - kh) / s + 1, ow = (w + 2 * pw - kw) / s + 1;
  const int64_t span = kw * cw;  // one window row: kw consecutive pixels
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        uint64_t* o = dst + ((img * oh + y) * ow + x) * kh * span;
        // The window's columns inside the map, [lo, hi); padding pixels are zero words.
        const int64_t x0 = x * s - pw, lo = std::max<int64_t>(0, -x0), hi = std::min<int64_t>(kw, w - x0);
        if (lo == 0 && hi == kw && y * s >= ph && y * s + kh - ph <= h) {  // inside the map: copies only
          const uint64_t* p = src + ((img * h + y * s - ph) * w + x0) * cw;
          for (int64_t dy = 0; dy < kh; ++dy, o += span) CopyWords(p + dy * w * cw, span, o);
          continue;
        }
        for (int64_t dy = 0; dy < kh; ++dy, o += span) {
          const int64_t iy = y * s + dy - ph;
          if (iy < 0 || iy >= h || lo >= hi) {
            ZeroWords(span, o);
            continue;
          }
          ZeroWords(lo * cw, o);
          CopyWords(src + ((img * h + iy) * w + x0 + lo) * cw, (hi - lo) * cw, o + lo * cw);
          ZeroWords((kw - hi) * cw, o + hi * cw);
        }
      }
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(MaxpoolImpl);
HWY_EXPORT(Im2colImpl);
HWY_EXPORT(MaxpoolI32Impl);

namespace {
void check_window(const char* what, int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                  int64_t ph = 0, int64_t pw = 0) {
  LOWBIT_CHECK(n >= 0 && c >= 0 && kh >= 1 && kw >= 1 && ph >= 0 && pw >= 0 && ph < kh && pw < kw &&
                   kh <= h + 2 * ph && kw <= w + 2 * pw && s >= 1,
               what, ": window ", kh, "x", kw, " stride ", s, " padding ", ph, "x", pw, " does not fit a ", h, "x", w,
               " map (n = ", n, ", c = ", c, ")");
}
}  // namespace

void maxpool_or(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* src, uint64_t* dst) {
  check_window("maxpool_or", n, h, w, c, k, k, s);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(MaxpoolImpl)(n, h, w, c, k, s, src, dst);
}

void maxpool_or_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* src,
                    uint64_t* dst) {
  check_window("maxpool_or_ref", n, h, w, c, k, k, s);
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t q = 0; q < cw; ++q) {
          uint64_t v = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v |= src[((img * h + y * s + dy) * w + x * s + dx) * cw + q];
          dst[((img * oh + y) * ow + x) * cw + q] = v;
        }
}

void maxpool_i32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* src, int32_t* dst) {
  check_window("maxpool_i32", n, h, w, c, k, k, s);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(MaxpoolI32Impl)(n, h, w, c, k, s, src, dst);
}

void maxpool_i32_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* src,
                     int32_t* dst) {
  check_window("maxpool_i32_ref", n, h, w, c, k, k, s);
  const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t q = 0; q < c; ++q) {
          int32_t v = INT32_MIN;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = std::max(v, src[((img * h + y * s + dy) * w + x * s + dx) * c + q]);
          dst[((img * oh + y) * ow + x) * c + q] = v;
        }
}

void im2col_bits(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, const uint64_t* src,
                 uint64_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bits", n, h, w, c, kh, kw, s, ph, pw);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(Im2colImpl)(n, h, w, c, kh, kw, s, ph, pw, src, dst);
}

void im2col_bits_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                     const uint64_t* src, uint64_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bits_ref", n, h, w, c, kh, kw, s, ph, pw);
  const int64_t cw = packed_words(c), oh = (h + 2 * ph - kh) / s + 1, ow = (w + 2 * pw - kw) / s + 1;
  int64_t out = 0;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t dy = 0; dy < kh; ++dy)
          for (int64_t dx = 0; dx < kw; ++dx) {
            const int64_t iy = y * s + dy - ph, ix = x * s + dx - pw;
            const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            for (int64_t q = 0; q < cw; ++q) dst[out++] = inside ? src[((img * h + iy) * w + ix) * cw + q] : 0;
          }
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
