// FINN's analytical performance and resource models, reproduced exactly (docs/HARDWARE.md,
// "FINN-compatible model"): the formulas of FINN's custom ops (src/finn/custom_op/
// fpgadataflow/, FINN at commit 39f0c9a, April 2026) for the HLS variants of each unit:
//   cycles:  get_exp_cycles() of MVAU, ConvolutionInputGenerator (2D), Thresholding,
//            FMPadding, StreamingMaxPool (2D) and LabelSelect;
//   LUT:     MVAU_hls.lut_estimation (FINN-R, Blott et al., TRETS 2018: c0 = 300, c1 = 1.1),
//            ConvolutionInputGenerator_hls.lut_estimation, Thresholding_hls.lut_estimation;
//   BRAM18:  MVAU.bram_estimation (RAMB18 aspect ratios, UG573 table 1-10), the SWU's and
//            the Thresholding's; URAM and DSP likewise.
// FINN estimates nothing for FMPadding, StreamingMaxPool and LabelSelect (0), and nothing
// for FIFOs, width converters or the weight streamers; neither does this model.
#pragma once
#include <cstdint>
#include <string>

#include "lowbit/hw/dataflow.hpp"

namespace lowbit::hw {

// Resource counts of a unit or a design.
struct Resources {
  int64_t lut = 0;     // 6-LUTs (iCE40: logic cells)
  int64_t bram18 = 0;  // RAMB18 halves (FINN's "BRAM_18K")
  int64_t uram = 0;
  int64_t dsp = 0;
  int64_t ebr = 0;     // iCE40 4 Kbit blocks
  Resources& operator+=(const Resources& o) {
    lut += o.lut, bram18 += o.bram18, uram += o.uram, dsp += o.dsp, ebr += o.ebr;
    return *this;
  }
};

// Clock cycles the unit needs per frame (FINN's get_exp_cycles; the MVAU's is
// (MH/PE)(MW/SIMD) x vectors). Expects a valid folding (folding.hpp check_folding).
int64_t exp_cycles(const Node& n);

// FINN's LUT / BRAM18 / URAM / DSP estimate of the unit under its folding and memory
// attributes. The MVAU's accumulator width is the smaller of n.acc (FINN's accDataType) and
// the data-type bound of Colbert et al. (arXiv 2301.13376) FINN applies.
Resources finn_resources(const Node& n);

// The MVAU LUT estimate on its own, from FINN's parameters (for tests and the docs): PE,
// SIMD, MW, weight and input bits, input signed, accumulator bits (FINN's accDataType;
// 32 when the accumulator was never minimized), output bits and noActivation, and the
// memory attributes.
int64_t finn_mvau_luts(int64_t pe, int64_t simd, int64_t mw, int64_t mh, int w_bits, int a_bits, bool a_signed,
                       int acc_bits, int out_bits, bool no_activation, const std::string& mem_mode,
                       const std::string& ram_style, const std::string& ram_style_thresholds, const std::string& res_type);

}  // namespace lowbit::hw
