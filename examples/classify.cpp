// Embedding the runtime: load a .lbm model, classify raw 8-bit images, read the scores.
// Links lowbit_runtime only (no training code, no BLAS).
//
//   build/bin/classify model.lbm images.u8 CHANNELS HEIGHT WIDTH
//
// images.u8 holds N images of CHANNELS x HEIGHT x WIDTH bytes each, channel-major, back to
// back; the runtime checks that geometry against the model's input. Prints one line per image: the predicted class, then the
// score of every class. Exit codes: 0 done, 1 a file or the images do not fit the model,
// 2 wrong arguments.
#include <charconv>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/format/input_fit.hpp"
#include "lowbit/runtime/engine.hpp"

namespace {

// A whole decimal argument in 1..65536 (the runtime's largest image dimension), or nothing.
std::optional<int64_t> image_dim(std::string_view s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 1 || v > 65536) return std::nullopt;
  return v;
}

int usage(const char* program, const std::string& problem) {
  std::cerr << "classify: " << problem << "\nusage: " << program << " MODEL.lbm IMAGES.u8 CHANNELS HEIGHT WIDTH\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) return usage(argv[0], "expected 5 arguments, got " + std::to_string(argc - 1));
  int64_t dims[3];
  const char* names[3] = {"CHANNELS", "HEIGHT", "WIDTH"};
  for (int k = 0; k < 3; ++k) {
    const std::optional<int64_t> v = image_dim(argv[3 + k]);
    if (!v) return usage(argv[0], std::string(names[k]) + " must be a whole number in 1..65536, got '" + argv[3 + k] + "'");
    dims[k] = *v;
  }
  const int64_t c = dims[0], h = dims[1], w = dims[2];
  try {
    lowbit::runtime::Engine engine = lowbit::runtime::Engine::load(argv[1]);
    const auto& info = engine.info();
    // The geometry first (format/input_fit.hpp, the rule Engine::run applies), then the file.
    lowbit::format::check_images_fit(info.input_shape, c, h, w, argv[1]);
    const int64_t image_size = c * h * w;
    const std::vector<uint8_t> images = lowbit::read_file(argv[2]);  // names the file in its errors
    const int64_t n = static_cast<int64_t>(images.size()) / image_size;
    if (n == 0 || n * image_size != static_cast<int64_t>(images.size()))
      throw lowbit::Error(std::string(argv[2]) + ": " + std::to_string(images.size()) +
                          " bytes are not a whole, non-zero number of " + std::to_string(c) + "x" +
                          std::to_string(h) + "x" + std::to_string(w) + " images");
    std::vector<float> scores(static_cast<size_t>(n * info.classes));
    std::vector<int32_t> predictions(static_cast<size_t>(n));
    engine.run(images.data(), n, c, h, w, scores.data(), predictions.data());  // checks the geometry
    for (int64_t i = 0; i < n; ++i) {
      std::cout << predictions[static_cast<size_t>(i)];
      for (int64_t k = 0; k < info.classes; ++k) std::cout << ' ' << scores[static_cast<size_t>(i * info.classes + k)];
      std::cout << '\n';
    }
  } catch (const lowbit::Error& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {  // std::bad_alloc for a file larger than memory
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
