// lowbit's structural resource model (docs/HARDWARE.md, "Calibrated model"; docs/SYNTHESIS.md):
// memories are mapped to the device's real RAM primitives as lowbit's own RTL lays them out,
// and logic is counted per lane from coefficients that yosys synthesis of that RTL fits
// (scripts/hw_synth_sweep.py writes docs/hw/calibration-xc7.json). Until a calibration file
// is loaded, the coefficients are first-principles defaults and every report says
// "uncalibrated".
//
// Memories: an MVAU (lb_mvau reads all PEs at one address) holds one weight memory of
// WMEM = MW*MH/(PE*SIMD) words of PE*SIMD*W bits, one threshold memory of MH/PE words of
// PE*T*acc bits and, when MH > PE, an input buffer of MW/SIMD single-port words of SIMD*A
// bits; the SWU one memory of K + max(stride, K) rows of IFMDim*C/SIMD words of SIMD*A bits
// (lb_swu); the input Thresholding none (its thresholds are constants). A memory maps
// to the cheapest tiling by one primitive:
//   Xilinx RAMB18: 16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18, 512 x 36 (UG473 / UG573);
//   UltraRAM: 4K x 72; LUTRAM: 64 x 1 per 6-LUT (single-port <= 32 words: 32 x 2);
//   iCE40 EBR: 2K x 2, 1K x 4, 512 x 8, 256 x 16 (Lattice TN1250); no LUTRAM (registers).
// ram_style "auto" takes block RAM or LUTRAM, whichever is the smaller share of the device.
// LUT counts include LUTs used as memory (Vivado's "LUT as Memory", yosys's LUTRAM cells).
#pragma once
#include <string>

#include "lowbit/hw/device.hpp"
#include "lowbit/hw/finn_model.hpp"

namespace lowbit::hw {

// LUT coefficients per unit of logic (6-LUTs on Xilinx, logic cells on iCE40).
struct Calibration {
  bool calibrated = false;  // true only when read from a synthesis fit (issue 13's flow)
  std::string source = "first-principles defaults";
  double xnor_lane = 1.0;      // per SIMD lane of an XNOR-popcount PE (XNOR folded into a 6:3 compressor tree)
  double mac_bit = 1.0;        // per lane and per bit of W*A (a product of W and A bits, ANDs + adder)
  double add_bit = 1.0;        // per lane and per bit of the adder tree's widest operand (lb_mvau's SIMD-wide sum, SW)
  double acc_bit = 1.0;        // per PE and per accumulator bit
  double compare_bit = 0.5;    // per threshold and per accumulator bit (carry-chain comparator)
  double unit_control = 60;    // per unit: counters, handshakes
  double ice40_factor = 2.0;   // 4-input cells per 6-LUT of logic
};

// Reads a calibration JSON file: {"source": "...", "xnor_lane": 0.9, ...} with the fields of
// Calibration (every number finite, in 0..10^6; unknown or repeated keys refused); sets
// calibrated = true.
// Throws lowbit::Error naming the file and key.
Calibration read_calibration(const std::string& path);

// The unit's resources on `dev` under the structural model.
Resources calibrated_resources(const Node& n, const Device& dev, const Calibration& cal);

// A memory of `depth` words of `width` bits in block RAM on `dev`: RAMB18s (Xilinx) or EBRs
// (iCE40), the cheapest single-aspect tiling; 0 for an empty memory.
int64_t block_ram_count(int64_t depth, int64_t width, const Device& dev);

}  // namespace lowbit::hw
