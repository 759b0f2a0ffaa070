// The one place that talks to the float GEMM libraries. Row-major C = alpha * op(A) * op(B)
// + beta * C, with op(X) = X or X^T. Every matrix product in training goes through gemm().
// gemm_ref is the plain scalar specification (double accumulation) used by tests.
// gemm_integers: exact products of integer-valued matrices (below).
#pragma once
#include <cstdint>
#include <string>

namespace lowbit::kernels {

enum class Trans : bool { No = false, Yes = true };

// Which library computes gemm(). oneDNN (dnnl_sgemm, Debian's libdnnl 2.6 built on OpenMP)
// is the default: it knows CPUs newer than Debian's OpenBLAS 0.3.21, which runs its Haswell
// kernels on them (docs/BENCHMARKS.md, "Training on oneDNN"). OpenBLAS (its OpenMP build)
// stays selectable so that benchmarks compare the two in one run. Both share the OpenMP
// pool of core/threading.hpp: called outside a parallel region they use all of its threads,
// called inside one (conv2d runs one image per thread) they run on the calling thread only.
// Results are deterministic for a given library, CPU and thread count; the two libraries
// (and different thread counts) may differ in the last bits (their summation orders differ).
enum class GemmBackend { kOneDnn, kOpenBlas };
// Process-wide and not atomic: set it before training starts, never while gemm() runs on
// another thread (Trainer::fit sets it from TrainConfig::gemm, `lowbit eval` from the
// checkpoint's).
void set_gemm_backend(GemmBackend b);
GemmBackend gemm_backend();
// "onednn" / "openblas"; parse_gemm_backend throws lowbit::Error on any other name.
const char* gemm_backend_name(GemmBackend b);
GemmBackend parse_gemm_backend(const std::string& name);

// The precision of gemm()'s operands (`lowbit train --compute`). kFloat32: float32 operands.
// kBfloat16: each element of op(A) and op(B) is rounded to bfloat16 (round_to_bfloat16,
// core/bfloat16.hpp: nearest, ties to even) and the products are accumulated in float32
// into a float32 C: the arithmetic of a bf16 matmul with f32 accumulation and destination
// (oneDNN's bf16 matmul, PyTorch's CPU autocast before its output cast). Master weights,
// gradients and optimizer state stay float32; only the operands of the products round.
// This build computes it by rounding copies of the operands and running the float32 GEMM of
// the chosen library: exact bf16 numerics on any CPU, but slower than kFloat32 (the copies);
// a native bf16 path for CPUs with AVX512_BF16 is still to come (issue 15,
// docs/TRAINING.md). gemm_integers and gemm_ref ignore it.
enum class GemmCompute { kFloat32, kBfloat16 };
// Process-wide, like the backend (Trainer::fit sets it from TrainConfig::compute).
void set_gemm_compute(GemmCompute c);
GemmCompute gemm_compute();
// "f32" / "bf16"; parse_gemm_compute throws lowbit::Error on any other name.
const char* gemm_compute_name(GemmCompute c);
GemmCompute parse_gemm_compute(const std::string& name);

// A is M x K after op, B is K x N after op, C is M x N. lda/ldb/ldc are row strides.
// Throws lowbit::Error when a size is negative, a row stride is shorter than its row, or a
// size or stride is 2^31 - 1 or more (the libraries' int range).
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The same at a given precision instead of gemm_compute(): exact evaluation multiplies
// integer codes, whose products of sums below 2^24 float32 holds exactly but bfloat16 does
// not (codes above 256 would round), so Dense and Conv2d pass kFloat32 there.
void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmCompute compute);

void gemm_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Exact products of integers: A and B hold integer values (as floats) and every partial
// sum of op(A) * op(B) is an integer of magnitude below 2^53, so the product computed in
// double (BLAS dgemm, any summation order) is the exact integer, and C = that integer
// rounded once to float (round to nearest even). Training's exact evaluation uses it for
// layers whose dot products of codes reach 2^24, beyond which float accumulation is no
// longer exact (docs/DEPLOYMENT.md); the runtime's int32 accumulators converted to float
// round the same way. Converts into thread-local double buffers (grown, not shrunk).
void gemm_integers(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                   int64_t ldb, float* C, int64_t ldc);
// Scalar twin: int64 accumulation of the same integers.
void gemm_integers_ref(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float* C, int64_t ldc);

}  // namespace lowbit::kernels
