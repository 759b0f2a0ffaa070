#include "lowbit/core/threading.hpp"

#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace lowbit {

// Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) on every thread
// of the pool (OpenBLAS runs on the same OpenMP threads). Tiny gradients otherwise turn
// into denormals late in training and slow every product they enter by an order of
// magnitude; TensorFlow sets the same flags. Results stay deterministic.
static void flush_denormals_on_all_threads() {
#if defined(__x86_64__) || defined(__i386__)
#pragma omp parallel
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  flush_denormals_on_all_threads();
}

int num_threads() { return omp_get_max_threads(); }

int thread_index() { return omp_get_thread_num(); }

}  // namespace lowbit
