// Helpers shared by the trainer tests: a per-test output folder and a flat copy of every
// parameter and buffer of a model (to compare runs bit for bit).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lowbit/nn/model.hpp"

namespace lowbit::testing {

// TEMP/lowbit_PREFIX_TAG_PID, removed before and after the test; the trainer creates it.
struct RunDir {
  std::filesystem::path dir;
  RunDir(const std::string& prefix, const std::string& tag)
      : dir(std::filesystem::temp_directory_path() / ("lowbit_" + prefix + "_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
  }
  ~RunDir() { std::filesystem::remove_all(dir); }
  std::string str() const { return dir.string(); }
};

inline std::vector<float> model_state(nn::Model& m) {
  std::vector<float> v;
  for (auto& p : m.named_params()) v.insert(v.end(), p.param->value.begin(), p.param->value.end());
  for (auto& b : m.named_buffers()) v.insert(v.end(), b.tensor->begin(), b.tensor->end());
  return v;
}

}  // namespace lowbit::testing
