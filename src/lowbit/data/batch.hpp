// Turning dataset images into float training batches: epoch shuffling, normalization,
// padding to the network's input size, and data augmentation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/core/tensor.hpp"
#include "lowbit/data/dataset.hpp"

namespace lowbit::data {

// How 8-bit pixels x map to floats.
enum class Normalize {
  ZeroOne,      // x / 255                -> [0, 1]
  MinusOneOne,  // 2 * x / 255 - 1        -> [-1, 1] (BNN-PYNQ / FINN convention)
};
// "0,1" | "zero_one" -> ZeroOne; "-1,1" | "minus_one_one" -> MinusOneOne (spaces ignored).
Normalize parse_normalize(const std::string& s);
std::string normalize_name(Normalize n);  // "zero_one" | "minus_one_one"
// The float a raw pixel value becomes; make_batch uses exactly these values.
float normalize_pixel(uint8_t pixel, Normalize n);

struct Augment {
  bool random_crop = false;  // pad by crop_pad zero pixels on every side, take a random HxW window
  int crop_pad = 4;
  bool hflip = false;        // mirror left-right with probability 1/2
};

struct BatchOptions {
  Normalize normalize = Normalize::ZeroOne;
  Augment augment;
  int out_height = 0, out_width = 0;  // 0 = the dataset's own size; larger = centre-pad with 0
};

// Seeded permutation of [0, n) for an epoch: Fisher-Yates driven by Rng(seed, epoch).
// The same (seed, epoch) always gives the same order, so a resumed run sees the same data.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

// Fill x (shape [count, C, OH, OW]) and labels (count) from images idx[0..count).
// Order of operations per image: augment (at the dataset's HxW), centre-pad to OHxOW,
// normalize. All padding (crop padding and output padding) is pixel value 0 BEFORE
// normalization, so pads are 0.0 under ZeroOne and -1.0 under MinusOneOne.
// Random numbers are drawn serially, per image in batch order: crop dy, crop dx (each
// rng.below(2*crop_pad+1)), then flip (rng.below(2)); only for enabled augmentations.
// x and labels are resized (no allocation once they are big enough).
void make_batch(const Dataset& ds, const int64_t* idx, int64_t count, const BatchOptions& opt, Rng& rng,
                Tensor& x, std::vector<int32_t>& labels);

// Advances rng past the draws make_batch makes for `count` images under `aug` (the same
// calls, results dropped): a data-parallel rank holding images [o, o + n) of a global batch
// skips the draws of the o images before its slice and of the images after it, so its
// augmentation, and every draw after the batch (dropout seeds), are those of one process
// building the whole batch (docs/DISTRIBUTED.md).
void skip_batch_draws(Rng& rng, int64_t count, const Augment& aug);

}  // namespace lowbit::data
