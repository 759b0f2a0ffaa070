// Binary (+-1) matrix products by XNOR-popcount, with the project's bit convention
// (ARCHITECTURE.md): bit 1 means +1, bit 0 means -1, sign(0) = +1, and for K-bit vectors
//   dot(a, w) = K - 2 * popcount(a XOR w).
// Bits beyond K in the last word are 0 in both operands, so they never count.
//
// Layouts: activations A are packed row by row, `words = packed_words(k)` uint64 per row
// (row-major, [m][words]); weights are packed word-major, Bt[word][n], so that one
// broadcast word of A meets n consecutive weight words and SIMD lanes map to different
// outputs (no horizontal reductions).
//
// xnor_gemm is dispatched at run time (Google Highway) to the best of AVX-512 (with
// VPOPCNTDQ), AVX2, SSE4, NEON or scalar code; xnor_gemm_ref is its plain scalar twin and
// the specification. Results are exact integers, so they equal a float GEMM of the same
// +-1 matrices bit for bit (|dot| <= K < 2^24).
#pragma once
#include <cstdint>

namespace lowbit::kernels {

inline int64_t packed_words(int64_t k) { return (k + 63) / 64; }

// Packs m rows of k floats into bits (row-major, packed_words(k) words per row), bit j of
// a row = (x[j] >= 0). Returns false, leaving `a` unspecified, when some value is not
// exactly +1 or -1 (the caller then falls back to a float product).
// Dispatched like xnor_gemm (vector compares and mask bits); pack_rows_pm1_ref is the
// scalar twin (on true, the same words; both return false on the same inputs).
bool pack_rows_pm1(const float* x, int64_t m, int64_t k, uint64_t* a);
bool pack_rows_pm1_ref(const float* x, int64_t m, int64_t k, uint64_t* a);

// Packs an (n x k) row-major matrix of exact +-1 values word-major: bt[w * n + j] holds
// bits 64w.. of row j. Returns false when some value is not exactly +-1. The second form
// packs rows [j0, j1) only (callers split the rows over threads; kernels are single-threaded).
bool pack_cols_pm1(const float* w, int64_t n, int64_t k, uint64_t* bt);
bool pack_cols_pm1(const float* w, int64_t n, int64_t k, uint64_t* bt, int64_t j0, int64_t j1);
bool pack_cols_pm1_ref(const float* w, int64_t n, int64_t k, uint64_t* bt, int64_t j0, int64_t j1);

// C[i * ldc + j] = k - 2 popcount(A_i XOR B_j) for i < m, j < n (as float). Single-threaded:
// callers split the rows (a + i0 * packed_words(k), c + i0 * ldc).
void xnor_gemm(int64_t m, int64_t n, int64_t k, const uint64_t* a, const uint64_t* bt, float* c, int64_t ldc);
void xnor_gemm_ref(int64_t m, int64_t n, int64_t k, const uint64_t* a, const uint64_t* bt, float* c, int64_t ldc);

// Layers use the binary kernels when their operands are exactly +-1 (on by default; the
// environment variable LOWBIT_XNOR=0 turns them off, for comparisons). Results are the
// same either way; only the speed differs.
void set_binary_kernels_enabled(bool on);
bool binary_kernels_enabled();

// The Highway target xnor_gemm runs on here ("AVX3_ZEN4", "AVX2", ...), for benchmarks.
const char* xnor_gemm_target();

}  // namespace lowbit::kernels
