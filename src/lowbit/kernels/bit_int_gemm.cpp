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

// Up to kVecs vectors of outputs stay in registers across a row's taps.
constexpr int64_t kVecs = 4;

void IntGemmImpl(int64_t m, int64_t k, const uint8_t* HWY_RESTRICT a, int64_t lda, const int32_t* HWY_RESTRICT w,
                 const int32_t* HWY_RESTRICT bias, int64_t n, int64_t n_pad, int32_t* HWY_RESTRICT c, int64_t ldc) {
  const hn::ScalableTag<int32_t> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t i = 0; i < m; ++i) {
    const uint8_t* ai = a + i * lda;
    int32_t* ci = c + i * ldc;
    for (int64_t j0 = 0; j0 < n; j0 += kVecs * L) {
      const int64_t vecs = std::min<int64_t>(kVecs, (n_pad - j0) / L);
      hn::Vec<decltype(d)> acc[kVecs];
      for (int64_t v = 0; v < kVecs; ++v) acc[v] = v < vecs ? hn::LoadU(d, bias + j0 + v * L) : hn::Zero(d);
      for (int64_t t = 0; t < k; ++t) {
        const auto x = hn::Set(d, static_cast<int32_t>(ai[t]));
        const int32_t* wt = w + t * n_pad + j0;
        for (int64_t v = 0; v < kVecs; ++v)
          if (v < vecs) acc[v] = hn::Add(acc[v], hn::Mul(x, hn::LoadU(d, wt + v * L)));
      }
      for (int64_t v = 0; v < vecs; ++v) {
        const int64_t j = j0 + v * L;
        if (j + L <= n) {
          hn::StoreU(acc[v], d, ci + j);
        } else if (j < n) {  // the last partial vector: only the valid outputs are written
          int32_t tmp[64];
          hn::StoreU(acc[v], d, tmp);
          std::memcpy(ci + j, tmp, static_cast<size_t>(n - j) * sizeof(int32_t));
        }
      }
    }
  }
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(IntGemmImpl);

IntMatrix::IntMatrix(const int32_t* rows, const int32_t* bias, int64_t n, int64_t k)
    : n_(n), k_(k), n_pad_((n + kPad - 1) / kPad * kPad) {
  LOWBIT_CHECK(n >= 0 && k >= 0, "IntMatrix: bad shape ", n, " x ", k);
  w_.assign(static_cast<size_t>(k * n_pad_), 0);
  bias_.assign(static_cast<size_t>(n_pad_), 0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t t = 0; t < k; ++t) w_[static_cast<size_t>(t * n_pad_ + j)] = rows[j * k + t];
    if (bias) bias_[static_cast<size_t>(j)] = bias[j];
  }
}

void int_gemm_codes(int64_t m, const uint8_t* a, int64_t lda, const IntMatrix& w, int32_t* c, int64_t ldc) {
  LOWBIT_CHECK(m >= 0 && lda >= w.cols() && ldc >= w.rows(), "int_gemm_codes: m = ", m, ", lda = ", lda, ", ldc = ",
               ldc, " for ", w.rows(), " x ", w.cols(), " weights");
  if (m == 0 || w.rows() == 0) return;
  HWY_DYNAMIC_DISPATCH(IntGemmImpl)(m, w.cols(), a, lda, w.data(), w.bias(), w.rows(), w.padded_rows(), c, ldc);
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
