// bgemm_pm1 / bgemm_planes with Highway's run-time dispatch: this file is compiled once
// per SIMD target (foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH picks the
// best target the CPU supports, once per call.
//
// The inner kernel is a register tile of R activation rows x kTile weight columns
// (BinaryMatrix keeps 32 columns word-major, so one broadcast activation word meets
// kTile consecutive weight words): per word, R broadcasts, kTile / lanes aligned loads and
// R * kTile / lanes XOR + popcount + add, counts accumulating in u64 lanes, one lane per
// output. AVX-512 with VPOPCNTDQ (Highway's AVX3_DL, e.g. Zen 4, Ice Lake) counts with
// VPOPCNTQ; the other targets count bytes (nibble table lookups, or NEON's CNT) into u8
// lanes and widen them with SumsOf8 every 31 words; the scalar target uses std::popcount.
// Activation planes (bgemm_planes) run inside the tile, top plane first, doubling the
// accumulators in between, so sum_b 2^b counts_b never leaves the registers. The tile's
// counts go to a small stack buffer and one vector epilogue turns them into int32 outputs.
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "lowbit/kernels/bit_sliced-inl.h"  // AddSliced, once per target

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

#ifndef LOWBIT_KERNELS_BIT_GEMM_ONCE
#define LOWBIT_KERNELS_BIT_GEMM_ONCE
namespace lowbit::kernels::bit_detail {
static_assert(std::endian::native == std::endian::little, "the epilogue reads the low halves of u64 counts");
struct GemmArgs {
  int64_t m, k, words;
  int planes;          // 0: bgemm_pm1 (XOR counts); >= 1: bgemm_planes
  const uint64_t* a;   // activations (planes: plane b at a + b * m * words)
  const uint64_t* w;   // BinaryMatrix::data()
  const int32_t* pw;   // BinaryMatrix::row_popcounts()
  int32_t coef;
  bool accumulate;
  int32_t* c;
  int64_t ldc, j0, j1;
  // Fused threshold output (c unused): bit (i, j) = (dot >= thr[j]) into packed rows of
  // out_words words; j0, j1 on word boundaries (or j1 = n), coef 1, no accumulate.
  const int32_t* thr = nullptr;
  uint64_t* out = nullptr;
  int64_t out_words = 0;
};
// bgemm_codes: several +-1 weight planes with coefficients, an optional per-column
// offset and up to kMaxCodeLevels thresholds per column, the codes written as bit-planes.
constexpr int kMaxWeightPlanes = 8;
constexpr int kMaxCodeLevels = 15;
struct CodesArgs {
  int64_t m, k, words, n;
  int planes;  // 0: +-1 rows (XOR counts); >= 1: unsigned code planes
  const uint64_t* a;
  int wplanes;
  const uint64_t* w[kMaxWeightPlanes];   // BinaryMatrix::data() of each weight plane
  const int32_t* pw[kMaxWeightPlanes];   // and its row_popcounts()
  int32_t coef[kMaxWeightPlanes];
  const int32_t* offset;  // per column, or null
  int levels;
  const int32_t* thr;     // thr[j * levels + l], columns j < n
  uint64_t* out;          // plane b at out + b * m * out_words
  int64_t out_words, j0, j1;
};
}  // namespace lowbit::kernels::bit_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using bit_detail::CodesArgs;
using bit_detail::GemmArgs;

constexpr int64_t kBlock = BinaryMatrix::kBlock;
constexpr int64_t kLanes = static_cast<int64_t>(HWY_LANES(uint64_t));

#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
#define LOWBIT_BIT_GEMM_SCALAR 1
constexpr int kRows = 2;
constexpr int64_t kTile = 4;  // columns per tile
#elif HWY_TARGET == HWY_AVX3_DL
#undef LOWBIT_BIT_GEMM_SCALAR
constexpr int kRows = 4;
constexpr int kVecs = 4;
constexpr int64_t kTile = kVecs * kLanes;
#else
#undef LOWBIT_BIT_GEMM_SCALAR
constexpr int kRows = 2;
constexpr int kVecs = 4;
constexpr int64_t kTile = kVecs * kLanes;
#endif
static_assert(kBlock % kTile == 0, "a tile must not straddle two column blocks");

// tot[r * kTile + col] = sum_b 2^b counts_b(r, col) over planes b < planes, with
// counts_b(r, col) = sum over words of popcount(row[w] XOR wt[w * kBlock + col]) and
// row = a + b * plane_stride + r * lda. Planes go from the top one down, doubling the
// accumulators in between (Horner), so they never leave the registers.
#ifdef LOWBIT_BIT_GEMM_SCALAR
template <int R>
void CountTile(const uint64_t* HWY_RESTRICT a, int64_t lda, int64_t plane_stride, int planes,
               const uint64_t* HWY_RESTRICT wt, int64_t words, uint64_t* HWY_RESTRICT tot) {
  uint64_t acc[R][kTile] = {};
  for (int b = planes - 1; b >= 0; --b) {
    for (int r = 0; r < R; ++r)
      for (int64_t c = 0; c < kTile; ++c) acc[r][c] <<= 1;
    const uint64_t* ab = a + b * plane_stride;
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t* wp = wt + w * kBlock;
      for (int r = 0; r < R; ++r) {
        const uint64_t x = ab[r * lda + w];
        for (int64_t c = 0; c < kTile; ++c) acc[r][c] += static_cast<uint64_t>(std::popcount(x ^ wp[c]));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t c = 0; c < kTile; ++c) tot[r * kTile + c] = acc[r][c];
}
#else
using D64 = hn::ScalableTag<uint64_t>;
using V64 = hn::Vec<D64>;

template <int R>
HWY_INLINE void ZeroTile(V64 (&acc)[R][kVecs]) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < kVecs; ++c) acc[r][c] = hn::Zero(D64());
}
template <int R>
HWY_INLINE void DoubleTile(V64 (&acc)[R][kVecs]) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < kVecs; ++c) acc[r][c] = hn::Add(acc[r][c], acc[r][c]);
}
template <int R>
HWY_INLINE void StoreTile(V64 (&acc)[R][kVecs], uint64_t* HWY_RESTRICT tot) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < kVecs; ++c) hn::Store(acc[r][c], D64(), tot + r * kTile + c * kLanes);
}

#if HWY_TARGET == HWY_AVX3_DL
template <int R>
HWY_INLINE void CountLoop(const uint64_t* HWY_RESTRICT a, int64_t lda, int64_t plane_stride, int planes,
                          const uint64_t* HWY_RESTRICT wt, int64_t words, V64 (&acc)[R][kVecs]) {
  const D64 d;
  ZeroTile<R>(acc);
  for (int b = planes - 1; b >= 0; --b) {
    if (b != planes - 1) DoubleTile<R>(acc);
    const uint64_t* ab = a + b * plane_stride;
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t* wp = wt + w * kBlock;
      V64 wv[kVecs];
#pragma GCC unroll 16
      for (int c = 0; c < kVecs; ++c) wv[c] = hn::Load(d, wp + c * kLanes);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const V64 x = hn::Set(d, ab[r * lda + w]);
#pragma GCC unroll 16
        for (int c = 0; c < kVecs; ++c) acc[r][c] = hn::Add(acc[r][c], hn::PopulationCount(hn::Xor(x, wv[c])));
      }
    }
  }
}

template <int R>
HWY_NOINLINE void CountTile(const uint64_t* HWY_RESTRICT a, int64_t lda, int64_t plane_stride, int planes,
                            const uint64_t* HWY_RESTRICT wt, int64_t words, uint64_t* HWY_RESTRICT tot) {
  V64 acc[R][kVecs];
  CountLoop<R>(a, lda, plane_stride, planes, wt, words, acc);
  StoreTile<R>(acc, tot);
}

// The fused threshold straight from the registers: bit (r, col) = (count <= lim[col]),
// lim from ThresholdLimits; bits[r] gets the tile's kTile bits.
template <int R>
HWY_NOINLINE void CountTileBits(const uint64_t* HWY_RESTRICT a, int64_t lda, int64_t plane_stride, int planes,
                                const uint64_t* HWY_RESTRICT wt, int64_t words, const V64 (&lim)[kVecs],
                                uint64_t* HWY_RESTRICT bits) {
  const hn::Repartition<int64_t, D64> di;
  V64 acc[R][kVecs];
  CountLoop<R>(a, lda, plane_stride, planes, wt, words, acc);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    uint64_t b = 0;
#pragma GCC unroll 16
    for (int c = 0; c < kVecs; ++c) {
      const auto over = hn::Lt(hn::BitCast(di, lim[c]), hn::BitCast(di, acc[r][c]));  // count > lim
      uint8_t m[8] = {};
      hn::StoreMaskBits(di, hn::Not(over), m);
      b |= static_cast<uint64_t>(m[0]) << (c * kLanes);
    }
    bits[r] = b;
  }
}
#else
// Byte counts: at most 8 per word and lane, so u8 lanes hold 31 words before widening.
template <int R>
HWY_NOINLINE void CountTile(const uint64_t* HWY_RESTRICT a, int64_t lda, int64_t plane_stride, int planes,
                            const uint64_t* HWY_RESTRICT wt, int64_t words, uint64_t* HWY_RESTRICT tot) {
  const D64 d;
  const hn::Repartition<uint8_t, D64> d8;
  using V8 = hn::Vec<decltype(d8)>;
  V64 acc[R][kVecs];
  ZeroTile<R>(acc);
  for (int b = planes - 1; b >= 0; --b) {
    if (b != planes - 1) DoubleTile<R>(acc);
    const uint64_t* ab = a + b * plane_stride;
    for (int64_t w0 = 0; w0 < words; w0 += 31) {
      const int64_t w1 = std::min<int64_t>(words, w0 + 31);
      V8 acc8[R][kVecs];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int c = 0; c < kVecs; ++c) acc8[r][c] = hn::Zero(d8);
      for (int64_t w = w0; w < w1; ++w) {
        const uint64_t* wp = wt + w * kBlock;
        V8 wv[kVecs];
#pragma GCC unroll 16
        for (int c = 0; c < kVecs; ++c) wv[c] = hn::BitCast(d8, hn::Load(d, wp + c * kLanes));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const V8 x = hn::BitCast(d8, hn::Set(d, ab[r * lda + w]));
#pragma GCC unroll 16
          for (int c = 0; c < kVecs; ++c)
            acc8[r][c] = hn::Add(acc8[r][c], hn::PopulationCount(hn::Xor(x, wv[c])));
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int c = 0; c < kVecs; ++c) acc[r][c] = hn::Add(acc[r][c], hn::SumsOf8(acc8[r][c]));
    }
  }
  StoreTile<R>(acc, tot);
}
#endif
#endif

void CountRows(int rows, const uint64_t* a, int64_t lda, int64_t plane_stride, int planes, const uint64_t* wt,
               int64_t words, uint64_t* tot) {
  static_assert(kRows <= 4, "CountRows instantiates up to 4 rows");
  switch (rows) {
    case 1: return CountTile<1>(a, lda, plane_stride, planes, wt, words, tot);
    case 2: return CountTile<2>(a, lda, plane_stride, planes, wt, words, tot);
#if HWY_TARGET == HWY_AVX3_DL
    case 3: return CountTile<3>(a, lda, plane_stride, planes, wt, words, tot);
    case 4: return CountTile<4>(a, lda, plane_stride, planes, wt, words, tot);
#endif
    default: return;
  }
}

// Rows [i0, i0 + rows) and the tile's columns [jt, jt + kTile) clipped to [j0, j1):
// C (+)= coef * dot from the counts in tot. pm1: dot = k - 2 cnt. planes (XOR counts of
// 0/1 codes against +-1 weights): 2 popcount(a AND w) - popcount(a) = popcount(w) -
// popcount(a XOR w), so dot = (2^p - 1) popcount(w) - sum_b 2^b popcount(a_b XOR w).
// Counts and results wrap like int32 (the low halves of the u64 counts).
// Threshold output: the tile's kTile bits go to bits [jt % 64, + kTile) of word jt / 64
// (kTile divides 64): the word's first tile writes it, later ones OR into it, columns past
// n stay 0.
HWY_INLINE void PutBits(const GemmArgs& g, int64_t i, int64_t jt, uint64_t bits) {
  const int64_t valid = std::min<int64_t>(kTile, g.j1 - jt);
  if (valid < 64) bits &= (uint64_t{1} << valid) - 1;
  uint64_t* word = g.out + i * g.out_words + jt / 64;
  *word = jt % 64 == 0 ? bits << (jt % 64) : *word | (bits << (jt % 64));
}

#ifdef LOWBIT_BIT_GEMM_SCALAR
void Epilogue(const GemmArgs& g, int64_t i0, int rows, int64_t jt, const uint64_t* HWY_RESTRICT tot) {
  const int64_t lo = std::max(jt, g.j0), hi = std::min(jt + kTile, g.j1);
  const uint32_t maxcode = static_cast<uint32_t>((int64_t{1} << g.planes) - 1);
  if (g.out) {
    for (int r = 0; r < rows; ++r) {
      uint64_t bits = 0;
      for (int64_t j = lo; j < hi; ++j) {
        const uint32_t cnt = static_cast<uint32_t>(tot[r * kTile + (j - jt)]);
        const uint32_t dot = g.planes == 0 ? static_cast<uint32_t>(g.k) - 2 * cnt
                                           : maxcode * static_cast<uint32_t>(g.pw[j]) - cnt;
        bits |= static_cast<uint64_t>(static_cast<int32_t>(dot) >= g.thr[j]) << (j - jt);
      }
      PutBits(g, i0 + r, jt, bits);
    }
    return;
  }
  for (int r = 0; r < rows; ++r) {
    int32_t* ci = g.c + (i0 + r) * g.ldc;
    for (int64_t j = lo; j < hi; ++j) {
      const uint32_t cnt = static_cast<uint32_t>(tot[r * kTile + (j - jt)]);
      const uint32_t dot = g.planes == 0 ? static_cast<uint32_t>(g.k) - 2 * cnt
                                         : maxcode * static_cast<uint32_t>(g.pw[j]) - cnt;
      const uint32_t v = dot * static_cast<uint32_t>(g.coef);
      ci[j] = static_cast<int32_t>(g.accumulate ? static_cast<uint32_t>(ci[j]) + v : v);
    }
  }
}
using EpilogueFn = void (*)(const GemmArgs&, int64_t, int, int64_t, const uint64_t*);
EpilogueFn PickEpilogue(const GemmArgs&) { return Epilogue; }
#else
// Two u64 count vectors become one full int32 vector (ConcatEven of the low halves).
template <bool kPm1, bool kScale, bool kAccumulate>
void EpilogueT(const GemmArgs& g, int64_t i0, int rows, int64_t jt, const uint64_t* HWY_RESTRICT tot) {
  const hn::ScalableTag<uint32_t> du;
  const hn::ScalableTag<int32_t> di;
  constexpr int64_t L = 2 * kLanes;  // int32 lanes
  static_assert(kTile % L == 0, "the tile holds whole int32 vectors");
  const int64_t lo = std::max(jt, g.j0), hi = std::min(jt + kTile, g.j1);
  const auto coef = hn::Set(di, g.coef);
  const auto kvec = hn::Set(di, static_cast<int32_t>(g.k));
  const auto maxcode = hn::Set(di, static_cast<int32_t>((int64_t{1} << g.planes) - 1));
  for (int r = 0; r < rows; ++r) {
    int32_t* ci = g.c + (i0 + r) * g.ldc;
    const uint32_t* counts = reinterpret_cast<const uint32_t*>(tot + r * kTile);  // little-endian: low half first
    for (int64_t j = jt; j < jt + kTile; j += L) {
      if (j + L <= lo || j >= hi) continue;
      const uint32_t* p = counts + 2 * (j - jt);
      const auto cnt = hn::BitCast(di, hn::ConcatEven(du, hn::Load(du, p + L), hn::Load(du, p)));
      auto res = kPm1 ? hn::Sub(kvec, hn::Add(cnt, cnt)) : hn::Sub(hn::Mul(hn::LoadU(di, g.pw + j), maxcode), cnt);
      if (kScale) res = hn::Mul(res, coef);
      if (HWY_LIKELY(j >= lo && j + L <= hi)) {
        if (kAccumulate) res = hn::Add(res, hn::LoadU(di, ci + j));
        hn::StoreU(res, di, ci + j);
      } else {
        alignas(64) int32_t tmp[L];
        hn::Store(res, di, tmp);
        for (int64_t jj = std::max(j, lo); jj < std::min(j + L, hi); ++jj) {
          const uint32_t v = static_cast<uint32_t>(tmp[jj - j]);
          ci[jj] = static_cast<int32_t>(kAccumulate ? static_cast<uint32_t>(ci[jj]) + v : v);
        }
      }
    }
  }
}

// Threshold output: dot >= thr as mask bits, one tile row at a time.
template <bool kPm1>
void EpilogueThreshold(const GemmArgs& g, int64_t i0, int rows, int64_t jt, const uint64_t* HWY_RESTRICT tot) {
  const hn::ScalableTag<uint32_t> du;
  const hn::ScalableTag<int32_t> di;
  constexpr int64_t L = 2 * kLanes;  // int32 lanes
  const auto kvec = hn::Set(di, static_cast<int32_t>(g.k));
  const auto maxcode = hn::Set(di, static_cast<int32_t>((int64_t{1} << g.planes) - 1));
  for (int r = 0; r < rows; ++r) {
    const uint32_t* counts = reinterpret_cast<const uint32_t*>(tot + r * kTile);
    uint64_t bits = 0;
    for (int64_t j = jt; j < jt + kTile; j += L) {
      const uint32_t* p = counts + 2 * (j - jt);
      const auto cnt = hn::BitCast(di, hn::ConcatEven(du, hn::Load(du, p + L), hn::Load(du, p)));
      const auto dot = kPm1 ? hn::Sub(kvec, hn::Add(cnt, cnt)) : hn::Sub(hn::Mul(hn::LoadU(di, g.pw + j), maxcode), cnt);
      uint8_t mask[8] = {};
      hn::StoreMaskBits(di, hn::Not(hn::Lt(dot, hn::LoadU(di, g.thr + j))), mask);  // dot >= t
      uint64_t m = 0;
      std::memcpy(&m, mask, sizeof(m));
      bits |= m << (j - jt);
    }
    PutBits(g, i0 + r, jt, bits);
  }
}

using EpilogueFn = void (*)(const GemmArgs&, int64_t, int, int64_t, const uint64_t*);
EpilogueFn PickEpilogue(const GemmArgs& g) {
  if (g.out) return g.planes == 0 ? EpilogueThreshold<true> : EpilogueThreshold<false>;
  static constexpr EpilogueFn kFns[8] = {EpilogueT<false, false, false>, EpilogueT<false, false, true>,
                                         EpilogueT<false, true, false>,  EpilogueT<false, true, true>,
                                         EpilogueT<true, false, false>,  EpilogueT<true, false, true>,
                                         EpilogueT<true, true, false>,   EpilogueT<true, true, true>};
  return kFns[(g.planes == 0) * 4 + (g.coef != 1) * 2 + g.accumulate];
}
#endif

// Fewer rows than a tile with several activation planes (batch-1 latency): plane b of
// row i is packed row b * m + i, so the m * planes rows are counted as XOR rows in full
// tiles (one pass over the weights instead of one per plane with a mostly empty tile)
// and combined per tile as sum_b 2^b counts_b.
void BgemmFewRows(const GemmArgs& g, EpilogueFn epilogue) {
  alignas(64) uint64_t tot[kRows * kTile];
  alignas(64) uint64_t sum[kRows * kTile];
  const int64_t all = g.m * g.planes;
  for (int64_t jb = g.j0 / kBlock; jb * kBlock < g.j1; ++jb) {
    const uint64_t* wblock = g.w + jb * g.words * kBlock;
    for (int64_t jt = jb * kBlock; jt < (jb + 1) * kBlock && jt < g.j1; jt += kTile) {
      if (jt + kTile <= g.j0) continue;
      std::fill(sum, sum + g.m * kTile, uint64_t{0});
      for (int64_t r0 = 0; r0 < all; r0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, all - r0));
        CountRows(rows, g.a + r0 * g.words, g.words, 0, 1, wblock + (jt - jb * kBlock), g.words, tot);
        for (int r = 0; r < rows; ++r) {
          const int64_t i = (r0 + r) % g.m, b = (r0 + r) / g.m;
          for (int64_t c = 0; c < kTile; ++c) sum[i * kTile + c] += tot[r * kTile + c] << b;
        }
      }
      epilogue(g, 0, static_cast<int>(g.m), jt, sum);
    }
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// dot >= t as a bound on the XOR count of each column: pm1, dot = k - 2 cnt, so
// cnt <= floor((k - t) / 2); planes, dot = (2^p - 1) popcount(w) - cnt, so
// cnt <= (2^p - 1) popcount(w) - t. In int64: no overflow for any int32 t.
HWY_INLINE void ThresholdLimits(const GemmArgs& g, int64_t jt, V64 (&lim)[kVecs]) {
  const hn::Repartition<int64_t, D64> di;
  const hn::Rebind<int32_t, decltype(di)> d32;
  const auto maxcode = hn::Set(di, (int64_t{1} << g.planes) - 1);
#pragma GCC unroll 16
  for (int c = 0; c < kVecs; ++c) {
    const auto t = hn::PromoteTo(di, hn::LoadU(d32, g.thr + jt + c * kLanes));
    const auto l = g.planes == 0 ? hn::ShiftRight<1>(hn::Sub(hn::Set(di, g.k), t))
                                 : hn::Sub(hn::Mul(hn::PromoteTo(di, hn::LoadU(d32, g.pw + jt + c * kLanes)), maxcode), t);
    lim[c] = hn::BitCast(D64(), l);
  }
}

void BgemmBits(const GemmArgs& g) {
  const int planes = std::max(1, g.planes);
  uint64_t bits[kRows];
  for (int64_t jt = g.j0; jt < g.j1; jt += kTile) {
    const uint64_t* wt = g.w + (jt / kBlock) * g.words * kBlock + jt % kBlock;
    V64 lim[kVecs];
    ThresholdLimits(g, jt, lim);
    for (int64_t i0 = 0; i0 < g.m; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, g.m - i0));
      const uint64_t* a = g.a + i0 * g.words;
      switch (rows) {
        case 1: CountTileBits<1>(a, g.words, g.m * g.words, planes, wt, g.words, lim, bits); break;
        case 2: CountTileBits<2>(a, g.words, g.m * g.words, planes, wt, g.words, lim, bits); break;
        case 3: CountTileBits<3>(a, g.words, g.m * g.words, planes, wt, g.words, lim, bits); break;
        default: CountTileBits<4>(a, g.words, g.m * g.words, planes, wt, g.words, lim, bits); break;
      }
      for (int r = 0; r < rows; ++r) PutBits(g, i0 + r, jt, bits[r]);
    }
  }
}
#endif

void BgemmImpl(const GemmArgs& g) {
  alignas(64) uint64_t tot[kRows * kTile];
  const int planes = std::max(1, g.planes);
  const EpilogueFn epilogue = PickEpilogue(g);
  if (planes > 1 && g.m < kRows) return BgemmFewRows(g, epilogue);
#if HWY_TARGET == HWY_AVX3_DL
  if (g.out) return BgemmBits(g);
#endif
  for (int64_t jb = g.j0 / kBlock; jb * kBlock < g.j1; ++jb) {
    const uint64_t* wblock = g.w + jb * g.words * kBlock;
    for (int64_t jt = jb * kBlock; jt < (jb + 1) * kBlock && jt < g.j1; jt += kTile) {
      if (jt + kTile <= g.j0) continue;
      const uint64_t* wt = wblock + (jt - jb * kBlock);
      for (int64_t i0 = 0; i0 < g.m; i0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, g.m - i0));
        CountRows(rows, g.a + i0 * g.words, g.words, g.m * g.words, planes, wt, g.words, tot);
        epilogue(g, i0, rows, jt, tot);
      }
    }
  }
}

// bgemm_codes: per tile of kTile columns, the thresholds transposed level-major once
// (columns past n never pass), then per register tile of rows the counts of every weight
// plane (the activation rows stay in L1 between planes) and one epilogue that combines
// them, adds the offset, counts the thresholds passed and writes each code bit-plane's
// kTile bits: no int32 accumulators leave the tile.
HWY_INLINE void PutPlaneBits(const CodesArgs& g, int b, int64_t i, int64_t jt, uint64_t bits) {
  const int64_t valid = std::min<int64_t>(kTile, g.j1 - jt);
  if (valid < 64) bits &= (uint64_t{1} << valid) - 1;
  uint64_t* word = g.out + (b * g.m + i) * g.out_words + jt / 64;
  *word = jt % 64 == 0 ? bits << (jt % 64) : *word | (bits << (jt % 64));
}

#ifdef LOWBIT_BIT_GEMM_SCALAR
void EpilogueCodes(const CodesArgs& g, int64_t i0, int rows, int64_t jt, const uint64_t* HWY_RESTRICT tot,
                   const int32_t* HWY_RESTRICT tt, const int32_t* HWY_RESTRICT off) {
  const int bits = threshold_bits(g.levels);
  const uint32_t maxcode = static_cast<uint32_t>((int64_t{1} << g.planes) - 1);
  for (int r = 0; r < rows; ++r) {
    uint64_t pb[8] = {};
    for (int64_t c = 0; c < kTile; ++c) {
      uint32_t acc = static_cast<uint32_t>(off[c]);
      for (int p = 0; p < g.wplanes; ++p) {
        const uint32_t cnt = static_cast<uint32_t>(tot[(p * kRows + r) * kTile + c]);
        const uint32_t dot = g.planes == 0 ? static_cast<uint32_t>(g.k) - 2 * cnt
                                           : maxcode * static_cast<uint32_t>(g.pw[p][jt + c]) - cnt;
        acc += dot * static_cast<uint32_t>(g.coef[p]);
      }
      uint32_t code = 0;
      for (int l = 0; l < g.levels; ++l) code += static_cast<int32_t>(acc) >= tt[l * kTile + c];
      for (int b = 0; b < bits; ++b) pb[b] |= static_cast<uint64_t>((code >> b) & 1) << c;
    }
    for (int b = 0; b < bits; ++b) PutPlaneBits(g, b, i0 + r, jt, pb[b]);
  }
}
#else
// acc = base - sum_p mult_p cnt_p (mod 2^32, as in the scalar form: base and mult from the
// tile's setup), one row's kTile columns in registers; then per level the lanes' "acc < t"
// masks as kTile bits, and the codes counted bit-sliced from the passing bits (AddSliced
// into kBits 64-bit words: one pass per level, not per lane).
template <int kBits>
void EpilogueCodesT(const CodesArgs& g, int64_t i0, int rows, int64_t jt, const uint64_t* HWY_RESTRICT tot,
                    const int32_t* HWY_RESTRICT tt) {
  const hn::ScalableTag<uint32_t> du;
  const hn::ScalableTag<int32_t> di;
  constexpr int64_t L = 2 * kLanes;  // int32 lanes
  constexpr int kAcc = static_cast<int>(kTile / L);
  static_assert(kTile % L == 0 && kTile <= 64, "a tile holds whole int32 vectors and fits a word");
  const int32_t* HWY_RESTRICT base = tt + g.levels * kTile;  // after the thresholds (BgemmCodesImpl)
  const uint64_t tile_bits = kTile == 64 ? ~uint64_t{0} : (uint64_t{1} << kTile) - 1;
  for (int r = 0; r < rows; ++r) {
    hn::Vec<decltype(di)> acc[kAcc];
#pragma GCC unroll 4
    for (int v = 0; v < kAcc; ++v) acc[v] = hn::LoadU(di, base + v * L);
    for (int p = 0; p < g.wplanes; ++p) {
      const uint32_t* cp = reinterpret_cast<const uint32_t*>(tot + (p * kRows + r) * kTile);
      // 2 coef wraps like the twin's uint32 arithmetic (no signed overflow)
      const int32_t mult = static_cast<int32_t>(static_cast<uint32_t>(g.coef[p]) * (g.planes == 0 ? 2u : 1u));
#pragma GCC unroll 4
      for (int v = 0; v < kAcc; ++v) {
        const auto cnt = hn::BitCast(di, hn::ConcatEven(du, hn::Load(du, cp + 2 * v * L + L), hn::Load(du, cp + 2 * v * L)));
        acc[v] = hn::Sub(acc[v], mult == 1 ? cnt : hn::Mul(cnt, hn::Set(di, mult)));
      }
    }
    uint64_t pb[kBits] = {};
    for (int l = 0; l < g.levels; ++l) {
      uint64_t fail = 0;
#pragma GCC unroll 4
      for (int v = 0; v < kAcc; ++v) {
        uint8_t mask[8] = {};
        hn::StoreMaskBits(di, hn::Lt(acc[v], hn::LoadU(di, tt + l * kTile + v * L)), mask);
        uint64_t m = 0;
        std::memcpy(&m, mask, sizeof(m));
        fail |= m << (v * L);
      }
      const uint64_t pass = ~fail & tile_bits;  // columns passing level l: add 1 to their codes
      AddSliced(pb, kBits, &pass, 1);
    }
#pragma GCC unroll 4
    for (int b = 0; b < kBits; ++b) PutPlaneBits(g, b, i0 + r, jt, pb[b]);
  }
}

using EpilogueCodesFn = void (*)(const CodesArgs&, int64_t, int, int64_t, const uint64_t*, const int32_t*);
EpilogueCodesFn PickEpilogueCodes(int bits) {
  static_assert(bit_detail::kMaxCodeLevels < 16, "codes of up to 4 bits");
  switch (bits) {
    case 1: return EpilogueCodesT<1>;
    case 2: return EpilogueCodesT<2>;
    case 3: return EpilogueCodesT<3>;
    default: return EpilogueCodesT<4>;
  }
}
#endif  // LOWBIT_BIT_GEMM_SCALAR

void BgemmCodesImpl(const CodesArgs& g) {
  alignas(64) uint64_t tot[bit_detail::kMaxWeightPlanes * kRows * kTile];
  const int planes = std::max(1, g.planes);
  const uint32_t maxcode = static_cast<uint32_t>((int64_t{1} << g.planes) - 1);
  // Per column tile, set up once per call: its thresholds level-major, its base (offset +
  // sum_p coef_p (k for +-1 rows, (2^planes - 1) popcount(w_p) for code planes), mod 2^32)
  // and its offsets. Columns past n never pass.
  const int64_t tiles = (g.j1 - g.j0 + kTile - 1) / kTile, per_tile = (g.levels + 2) * kTile;
  thread_local std::vector<int32_t> setup;
  setup.resize(static_cast<size_t>(tiles * per_tile));
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t jt = g.j0 + t * kTile;
    int32_t* tt = setup.data() + t * per_tile;
    int32_t* base = tt + g.levels * kTile;
    int32_t* off = base + kTile;
    for (int64_t c = 0; c < kTile; ++c) {
      const bool in = jt + c < g.n;
      off[c] = in && g.offset ? g.offset[jt + c] : 0;
      for (int l = 0; l < g.levels; ++l) tt[l * kTile + c] = in ? g.thr[(jt + c) * g.levels + l] : INT32_MAX;
      uint32_t b = static_cast<uint32_t>(off[c]);
      for (int p = 0; p < g.wplanes && in; ++p)
        b += static_cast<uint32_t>(g.coef[p]) *
             (g.planes == 0 ? static_cast<uint32_t>(g.k) : maxcode * static_cast<uint32_t>(g.pw[p][jt + c]));
      base[c] = static_cast<int32_t>(b);
    }
  }
#ifndef LOWBIT_BIT_GEMM_SCALAR
  const EpilogueCodesFn epilogue = PickEpilogueCodes(threshold_bits(g.levels));
#endif
  // Rows in blocks whose activation planes (~16 KiB) stay in L1 across all column tiles:
  // each activation row is read from memory once, not once per tile (a CNV layer's patch
  // rows are megabytes per chunk; the weights of a tile, words x kTile per plane, stay in
  // L1 or L2 either way).
  const int64_t row_bytes = g.words * planes * static_cast<int64_t>(sizeof(uint64_t));
  const int64_t block = std::clamp<int64_t>(16384 / std::max<int64_t>(row_bytes, 1), kRows, 512) / kRows * kRows;
  for (int64_t r0 = 0; r0 < g.m; r0 += block) {
    const int64_t r1 = std::min(g.m, r0 + block);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t jt = g.j0 + t * kTile, jb = jt / kBlock;
      const int32_t* tt = setup.data() + t * per_tile;
      for (int64_t i0 = r0; i0 < r1; i0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, r1 - i0));
        for (int p = 0; p < g.wplanes; ++p)
          CountRows(rows, g.a + i0 * g.words, g.words, g.m * g.words, planes,
                    g.w[p] + jb * g.words * kBlock + (jt - jb * kBlock), g.words, tot + p * kRows * kTile);
#ifdef LOWBIT_BIT_GEMM_SCALAR
        EpilogueCodes(g, i0, rows, jt, tot, tt, tt + (g.levels + 1) * kTile);
#else
        epilogue(g, i0, rows, jt, tot, tt);
#endif
      }
    }
  }
}

int64_t KernelTarget() { return HWY_TARGET; }

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(BgemmImpl);
HWY_EXPORT(BgemmCodesImpl);
HWY_EXPORT(KernelTarget);

namespace {
std::unique_ptr<uint64_t, detail::AlignedFree> alloc_words(int64_t count) {
  void* p = detail::aligned_alloc_bytes(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(uint64_t));
  return std::unique_ptr<uint64_t, detail::AlignedFree>(static_cast<uint64_t*>(p));
}
}  // namespace

BinaryMatrix::BinaryMatrix(const uint64_t* rows, int64_t n, int64_t words) : n_(n), words_(words) {
  LOWBIT_CHECK(n >= 0 && words >= 0, "BinaryMatrix: bad shape ", n, " x ", words, " words");
  const int64_t nb = blocks();
  data_ = alloc_words(nb * words * kBlock);
  popcounts_.assign(static_cast<size_t>(nb * kBlock), 0);
  uint64_t* dst = data_.get();
  for (int64_t jb = 0; jb < nb; ++jb)
    for (int64_t w = 0; w < words; ++w)
      for (int64_t jj = 0; jj < kBlock; ++jj) {
        const int64_t j = jb * kBlock + jj;
        dst[(jb * words + w) * kBlock + jj] = j < n ? rows[j * words + w] : 0;
      }
  for (int64_t j = 0; j < n; ++j)
    for (int64_t w = 0; w < words; ++w) popcounts_[static_cast<size_t>(j)] += std::popcount(rows[j * words + w]);
}

BinaryMatrix::BinaryMatrix(const BinaryMatrix& other) { *this = other; }

BinaryMatrix::BinaryMatrix(BinaryMatrix&& other) noexcept
    : n_(std::exchange(other.n_, 0)),
      words_(std::exchange(other.words_, 0)),
      data_(std::move(other.data_)),
      popcounts_(std::move(other.popcounts_)) {}

BinaryMatrix& BinaryMatrix::operator=(BinaryMatrix&& other) noexcept {
  n_ = std::exchange(other.n_, 0);
  words_ = std::exchange(other.words_, 0);
  data_ = std::move(other.data_);
  popcounts_ = std::move(other.popcounts_);
  return *this;
}

BinaryMatrix& BinaryMatrix::operator=(const BinaryMatrix& other) {
  if (this == &other) return *this;
  const int64_t count = other.blocks() * other.words_ * kBlock;
  auto data = alloc_words(count);
  if (count > 0) std::memcpy(data.get(), other.data_.get(), static_cast<size_t>(count) * sizeof(uint64_t));
  data_ = std::move(data);
  n_ = other.n_;
  words_ = other.words_;
  popcounts_ = other.popcounts_;
  return *this;
}

void BinaryMatrix::unpack(uint64_t* rows) const {
  for (int64_t j = 0; j < n_; ++j)
    for (int64_t w = 0; w < words_; ++w) rows[j * words_ + w] = word(j, w);
}

namespace {
bit_detail::GemmArgs make_args(const char* what, int64_t m, int64_t k, int planes, const uint64_t* a,
                               const BinaryMatrix& w, int32_t coef, bool accumulate, int32_t* c, int64_t ldc,
                               int64_t j0, int64_t j1) {
  if (j1 < 0) j1 = w.rows();
  LOWBIT_CHECK(m >= 0 && k >= 0 && k <= 64 * w.words(), what, ": k = ", k, " does not fit ", w.words(),
               " words per row (m = ", m, ")");
  LOWBIT_CHECK(0 <= j0 && j0 <= j1 && j1 <= w.rows(), what, ": columns [", j0, ", ", j1, ") outside the ", w.rows(),
               " weight rows");
  return {m, k, w.words(), planes, a, w.data(), w.row_popcounts(), coef, accumulate, c, ldc, j0, j1};
}
}  // namespace

void bgemm_pm1(int64_t m, int64_t k, const uint64_t* a, const BinaryMatrix& w, int32_t coef, bool accumulate,
               int32_t* c, int64_t ldc, int64_t j0, int64_t j1) {
  const auto g = make_args("bgemm_pm1", m, k, 0, a, w, coef, accumulate, c, ldc, j0, j1);
  if (g.m == 0 || g.j0 == g.j1) return;
  HWY_DYNAMIC_DISPATCH(BgemmImpl)(g);
}

void bgemm_planes(int64_t m, int64_t k, int planes, const uint64_t* a, const BinaryMatrix& w, int32_t coef,
                  bool accumulate, int32_t* c, int64_t ldc, int64_t j0, int64_t j1) {
  LOWBIT_CHECK(planes >= 1 && planes <= 16, "bgemm_planes: ", planes, " planes (1..16)");
  const auto g = make_args("bgemm_planes", m, k, planes, a, w, coef, accumulate, c, ldc, j0, j1);
  if (g.m == 0 || g.j0 == g.j1) return;
  HWY_DYNAMIC_DISPATCH(BgemmImpl)(g);
}

void bgemm_threshold(int64_t m, int64_t k, int planes, const uint64_t* a, const BinaryMatrix& w, const int32_t* thr,
                     uint64_t* out, int64_t j0, int64_t j1) {
  LOWBIT_CHECK(planes >= 0 && planes <= 16, "bgemm_threshold: ", planes, " planes (0 for +-1 rows, 1..16)");
  auto g = make_args("bgemm_threshold", m, k, planes, a, w, 1, false, nullptr, 0, j0, j1);
  LOWBIT_CHECK(g.j0 % 64 == 0 && (g.j1 % 64 == 0 || g.j1 == w.rows()), "bgemm_threshold: columns [", g.j0, ", ", g.j1,
               ") do not start and end on output words");
  g.thr = thr, g.out = out, g.out_words = packed_words(w.rows());
  if (g.m == 0 || g.j0 == g.j1) return;
  HWY_DYNAMIC_DISPATCH(BgemmImpl)(g);
}

void bgemm_threshold_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a,
                         const uint64_t* w, const int32_t* thr, uint64_t* out) {
  std::vector<int32_t> acc(static_cast<size_t>(m * n));
  if (planes == 0)
    bgemm_pm1_ref(m, n, k, words, a, w, 1, false, acc.data(), n);
  else
    bgemm_planes_ref(m, n, k, words, planes, a, w, 1, false, acc.data(), n);
  threshold_planes_ref(m, n, acc.data(), n, 1, thr, out);
}

void bgemm_codes(int64_t m, int64_t k, int planes, const uint64_t* a, int wplanes, const BinaryMatrix* w,
                 const int32_t* coef, const int32_t* offset, int levels, const int32_t* thr, uint64_t* out, int64_t j0,
                 int64_t j1) {
  LOWBIT_CHECK(planes >= 0 && planes <= 16, "bgemm_codes: ", planes, " planes (0 for +-1 rows, 1..16)");
  LOWBIT_CHECK(wplanes >= 1 && wplanes <= bit_detail::kMaxWeightPlanes, "bgemm_codes: ", wplanes,
               " weight planes (1..", bit_detail::kMaxWeightPlanes, ")");
  LOWBIT_CHECK(levels >= 1 && levels <= bit_detail::kMaxCodeLevels, "bgemm_codes: ", levels, " threshold levels (1..",
               bit_detail::kMaxCodeLevels, ")");
  const int64_t n = w[0].rows();
  for (int p = 1; p < wplanes; ++p)
    LOWBIT_CHECK(w[p].rows() == n && w[p].words() == w[0].words(), "bgemm_codes: weight plane ", p, " is ", w[p].rows(),
                 " x ", w[p].words(), " words, plane 0 ", n, " x ", w[0].words());
  const auto base = make_args("bgemm_codes", m, k, planes, a, w[0], 1, false, nullptr, 0, j0, j1);
  LOWBIT_CHECK(base.j0 % 64 == 0 && (base.j1 % 64 == 0 || base.j1 == n), "bgemm_codes: columns [", base.j0, ", ",
               base.j1, ") do not start and end on output words");
  if (base.m == 0 || base.j0 == base.j1) return;
  bit_detail::CodesArgs g{};
  g.m = base.m, g.k = base.k, g.words = base.words, g.n = n, g.planes = planes, g.a = a, g.wplanes = wplanes;
  for (int p = 0; p < wplanes; ++p) g.w[p] = w[p].data(), g.pw[p] = w[p].row_popcounts(), g.coef[p] = coef[p];
  g.offset = offset, g.levels = levels, g.thr = thr, g.out = out, g.out_words = packed_words(n);
  g.j0 = base.j0, g.j1 = base.j1;
  HWY_DYNAMIC_DISPATCH(BgemmCodesImpl)(g);
}

void bgemm_codes_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a, int wplanes,
                     const uint64_t* w, const int32_t* coef, const int32_t* offset, int levels, const int32_t* thr,
                     uint64_t* out) {
  std::vector<int32_t> acc(static_cast<size_t>(m * n), 0);
  for (int p = 0; p < wplanes; ++p) {
    const uint64_t* wp = w + p * n * words;
    if (planes == 0)
      bgemm_pm1_ref(m, n, k, words, a, wp, coef[p], p > 0, acc.data(), n);
    else
      bgemm_planes_ref(m, n, k, words, planes, a, wp, coef[p], p > 0, acc.data(), n);
  }
  if (offset)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int32_t& v = acc[static_cast<size_t>(i * n + j)];
        v = static_cast<int32_t>(static_cast<uint32_t>(v) + static_cast<uint32_t>(offset[j]));  // wraps like int32
      }
  threshold_planes_ref(m, n, acc.data(), n, levels, thr, out);
}

namespace {
inline void put(int32_t* dst, int64_t value, int32_t coef, bool accumulate) {
  // int32 wrap-around, as the SIMD code (unsigned arithmetic: no signed-overflow UB).
  const uint32_t v = static_cast<uint32_t>(static_cast<uint64_t>(value) * static_cast<uint64_t>(int64_t{coef}));
  *dst = static_cast<int32_t>(accumulate ? static_cast<uint32_t>(*dst) + v : v);
}
}  // namespace

void bgemm_pm1_ref(int64_t m, int64_t n, int64_t k, int64_t words, const uint64_t* a, const uint64_t* w, int32_t coef,
                   bool accumulate, int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t cnt = 0;
      for (int64_t q = 0; q < words; ++q) cnt += std::popcount(a[i * words + q] ^ w[j * words + q]);
      put(&c[i * ldc + j], k - 2 * cnt, coef, accumulate);
    }
}

void bgemm_planes_ref(int64_t m, int64_t n, int64_t k, int64_t words, int planes, const uint64_t* a,
                      const uint64_t* w, int32_t coef, bool accumulate, int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t dot = 0;
      for (int b = 0; b < planes; ++b) {
        const uint64_t* ab = a + (b * m + i) * words;
        int64_t both = 0, ones = 0;
        for (int64_t q = 0; q < words; ++q) {
          both += std::popcount(ab[q] & w[j * words + q]);
          ones += std::popcount(ab[q]);
        }
        dot += (int64_t{1} << b) * (2 * both - ones);
      }
      put(&c[i * ldc + j], dot, coef, accumulate);
    }
}

std::vector<int64_t> bit_kernel_targets() {
  std::vector<int64_t> out;
  const int64_t usable = hwy::SupportedTargets() & HWY_TARGETS;  // HWY_TARGETS of this file (AVX3_DL included)
  for (int bit = 0; bit < 63; ++bit)  // lower bits are better targets
    if (usable & (int64_t{1} << bit)) out.push_back(int64_t{1} << bit);
  return out;
}

const char* bit_kernel_target() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(KernelTarget)()); }

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
