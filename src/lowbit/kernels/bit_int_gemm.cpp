// int_gemm_codes with Highway's run-time dispatch (one compile per SIMD target, see
// bit_gemm.cpp): the first convolution on 8-bit input codes. Its rows are short (a 3x3
// patch of a grey image is 9 codes) and 8 bits deep, where bit-planes waste most of each
// word; plain int32 multiply-adds over the output channels (SIMD lanes = channels, one
// broadcast code per tap) do a tenth of the work there.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/bit_int_gemm.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Up to kVecs vectors of outputs stay in registers across a row's taps. Taps go in pairs:
// one int16 multiply-add (x86 PMADDWD, NEON widening MLA) takes two taps of 2L/2 outputs,
// exact in int32 (codes <= 255, |w| <= 32767).
constexpr int64_t kVecs = 4;  // vectors of outputs per block

#if HWY_TARGET == HWY_SCALAR
// One lane: no int16 pairs to multiply-add; plain loops on the same layout.
void IntGemmImpl(int64_t m, int64_t k, const uint8_t* HWY_RESTRICT a, int64_t lda, const int16_t* HWY_RESTRICT w,
                 const int32_t* HWY_RESTRICT bias, int64_t n, int64_t n_pad, int32_t* HWY_RESTRICT c, int64_t ldc,
                 const int32_t* HWY_RESTRICT thr, uint64_t* HWY_RESTRICT out, int64_t jlo, int64_t jhi) {
  const int64_t out_words = packed_words(n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = jlo; j < jhi; ++j) {
      uint32_t sum = static_cast<uint32_t>(bias[j]);  // wraps like the SIMD lanes
      for (int64_t t = 0; t < k; ++t)
        sum += static_cast<uint32_t>(int32_t{a[i * lda + t]} * w[((t / 2) * n_pad + j) * 2 + t % 2]);
      if (!out) {
        c[i * ldc + j] = static_cast<int32_t>(sum);
        continue;
      }
      uint64_t& word = out[i * out_words + j / 64];
      const uint64_t bit = static_cast<uint64_t>(static_cast<int32_t>(sum) >= thr[j]) << (j % 64);
      word = j % 64 == 0 ? bit : word | bit;
    }
}
#else
// kRows rows x kV vectors of outputs, all in registers (fully unrolled: a runtime count
// here made the compiler keep the sums in memory). Each weight load feeds kRows chains.
constexpr int kRows = 2;
// With `out`, the sums are not stored: bit (i, j) = (sum >= thr[j]) goes to bit j % 64 of
// word j / 64 of out's row i (out_words words per row); a block's bits start a word or are
// ORed into it (kV * L <= 64 columns per block), columns past n (here: the range's end)
// are 0.
template <int kV>
HWY_NOINLINE void IntBlock(int64_t i0, int rows, int64_t j0, int64_t k, const uint8_t* HWY_RESTRICT a, int64_t lda,
                           const int16_t* HWY_RESTRICT w, const int32_t* HWY_RESTRICT bias, int64_t n, int64_t n_pad,
                           int32_t* HWY_RESTRICT c, int64_t ldc, const int32_t* HWY_RESTRICT thr,
                           uint64_t* HWY_RESTRICT out, int64_t out_words) {
  const hn::ScalableTag<int32_t> d;
  const hn::Repartition<int16_t, decltype(d)> d16;
  using V = hn::Vec<decltype(d)>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d)), pairs = (k + 1) / 2;
  const uint8_t* arow[kRows];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r) arow[r] = a + (i0 + std::min(r, rows - 1)) * lda;  // a short block repeats its last row
  V sum0[kRows][kV], sum1[kRows][kV];
#pragma GCC unroll 4
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) sum0[r][v] = sum1[r][v] = hn::Zero(d);
  for (int64_t t2 = 0; t2 < pairs; ++t2) {
    const int16_t* wt = w + (t2 * n_pad + j0) * 2;
    const bool odd_tail = 2 * t2 + 1 >= k;
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
    if (out) {
      uint64_t bits = 0;
#pragma GCC unroll 4
      for (int v = 0; v < kV; ++v) {
        const int64_t j = j0 + v * L;
        const V acc = hn::Add(hn::RearrangeToOddPlusEven(sum0[r][v], sum1[r][v]), hn::LoadU(d, bias + j));
        uint8_t mask[8] = {};
        hn::StoreMaskBits(d, hn::Not(hn::Lt(acc, hn::LoadU(d, thr + j))), mask);  // acc >= t
        uint64_t m = 0;
        std::memcpy(&m, mask, sizeof(m));
        bits |= m << (v * L);
      }
      const int64_t valid = std::min<int64_t>(kV * L, n - j0);
      if (valid < 64) bits &= (uint64_t{1} << valid) - 1;
      uint64_t& word = out[(i0 + r) * out_words + j0 / 64];
      word = j0 % 64 == 0 ? bits << (j0 % 64) : word | (bits << (j0 % 64));
      continue;
    }
    int32_t* ci = c + (i0 + r) * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < kV; ++v) {
      const int64_t j = j0 + v * L;
      const V acc = hn::Add(hn::RearrangeToOddPlusEven(sum0[r][v], sum1[r][v]), hn::LoadU(d, bias + j));
      if (j + L <= n) {
        hn::StoreU(acc, d, ci + j);
      } else if (j < n) {  // the last partial vector: only the valid outputs are written
        int32_t tmp[64];
        hn::StoreU(acc, d, tmp);
        std::memcpy(ci + j, tmp, static_cast<size_t>(n - j) * sizeof(int32_t));
      }
    }
  }
}

void IntGemmImpl(int64_t m, int64_t k, const uint8_t* HWY_RESTRICT a, int64_t lda, const int16_t* HWY_RESTRICT w,
                 const int32_t* HWY_RESTRICT bias, int64_t n, int64_t n_pad, int32_t* HWY_RESTRICT c, int64_t ldc,
                 const int32_t* HWY_RESTRICT thr, uint64_t* HWY_RESTRICT out, int64_t jlo, int64_t jhi) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(hn::ScalableTag<int32_t>()));
  const int64_t out_words = packed_words(n);
  n = jhi;  // columns past jhi are someone else's
  for (int64_t j0 = jlo; j0 < n; j0 += kVecs * L) {
    const int64_t vecs = std::min<int64_t>(kVecs, (n_pad - j0) / L);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
      switch (vecs) {
        case 1: IntBlock<1>(i0, rows, j0, k, a, lda, w, bias, n, n_pad, c, ldc, thr, out, out_words); break;
        case 2: IntBlock<2>(i0, rows, j0, k, a, lda, w, bias, n, n_pad, c, ldc, thr, out, out_words); break;
        case 3: IntBlock<3>(i0, rows, j0, k, a, lda, w, bias, n, n_pad, c, ldc, thr, out, out_words); break;
        default: IntBlock<4>(i0, rows, j0, k, a, lda, w, bias, n, n_pad, c, ldc, thr, out, out_words); break;
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
  const int64_t pairs = (k + 1) / 2;
  w_.assign(static_cast<size_t>(pairs * n_pad_ * 2), 0);
  bias_.assign(static_cast<size_t>(n_pad_), 0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t t = 0; t < k; ++t) {
      const int32_t v = rows[j * k + t];
      LOWBIT_CHECK(v >= -32767 && v <= 32767, "IntMatrix: weight ", v, " does not fit int16");
      w_[static_cast<size_t>(((t / 2) * n_pad_ + j) * 2 + t % 2)] = static_cast<int16_t>(v);
    }
    if (bias) bias_[static_cast<size_t>(j)] = bias[j];
  }
}

namespace {
void check_columns(const char* what, const IntMatrix& w, int64_t j0, int64_t& j1) {
  if (j1 < 0) j1 = w.rows();
  LOWBIT_CHECK(0 <= j0 && j0 <= j1 && j1 <= w.rows() && j0 % 64 == 0, what, ": columns [", j0, ", ", j1,
               ") are not a word-aligned range of the ", w.rows(), " outputs");
}
}  // namespace

void int_gemm_codes(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, int32_t* c, int64_t ldc, int64_t j0,
                    int64_t j1) {
  LOWBIT_CHECK(m >= 0 && lda >= w.cols() && ldc >= w.rows(), "int_gemm_codes: m = ", m, ", lda = ", lda, ", ldc = ",
               ldc, " for ", w.rows(), " x ", w.cols(), " weights");
  check_columns("int_gemm_codes", w, j0, j1);
  if (m == 0 || j0 == j1) return;
  HWY_DYNAMIC_DISPATCH(IntGemmImpl)(m, w.cols(), a, lda, w.data(), w.bias(), w.rows(), w.padded_rows(), c, ldc, nullptr,
                                    nullptr, j0, j1);
}

void int_gemm_codes_threshold(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, const int32_t* thr,
                              uint64_t* out, int64_t j0, int64_t j1) {
  LOWBIT_CHECK(m >= 0 && lda >= w.cols(), "int_gemm_codes_threshold: m = ", m, ", lda = ", lda, " for ", w.rows(),
               " x ", w.cols(), " weights");
  check_columns("int_gemm_codes_threshold", w, j0, j1);
  if (m == 0 || j0 == j1) return;
  HWY_DYNAMIC_DISPATCH(IntGemmImpl)(m, w.cols(), a, lda, w.data(), w.bias(), w.rows(), w.padded_rows(), nullptr, 0, thr,
                                    out, j0, j1);
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

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
