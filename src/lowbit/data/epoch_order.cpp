// Epoch shuffling. A fresh Rng per (seed, epoch) rather than one long-lived stream:
// epoch e's order then depends on nothing but (seed, e), so resuming from a checkpoint
// at any epoch reproduces the original run exactly.
#include <numeric>
#include <utility>

#include "lowbit/core/error.hpp"
#include "lowbit/data/batch.hpp"

namespace lowbit::data {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  LOWBIT_CHECK(n >= 0, "epoch_order: negative dataset size ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  Rng rng(seed, static_cast<uint64_t>(epoch));
  // Fisher-Yates: every permutation equally likely (rng.below is unbiased).
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

}  // namespace lowbit::data
