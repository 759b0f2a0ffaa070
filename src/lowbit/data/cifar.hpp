// CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin): a sequence of 3073-byte
// records, each 1 label byte (0..9) followed by 3x32x32 pixels in CHW order (all red,
// then all green, then all blue), which is exactly our Dataset layout.
#pragma once
#include <string>
#include <vector>

#include "lowbit/data/dataset.hpp"

namespace lowbit::data {

inline constexpr int kCifarChannels = 3, kCifarSide = 32, kCifarNumClasses = 10;
inline constexpr int64_t kCifarImageBytes = int64_t(kCifarChannels) * kCifarSide * kCifarSide;  // 3072
inline constexpr int64_t kCifarRecordBytes = 1 + kCifarImageBytes;                                // 3073

// Concatenate the records of `paths` (in the order given) into one dataset. Errors name
// the file: missing, empty, size not a multiple of 3073 (truncated), label > 9.
Dataset read_cifar10(const std::vector<std::string>& paths, std::string name);

}  // namespace lowbit::data
