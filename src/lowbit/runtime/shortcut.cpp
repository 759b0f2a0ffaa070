#include "lowbit/runtime/shortcut.hpp"

#include <algorithm>
#include <vector>

#include "lowbit/format/semantics.hpp"
#include "lowbit/kernels/bit_gemm.hpp"

namespace lowbit::runtime {

void save_levels(const LayerPlan& d, const uint64_t* input, bool bytes, int64_t m, uint8_t* levels) {
  const int64_t pixels = m * d.h * d.w, n = pixels * d.c;
  if (bytes) {
    const auto* src = reinterpret_cast<const uint8_t*>(input);
    std::copy(src, src + n, levels);
    return;
  }
  const int64_t words = kernels::packed_words(d.c), plane = pixels * words;
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t c = 0; c < d.c; ++c) {
      unsigned level = 0;
      for (int b = 0; b < d.input.planes(); ++b)
        level |= static_cast<unsigned>((input[b * plane + p * words + c / 64] >> (c % 64)) & 1u) << b;
      levels[p * d.c + c] = static_cast<uint8_t>(level);
    }
}

void threshold_shortcut(const LayerPlan& d, int64_t rows, const int32_t* acc, const uint8_t* shortcut,
                        uint8_t* out_levels) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < d.out; ++o) {
      const int64_t i = r * d.out + o;
      const int32_t* t = d.thresholds.data() + (o * d.sets + shortcut[i]) * d.levels;
      out_levels[i] = static_cast<uint8_t>(format::threshold_level(t, d.levels, acc[i]));
    }
}

void pack_levels(int64_t rows, int64_t c, int planes, const uint8_t* levels, uint64_t* out) {
  const int64_t words = kernels::packed_words(c), plane = rows * words;
  if (c % 64 == 0) {  // rows are whole words: one call of the packing kernel
    kernels::pack_planes(plane, planes, levels, out, plane);
    return;
  }
  // Else row by row, each padded to whole words with level 0 (what the packed layout's gaps hold).
  std::vector<uint8_t> row(static_cast<size_t>(words * 64), 0);
  std::vector<uint64_t> packed(static_cast<size_t>(planes * words));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(levels + r * c, levels + (r + 1) * c, row.begin());
    kernels::pack_planes(words, planes, row.data(), packed.data(), words);
    for (int b = 0; b < planes; ++b)
      std::copy(packed.begin() + b * words, packed.begin() + (b + 1) * words, out + b * plane + r * words);
  }
}

}  // namespace lowbit::runtime
