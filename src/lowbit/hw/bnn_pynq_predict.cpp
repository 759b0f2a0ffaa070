#include "lowbit/hw/bnn_pynq_predict.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lowbit::hw::bnn_pynq {

namespace {

// The class bits as the host masks them: the low `classes` bits of the output word.
uint64_t class_word(const OverlayParams& p, const int32_t* outputs) {
  uint64_t word = 0;
  for (int64_t c = 0; c < p.classes; ++c)
    if (outputs[c]) word |= uint64_t{1} << c;
  return word;
}

}  // namespace

void overlay_outputs(const OverlayParams& p, const int32_t* acc, int32_t* out) {
  const OutputMap& m = p.output;
  const bool bits = p.overlay->output == OverlayOutput::kClassBits;
  for (int64_t c = 0; c < p.classes; ++c) {
    const int64_t a = static_cast<int64_t>(m.row_sign[static_cast<size_t>(c)]) * acc[c];
    if (bits) {
      out[c] = a >= m.class_threshold[static_cast<size_t>(c)];
    } else {  // ap_uint<16> on the board, read back as ap_int<16>
      const int64_t v = floor_div(m.mul * a + m.add, m.den);
      out[c] = static_cast<int16_t>(static_cast<uint16_t>(v & 0xffff));
    }
  }
}

int32_t batch_class(const OverlayParams& p, const int32_t* outputs) {
  if (p.overlay->output == OverlayOutput::kClassBits) {
    const uint64_t word = class_word(p, outputs);
    // testPrebinarized_nolabel_multiple_images: (unsigned int) log2((double) word), 0 for 0.
    return word == 0 ? 0 : static_cast<int32_t>(static_cast<unsigned>(std::log2(static_cast<double>(word))));
  }
  // testPrebuiltCIFAR10_multiple_images: maxVal starts at 0, strictly greater wins.
  int32_t best = 0, best_value = 0;
  for (int64_t c = 0; c < p.classes; ++c)
    if (outputs[c] > best_value) best_value = outputs[c], best = static_cast<int32_t>(c);
  return best;
}

int32_t single_image_class(const OverlayParams& p, const int32_t* outputs) {
  if (p.overlay->output == OverlayOutput::kClassBits) {
    const uint64_t word = class_word(p, outputs);
    // testPrebinarized_nolabel: round(log2((double) word)), 0 for 0; then the index of the
    // one set entry of a 64-vector (none when that index is 64: then 0).
    const double r = word == 0 ? 0 : std::round(std::log2(static_cast<double>(word)));
    return r < 64 ? static_cast<int32_t>(r) : 0;
  }
  return static_cast<int32_t>(std::max_element(outputs, outputs + p.classes) - outputs);
}

}  // namespace lowbit::hw::bnn_pynq
