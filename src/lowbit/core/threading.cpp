#include "lowbit/core/threading.hpp"

#include <omp.h>

#include <algorithm>
#include <thread>

#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"

extern "C" void openblas_set_num_threads(int);

namespace lowbit {

void set_num_threads(int n) {
  LOWBIT_CHECK(n >= 0 && n <= kMaxThreads, "threads must be in 0..", kMaxThreads, " (0 = all cores), got ", n);
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  enter_fp_contract_all_threads();  // the pool's threads, which BLAS shares (core/fp_env.hpp)
}

int num_threads() { return omp_get_max_threads(); }

int thread_index() { return omp_get_thread_num(); }

}  // namespace lowbit
