#include "lowbit/data/cifar.hpp"

#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/data/data_file.hpp"

namespace lowbit::data {

Dataset read_cifar10(const std::vector<std::string>& paths, std::string name) {
  LOWBIT_CHECK(!paths.empty(), "read_cifar10(", name, "): no files given");
  Dataset ds;
  ds.name = std::move(name);
  ds.channels = kCifarChannels;
  ds.height = ds.width = kCifarSide;
  ds.num_classes = kCifarNumClasses;

  for (const std::string& path : paths) {
    // Each batch is 30 MB; reading one at a time keeps the peak at dataset + one batch.
    std::vector<uint8_t> bytes = read_data_file(path);
    if (bytes.empty()) fail(path, ": empty file (expected 3073-byte CIFAR-10 records)");
    if (bytes.size() % kCifarRecordBytes != 0)
      fail(path, ": truncated: ", bytes.size(), " bytes is not a whole number of 3073-byte CIFAR-10 records (",
           bytes.size() / kCifarRecordBytes, " records + ", bytes.size() % kCifarRecordBytes, " bytes)");
    const int64_t records = static_cast<int64_t>(bytes.size()) / kCifarRecordBytes;
    const int64_t first = ds.size();
    ds.labels.resize(static_cast<size_t>(first + records));
    ds.images.resize(static_cast<size_t>((first + records) * kCifarImageBytes));
    for (int64_t r = 0; r < records; ++r) {
      const uint8_t* rec = bytes.data() + r * kCifarRecordBytes;
      if (rec[0] >= kCifarNumClasses)
        fail(path, ": label ", int(rec[0]), " in record ", r, " is out of range (CIFAR-10 labels are 0..9)");
      ds.labels[static_cast<size_t>(first + r)] = rec[0];
      std::memcpy(ds.images.data() + (first + r) * kCifarImageBytes, rec + 1, kCifarImageBytes);
    }
  }
  return ds;
}

}  // namespace lowbit::data
