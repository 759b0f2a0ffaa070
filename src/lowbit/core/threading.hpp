// One parallelism model: OpenMP. OpenBLAS is linked in its OpenMP build, so BLAS calls
// made outside our parallel regions use the same thread pool, and BLAS calls made inside
// one run single-threaded (OpenBLAS detects the enclosing region). Never both at once.
#pragma once

namespace lowbit {

// The most threads any flag or option may ask for (OpenMP itself fails on far fewer than
// it would accept: --threads 100000 crashed inside libgomp).
inline constexpr int kMaxThreads = 1024;

// Set the number of threads used by our loops and by BLAS (0: all cores), and put every
// pool thread in the floating-point contract mode (core/fp_env.hpp). Throws lowbit::Error
// outside 0..kMaxThreads.
void set_num_threads(int n);
int num_threads();
// Index of the calling thread inside a parallel region (0 outside).
int thread_index();

}  // namespace lowbit
