// int_gemm_codes with Highway's run-time dispatch (one compile per SIMD target, see
// bit_gemm.cpp): the first convolution on 8-bit input codes. Its rows are short (a 3x3
// patch of a grey image is 9 codes) and 8 bits deep, where bit-planes waste most of each
// word; integer multiply-adds over the output channels (SIMD lanes = channels, the row's
// codes broadcast) do a fraction of the work there:
//   AVX-512 VNNI (Highway's AVX3_DL): VPDPBUSD, 4 taps of u8 code x s8 weight per lane;
//   other targets: int16 pairs, 2 taps per lane (x86 PMADDWD, NEON widening MLA);
//   scalar: plain loops.
// All exact in int32 (codes <= 255, |w| <= 32767; the int8 layout only when |w| <= 127).
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_int_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "lowbit/kernels/bit_sliced-inl.h"  // AddSliced, once per target

#include <algorithm>
#include <cstring>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

#ifndef LOWBIT_KERNELS_BIT_INT_GEMM_ONCE
#define LOWBIT_KERNELS_BIT_INT_GEMM_ONCE
namespace lowbit::kernels::int_detail {
struct IntArgs {
  int64_t k;
  const uint8_t* a;  // m rows of k codes, lda apart
  int64_t lda;
  const int16_t* w;  // IntMatrix::data(): tap pairs
  const int8_t* w8;  // IntMatrix::data8(): tap quads, or null
  const int32_t* bias;
  int64_t n_pad;
  int64_t jhi;       // columns past jhi are not this call's
  int32_t* c;        // int32 sums, ldc apart ...
  int64_t ldc;
  const int32_t* thr;  // ... or, with out, codes #{l : sum >= thr[j * levels + l]} as bit-planes of
  uint64_t* out;       // m rows of out_words words, plane b at out + b * m * out_words
  int64_t out_words;
  int levels;
  int64_t m;
  const int32_t* tt;   // more than one level: the current 64-column word's thresholds, tt[l * 64 + j % 64]
};
constexpr int kMaxLevels = 15;
}  // namespace lowbit::kernels::int_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using int_detail::IntArgs;

constexpr int64_t kVecs = 4;  // vectors of outputs per block

#if HWY_TARGET == HWY_SCALAR
void IntGemmImpl(int64_t m, const IntArgs& g, int64_t jlo) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = jlo; j < g.jhi; ++j) {
      uint32_t sum = static_cast<uint32_t>(g.bias[j]);  // wraps like the SIMD lanes
      for (int64_t t = 0; t < g.k; ++t)
        sum += static_cast<uint32_t>(int32_t{g.a[i * g.lda + t]} * g.w[((t / 2) * g.n_pad + j) * 2 + t % 2]);
      if (!g.out) {
        g.c[i * g.ldc + j] = static_cast<int32_t>(sum);
        continue;
      }
      uint32_t code = 0;
      for (int l = 0; l < g.levels; ++l) code += static_cast<int32_t>(sum) >= g.thr[j * g.levels + l];
      for (int b = 0; b < threshold_bits(g.levels); ++b) {
        uint64_t& word = g.out[(b * g.m + i) * g.out_words + j / 64];
        const uint64_t bit = static_cast<uint64_t>((code >> b) & 1) << (j % 64);
        word = j % 64 == 0 ? bit : word | bit;
      }
    }
}
#else
using D32 = hn::ScalableTag<int32_t>;
using V32 = hn::Vec<D32>;
constexpr int kRows = 2;  // rows per block: each weight load feeds kRows chains

// Codes of a block (levels > 1, kBits = threshold_bits(levels)): per level the lanes'
// "acc < t_l" masks as the block's bits, the codes counted bit-sliced from the passing bits
// (AddSliced into kBits 64-bit words: one pass per level, not per lane).
template <int kV, int kBits>
HWY_INLINE void StoreCodes(const IntArgs& g, int64_t i, int64_t j0, V32 (&sum)[kV]) {
  const D32 d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  V32 acc[kV];
#pragma GCC unroll 4
  for (int v = 0; v < kV; ++v) acc[v] = hn::Add(sum[v], hn::LoadU(d, g.bias + j0 + v * L));
  uint64_t pb[kBits] = {};
  for (int l = 0; l < g.levels; ++l) {
    uint64_t fail = 0;
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      uint8_t mask[8] = {};
      hn::StoreMaskBits(d, hn::Lt(acc[v], hn::LoadU(d, g.tt + l * 64 + (j0 + v * L) % 64)), mask);
      uint64_t mb = 0;
      std::memcpy(&mb, mask, sizeof(mb));
      fail |= mb << (v * L);
    }
    const uint64_t pass = ~fail;  // a block spans at most 64 columns; bits past it are masked below
    AddSliced(pb, kBits, &pass, 1);
  }
  const int64_t valid = std::min<int64_t>(kV * L, g.jhi - j0);
#pragma GCC unroll 4
  for (int b = 0; b < kBits; ++b) {
    uint64_t bits = pb[b];
    if (valid < 64) bits &= (uint64_t{1} << valid) - 1;
    uint64_t& word = g.out[(b * g.m + i) * g.out_words + j0 / 64];
    word = j0 % 64 == 0 ? bits << (j0 % 64) : word | (bits << (j0 % 64));
  }
}

// A block's sums (+ bias) to C, or thresholded into bits: bit (i, j) goes to bit j % 64 of
// word j / 64 of out's row i; a block (kV * L <= 64 columns) starts its word or is ORed
// into it; columns past jhi are not written (bits: 0).
template <int kV>
HWY_INLINE void StoreBlock(const IntArgs& g, int64_t i, int64_t j0, V32 (&sum)[kV]) {
  const D32 d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  if (g.out && g.levels > 1) {
    switch (threshold_bits(g.levels)) {
      case 2: return StoreCodes<kV, 2>(g, i, j0, sum);
      case 3: return StoreCodes<kV, 3>(g, i, j0, sum);
      default: static_assert(int_detail::kMaxLevels < 16, "codes of up to 4 bits"); return StoreCodes<kV, 4>(g, i, j0, sum);
    }
  }
  if (g.out) {
    uint64_t bits = 0;
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      const int64_t j = j0 + v * L;
      const V32 acc = hn::Add(sum[v], hn::LoadU(d, g.bias + j));
      uint8_t mask[8] = {};
      hn::StoreMaskBits(d, hn::Not(hn::Lt(acc, hn::LoadU(d, g.thr + j))), mask);  // acc >= t
      uint64_t m = 0;
      std::memcpy(&m, mask, sizeof(m));
      bits |= m << (v * L);
    }
    const int64_t valid = std::min<int64_t>(kV * L, g.jhi - j0);
    if (valid < 64) bits &= (uint64_t{1} << valid) - 1;
    uint64_t& word = g.out[i * g.out_words + j0 / 64];
    word = j0 % 64 == 0 ? bits << (j0 % 64) : word | (bits << (j0 % 64));
    return;
  }
  int32_t* ci = g.c + i * g.ldc;
#pragma GCC unroll 4
  for (int v = 0; v < kV; ++v) {
    const int64_t j = j0 + v * L;
    const V32 acc = hn::Add(sum[v], hn::LoadU(d, g.bias + j));
    if (j + L <= g.jhi) {
      hn::StoreU(acc, d, ci + j);
    } else if (j < g.jhi) {  // the last partial vector: only this call's outputs are written
      int32_t tmp[64];
      hn::StoreU(acc, d, tmp);
      std::memcpy(ci + j, tmp, static_cast<size_t>(g.jhi - j) * sizeof(int32_t));
    }
  }
}

// kRows rows x kV vectors of outputs, all in registers (fully unrolled: a runtime count
// here made the compiler keep the sums in memory). Taps in int16 pairs.
template <int kV>
HWY_NOINLINE void IntBlock(const IntArgs& g, int64_t i0, int rows, int64_t j0) {
  const D32 d;
  const hn::Repartition<int16_t, D32> d16;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), pairs = (g.k + 1) / 2;
  const uint8_t* arow[kRows];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) arow[r] = g.a + (i0 + std::min(r, rows - 1)) * g.lda;  // short block: last row again
  V32 sum0[kRows][kV], sum1[kRows][kV];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) sum0[r][v] = sum1[r][v] = hn::Zero(d);
  for (int64_t t2 = 0; t2 < pairs; ++t2) {
    const int16_t* wt = g.w + (t2 * g.n_pad + j0) * 2;
    const bool odd_tail = 2 * t2 + 1 >= g.k;
    hn::Vec<decltype(d16)> x[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      const uint32_t hi = odd_tail ? 0u : arow[r][2 * t2 + 1];
      x[r] = hn::BitCast(d16, hn::Set(d, static_cast<int32_t>(arow[r][2 * t2] | (hi << 16))));
    }
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      const auto wv = hn::LoadU(d16, wt + v * 2 * L);
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) sum0[r][v] = hn::ReorderWidenMulAccumulate(d, x[r], wv, sum0[r][v], sum1[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    V32 sum[kV];
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) sum[v] = hn::RearrangeToOddPlusEven(sum0[r][v], sum1[r][v]);
    StoreBlock<kV>(g, i0 + r, j0, sum);
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// Taps in quads: VPDPBUSD adds 4 products of u8 codes and s8 weights to each int32 lane.
// Highway's AVX3_DL target requires AVX512-VNNI of the CPU but does not name it in its
// compile flags, so this function adds it.
template <int kV>
__attribute__((target("avx512vnni"))) HWY_NOINLINE void IntBlockVnni(const IntArgs& g, int64_t i0, int rows,
                                                                     int64_t j0) {
  const D32 d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), quads = (g.k + 3) / 4;
  const uint8_t* arow[kRows];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) arow[r] = g.a + (i0 + std::min(r, rows - 1)) * g.lda;
  V32 sum[kRows][kV];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) sum[r][v] = hn::Zero(d);
  for (int64_t t4 = 0; t4 < quads; ++t4) {
    const int8_t* wt = g.w8 + (t4 * g.n_pad + j0) * 4;
    const int64_t have = std::min<int64_t>(4, g.k - 4 * t4);  // codes past k are not this row's
    V32 x[kRows];
#pragma GCC unroll 4
    for (int r = 0; r < kRows; ++r) {
      uint32_t q = 0;
      if (have == 4)
        std::memcpy(&q, arow[r] + 4 * t4, 4);  // a fixed size: one load, not a libc call
      else
        for (int64_t b = 0; b < have; ++b) q |= uint32_t{arow[r][4 * t4 + b]} << (8 * b);
      x[r] = hn::Set(d, static_cast<int32_t>(q));
    }
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      const V32 wv = hn::LoadU(d, reinterpret_cast<const int32_t*>(wt + v * 4 * L));
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) sum[r][v] = V32{_mm512_dpbusd_epi32(sum[r][v].raw, x[r].raw, wv.raw)};
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
    StoreBlock<kV>(g, i0 + r, j0, sum[r]);
  }
}
#endif

template <int kV>
void Block(const IntArgs& g, int64_t i0, int rows, int64_t j0) {
#if HWY_TARGET == HWY_AVX3_DL
  if (g.w8) return IntBlockVnni<kV>(g, i0, rows, j0);
#endif
  IntBlock<kV>(g, i0, rows, j0);
}

void IntGemmImpl(int64_t m, const IntArgs& args, int64_t jlo) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(D32()));
  IntArgs g = args;
  alignas(64) int32_t tt[int_detail::kMaxLevels * 64];
  g.tt = tt;
  for (int64_t j0 = jlo; j0 < g.jhi; j0 += kVecs * L) {
    if (g.out && g.levels > 1 && j0 % 64 == 0)  // a new output word: its thresholds level-major
      for (int l = 0; l < g.levels; ++l)
        for (int64_t c = 0; c < 64; ++c) tt[l * 64 + c] = j0 + c < g.jhi ? g.thr[(j0 + c) * g.levels + l] : INT32_MAX;
    const int64_t vecs = std::min<int64_t>(kVecs, (g.n_pad - j0) / L);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
      switch (vecs) {
        case 1: Block<1>(g, i0, rows, j0); break;
        case 2: Block<2>(g, i0, rows, j0); break;
        case 3: Block<3>(g, i0, rows, j0); break;
        default: Block<4>(g, i0, rows, j0); break;
      }
    }
  }
}
#endif

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(IntGemmImpl);

IntMatrix::IntMatrix(const int32_t* rows, const int32_t* bias, int64_t n, int64_t k)
    : n_(n), k_(k), n_pad_((n + kPad - 1) / kPad * kPad) {
  LOWBIT_CHECK(n >= 0 && k >= 0, "IntMatrix: bad shape ", n, " x ", k);
  const int64_t pairs = (k + 1) / 2, quads = (k + 3) / 4;
  w_.assign(static_cast<size_t>(pairs * n_pad_ * 2), 0);
  w8_.assign(static_cast<size_t>(quads * n_pad_ * 4), 0);
  bias_.assign(static_cast<size_t>(n_pad_), 0);
  bool fits8 = true;
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t t = 0; t < k; ++t) {
      const int32_t v = rows[j * k + t];
      LOWBIT_CHECK(v >= -32767 && v <= 32767, "IntMatrix: weight ", v, " does not fit int16");
      w_[static_cast<size_t>(((t / 2) * n_pad_ + j) * 2 + t % 2)] = static_cast<int16_t>(v);
      fits8 = fits8 && v >= -127 && v <= 127;
      w8_[static_cast<size_t>(((t / 4) * n_pad_ + j) * 4 + t % 4)] = static_cast<int8_t>(std::clamp(v, -127, 127));
    }
    if (bias) bias_[static_cast<size_t>(j)] = bias[j];
  }
  if (!fits8) w8_.clear();
}

namespace {
void check_columns(const char* what, const IntMatrix& w, int64_t j0, int64_t& j1) {
  if (j1 < 0) j1 = w.rows();
  LOWBIT_CHECK(0 <= j0 && j0 <= j1 && j1 <= w.rows() && j0 % 64 == 0, what, ": columns [", j0, ", ", j1,
               ") are not a word-aligned range of the ", w.rows(), " outputs");
}

int_detail::IntArgs args(const uint8_t* a, int64_t lda, const IntMatrix& w, int64_t j1) {
  return {w.cols(), a, lda, w.data(), w.data8(), w.bias(), w.padded_rows(), j1, nullptr, 0, nullptr, nullptr, 0, 1, 0,
          nullptr};
}
}  // namespace

void int_gemm_codes(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, int32_t* c, int64_t ldc, int64_t j0,
                    int64_t j1) {
  LOWBIT_CHECK(m >= 0 && lda >= w.cols() && ldc >= w.rows(), "int_gemm_codes: m = ", m, ", lda = ", lda, ", ldc = ",
               ldc, " for ", w.rows(), " x ", w.cols(), " weights");
  check_columns("int_gemm_codes", w, j0, j1);
  if (m == 0 || j0 == j1) return;
  auto g = args(a, lda, w, j1);
  g.c = c, g.ldc = ldc;
  HWY_DYNAMIC_DISPATCH(IntGemmImpl)(m, g, j0);
}

void int_gemm_codes_threshold(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, const int32_t* thr,
                              uint64_t* out, int64_t j0, int64_t j1, int levels) {
  LOWBIT_CHECK(m >= 0 && lda >= w.cols(), "int_gemm_codes_threshold: m = ", m, ", lda = ", lda, " for ", w.rows(),
               " x ", w.cols(), " weights");
  LOWBIT_CHECK(levels >= 1 && levels <= int_detail::kMaxLevels, "int_gemm_codes_threshold: ", levels,
               " threshold levels (1..", int_detail::kMaxLevels, ")");
  check_columns("int_gemm_codes_threshold", w, j0, j1);
  if (m == 0 || j0 == j1) return;
  auto g = args(a, lda, w, j1);
  g.thr = thr, g.out = out, g.out_words = packed_words(w.rows()), g.levels = levels, g.m = m;
  HWY_DYNAMIC_DISPATCH(IntGemmImpl)(m, g, j0);
}

void int_gemm_codes_ref(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda, const int32_t* w,
                        const int32_t* bias, int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = bias ? bias[j] : 0;
      for (int64_t t = 0; t < k; ++t) sum += int64_t{a[i * lda + t]} * w[j * k + t];
      c[i * ldc + j] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(sum)));  // wraps like int32
    }
}

void int_gemm_codes_threshold_ref(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda, const int32_t* w,
                                  const int32_t* bias, const int32_t* thr, uint64_t* out, int levels) {
  std::vector<int32_t> acc(static_cast<size_t>(m * n));
  int_gemm_codes_ref(m, n, k, a, lda, w, bias, acc.data(), n);
  threshold_planes_ref(m, n, acc.data(), n, levels, thr, out);
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
