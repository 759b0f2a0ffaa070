// Embedding the runtime: load a .lbm model, classify raw 8-bit images, read the scores.
// Links lowbit_runtime only (no training code, no BLAS).
//
//   build/bin/classify model.lbm images.u8 H W        (images.u8: N x C x H x W raw bytes)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/runtime/engine.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " MODEL.lbm IMAGES.u8 HEIGHT WIDTH\n";
    return 2;
  }
  try {
    lowbit::runtime::Engine engine = lowbit::runtime::Engine::load(argv[1]);
    const auto& info = engine.info();
    const int64_t h = std::stoll(argv[3]), w = std::stoll(argv[4]);
    const int64_t c = info.channels;
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) throw lowbit::Error(std::string(argv[2]) + ": cannot open");
    std::vector<uint8_t> images((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int64_t n = static_cast<int64_t>(images.size()) / (c * h * w);
    if (n * c * h * w != static_cast<int64_t>(images.size()))
      throw lowbit::Error(std::string(argv[2]) + ": size is not a whole number of " + std::to_string(c) + "x" +
                          std::to_string(h) + "x" + std::to_string(w) + " images");
    std::vector<float> scores(static_cast<size_t>(n * info.classes));
    std::vector<int32_t> predictions(static_cast<size_t>(n));
    engine.run(images.data(), n, h, w, scores.data(), predictions.data());
    for (int64_t i = 0; i < n; ++i) {
      std::cout << predictions[static_cast<size_t>(i)];
      for (int64_t k = 0; k < info.classes; ++k) std::cout << ' ' << scores[static_cast<size_t>(i * info.classes + k)];
      std::cout << '\n';
    }
  } catch (const lowbit::Error& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
