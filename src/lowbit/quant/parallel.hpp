// Element loops of quantizers split over the OpenMP team in contiguous chunks (large
// tensors only: below kQuantParallelMin the thread start-up costs more than the loop).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// Calls fn(begin, end) on a partition of [0, n); every index is visited exactly once.
template <class F>
void for_chunks(int64_t n, F&& fn) {
  if (n < kQuantParallelMin) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t team = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t per = (n + team - 1) / team;
    const int64_t b = std::min(n, tid * per), e = std::min(n, b + per);
    if (b < e) fn(b, e);
  }
}

}  // namespace lowbit::quant
