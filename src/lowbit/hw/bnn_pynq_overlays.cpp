#include "lowbit/hw/bnn_pynq_overlays.hpp"

#include <algorithm>
#include <cmath>

#include "lowbit/core/error.hpp"

namespace lowbit::hw::bnn_pynq {

namespace {

// The shared shapes (BNN-PYNQ config.h); weight and activation bits and foldings per overlay.
OverlayLayer fc(int64_t mw, int64_t mh, int64_t simd, int64_t pe) {
  OverlayLayer l;
  l.mw = mw, l.mh = mh, l.simd = simd, l.pe = pe;
  return l;
}

OverlayLayer conv(int64_t ifm_ch, int64_t ifm_dim, int64_t ofm_ch, int64_t simd, int64_t pe, bool pool) {
  OverlayLayer l;
  l.conv = true;
  l.kernel = 3, l.ifm_ch = ifm_ch, l.ifm_dim = ifm_dim, l.ofm_ch = ofm_ch, l.ofm_dim = ifm_dim - 2;
  l.mw = 9 * ifm_ch, l.mh = ofm_ch, l.simd = simd, l.pe = pe, l.pool_after = pool;
  return l;
}

Overlay lfc(const std::string& name, int abits) {
  Overlay o{name, OverlayInput::kMnistBits, OverlayOutput::kClassBits, {}, 64};
  // LFC: 784 inputs padded to 832 (the first layer pads to a multiple of 64 for the AXI
  // stream), 1024 x 3 hidden, 10 classes padded to 64 rows.
  o.layers = {fc(832, 1024, 64, 32), fc(1024, 1024, 32, 64), fc(1024, 1024, 64, 32), fc(1024, 64, 8, 16)};
  for (size_t i = 0; i < o.layers.size(); ++i) {
    OverlayLayer& l = o.layers[i];
    const bool last = i + 1 == o.layers.size();
    l.thresholds = last ? 1 : (abits == 1 ? 1 : 2);
    if (abits == 1) {  // W1A1: XNOR-popcount on bits everywhere
      l.input = InputCode::kBit, l.acc = Accumulate::kXnorPopcount;
    } else {  // W1A2: the binary input as +-1 values, then 2-bit codes
      l.input = i == 0 ? InputCode::kBit : InputCode::kInt2, l.acc = Accumulate::kSignedDot;
    }
  }
  return o;
}

Overlay cnv(const std::string& name, int wbits, int abits) {
  Overlay o{name, OverlayInput::kCifarFixed, OverlayOutput::kAccumulators16, {}, 64};
  const bool w2 = wbits == 2;
  // CNV: 3x3 valid convolutions 64, 64, pool, 128, 128, pool, 256, 256, then FC 512, 512,
  // and the classes padded to 64 rows. Foldings: W1 overlays / W2A2 (config.h).
  o.layers = {conv(3, 32, 64, 3, w2 ? 8 : 16, false),    conv(64, 30, 64, w2 ? 16 : 32, w2 ? 16 : 32, true),
              conv(64, 14, 128, w2 ? 16 : 32, w2 ? 8 : 16, false), conv(128, 12, 128, w2 ? 16 : 32, w2 ? 8 : 16, true),
              conv(128, 5, 256, w2 ? 8 : 32, 4, false),  conv(256, 3, 256, w2 ? 8 : 32, 1, false),
              fc(256, 512, w2 ? 2 : 4, 1),               fc(512, 512, w2 ? 2 : 8, w2 ? 2 : 1),
              fc(512, 64, 1, 4)};
  for (size_t i = 0; i < o.layers.size(); ++i) {
    OverlayLayer& l = o.layers[i];
    l.weight_bits = wbits;
    l.thresholds = i + 1 == o.layers.size() ? 0 : (abits == 1 ? 1 : 2);
    if (i == 0) {
      l.input = InputCode::kFixed8, l.acc = Accumulate::kFixedInput;
    } else if (abits == 1 && wbits == 1) {
      l.input = InputCode::kBit, l.acc = Accumulate::kXnorPopcount;
    } else {
      l.input = InputCode::kInt2, l.acc = Accumulate::kSignedDot;
    }
  }
  return o;
}

}  // namespace

const std::vector<Overlay>& overlays() {
  static const std::vector<Overlay> all = {lfc("lfcW1A1", 1), lfc("lfcW1A2", 2), cnv("cnvW1A1", 1, 1),
                                           cnv("cnvW1A2", 1, 2), cnv("cnvW2A2", 2, 2)};
  return all;
}

std::string overlay_names() {
  std::string s;
  for (const Overlay& o : overlays()) s += (s.empty() ? "" : ", ") + o.name;
  return s;
}

const Overlay& overlay(const std::string& name) {
  for (const Overlay& o : overlays())
    if (o.name == name) return o;
  fail("unknown BNN-PYNQ network '", name, "'; valid: ", overlay_names());
}

int32_t cifar_fixed_code(int c) {
  LOWBIT_CHECK(c >= 0 && c <= 255, "a pixel is 0..255, got ", c);
  // In double, as tiny-cnn's parse_cifar10 and ap_fixed's conversion: 256c/255 - 128 is never
  // within 1/510 of a half, far above rounding error.
  const double q = std::floor(256.0 * c / 255.0 - 128.0 + 0.5);
  return static_cast<int32_t>(std::clamp(q, -128.0, 127.0));
}

}  // namespace lowbit::hw::bnn_pynq
