// Test helpers: image files written from CHW pixels with stb_image_write (libstb), and a
// dataset's images written as one PNG per image.
#pragma once
#include <stb/stb_image_write.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/data/dataset.hpp"

namespace lowbit::data::testing {

// CHW (channel-major) -> HWC (interleaved), as image files store pixels.
inline std::vector<uint8_t> to_hwc(const uint8_t* chw, int c, int h, int w) {
  std::vector<uint8_t> hwc(static_cast<size_t>(c) * h * w);
  for (int ch = 0; ch < c; ++ch)
    for (int i = 0; i < h * w; ++i) hwc[static_cast<size_t>(i) * c + ch] = chw[static_cast<size_t>(ch) * h * w + i];
  return hwc;
}

// Writes c x h x w CHW pixels (c = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) as a PNG file.
inline void write_png(const std::string& path, const uint8_t* chw, int c, int h, int w) {
  const std::vector<uint8_t> hwc = to_hwc(chw, c, h, w);
  if (!stbi_write_png(path.c_str(), w, h, c, hwc.data(), w * c)) fail(path, ": stbi_write_png failed");
}
inline void write_png(const std::string& path, const std::vector<uint8_t>& chw, int c, int h, int w) {
  write_png(path, chw.data(), c, h, w);
}

// Image i of `ds` as DIR/PREFIX_00000i.png (zero-padded: name order is dataset order), for
// images [first, first + count). Returns the paths in order.
inline std::vector<std::string> write_pngs(const Dataset& ds, const std::string& dir, int64_t first, int64_t count,
                                           const std::string& prefix = "img") {
  std::filesystem::create_directories(dir);
  std::vector<std::string> paths;
  char name[64];
  for (int64_t i = first; i < first + count; ++i) {
    std::snprintf(name, sizeof name, "%s_%06lld.png", prefix.c_str(), static_cast<long long>(i));
    paths.push_back((std::filesystem::path(dir) / name).string());
    write_png(paths.back(), ds.image(i), ds.channels, ds.height, ds.width);
  }
  return paths;
}

}  // namespace lowbit::data::testing
