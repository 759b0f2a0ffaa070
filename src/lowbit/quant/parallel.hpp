// Element loops of quantizers split over threads in contiguous chunks (core/parallel.hpp;
// large tensors only: below kQuantParallelMin the thread start-up costs more than the loop).
#pragma once
#include <cstdint>

#include "lowbit/core/parallel.hpp"

#include "lowbit/quant/quantizer.hpp"

namespace lowbit::quant {

// Calls fn(begin, end) on a partition of [0, n); every index is visited exactly once.
template <class F>
void for_chunks(int64_t n, F&& fn) {
  parallel_for(n, kQuantParallelMin, fn);
}

}  // namespace lowbit::quant
