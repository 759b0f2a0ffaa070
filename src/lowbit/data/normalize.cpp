// Pixel normalization: parsing the option and the exact float each pixel becomes.
#include <cctype>

#include "lowbit/core/error.hpp"
#include "lowbit/data/batch.hpp"

namespace lowbit::data {

Normalize parse_normalize(const std::string& s) {
  std::string t;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "0,1" || t == "zero_one") return Normalize::ZeroOne;
  if (t == "-1,1" || t == "minus_one_one") return Normalize::MinusOneOne;
  fail("unknown normalization '", s, "' (expected \"0,1\" or zero_one, \"-1,1\" or minus_one_one)");
}

std::string normalize_name(Normalize n) { return n == Normalize::ZeroOne ? "zero_one" : "minus_one_one"; }

float normalize_pixel(uint8_t pixel, Normalize n) {
  const float v = static_cast<float>(pixel);
  // Written so both ends are exact: 0 -> 0 / -1 and 255 -> 1 (2*255/255 is exactly 2).
  return n == Normalize::ZeroOne ? v / 255.f : (2.f * v) / 255.f - 1.f;
}

}  // namespace lowbit::data
