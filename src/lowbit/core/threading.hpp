// One parallelism model: OpenMP. OpenBLAS is linked in its OpenMP build, so BLAS calls
// made outside our parallel regions use the same thread pool, and BLAS calls made inside
// one run single-threaded (OpenBLAS detects the enclosing region). Never both at once.
#pragma once

namespace lowbit {

// Set the number of threads used by our loops and by BLAS (n <= 0: all cores), and
// flush denormals to zero on those threads.
void set_num_threads(int n);
int num_threads();
// Index of the calling thread inside a parallel region (0 outside).
int thread_index();

}  // namespace lowbit
