// maxpool_or, maxpool_i32, sum_pool_planes, im2col_bits and im2col_bytes on NHWC maps,
// with Highway's run-time dispatch (one compile per SIMD target, see bit_gemm.cpp). All
// work pixel by pixel: pooling combines the window's pixels, vectors across a pixel's
// words (or int32 values); sum pooling adds the levels as bit-sliced integers (each bit of
// a word is one channel's counter, held across the planes); im2col copies, for each window
// row, its kw pixels, which are kw * cw consecutive words of the input (zero words where
// the window leaves a padded map), or kw * c bytes of a byte map.
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_pool.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "lowbit/kernels/bit_sliced-inl.h"  // AddSliced, once per target

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Max pooling of NHWC maps of `c` values per pixel, vectors across a pixel's values;
// `combine` is the max of two vectors and `combine1` of two values: OR for packed +-1 bits
// (max of +-1 = OR, bit 1 = +1), Max for int32 accumulators (the runtime pools before
// thresholding, which is exact for k-bit codes too).
template <class T, class Combine, class Combine1>
HWY_INLINE void PoolMap(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const T* HWY_RESTRICT src,
                        T* HWY_RESTRICT dst, Combine combine, Combine1 combine1) {
  const hn::ScalableTag<T> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const T* p = src + ((img * h + y * s) * w + x * s) * c;
        T* o = dst + ((img * oh + y) * ow + x) * c;
        int64_t q = 0;
        for (; q + L <= c; q += L) {
          auto v = hn::LoadU(d, p + q);
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = combine(v, hn::LoadU(d, p + (dy * w + dx) * c + q));
          hn::StoreU(v, d, o + q);
        }
        for (; q < c; ++q) {
          T v = p[q];
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = combine1(v, p[(dy * w + dx) * c + q]);
          o[q] = v;
        }
      }
}

void MaxpoolImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* HWY_RESTRICT src,
                 uint64_t* HWY_RESTRICT dst) {
  PoolMap(n, h, w, packed_words(c), k, s, src, dst, [](auto a, auto b) { return hn::Or(a, b); },
          [](uint64_t a, uint64_t b) { return a | b; });
}

void MaxpoolI32Impl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const int32_t* HWY_RESTRICT src,
                    int32_t* HWY_RESTRICT dst) {
  PoolMap(n, h, w, c, k, s, src, dst, [](auto a, auto b) { return hn::Max(a, b); },
          [](int32_t a, int32_t b) { return std::max(a, b); });
}

constexpr int kMaxInPlanes = 8, kMaxSumPlanes = 16;

// m = max(m, x) lane by lane for codes stored bit-sliced (planes [0, planes), plane b = bit
// 2^b of every lane): x > m where, from the top plane down, the first plane in which they
// differ has x's bit set; then each plane takes x's bit there and m's elsewhere. T: a word,
// or a vector of words.
HWY_INLINE uint64_t NotOf(uint64_t v) { return ~v; }
template <class V>
HWY_INLINE V NotOf(V v) {
  return hn::Not(v);
}
template <class T>
HWY_INLINE void MaxSliced(T* HWY_RESTRICT m, const T* HWY_RESTRICT x, int planes) {
  T gt = x[0] ^ x[0], eq = NotOf(gt);  // no lane decided yet
  for (int b = planes - 1; b >= 0; --b) {
    gt = gt | (eq & x[b] & NotOf(m[b]));
    eq = eq & NotOf(x[b] ^ m[b]);
  }
  for (int b = 0; b < planes; ++b) m[b] = (gt & x[b]) | (NotOf(gt) & m[b]);
}

void MaxpoolPlanesImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int planes,
                       const uint64_t* HWY_RESTRICT src, uint64_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<uint64_t> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const int64_t in_plane = n * h * w * cw, out_plane = n * oh * ow * cw;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const uint64_t* p = src + ((img * h + y * s) * w + x * s) * cw;
        uint64_t* o = dst + ((img * oh + y) * ow + x) * cw;
        // The window's first pixel, then the max with each other one; whole vectors of a
        // pixel's words first, then single words.
        auto pool = [&](auto load, auto store, int64_t q, auto* mx, auto* in) {
          for (int b = 0; b < planes; ++b) mx[b] = load(p + q + b * in_plane);
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              if (dy == 0 && dx == 0) continue;
              const uint64_t* at = p + (dy * w + dx) * cw + q;
              for (int b = 0; b < planes; ++b) in[b] = load(at + b * in_plane);
              MaxSliced(mx, in, planes);
            }
          for (int b = 0; b < planes; ++b) store(mx[b], o + b * out_plane + q);
        };
        int64_t q = 0;
        for (; q + L <= cw; q += L) {
          V mx[kMaxInPlanes], in[kMaxInPlanes];
          pool([&](const uint64_t* at) { return hn::LoadU(d, at); }, [&](V v, uint64_t* at) { hn::StoreU(v, d, at); },
               q, mx, in);
        }
        for (; q < cw; ++q) {
          uint64_t mx[kMaxInPlanes], in[kMaxInPlanes];
          pool([](const uint64_t* at) { return *at; }, [](uint64_t v, uint64_t* at) { *at = v; }, q, mx, in);
        }
      }
}

// The planes the sums of t window pixels can reach (max_level: the largest input level).
HWY_INLINE int SumTop(int64_t t, int64_t max_level, int out_planes) {
  return std::min(out_planes, static_cast<int>(std::bit_width(static_cast<uint64_t>(t * max_level))));
}

void SumPoolImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                 const uint64_t* HWY_RESTRICT src, int out_planes, uint64_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<uint64_t> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const int64_t in_plane = n * h * w * cw, out_plane = n * oh * ow * cw;
  const int64_t max_level = (int64_t{1} << in_planes) - 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const uint64_t* p = src + ((img * h + y * s) * w + x * s) * cw;
        uint64_t* o = dst + ((img * oh + y) * ow + x) * cw;
        // One pixel's words at a time, whole vectors first, then single words: the window's
        // levels added into out_planes counters (only the planes the sum so far can reach).
        auto pool = [&](auto zero, auto load, auto store, int64_t q, auto* acc, auto* in) {
          for (int j = 0; j < out_planes; ++j) acc[j] = zero;
          int64_t t = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              const uint64_t* at = p + (dy * w + dx) * cw + q;
              for (int b = 0; b < in_planes; ++b) in[b] = load(at + b * in_plane);
              AddSliced(acc, SumTop(++t, max_level, out_planes), in, in_planes);
            }
          for (int j = 0; j < out_planes; ++j) store(acc[j], o + j * out_plane + q);
        };
        int64_t q = 0;
        for (; q + L <= cw; q += L) {
          V acc[kMaxSumPlanes], in[kMaxInPlanes];
          pool(hn::Zero(d), [&](const uint64_t* a) { return hn::LoadU(d, a); },
               [&](V v, uint64_t* a) { hn::StoreU(v, d, a); }, q, acc, in);
        }
        for (; q < cw; ++q) {
          uint64_t acc[kMaxSumPlanes], in[kMaxInPlanes];
          pool(uint64_t{0}, [](const uint64_t* a) { return *a; }, [](uint64_t v, uint64_t* a) { *a = v; }, q, acc, in);
        }
      }
}

// count words from p to o (p null: zeros): vectors, then the tail in smaller vectors
// with no loop over single words (such a loop became a libc memmove call per window row:
// spans are a few words, 3 for a 3x3 window of 64 channels; 8% of a CNV batch). Masked
// loads are not used: on SSE4 they may read past the end.
template <class D>
HWY_INLINE int64_t PutVectors(D d, const uint64_t* HWY_RESTRICT p, int64_t q, int64_t count, uint64_t* HWY_RESTRICT o,
                              bool once = false) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (; q + L <= count; q += L) {
    hn::StoreU(p ? hn::LoadU(d, p + q) : hn::Zero(d), d, o + q);
    if (once) break;
  }
  return q;
}

template <int kCount>
HWY_INLINE void CopyFixed(const uint64_t* HWY_RESTRICT p, uint64_t* HWY_RESTRICT o) {
  std::memcpy(o, p, kCount * sizeof(uint64_t));  // a compile-time size: a few moves, no call
}

HWY_INLINE void CopyWords(const uint64_t* HWY_RESTRICT p, int64_t count, uint64_t* HWY_RESTRICT o) {
  if (p) switch (count) {  // the usual window rows: 3x3 windows of up to 128 channels
      case 1: return CopyFixed<1>(p, o);
      case 2: return CopyFixed<2>(p, o);
      case 3: return CopyFixed<3>(p, o);
      case 4: return CopyFixed<4>(p, o);
      case 6: return CopyFixed<6>(p, o);
      default: break;
    }
  int64_t q = PutVectors(hn::ScalableTag<uint64_t>(), p, 0, count, o);
  q = PutVectors(hn::CappedTag<uint64_t, 4>(), p, q, count, o);
  q = PutVectors(hn::CappedTag<uint64_t, 2>(), p, q, count, o);
  PutVectors(hn::CappedTag<uint64_t, 1>(), p, q, count, o, /*once=*/true);
}

HWY_INLINE void ZeroWords(int64_t count, uint64_t* HWY_RESTRICT o) { CopyWords(nullptr, count, o); }

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

// The same patches on a byte map (one level per value, no word gaps): a window row is kw * c
// consecutive bytes of the input, copied with memcpy (short spans: the compiler's inline
// moves for the common sizes would need the size at compile time; these rows are long
// enough, kw * c >= 3 * 16 in practice, for the library copy to pay).
void Im2colBytesImpl(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, int64_t ph,
                     int64_t pw, const uint8_t* HWY_RESTRICT src, uint8_t* HWY_RESTRICT dst) {
  const int64_t oh = (h + 2 * ph - kh) / s + 1, ow = (w + 2 * pw - kw) / s + 1, span = kw * c;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        uint8_t* o = dst + ((img * oh + y) * ow + x) * kh * span;
        const int64_t x0 = x * s - pw, lo = std::max<int64_t>(0, -x0), hi = std::min<int64_t>(kw, w - x0);
        for (int64_t dy = 0; dy < kh; ++dy, o += span) {
          const int64_t iy = y * s + dy - ph;
          if (iy < 0 || iy >= h || lo >= hi) {
            std::memset(o, 0, static_cast<size_t>(span));
            continue;
          }
          std::memset(o, 0, static_cast<size_t>(lo * c));
          std::memcpy(o + lo * c, src + ((img * h + iy) * w + x0 + lo) * c, static_cast<size_t>((hi - lo) * c));
          std::memset(o + hi * c, 0, static_cast<size_t>((kw - hi) * c));
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
HWY_EXPORT(Im2colBytesImpl);
HWY_EXPORT(SumPoolImpl);
HWY_EXPORT(MaxpoolPlanesImpl);

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

namespace {
// The scalar twins' one loop: each output value combines its window, starting from `init`.
template <class T, class Combine>
void pool_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const T* src, T* dst, T init,
              Combine combine) {
  const int64_t oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t q = 0; q < c; ++q) {
          T v = init;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) v = combine(v, src[((img * h + y * s + dy) * w + x * s + dx) * c + q]);
          dst[((img * oh + y) * ow + x) * c + q] = v;
        }
}
}  // namespace

void maxpool_or_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, const uint64_t* src,
                    uint64_t* dst) {
  check_window("maxpool_or_ref", n, h, w, c, k, k, s);
  pool_ref<uint64_t>(n, h, w, packed_words(c), k, s, src, dst, 0, [](uint64_t a, uint64_t b) { return a | b; });
}

void maxpool_planes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int planes, const uint64_t* src,
                    uint64_t* dst) {
  check_window("maxpool_planes", n, h, w, c, k, k, s);
  LOWBIT_CHECK(planes >= 1 && planes <= 8, "maxpool_planes: ", planes, " planes (1..8)");
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(MaxpoolPlanesImpl)(n, h, w, c, k, s, planes, src, dst);
}

void maxpool_planes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int planes,
                        const uint64_t* src, uint64_t* dst) {
  check_window("maxpool_planes_ref", n, h, w, c, k, k, s);
  LOWBIT_CHECK(planes >= 1 && planes <= 8, "maxpool_planes_ref: ", planes, " planes (1..8)");
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const int64_t in_plane = n * h * w * cw, out_plane = n * oh * ow * cw;
  auto code = [&](int64_t pixel, int64_t ch) {
    uint32_t v = 0;
    for (int b = 0; b < planes; ++b) v |= static_cast<uint32_t>((src[b * in_plane + pixel * cw + ch / 64] >> (ch % 64)) & 1) << b;
    return v;
  };
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t opix = (img * oh + y) * ow + x;
        for (int b = 0; b < planes; ++b)
          for (int64_t q = 0; q < cw; ++q) dst[b * out_plane + opix * cw + q] = 0;
        for (int64_t ch = 0; ch < c; ++ch) {
          uint32_t best = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) best = std::max(best, code((img * h + y * s + dy) * w + x * s + dx, ch));
          for (int b = 0; b < planes; ++b) dst[b * out_plane + opix * cw + ch / 64] |= uint64_t{(best >> b) & 1} << (ch % 64);
        }
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
  pool_ref<int32_t>(n, h, w, c, k, s, src, dst, INT32_MIN, [](int32_t a, int32_t b) { return std::max(a, b); });
}

namespace {
void check_sum_pool(const char* what, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                    int out_planes) {
  check_window(what, n, h, w, c, k, k, s);
  LOWBIT_CHECK(in_planes >= 1 && in_planes <= 8, what, ": ", in_planes, " input planes (1..8)");
  // The largest sum, k*k times the largest level, must fit the output planes (exact in
  // double: k <= h and the product is compared with at most 2^16).
  const double max_sum = static_cast<double>(k) * static_cast<double>(k) * static_cast<double>((1 << in_planes) - 1);
  LOWBIT_CHECK(out_planes >= 1 && out_planes <= 16 && max_sum < std::ldexp(1.0, out_planes), what, ": sums of ", k,
               "x", k, " levels of ", in_planes, " planes do not fit ", out_planes, " output planes (at most 16)");
}
}  // namespace

void sum_pool_planes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                     const uint64_t* src, int out_planes, uint64_t* dst) {
  check_sum_pool("sum_pool_planes", n, h, w, c, k, s, in_planes, out_planes);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(SumPoolImpl)(n, h, w, c, k, s, in_planes, src, out_planes, dst);
}

void sum_pool_planes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int in_planes,
                         const uint64_t* src, int out_planes, uint64_t* dst) {
  check_sum_pool("sum_pool_planes_ref", n, h, w, c, k, s, in_planes, out_planes);
  const int64_t cw = packed_words(c), oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  const int64_t in_plane = n * h * w * cw, out_plane = n * oh * ow * cw;
  auto bit = [](const uint64_t* words, int64_t ch) { return (words[ch / 64] >> (ch % 64)) & 1u; };
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t out = ((img * oh + y) * ow + x) * cw;
        for (int j = 0; j < out_planes; ++j) std::fill(dst + j * out_plane + out, dst + j * out_plane + out + cw, 0);
        for (int64_t ch = 0; ch < c; ++ch) {
          uint64_t sum = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              const int64_t pixel = ((img * h + y * s + dy) * w + x * s + dx) * cw;
              for (int b = 0; b < in_planes; ++b) sum += bit(src + b * in_plane + pixel, ch) << b;
            }
          for (int j = 0; j < out_planes; ++j) dst[j * out_plane + out + ch / 64] |= ((sum >> j) & 1u) << (ch % 64);
        }
      }
}

void im2col_bits(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, const uint64_t* src,
                 uint64_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bits", n, h, w, c, kh, kw, s, ph, pw);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(Im2colImpl)(n, h, w, c, kh, kw, s, ph, pw, src, dst);
}

namespace {
// The scalar twins' one loop: each output pixel's window, tap by tap, `per_pixel` elements
// each (words of a packed map, bytes of a byte map), 0 for padded taps.
template <class T>
void im2col_ref(int64_t n, int64_t h, int64_t w, int64_t per_pixel, int64_t kh, int64_t kw, int64_t s,
                const T* src, T* dst, int64_t ph, int64_t pw) {
  const int64_t oh = (h + 2 * ph - kh) / s + 1, ow = (w + 2 * pw - kw) / s + 1;
  int64_t out = 0;
  for (int64_t img = 0; img < n; ++img)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x)
        for (int64_t dy = 0; dy < kh; ++dy)
          for (int64_t dx = 0; dx < kw; ++dx) {
            const int64_t iy = y * s + dy - ph, ix = x * s + dx - pw;
            const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            for (int64_t q = 0; q < per_pixel; ++q)
              dst[out++] = inside ? src[((img * h + iy) * w + ix) * per_pixel + q] : T{0};
          }
}
}  // namespace

void im2col_bits_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                     const uint64_t* src, uint64_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bits_ref", n, h, w, c, kh, kw, s, ph, pw);
  im2col_ref(n, h, w, packed_words(c), kh, kw, s, src, dst, ph, pw);
}

void im2col_bytes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s, const uint8_t* src,
                  uint8_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bytes", n, h, w, c, kh, kw, s, ph, pw);
  if (n == 0 || c == 0) return;
  HWY_DYNAMIC_DISPATCH(Im2colBytesImpl)(n, h, w, c, kh, kw, s, ph, pw, src, dst);
}

void im2col_bytes_ref(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t s,
                      const uint8_t* src, uint8_t* dst, int64_t ph, int64_t pw) {
  check_window("im2col_bytes_ref", n, h, w, c, kh, kw, s, ph, pw);
  im2col_ref(n, h, w, c, kh, kw, s, src, dst, ph, pw);
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
