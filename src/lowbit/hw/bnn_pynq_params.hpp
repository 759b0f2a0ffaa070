// A lowbit model (the IR, format::ModelDesc) as the integer weights and thresholds one of
// BNN-PYNQ's overlays (bnn_pynq_overlays.hpp) computes with, checked to fit it. The files
// are then only a packing of these (bnn_pynq_files.hpp); `lowbit run --semantics bnn-pynq`
// decides classes with the same numbers (bnn_pynq_predict.hpp).
//
// Every layer's overlay accumulator v is an exact affine function of lowbit's accumulator
// acc (the IR's, in the IR's sign-corrected weights):
//   XNOR-popcount (W1A1):   v = (acc + K) / 2       (K real columns; padding matches nothing)
//   signed dot:             v = acc + P * x_pad * w_pad   (P padded columns)
//   fixed-point input:      v = 2 R acc             (in 1/256: the ap_fixed<24,16> accumulator
//                                                    is R acc / 128, R = 3 for a grey model
//                                                    whose channel is replicated to R, G, B)
// and the overlay fires threshold T when T < v (strict). lowbit's `acc >= t` is therefore
// T = ceil(v(t)) - 1; thresholds no accumulator reaches (or that every one reaches) become
// v(A) (or v(-A) - 1) for the largest |acc| A. Nothing is rounded: the overlay's outputs equal
// lowbit's codes on every input.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/bnn_pynq_overlays.hpp"

namespace lowbit::hw::bnn_pynq {

// floor(a / b) for b != 0 (C++ division truncates toward zero).
inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// One overlay layer's contents, unpacked.
struct LayerParams {
  int64_t rows = 0, cols = 0;     // mh x mw, padding included
  std::vector<int8_t> weights;    // rows x cols values, row-major: +-1 (W1) or -2..1 (W2)
  int thresholds = 0;             // per row (0: the raw accumulator is the output)
  std::vector<int64_t> threshold; // rows x thresholds, in the overlay's accumulator units (T < v fires)
};

// How lowbit's last-layer accumulators (runtime::Engine::trace, trained sign) become the
// overlay's outputs: acc' = row_sign[c] * acc_c; LFC: bit c = acc' >= class_threshold[c];
// CNV: value c = (mul * acc' + add) / den, the last layer's v (XNOR-popcount: mul 1, add K,
// den 2; signed dot: mul 1, add the padding's contribution, den 1).
struct OutputMap {
  std::vector<int8_t> row_sign;         // per class: -1 where the overlay holds the negated row
  std::vector<int64_t> class_threshold; // LFC: per class, in acc' (INT64_MIN: always, INT64_MAX: never)
  int64_t mul = 1, add = 0, den = 1;    // CNV
};

struct OverlayParams {
  const Overlay* overlay = nullptr;
  std::vector<LayerParams> layers;
  int64_t classes = 0;     // the model's classes (<= overlay->max_classes)
  int replicate = 1;       // CNV: 3 when a one-channel model's first layer was replicated to R, G, B
  OutputMap output;
};

// Checks that `desc` is a network the overlay computes (layer kinds and shapes, pooling,
// bit widths, the input table, the last layer) and converts it. Throws lowbit::Error with
// one line per mismatch, each naming the layer ("layer 2 (dense@5): ...") and what to change.
OverlayParams overlay_params(const format::ModelDesc& desc, const Overlay& overlay);

// The first overlay the description fits, or nullptr (for `lowbit run --semantics bnn-pynq`
// without --network); `why` then gets each overlay's first mismatch.
const Overlay* find_overlay(const format::ModelDesc& desc, std::string* why = nullptr);

}  // namespace lowbit::hw::bnn_pynq
