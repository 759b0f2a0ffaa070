// A tiny learnable image dataset for trainer tests: class k has a bright 3x3 block at
// a class-specific position plus noise, so a small network reaches high accuracy in a
// few epochs and tests stay fast.
#pragma once
#include "lowbit/core/rng.hpp"
#include "lowbit/data/dataset.hpp"

namespace lowbit::testing {

inline data::Dataset synthetic_dataset(int64_t n, uint64_t seed, int classes = 4, int side = 8) {
  data::Dataset ds;
  ds.name = "synthetic";
  ds.channels = 1;
  ds.height = side;
  ds.width = side;
  ds.num_classes = classes;
  ds.images.resize(static_cast<size_t>(n * side * side));
  ds.labels.resize(static_cast<size_t>(n));
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(rng.below(static_cast<uint64_t>(classes)));
    ds.labels[static_cast<size_t>(i)] = label;
    uint8_t* img = ds.images.data() + i * side * side;
    for (int p = 0; p < side * side; ++p) img[p] = static_cast<uint8_t>(rng.below(60));
    int r0 = (label * 2) % (side - 3), c0 = (label * 3) % (side - 3);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) img[(r0 + r) * side + c0 + c] = static_cast<uint8_t>(200 + rng.below(56));
  }
  return ds;
}

}  // namespace lowbit::testing
