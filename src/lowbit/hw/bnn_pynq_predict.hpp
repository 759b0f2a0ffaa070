// What a BNN-PYNQ overlay reports for an image, from lowbit's last-layer accumulators
// (runtime::Engine::trace, trained sign) and the overlay parameters export derived
// (bnn_pynq_params.hpp): the same numbers the board computes, so `lowbit run --semantics
// bnn-pynq` shows the accuracy the board will reach. The host-side rules are BNN-PYNQ's
// (bnn/src/library/host/foldedmv-offload.{h,cpp}, bnn/bnn.py):
//   LFC, classify_mnists (batch):   the highest set class bit, floor(log2(bits)); 0 when none;
//        classify_mnist (one image): round(log2(bits)) -- with several bits set this can name
//        a class whose bit is not set.
//   CNV, classify_cifars (batch):   the first class whose 16-bit output exceeds every earlier
//        one and 0 (0 when none is positive);
//        classify_cifar (one image): the first maximum (std::max_element).
#pragma once
#include <cstdint>

#include "lowbit/hw/bnn_pynq_params.hpp"

namespace lowbit::hw::bnn_pynq {

// The overlay's outputs for one image: p.classes values, class bits 0/1 (LFC) or the signed
// 16-bit accumulators (CNV). acc: the p.classes last-layer accumulators.
void overlay_outputs(const OverlayParams& p, const int32_t* acc, int32_t* out);

// The class the host reports from those outputs: the batch call's rule, or the single-image call's.
int32_t batch_class(const OverlayParams& p, const int32_t* outputs);
int32_t single_image_class(const OverlayParams& p, const int32_t* outputs);

}  // namespace lowbit::hw::bnn_pynq
