// Resolve a --data spec to a train/test split.
//   "fashion-mnist", "mnist": $LOWBIT_DATA_ROOT/<name> if that folder exists, else
//                             /usr/share/datasets/<name>
//   anything else: a folder holding the four MNIST-format IDX files (raw or .gz), or
//                  CIFAR-10 binary batches (directly or in cifar-10-batches-bin/).
// See docs/DATA.md for the full rules.
#pragma once
#include <string>
#include <vector>

#include "lowbit/data/dataset.hpp"

namespace lowbit::data {

inline constexpr const char* kSystemDataRoot = "/usr/share/datasets";

DataSplit load_data(const std::string& spec);

// The folder a spec resolves to (named datasets searched as above; otherwise the spec
// itself). Throws naming every location tried when a named dataset is found nowhere.
std::string resolve_data_dir(const std::string& spec);

}  // namespace lowbit::data
