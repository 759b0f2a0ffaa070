// threshold_planes and threshold_bytes (one loop, two output layouts) with Highway's run-time dispatch (one compile per SIMD target, see
// bit_gemm.cpp). Columns go 64 at a time (one output word per row and plane); with up to
// kVecLevels levels the chunk's thresholds are transposed once to level-major on the stack
// and every row compares whole vectors: code = levels - #{l : x < t_l}, and the bits of
// each plane come from the lanes' masks. More levels (8-bit codes) search the channel's
// sorted thresholds by binary lifting, lanes = channels, thresholds gathered.
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_threshold.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

#ifndef LOWBIT_KERNELS_BIT_THRESHOLD_ONCE
#define LOWBIT_KERNELS_BIT_THRESHOLD_ONCE
namespace lowbit::kernels::bit_detail {
constexpr int kVecLevels = 15;  // 4-bit codes and below: vector compares
static_assert(std::endian::native == std::endian::little, "mask bits are assembled little-endian");

}  // namespace lowbit::kernels::bit_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using bit_detail::kVecLevels;

template <class D, class M>
HWY_INLINE uint64_t MaskBits(D d, M mask) {
  uint8_t buf[8] = {};
  hn::StoreMaskBits(d, mask, buf);
  uint64_t bits;
  std::memcpy(&bits, buf, sizeof(bits));
  return bits;
}

// Codes into bit-planes `out`, or, when `bytes` is not null, into bytes (row i at
// bytes + i * ldo) instead.
void ThresholdImpl(int64_t m, int64_t n, const int32_t* HWY_RESTRICT acc, int64_t ldc, int levels,
                   const int32_t* HWY_RESTRICT thr, uint64_t* HWY_RESTRICT out, uint8_t* HWY_RESTRICT bytes,
                   int64_t ldo) {
  const hn::ScalableTag<int32_t> d;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  alignas(64) uint8_t cb[64];  // bytes: one chunk's codes of a row
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t words = packed_words(n), plane = m * words;
  const int bits = threshold_bits(levels);
  alignas(64) int32_t tt[kVecLevels * 64];  // thresholds of one chunk, level-major
  alignas(64) int32_t xb[64];               // a partial chunk's inputs, zero-padded
  alignas(64) int32_t xb_base[64];          // many levels: index of each column's first threshold
  for (int64_t wc = 0; wc < words; ++wc) {
    const int64_t j0 = wc * 64, cnt = std::min<int64_t>(64, n - j0);
    const uint64_t valid = cnt == 64 ? ~uint64_t{0} : (uint64_t{1} << cnt) - 1;
    // Row i's 64 accumulators of this chunk; a partial chunk is copied, zero-padded, so
    // whole vectors can be loaded (the padding lanes are masked off by `valid`).
    auto chunk_row = [&](int64_t i) -> const int32_t* {
      const int32_t* x = acc + i * ldc + j0;
      if (cnt == 64) return x;
      std::memcpy(xb, x, static_cast<size_t>(cnt) * sizeof(int32_t));
      std::fill(xb + cnt, xb + 64, 0);
      return xb;
    };
    if (levels > kVecLevels) {
      // Binary lifting, one lane per channel: code = sum of the steps 2^s (largest first)
      // for which t[code + 2^s - 1] <= x, the thresholds gathered from the channel's row.
      const int top = static_cast<int>(std::bit_floor(static_cast<unsigned>(levels)));
      for (int64_t jj = 0; jj < 64; ++jj)  // columns past n read the last channel; masked below
        xb_base[jj] = static_cast<int32_t>(std::min(j0 + jj, n - 1) * levels);
      const auto nlev = hn::Set(d, levels), last = hn::Set(d, levels - 1);
      for (int64_t i = 0; i < m; ++i) {
        const int32_t* x = chunk_row(i);
        uint64_t pw[8] = {};
        for (int64_t v = 0; v < 64; v += L) {
          const auto xv = hn::LoadU(d, x + v), base = hn::Load(d, xb_base + v);
          auto code = hn::Zero(d);
          for (int step = top; step >= 1; step >>= 1) {
            const auto idx = hn::Add(code, hn::Set(d, step - 1));
            const auto t = hn::GatherIndex(d, thr, hn::Add(base, hn::Min(idx, last)));
            const auto take = hn::AndNot(hn::Lt(xv, t), hn::Lt(idx, nlev));  // t <= x and idx < levels
            code = hn::Add(code, hn::IfThenElseZero(take, hn::Set(d, step)));
          }
          if (bytes) {
            hn::StoreU(hn::DemoteTo(d8, code), d8, cb + v);
            continue;
          }
          for (int b = 0; b < bits; ++b) pw[b] |= MaskBits(d, hn::TestBit(code, hn::Set(d, 1 << b))) << v;
        }
        if (bytes) {
          std::memcpy(bytes + i * ldo + j0, cb, static_cast<size_t>(cnt));
          continue;
        }
        for (int b = 0; b < bits; ++b) out[b * plane + i * words + wc] = pw[b] & valid;
      }
      continue;
    }
    for (int l = 0; l < levels; ++l)
      for (int64_t jj = 0; jj < 64; ++jj) tt[l * 64 + jj] = jj < cnt ? thr[(j0 + jj) * levels + l] : INT32_MAX;
    for (int64_t i = 0; i < m; ++i) {
      const int32_t* x = chunk_row(i);
      uint64_t pw[8] = {};
      if (levels == 1 && !bytes) {
        uint64_t below = 0;  // x < t
        for (int64_t v = 0; v < 64; v += L)
          below |= MaskBits(d, hn::Lt(hn::LoadU(d, x + v), hn::Load(d, tt + v))) << v;
        pw[0] = ~below;
      } else {
        const auto lv = hn::Set(d, levels);
        for (int64_t v = 0; v < 64; v += L) {
          const auto xv = hn::LoadU(d, x + v);
          auto below = hn::Zero(d);  // -#{l : x < t_l}
          for (int l = 0; l < levels; ++l) below = hn::Add(below, hn::VecFromMask(d, hn::Lt(xv, hn::Load(d, tt + l * 64 + v))));
          const auto code = hn::Add(lv, below);
          if (bytes) {
            hn::StoreU(hn::DemoteTo(d8, code), d8, cb + v);
            continue;
          }
          for (int b = 0; b < bits; ++b) pw[b] |= MaskBits(d, hn::TestBit(code, hn::Set(d, 1 << b))) << v;
        }
      }
      if (bytes) {
        std::memcpy(bytes + i * ldo + j0, cb, static_cast<size_t>(cnt));
        continue;
      }
      for (int b = 0; b < bits; ++b) out[b * plane + i * words + wc] = pw[b] & valid;
    }
  }
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(ThresholdImpl);

namespace {
void check_levels(const char* what, int64_t m, int64_t n, int levels) {
  LOWBIT_CHECK(levels >= 1 && levels <= 255, what, ": ", levels, " threshold levels (1..255)");
  LOWBIT_CHECK(m >= 0 && n >= 0, what, ": bad shape ", m, " x ", n);
}
}  // namespace

void threshold_planes(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                      uint64_t* out) {
  check_levels("threshold_planes", m, n, levels);
  if (m == 0 || n == 0) return;
  HWY_DYNAMIC_DISPATCH(ThresholdImpl)(m, n, acc, ldc, levels, thr, out, nullptr, 0);
}

void threshold_bytes(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                     uint8_t* out, int64_t ldo) {
  check_levels("threshold_bytes", m, n, levels);
  LOWBIT_CHECK(ldo >= n, "threshold_bytes: row stride ", ldo, " below ", n);
  if (m == 0 || n == 0) return;
  HWY_DYNAMIC_DISPATCH(ThresholdImpl)(m, n, acc, ldc, levels, thr, nullptr, out, ldo);
}

void threshold_bytes_ref(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                         uint8_t* out, int64_t ldo) {
  check_levels("threshold_bytes_ref", m, n, levels);
  LOWBIT_CHECK(ldo >= n, "threshold_bytes_ref: row stride ", ldo, " below ", n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int code = 0;
      for (int l = 0; l < levels; ++l) code += acc[i * ldc + j] >= thr[j * levels + l];
      out[i * ldo + j] = static_cast<uint8_t>(code);
    }
}

void threshold_planes_ref(int64_t m, int64_t n, const int32_t* acc, int64_t ldc, int levels, const int32_t* thr,
                          uint64_t* out) {
  check_levels("threshold_planes_ref", m, n, levels);
  const int64_t words = packed_words(n), plane = m * words;
  const int bits = threshold_bits(levels);
  std::fill(out, out + bits * plane, uint64_t{0});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      uint64_t code = 0;
      for (int l = 0; l < levels; ++l) code += acc[i * ldc + j] >= thr[j * levels + l];
      for (int b = 0; b < bits; ++b) out[b * plane + i * words + j / 64] |= ((code >> b) & 1) << (j % 64);
    }
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
