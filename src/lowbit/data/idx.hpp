// MNIST-format IDX files (also Fashion-MNIST, KMNIST, EMNIST): a big-endian header
// followed by unsigned bytes. Raw or gzip-compressed files are both accepted.
//   images: magic 0x00000803, then u32 count, rows, cols, then count*rows*cols pixels
//   labels: magic 0x00000801, then u32 count, then count label bytes
#pragma once
#include <string>

#include "lowbit/data/dataset.hpp"

namespace lowbit::data {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // ubyte, 3 dims
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // ubyte, 1 dim
inline constexpr int kIdxNumClasses = 10;                // all MNIST-format sets we load

// Load a pair of IDX files into a 1-channel dataset with 10 classes. Every header is
// checked against the actual file size before anything is allocated from it; errors
// name the file at fault (bad magic, truncated data, trailing bytes, count mismatch,
// label >= 10 with its index, missing file).
Dataset read_idx(const std::string& images_path, const std::string& labels_path, std::string name);

}  // namespace lowbit::data
