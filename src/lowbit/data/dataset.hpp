// An in-memory image classification dataset: raw 8-bit pixels plus integer labels.
// Pixels stay uint8 (4x smaller than float); make_batch() converts one batch at a time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

struct Dataset {
  std::string name;  // e.g. "fashion-mnist/train"; used in logs and error messages
  int channels = 0, height = 0, width = 0;
  int num_classes = 0;
  std::vector<uint8_t> images;  // N*C*H*W, CHW order per image, raw 8-bit pixels
  std::vector<int32_t> labels;  // N, in [0, num_classes)
  // One name per class when the dataset says them (Fashion-MNIST, CIFAR-10), else empty:
  // reports then print class numbers.
  std::vector<std::string> class_names;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }  // N
  int64_t image_size() const {                                         // C*H*W
    return static_cast<int64_t>(channels) * height * width;
  }
  const uint8_t* image(int64_t i) const { return images.data() + i * image_size(); }
};

struct DataSplit {
  Dataset train, test;
};

}  // namespace lowbit::data
