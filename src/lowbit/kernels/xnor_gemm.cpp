// XNOR-popcount GEMM with Highway's run-time dispatch: this file is compiled once per
// SIMD target (foreach_target.h re-includes it), and HWY_DYNAMIC_DISPATCH picks the best
// target the CPU supports on the first call.
#undef HWY_TARGET_INCLUDE
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#define HWY_TARGET_INCLUDE "lowbit/kernels/xnor_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

#include "lowbit/kernels/xnor_gemm.hpp"

// StoreMaskBits writes lane 0 to bit 0 of byte 0, lane 8 to byte 1, ...: copied into a
// uint64_t with memcpy, that is lane order only on a little-endian machine.
static_assert(std::endian::native == std::endian::little, "the mask-bit copies assume little-endian");

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows [i0, i1) of C. For each row and each block of lanes of n, the popcounts of all
// words accumulate in u64 lanes (one lane per output), then are converted once.
void XnorGemmRows(int64_t i0, int64_t i1, int64_t n, int64_t k, const uint64_t* a, const uint64_t* bt, float* c,
                  int64_t ldc, uint64_t* counts) {
  const hn::ScalableTag<uint64_t> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t words = packed_words(k);
  const float kf = static_cast<float>(k);
  for (int64_t i = i0; i < i1; ++i) {
    const uint64_t* ai = a + i * words;
    int64_t j = 0;
    for (; j + L <= n; j += L) {
      auto acc = hn::Zero(d);
      for (int64_t w = 0; w < words; ++w)
        acc = hn::Add(acc, hn::PopulationCount(hn::Xor(hn::Set(d, ai[w]), hn::LoadU(d, bt + w * n + j))));
      hn::StoreU(acc, d, counts + j);
    }
    for (; j < n; ++j) {  // the last n % L outputs
      uint64_t cnt = 0;
      for (int64_t w = 0; w < words; ++w) cnt += static_cast<uint64_t>(std::popcount(ai[w] ^ bt[w * n + j]));
      counts[j] = cnt;
    }
    float* ci = c + i * ldc;
    for (int64_t jj = 0; jj < n; ++jj) ci[jj] = kf - 2.f * static_cast<float>(counts[jj]);
  }
}

// Packs `rows` rows of k floats (row r at x + r * ldx) into bits, word w of row r at
// out[r * row_step + w * word_step]: bit = (x >= 0), a vector compare and its mask bits per
// block of lanes. Returns false as soon as a row holds a value other than +-1 exactly
// (the rows packed so far stay written; the caller discards the result).
bool PackRowsPm1(const float* x, int64_t rows, int64_t k, int64_t ldx, uint64_t* out, int64_t row_step,
                 int64_t word_step) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));  // a power of two <= 64
  const auto zero = hn::Zero(d), one = hn::Set(d, 1.f), minus_one = hn::Set(d, -1.f);
  const int64_t words = packed_words(k);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    bool ok = true;
    for (int64_t w = 0; w < words; ++w) {
      const float* xw = xr + 64 * w;
      const int64_t count = std::min<int64_t>(64, k - 64 * w);
      uint64_t bits = 0;
      int64_t b = 0;
      for (; b + N <= count; b += N) {
        const auto v = hn::LoadU(d, xw + b);
        ok &= hn::AllTrue(d, hn::Or(hn::Eq(v, one), hn::Eq(v, minus_one)));
        uint8_t mask[8] = {};  // StoreMaskBits writes ceil(N / 8) bytes, lane 0 in bit 0
        hn::StoreMaskBits(d, hn::Ge(v, zero), mask);
        uint64_t chunk = 0;
        std::memcpy(&chunk, mask, static_cast<size_t>((N + 7) / 8));
        bits |= chunk << b;
      }
      for (; b < count; ++b) {  // the last count % N values
        const float v = xw[b];
        ok &= (v == 1.f) | (v == -1.f);
        bits |= static_cast<uint64_t>(v >= 0.f) << b;
      }
      out[r * row_step + w * word_step] = bits;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(XnorGemmRows);
HWY_EXPORT(PackRowsPm1);

namespace {
// Packs 64 (or fewer, at the end) floats into one word; `ok` clears if one is not +-1.
inline uint64_t pack_word(const float* x, int64_t count, bool& ok) {
  uint64_t bits = 0;
  bool good = true;
  for (int64_t b = 0; b < count; ++b) {
    const float v = x[b];
    good &= (v == 1.f) | (v == -1.f);
    bits |= static_cast<uint64_t>(v >= 0.f) << b;
  }
  ok &= good;
  return bits;
}
}  // namespace

bool pack_rows_pm1_ref(const float* x, int64_t m, int64_t k, uint64_t* a) {
  const int64_t words = packed_words(k);
  for (int64_t i = 0; i < m; ++i) {
    bool ok = true;
    for (int64_t w = 0; w < words; ++w)
      a[i * words + w] = pack_word(x + i * k + 64 * w, std::min<int64_t>(64, k - 64 * w), ok);
    if (!ok) return false;  // e.g. real-valued pixels: give up after one row
  }
  return true;
}

bool pack_rows_pm1(const float* x, int64_t m, int64_t k, uint64_t* a) {
  return HWY_DYNAMIC_DISPATCH(PackRowsPm1)(x, m, k, k, a, packed_words(k), 1);
}

namespace {
bool env_enabled() {
  const char* v = std::getenv("LOWBIT_XNOR");
  return !(v && std::string(v) == "0");
}
std::atomic<bool> g_binary_kernels{env_enabled()};
}  // namespace

void set_binary_kernels_enabled(bool on) { g_binary_kernels = on; }
bool binary_kernels_enabled() { return g_binary_kernels; }

bool pack_cols_pm1_ref(const float* wt, int64_t n, int64_t k, uint64_t* bt, int64_t j0, int64_t j1) {
  const int64_t words = packed_words(k);
  bool ok = true;
  for (int64_t j = j0; j < j1; ++j)
    for (int64_t w = 0; w < words; ++w)
      bt[w * n + j] = pack_word(wt + j * k + 64 * w, std::min<int64_t>(64, k - 64 * w), ok);
  return ok;
}

bool pack_cols_pm1(const float* wt, int64_t n, int64_t k, uint64_t* bt, int64_t j0, int64_t j1) {
  if (j1 <= j0) return true;
  return HWY_DYNAMIC_DISPATCH(PackRowsPm1)(wt + j0 * k, j1 - j0, k, k, bt + j0, 1, n);
}

bool pack_cols_pm1(const float* wt, int64_t n, int64_t k, uint64_t* bt) { return pack_cols_pm1(wt, n, k, bt, 0, n); }

void xnor_gemm(int64_t m, int64_t n, int64_t k, const uint64_t* a, const uint64_t* bt, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  // Per-thread scratch that only grows: no allocation once the widest layer has run.
  thread_local std::vector<uint64_t> counts;
  if (counts.size() < static_cast<size_t>(n)) counts.resize(static_cast<size_t>(n));
  HWY_DYNAMIC_DISPATCH(XnorGemmRows)(0, m, n, k, a, bt, c, ldc, counts.data());
}

void xnor_gemm_ref(int64_t m, int64_t n, int64_t k, const uint64_t* a, const uint64_t* bt, float* c, int64_t ldc) {
  const int64_t words = packed_words(k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t cnt = 0;
      for (int64_t w = 0; w < words; ++w) cnt += std::popcount(a[i * words + w] ^ bt[w * n + j]);
      c[i * ldc + j] = static_cast<float>(k - 2 * cnt);
    }
}

const char* xnor_gemm_target() {
  // Highway lists the targets compiled in and supported here, best first; dispatch picks
  // the first.
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  return targets.empty() ? "none" : hwy::TargetName(targets.front());
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
