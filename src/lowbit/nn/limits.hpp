// Bounds on the sizes a topology may ask for, checked when the model is built (before any
// allocation) with errors naming the key: a dense layer of 9223372036854775807 units crashed
// summary, train, eval and export alike.
#pragma once
#include <cstdint>

namespace lowbit::nn {

inline constexpr int64_t kMaxUnits = int64_t{1} << 24;         // units, filters, channels, input dimensions
inline constexpr int64_t kMaxWindow = int64_t{1} << 12;        // kernel, stride and padding of conv / pooling
inline constexpr int64_t kMaxLayerParams = int64_t{1} << 31;   // weights of one layer (8 GiB of float32)
inline constexpr int64_t kMaxSampleValues = int64_t{1} << 31;  // values of one sample's input or activation

}  // namespace lowbit::nn
