// The one place that talks to BLAS. Row-major C = alpha * op(A) * op(B) + beta * C,
// with op(X) = X or X^T. Every matrix product in training goes through gemm().
// gemm_ref is the plain scalar specification (double accumulation) used by tests.
#pragma once
#include <cstdint>

namespace lowbit::kernels {

enum class Trans : bool { No = false, Yes = true };

// A is M x K after op, B is K x N after op, C is M x N. lda/ldb/ldc are row strides.
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace lowbit::kernels
