#include "lowbit/kernels/gemm.hpp"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <climits>
#include <cmath>
#include <vector>

#include "lowbit/core/bfloat16.hpp"
#include "lowbit/core/error.hpp"

namespace lowbit::kernels {

namespace {
GemmBackend g_backend = GemmBackend::kOneDnn;
GemmCompute g_compute = GemmCompute::kFloat32;

// op(X) of rows x cols (row stride ld) with every element rounded to bfloat16, into `out`
// with the same layout and a packed row stride (cols of X as stored). Thread-local buffers:
// conv2d calls gemm() from inside its parallel regions.
const float* rounded_to_bfloat16(Trans t, int64_t rows, int64_t cols, const float* X, int64_t ld,
                                 std::vector<float>& out, int64_t& out_ld) {
  const int64_t stored_rows = t == Trans::Yes ? cols : rows, stored_cols = t == Trans::Yes ? rows : cols;
  out.resize(static_cast<size_t>(stored_rows * stored_cols));
  for (int64_t r = 0; r < stored_rows; ++r) {
    const float* __restrict src = X + r * ld;
    float* __restrict dst = out.data() + r * stored_cols;
    for (int64_t c = 0; c < stored_cols; ++c) dst[c] = round_to_bfloat16(src[c]);
  }
  out_ld = stored_cols;
  return out.data();
}
}  // namespace

void set_gemm_backend(GemmBackend b) { g_backend = b; }
GemmBackend gemm_backend() { return g_backend; }

const char* gemm_backend_name(GemmBackend b) { return b == GemmBackend::kOneDnn ? "onednn" : "openblas"; }

void set_gemm_compute(GemmCompute c) { g_compute = c; }
GemmCompute gemm_compute() { return g_compute; }

const char* gemm_compute_name(GemmCompute c) { return c == GemmCompute::kFloat32 ? "f32" : "bf16"; }

GemmCompute parse_gemm_compute(const std::string& name) {
  if (name == "f32") return GemmCompute::kFloat32;
  if (name == "bf16") return GemmCompute::kBfloat16;
  fail("unknown compute precision '", name, "' (expected f32 or bf16)");
}

GemmBackend parse_gemm_backend(const std::string& name) {
  if (name == "onednn") return GemmBackend::kOneDnn;
  if (name == "openblas") return GemmBackend::kOpenBlas;
  fail("unknown GEMM library '", name, "' (expected onednn or openblas)");
}

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, g_compute);
}

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmCompute compute) {
  // Checked here, not left to the libraries: oneDNN returns an error status for these and
  // OpenBLAS prints "illegal value" and returns with C untouched.
  LOWBIT_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size (M=", M, " N=", N, " K=", K, ")");
  if (M == 0 || N == 0) return;
  const int64_t a_cols = ta == Trans::Yes ? M : K, b_cols = tb == Trans::Yes ? K : N;
  LOWBIT_CHECK(lda >= a_cols && ldb >= b_cols && ldc >= N, "gemm: a row stride is shorter than its row (lda=", lda,
               " for ", a_cols, ", ldb=", ldb, " for ", b_cols, ", ldc=", ldc, " for ", N, ")");
  LOWBIT_CHECK(M < INT_MAX && N < INT_MAX && K < INT_MAX && lda < INT_MAX && ldb < INT_MAX && ldc < INT_MAX,
               "gemm: dimensions exceed BLAS int range (M=", M, " N=", N, " K=", K, ")");
  if (K == 0) {  // BLAS would leave C untouched for beta=1 but we define it as C *= beta
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  if (compute == GemmCompute::kBfloat16) {
    thread_local std::vector<float> a16, b16;
    A = rounded_to_bfloat16(ta, M, K, A, lda, a16, lda);
    B = rounded_to_bfloat16(tb, K, N, B, ldb, b16, ldb);
  }
  if (g_backend == GemmBackend::kOneDnn) {
    // dnnl_sgemm is row-major like our interface. It only fails on bad arguments, which the
    // checks above and the callers' shapes exclude; a failure is a bug, reported as such.
    const dnnl_status_t st = dnnl_sgemm(ta == Trans::Yes ? 'T' : 'N', tb == Trans::Yes ? 'T' : 'N', M, N, K, alpha, A,
                                        lda, B, ldb, beta, C, ldc);
    LOWBIT_CHECK(st == dnnl_success, "gemm: oneDNN sgemm failed (status ", static_cast<int>(st), ") for M=", M,
                 " N=", N, " K=", K, " lda=", lda, " ldb=", ldb, " ldc=", ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta == Trans::Yes ? CblasTrans : CblasNoTrans,
              tb == Trans::Yes ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
              static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb), beta, C,
              static_cast<int>(ldc));
}

void gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        float a = ta == Trans::Yes ? A[k * lda + i] : A[i * lda + k];
        float b = tb == Trans::Yes ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<double>(a) * b;
      }
      float& c = C[i * ldc + j];
      c = static_cast<float>(alpha * acc + (beta == 0.f ? 0.0 : static_cast<double>(beta) * c));
    }
  }
}

namespace {

// op(X) of rows x cols, row-major with stride ld, copied to double (row-major, packed).
void to_double(Trans t, int64_t rows, int64_t cols, const float* X, int64_t ld, std::vector<double>& out) {
  out.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[static_cast<size_t>(r * cols + c)] = t == Trans::Yes ? X[c * ld + r] : X[r * ld + c];
}

}  // namespace

void gemm_integers(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  LOWBIT_CHECK(M < INT_MAX && N < INT_MAX && K < INT_MAX, "gemm_integers: dimensions exceed BLAS int range (M=", M,
               " N=", N, " K=", K, ")");
  thread_local std::vector<double> a, b, c;
  to_double(ta, M, K, A, lda, a);
  to_double(tb, K, N, B, ldb, b);
  c.assign(static_cast<size_t>(M * N), 0.0);
  if (K > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                static_cast<int>(K), 1.0, a.data(), static_cast<int>(K), b.data(), static_cast<int>(N), 0.0, c.data(),
                static_cast<int>(N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = static_cast<float>(c[static_cast<size_t>(i * N + j)]);
}

void gemm_integers_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      int64_t acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const float x = ta == Trans::Yes ? A[k * lda + i] : A[i * lda + k];
        const float y = tb == Trans::Yes ? B[j * ldb + k] : B[k * ldb + j];
        acc += static_cast<int64_t>(x) * static_cast<int64_t>(y);
      }
      C[i * ldc + j] = static_cast<float>(acc);
    }
}

}  // namespace lowbit::kernels
