// sparse_ternary_gemm / sparse_ternary_threshold with Highway's run-time dispatch (one
// compile per SIMD target, see bit_gemm.cpp).
//
// Per block of 64 operand rows: the rows are transposed once into `work`, position-major,
// xt[p * 64 + r] = level of row r at position p (64 x 64 bit transposes for bit-planes,
// then each position's 64 row bits expanded to lanes; a byte copy for byte codes), only
// the 64-position groups some weight reads. Then per output column, its +1 positions' rows
// of xt are added and its -1 positions' subtracted, whole vectors (lanes = rows): the
// sparse analogue of a dot product, 64 rows per loaded vector and no multiplies.
//
// Lane widths: levels <= 3 (+-1 and 2-bit codes) with |s| <= 32766 sum in int8 lanes,
// widened into int16 every floor(127 / max level) nonzeros (42 or more: one widening
// per column at 95% zeros of K = 1024); larger levels in int16 lanes widened into int32
// every floor(32767 / max level). Both exact: a partial sum never leaves its lane's range.
// The epilogue compares s with each threshold moved into s's units (acc >= t <=> s >=
// ceil((t - offset) / coef), coef > 0) and collects one mask bit per row; a 64 x 64 bit
// transpose per code plane turns a tile's per-column row masks into the output words.
// The int32 output goes through a column-major tile and a transposing copy.
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_sparse.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_sparse.hpp"

#ifndef LOWBIT_KERNELS_BIT_SPARSE_ONCE
#define LOWBIT_KERNELS_BIT_SPARSE_ONCE
namespace lowbit::kernels::sparse_detail {
static_assert(std::endian::native == std::endian::little, "mask bits are assembled little-endian");

constexpr int64_t kRows = 64;  // operand rows per block: the lanes of one column's sums
constexpr int kMaxLevels = 15;

struct Args {
  int64_t m;
  SparseOperand a;
  const SparseTernaryMatrix* w;
  int32_t coef;
  const int32_t* offset;  // per column, or null
  int32_t* c;             // int32 output (null: thresholds)
  int64_t ldc;
  int levels;             // thresholds: 1..15 levels, thr[j * levels + l]
  const int32_t* thr;
  uint64_t* out;
  int64_t out_words;
  int64_t j0, j1;
  void* work;
  int max_level;  // the largest operand level: 2^planes - 1, or 255 for bytes
  bool narrow;    // int8 lanes and int16 sums (else int16 lanes and int32 sums)
};

// In place: bit c of a[r] <-> bit r of a[c] (Hacker's Delight 7-3, for LSB-first bits):
// at each scale j the off-diagonal j x j blocks swap, rows k (bit j clear) with k + j.
inline void Transpose64(uint64_t* a) {
  uint64_t mask = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, mask ^= mask << j)
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k | j]) & mask;
      a[k] ^= t << j;
      a[k | j] ^= t;
    }
}

// The threshold t on acc = coef * s + offset as one on s, clamped to [-lim, lim]: s >= the
// result <=> acc >= t, for every |s| < lim (coef >= 1; exact in int64).
// A power-of-two coef (2 for +-1 codes and their sums, 1 for unsigned codes: the runtime's
// cases) divides by an arithmetic shift: no integer division per column and row block.
inline int32_t ThresholdOnSums(int32_t t, int32_t offset, int32_t coef, int32_t lim) {
  const int64_t num = int64_t{t} - offset;
  int64_t q;  // ceil(num / coef)
  if ((coef & (coef - 1)) == 0)
    q = -((-num) >> std::countr_zero(static_cast<uint32_t>(coef)));
  else
    q = num >= 0 ? (num + coef - 1) / coef : -((-num) / coef);
  return static_cast<int32_t>(std::clamp<int64_t>(q, -int64_t{lim}, lim));
}

// Row r's level at position p of operand a (m rows).
inline int32_t Level(const SparseOperand& a, int64_t m, int64_t r, int64_t p) {
  if (a.planes == 0) return a.bytes[r * a.lda + p];
  int32_t v = 0;
  for (int b = 0; b < a.planes; ++b)
    v |= static_cast<int32_t>((a.bits[(b * m + r) * a.words + p / 64] >> (p % 64)) & 1u) << b;
  return v;
}

// Writes a tile's int32 sums T[jj * kRows + r] (columns [lo, hi) of the tile at jt, rows
// [0, rows) of the block at i0) into C.
inline void StoreTile(const Args& g, int64_t i0, int64_t rows, int64_t jt, int64_t lo, int64_t hi, const int32_t* t) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t* ci = g.c + (i0 + r) * g.ldc;
    for (int64_t j = lo; j < hi; ++j) ci[j] = t[(j - jt) * kRows + r];
  }
}

// Writes a tile's code planes: masks[b * 64 + jj] = the block's row bits of plane b at
// column jt + jj (transposed here into row words).
inline void StoreBits(const Args& g, int64_t i0, int64_t rows, int64_t jt, uint64_t* masks) {
  const int planes = threshold_bits(g.levels);
  for (int b = 0; b < planes; ++b) {
    uint64_t* mb = masks + b * 64;
    Transpose64(mb);
    for (int64_t r = 0; r < rows; ++r) g.out[(b * g.m + i0 + r) * g.out_words + jt / 64] = mb[r];
  }
}

}  // namespace lowbit::kernels::sparse_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using sparse_detail::Args;
using sparse_detail::kRows;

#if HWY_TARGET == HWY_SCALAR
#define LOWBIT_BIT_SPARSE_SCALAR 1
#else
#undef LOWBIT_BIT_SPARSE_SCALAR
#endif

// Byte codes: xt[p * 64 + r] = bytes of row i0 + r at p, for the positions of the used
// groups; rows past `rows` are 0.
template <typename TX>
void TransposeBytes(const Args& g, int64_t i0, int64_t rows, TX* HWY_RESTRICT xt) {
  const int64_t P = g.w->positions();
  const std::vector<uint8_t>& used = g.w->used_groups();
  for (int64_t q = 0; q * 64 < P; ++q) {
    if (!used[static_cast<size_t>(q)]) continue;
    const int64_t p1 = std::min(P, q * 64 + 64);
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = g.a.bytes + (i0 + r) * g.a.lda;
      for (int64_t p = q * 64; p < p1; ++p) xt[p * kRows + r] = static_cast<TX>(src[p]);
    }
    if (rows < kRows)
      for (int64_t p = q * 64; p < p1; ++p) std::fill(xt + p * kRows + rows, xt + (p + 1) * kRows, TX{0});
  }
}

#ifdef LOWBIT_BIT_SPARSE_SCALAR
// One target without vectors: the same blocks and epilogue, int32 sums per row.
template <typename TX>
void RunBlocks(const Args& g) {
  TX* xt = static_cast<TX*>(g.work);
  const SparseTernaryMatrix& w = *g.w;
  const int64_t P = w.positions();
  const uint32_t* idx = w.index();
  alignas(64) int32_t tile[kRows * 64];
  alignas(64) uint64_t masks[4 * 64];
  for (int64_t i0 = 0; i0 < g.m; i0 += kRows) {
    const int64_t rows = std::min(kRows, g.m - i0);
    if (g.a.planes == 0) {
      TransposeBytes(g, i0, rows, xt);
    } else {
      for (int64_t q = 0; q * 64 < P; ++q) {
        if (!w.used_groups()[static_cast<size_t>(q)]) continue;
        for (int64_t p = q * 64; p < q * 64 + 64; ++p)
          for (int64_t r = 0; r < kRows; ++r)
            xt[p * kRows + r] = static_cast<TX>(r < rows ? sparse_detail::Level(g.a, g.m, i0 + r, p) : 0);
      }
    }
    for (int64_t jt = g.j0 / 64 * 64; jt < g.j1; jt += 64) {
      const int64_t lo = std::max(jt, g.j0), hi = std::min(jt + 64, g.j1);
      if (!g.c) std::fill(masks, masks + 4 * 64, 0);
      for (int64_t j = lo; j < hi; ++j) {
        int32_t s[kRows] = {};
        for (int64_t t = w.start()[j]; t < w.split()[j]; ++t)
          for (int64_t r = 0; r < kRows; ++r) s[r] += xt[idx[t] * kRows + r];
        for (int64_t t = w.split()[j]; t < w.start()[j + 1]; ++t)
          for (int64_t r = 0; r < kRows; ++r) s[r] -= xt[idx[t] * kRows + r];
        const int32_t off = g.offset ? g.offset[j] : 0;
        if (g.c) {
          for (int64_t r = 0; r < kRows; ++r)
            tile[(j - jt) * kRows + r] = static_cast<int32_t>(static_cast<uint32_t>(s[r]) * static_cast<uint32_t>(g.coef) +
                                                               static_cast<uint32_t>(off));
          continue;
        }
        for (int l = 0; l < g.levels; ++l) {
          const int32_t t = sparse_detail::ThresholdOnSums(g.thr[j * g.levels + l], off, g.coef, INT32_MAX);
          for (int64_t r = 0; r < kRows; ++r) tile[(j - jt) * kRows + r] = (l == 0 ? 0 : tile[(j - jt) * kRows + r]) + (s[r] >= t);
        }
        for (int b = 0; b < threshold_bits(g.levels); ++b)
          for (int64_t r = 0; r < kRows; ++r)
            masks[b * 64 + (j - jt)] |= static_cast<uint64_t>((tile[(j - jt) * kRows + r] >> b) & 1) << r;
      }
      if (g.c)
        sparse_detail::StoreTile(g, i0, rows, jt, lo, hi, tile);
      else
        sparse_detail::StoreBits(g, i0, rows, jt, masks);
    }
  }
}

void SparseImpl(const Args& g) { RunBlocks<int16_t>(g); }
#else

template <class D, class M>
HWY_INLINE uint64_t MaskBits(D d, M mask) {
  uint8_t buf[8] = {};
  hn::StoreMaskBits(d, mask, buf);
  uint64_t bits;
  std::memcpy(&bits, buf, sizeof(bits));
  return bits;
}

// sparse_detail::Transpose64 with vectors of u64 words: the stages whose row pairs (k, k +
// j) are j >= N apart pair whole vectors; j = 1 (and j = 2 with 4 or more lanes) pair lanes
// of one vector, whose partner lanes Shuffle01 (SwapAdjacentBlocks) bring alongside; the
// rest scalar.
HWY_INLINE void Transpose64Vec(uint64_t* HWY_RESTRICT a) {
  const hn::ScalableTag<uint64_t> d;
  constexpr int N = static_cast<int>(HWY_LANES(uint64_t));
  static_assert(64 % N == 0, "whole vectors per block");
  uint64_t mask = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, mask ^= mask << j) {
    const auto m = hn::Set(d, mask);
    if (j >= N) {
      for (int k = 0; k < 64; k += N) {
        if (k & j) continue;
        const auto x = hn::Load(d, a + k), y = hn::Load(d, a + k + j);
        const auto t = hn::And(hn::Xor(hn::ShiftRightSame(x, j), y), m);
        hn::Store(hn::Xor(x, hn::ShiftLeftSame(t, j)), d, a + k);
        hn::Store(hn::Xor(y, t), d, a + k + j);
      }
      continue;
    }
    bool done = false;
    if constexpr (N >= 2) {
      if (j == 1 || (j == 2 && N >= 4)) {
        // Lanes with bit j of their index clear are the pairs' first rows (x), the others
        // their partners (y).
        const auto first = hn::Eq(hn::And(hn::Iota(d, 0), hn::Set(d, uint64_t(j))), hn::Zero(d));
        for (int k = 0; k < 64; k += N) {
          const auto v = hn::Load(d, a + k);
          auto p = v;
          if (j == 1) {
            p = hn::Shuffle01(v);
          } else {
            if constexpr (N >= 4) p = hn::SwapAdjacentBlocks(v);
          }
          const auto tx = hn::And(hn::Xor(hn::ShiftRightSame(v, j), p), m);  // valid in x lanes
          const auto ty = hn::And(hn::Xor(hn::ShiftRightSame(p, j), v), m);  // valid in y lanes
          hn::Store(hn::IfThenElse(first, hn::Xor(v, hn::ShiftLeftSame(tx, j)), hn::Xor(v, ty)), d, a + k);
        }
        done = true;
      }
    }
    if (done) continue;
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k | j]) & mask;
      a[k] ^= t << j;
      a[k | j] ^= t;
    }
  }
}

// Bit-planes: for each used group q of 64 positions, each plane's 64 x 64 block (rows x
// positions) is transposed, then position p's row bits become lanes: level = sum_b 2^b bit_b,
// or for one plane (+-1 rows) the lanes' masks themselves, -bit (RunBlocks flips the sign):
// one operation less per vector.
template <typename TX>
void TransposeBits(const Args& g, int64_t i0, int64_t rows, TX* HWY_RESTRICT xt) {
  const hn::ScalableTag<TX> dx;
  constexpr int64_t NX = static_cast<int64_t>(HWY_LANES(TX));
  static_assert(kRows % NX == 0 && NX % 8 == 0, "whole vectors and mask bytes per block");
  const int planes = g.a.planes;
  const int64_t words = g.a.words, P = g.w->positions();
  const std::vector<uint8_t>& used = g.w->used_groups();
  alignas(64) uint64_t blk[8][64];  // hn::Load: aligned
  for (int64_t q = 0; q * 64 < P; ++q) {
    if (!used[static_cast<size_t>(q)]) continue;
    for (int b = 0; b < planes; ++b) {
      const uint64_t* src = g.a.bits + (b * g.m + i0) * words + q;
      for (int64_t r = 0; r < rows; ++r) blk[b][r] = src[r * words];
      std::fill(blk[b] + rows, blk[b] + 64, 0);
      Transpose64Vec(blk[b]);
    }
    if (planes == 1) {
      for (int64_t pp = 0; pp < 64; ++pp) {
        TX* dst = xt + (q * 64 + pp) * kRows;
        for (int64_t v = 0; v < kRows / NX; ++v)
          hn::StoreU(hn::VecFromMask(dx, hn::LoadMaskBits(dx, reinterpret_cast<const uint8_t*>(&blk[0][pp]) + v * NX / 8)),
                     dx, dst + v * NX);
      }
      continue;
    }
    for (int64_t pp = 0; pp < 64; ++pp) {
      TX* dst = xt + (q * 64 + pp) * kRows;
      for (int64_t v = 0; v < kRows / NX; ++v) {
        auto lv = hn::Zero(dx);
        for (int b = 0; b < planes; ++b) {
          const auto bit = hn::LoadMaskBits(dx, reinterpret_cast<const uint8_t*>(&blk[b][pp]) + v * NX / 8);
          lv = hn::Or(lv, hn::IfThenElseZero(bit, hn::Set(dx, static_cast<TX>(1 << b))));
        }
        hn::StoreU(lv, dx, dst + v * NX);
      }
    }
  }
}

// TX: the lanes of xt and of the partial sums (int8 or int16); TR = the next wider type
// holds the column's sums s. VX vectors of TX cover the block's 64 rows.
template <typename TX>
void RunBlocks(const Args& g) {
  using TR = hwy::MakeWide<TX>;
  const hn::ScalableTag<TX> dx;
  const hn::ScalableTag<TR> dr;
  const hn::Half<decltype(dx)> dh;
  const hn::ScalableTag<int32_t> d32;
  const hn::Half<decltype(dr)> drh;
  constexpr int64_t NX = static_cast<int64_t>(HWY_LANES(TX)), VX = kRows / NX;
  constexpr int64_t NR = NX / 2, VR = 2 * VX;
  constexpr int64_t N32 = static_cast<int64_t>(HWY_LANES(int32_t));
  using VecX = hn::Vec<decltype(dx)>;
  using VecR = hn::Vec<decltype(dr)>;
  TX* xt = static_cast<TX*>(g.work);
  const SparseTernaryMatrix& w = *g.w;
  const uint32_t* idx = w.index();
  const int64_t flush = (sizeof(TX) == 1 ? 127 : 32767) / g.max_level;  // nonzeros per partial sum
  const int32_t lim = sizeof(TX) == 1 ? 32767 : INT32_MAX;
  const int planes = g.c ? 0 : threshold_bits(g.levels);
  const bool negated = g.a.planes == 1;
  alignas(64) int32_t tile[kRows * 64];
  alignas(64) uint64_t masks[4 * 64];
  for (int64_t i0 = 0; i0 < g.m; i0 += kRows) {
    const int64_t rows = std::min(kRows, g.m - i0);
    if (g.a.planes == 0)
      TransposeBytes(g, i0, rows, xt);
    else
      TransposeBits(g, i0, rows, xt);
    for (int64_t jt = g.j0 / 64 * 64; jt < g.j1; jt += 64) {
      const int64_t lo = std::max(jt, g.j0), hi = std::min(jt + 64, g.j1);
      if (!g.c) std::fill(masks, masks + planes * 64, 0);
      for (int64_t j = lo; j < hi; ++j) {
        // s = sum over the +1 positions [t0, ts) minus the -1 positions [ts, t1), in
        // partial sums of at most `flush` nonzeros each.
        const int64_t t0 = w.start()[j], ts = w.split()[j], t1 = w.start()[j + 1];
        VecR s[VR];
        for (int64_t v = 0; v < VR; ++v) s[v] = hn::Zero(dr);
        for (int64_t c0 = t0; c0 < t1; c0 += flush) {
          const int64_t c1 = std::min(t1, c0 + flush), cs = std::clamp(ts, c0, c1);
          VecX part[VX];
          for (int64_t v = 0; v < VX; ++v) part[v] = hn::Zero(dx);
          // Entries [a0, a1) are added, [s0, s1) subtracted: the +1 positions' and the -1
          // positions', swapped when xt holds -level (one plane, TransposeBits).
          int64_t a0 = c0, a1 = cs, s0 = cs, s1 = c1;
          if (negated) std::swap(a0, s0), std::swap(a1, s1);
          for (int64_t t = a0; t < a1; ++t) {
            const TX* x = xt + static_cast<int64_t>(idx[t]) * kRows;
            for (int64_t v = 0; v < VX; ++v) part[v] = hn::Add(part[v], hn::LoadU(dx, x + v * NX));
          }
          for (int64_t t = s0; t < s1; ++t) {
            const TX* x = xt + static_cast<int64_t>(idx[t]) * kRows;
            for (int64_t v = 0; v < VX; ++v) part[v] = hn::Sub(part[v], hn::LoadU(dx, x + v * NX));
          }
          for (int64_t v = 0; v < VX; ++v) {
            s[2 * v] = hn::Add(s[2 * v], hn::PromoteTo(dr, hn::LowerHalf(dh, part[v])));
            s[2 * v + 1] = hn::Add(s[2 * v + 1], hn::PromoteTo(dr, hn::UpperHalf(dh, part[v])));
          }
        }
        const int32_t off = g.offset ? g.offset[j] : 0;
        if (g.c) {
          // acc = coef * s + offset as int32 (wrapping), column-major into the tile.
          const auto coef = hn::Set(d32, g.coef), offv = hn::Set(d32, off);
          int32_t* col = tile + (j - jt) * kRows;
          for (int64_t v = 0; v < VR; ++v) {
            if constexpr (sizeof(TR) == 4) {
              hn::Store(hn::Add(hn::Mul(s[v], coef), offv), d32, col + v * N32);
            } else {
              const auto lo32 = hn::PromoteTo(d32, hn::LowerHalf(drh, s[v]));
              const auto hi32 = hn::PromoteTo(d32, hn::UpperHalf(drh, s[v]));
              hn::Store(hn::Add(hn::Mul(lo32, coef), offv), d32, col + 2 * v * N32);
              hn::Store(hn::Add(hn::Mul(hi32, coef), offv), d32, col + (2 * v + 1) * N32);
            }
          }
          continue;
        }
        // code = levels - #{l : s < t_l}, each plane's bit per row into the column's mask.
        const int32_t* thr = g.thr + j * g.levels;
        if (g.levels == 1) {
          const auto t = hn::Set(dr, static_cast<TR>(sparse_detail::ThresholdOnSums(thr[0], off, g.coef, lim)));
          uint64_t bits = 0;
          for (int64_t v = 0; v < VR; ++v) bits |= MaskBits(dr, hn::Not(hn::Lt(s[v], t))) << (v * NR);
          masks[j - jt] = bits;
          continue;
        }
        VecR below[VR];
        for (int64_t v = 0; v < VR; ++v) below[v] = hn::Zero(dr);
        for (int l = 0; l < g.levels; ++l) {
          const auto t = hn::Set(dr, static_cast<TR>(sparse_detail::ThresholdOnSums(thr[l], off, g.coef, lim)));
          for (int64_t v = 0; v < VR; ++v) below[v] = hn::Sub(below[v], hn::VecFromMask(dr, hn::Lt(s[v], t)));
        }
        const auto nlev = hn::Set(dr, static_cast<TR>(g.levels));
        for (int64_t v = 0; v < VR; ++v) {
          const auto code = hn::Sub(nlev, below[v]);
          for (int b = 0; b < planes; ++b)
            masks[b * 64 + (j - jt)] |= MaskBits(dr, hn::TestBit(code, hn::Set(dr, static_cast<TR>(1 << b)))) << (v * NR);
        }
      }
      if (g.c)
        sparse_detail::StoreTile(g, i0, rows, jt, lo, hi, tile);
      else
        sparse_detail::StoreBits(g, i0, rows, jt, masks);
    }
  }
}

void SparseImpl(const Args& g) {
  if (g.narrow)
    RunBlocks<int8_t>(g);
  else
    RunBlocks<int16_t>(g);
}
#endif

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(SparseImpl);

SparseTernaryMatrix::SparseTernaryMatrix(const int32_t* w, int64_t n, int64_t k, const int64_t* position,
                                         int64_t positions)
    : n_(n), positions_(positions) {
  LOWBIT_CHECK(n >= 0 && k >= 0, "sparse ternary weights: negative shape ", n, " x ", k);
  LOWBIT_CHECK(positions >= 0 && positions <= (int64_t{1} << 23), "sparse ternary weights: ", positions,
               " operand positions outside 0..2^23");
  for (int64_t t = 0; t < k && position; ++t)
    LOWBIT_CHECK(position[t] >= 0 && position[t] < positions, "sparse ternary weights: column ", t, " at position ",
                 position[t], " outside 0..", positions - 1);
  LOWBIT_CHECK(position || k <= positions, "sparse ternary weights: ", k, " columns but ", positions, " positions");
  used_.assign(static_cast<size_t>((positions + 63) / 64), 0);
  start_.reserve(static_cast<size_t>(n + 1));
  split_.reserve(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const int32_t* row = w + j * k;
    for (int sign : {1, -1}) {
      if (sign < 0) split_.push_back(static_cast<int64_t>(index_.size()));
      for (int64_t t = 0; t < k; ++t) {
        LOWBIT_CHECK(row[t] >= -1 && row[t] <= 1, "sparse ternary weights: code ", row[t], " at output ", j,
                     ", column ", t, " is not in {-1, 0, +1}");
        if (row[t] != sign) continue;
        const int64_t p = position ? position[t] : t;
        index_.push_back(static_cast<uint32_t>(p));
        used_[static_cast<size_t>(p / 64)] = 1;
      }
    }
    start_.push_back(static_cast<int64_t>(index_.size()));
    max_column_ = std::max(max_column_, start_[static_cast<size_t>(j + 1)] - start_[static_cast<size_t>(j)]);
  }
}

namespace {

// The kernels' common checks and arguments.
sparse_detail::Args make_args(int64_t m, const SparseOperand& a, const SparseTernaryMatrix& w, int32_t coef,
                              const int32_t* offset, int64_t j0, int64_t j1, void* work, const char* kernel) {
  LOWBIT_CHECK(m >= 0, kernel, ": m ", m, " is negative");
  LOWBIT_CHECK(a.planes >= 0 && a.planes <= 8, kernel, ": ", a.planes, " operand planes outside 0..8");
  if (a.planes > 0)
    LOWBIT_CHECK(w.positions() <= 64 * a.words, kernel, ": ", w.positions(), " weight positions but operand rows of ",
                 a.words, " words");
  else
    LOWBIT_CHECK(w.positions() <= a.lda, kernel, ": ", w.positions(), " weight positions but byte rows of ", a.lda);
  LOWBIT_CHECK(coef >= 1, kernel, ": coef ", coef, " is not positive");
  const int64_t n = w.rows();
  if (j1 < 0) j1 = n;
  LOWBIT_CHECK(0 <= j0 && j0 <= j1 && j1 <= n, kernel, ": columns [", j0, ", ", j1, ") outside [0, ", n, ")");
  LOWBIT_CHECK(work || m == 0 || w.positions() == 0, kernel, ": no work buffer");
  sparse_detail::Args g{};
  g.m = m, g.a = a, g.w = &w, g.coef = coef, g.offset = offset, g.j0 = j0, g.j1 = j1, g.work = work;
  g.max_level = a.planes == 0 ? 255 : (1 << a.planes) - 1;
  g.narrow = g.max_level <= 3 && w.max_column_nonzeros() * g.max_level <= 32766;
  return g;
}

// s(i, j) for every column j of row i, from the dense codes: the row's levels at the k
// columns' positions once, then plain dot products.
void ref_sums(const SparseOperand& a, int64_t m, int64_t i, int64_t n, int64_t k, const int32_t* w,
              const int64_t* position, int64_t* s) {
  std::vector<int64_t> level(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) level[static_cast<size_t>(t)] = sparse_detail::Level(a, m, i, position ? position[t] : t);
  for (int64_t j = 0; j < n; ++j) {
    s[j] = 0;
    for (int64_t t = 0; t < k; ++t) s[j] += int64_t{w[j * k + t]} * level[static_cast<size_t>(t)];
  }
}

}  // namespace

void sparse_ternary_gemm(int64_t m, const SparseOperand& a, const SparseTernaryMatrix& w, int32_t coef,
                         const int32_t* offset, int32_t* c, int64_t ldc, int64_t j0, int64_t j1, void* work) {
  sparse_detail::Args g = make_args(m, a, w, coef, offset, j0, j1, work, "sparse_ternary_gemm");
  g.c = c, g.ldc = ldc;
  if (m == 0 || g.j0 == g.j1) return;
  HWY_DYNAMIC_DISPATCH(SparseImpl)(g);
}

void sparse_ternary_threshold(int64_t m, const SparseOperand& a, const SparseTernaryMatrix& w, int32_t coef,
                              const int32_t* offset, int levels, const int32_t* thr, uint64_t* out, int64_t j0,
                              int64_t j1, void* work) {
  sparse_detail::Args g = make_args(m, a, w, coef, offset, j0, j1, work, "sparse_ternary_threshold");
  LOWBIT_CHECK(levels >= 1 && levels <= sparse_detail::kMaxLevels, "sparse_ternary_threshold: levels ", levels,
               " outside 1..", sparse_detail::kMaxLevels);
  LOWBIT_CHECK(g.j0 % 64 == 0 && (g.j1 % 64 == 0 || g.j1 == w.rows()), "sparse_ternary_threshold: columns [", g.j0,
               ", ", g.j1, ") are not on output words");
  g.levels = levels, g.thr = thr, g.out = out, g.out_words = packed_words(w.rows());
  if (m == 0 || g.j0 == g.j1) return;
  HWY_DYNAMIC_DISPATCH(SparseImpl)(g);
}

void sparse_ternary_gemm_ref(int64_t m, int64_t n, int64_t k, const int32_t* w, const int64_t* position,
                             const SparseOperand& a, int32_t coef, const int32_t* offset, int32_t* c, int64_t ldc) {
  std::vector<int64_t> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    ref_sums(a, m, i, n, k, w, position, s.data());
    for (int64_t j = 0; j < n; ++j) {
      const uint32_t v = static_cast<uint32_t>(s[static_cast<size_t>(j)]) * static_cast<uint32_t>(coef) +
                         static_cast<uint32_t>(offset ? offset[j] : 0);
      c[i * ldc + j] = static_cast<int32_t>(v);
    }
  }
}

void sparse_ternary_threshold_ref(int64_t m, int64_t n, int64_t k, const int32_t* w, const int64_t* position,
                                  const SparseOperand& a, int32_t coef, const int32_t* offset, int levels,
                                  const int32_t* thr, uint64_t* out) {
  const int64_t words = packed_words(n);
  const int planes = threshold_bits(levels);
  for (int b = 0; b < planes; ++b) std::fill(out + b * m * words, out + (b + 1) * m * words, 0);
  std::vector<int64_t> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    ref_sums(a, m, i, n, k, w, position, s.data());
    for (int64_t j = 0; j < n; ++j) {
      const int64_t acc = int64_t{coef} * s[static_cast<size_t>(j)] + (offset ? offset[j] : 0);
      int code = 0;
      for (int l = 0; l < levels; ++l) code += acc >= thr[j * levels + l];
      for (int b = 0; b < planes; ++b)
        out[(b * m + i) * words + j / 64] |= static_cast<uint64_t>((code >> b) & 1) << (j % 64);
    }
  }
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
