// The cost and roofline tables of the seeds (docs/HARDWARE.md, "Cost per op and roofline"):
//  - ops per frame by precision (2 ops per multiply-accumulate, FINN's convention);
//  - the cost of one op in LUTs and DSPs per precision and the peak ops/s of a device that
//    follow (seed 000, "Reduced precision" table, from Xilinx's FINN tutorial: 1b 2.5 LUT,
//    4b 16 LUT, 8b 45 LUT, 16b 15 LUT + 0.5 DSP, 32b 178 LUT + 2 DSP per op; "the
//    application can fill the device to 70%"):
//      peak = f_clk x min(fill x LUTs / LUT_per_op, fill x DSPs / DSP_per_op);
//  - the roofline (seed 002, Williams et al., CACM 2009): attainable = min(peak, I x B) with
//    arithmetic intensity I = ops per frame / bytes moved off chip per frame and B the
//    board's DRAM bandwidth; a dataflow design with its weights on chip moves only the
//    frame in and the result out, one whose weights stream from DRAM moves them per frame;
//    the compute peak of a model mixes its precisions: ops / sum_p (ops_p / peak_p).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/device.hpp"

namespace lowbit::hw {

struct OpCost {
  int bits = 1;           // operand precision (the wider of weight and input)
  double lut_per_op = 0;  // LUTs per op
  double dsp_per_op = 0;  // DSPs per op (0: none)
};
// Seed 000's table: 1, 4, 8, 16 and 32 bits.
const std::vector<OpCost>& seed_op_costs();
// The row for operands of `bits` bits: the first row at least that wide.
const OpCost& op_cost_for(int bits);

// Peak ops/s of `dev` at `cost` (fill: the usable share, seed 000 assumes 0.7).
double peak_ops_per_s(const Device& dev, const OpCost& cost, double clock_mhz, double fill = 0.7);

struct PrecisionOps {
  std::string precision;  // "W1A1", "W1A8", ...
  int bits = 1;           // the wider operand
  int64_t ops = 0;        // per frame
};
// Ops per frame of the graph's MVAUs, grouped by precision, in first-seen order.
std::vector<PrecisionOps> ops_by_precision(const Graph& g);

struct Roofline {
  int64_t ops_per_frame = 0;
  int64_t bytes_on_chip = 0;   // per frame with weights on chip: the input frame and the result
  int64_t bytes_streamed = 0;  // per frame with weights from DRAM: plus the weights and thresholds
  double intensity_on_chip = 0, intensity_streamed = 0;  // ops per byte
  double peak_ops = 0;         // of the graph's op mix: ops / sum_p(ops_p / peak_p)
  double bandwidth = 0;        // bytes/s (the device's ddr_gbps)
  double attainable_on_chip = 0, attainable_streamed = 0;  // ops/s
};
Roofline roofline(const Graph& g, const Device& dev, double clock_mhz, double fill = 0.7);

// The tables as text and JSON (`lowbit hw plan --roofline`); design_fps > 0 adds the
// folded design's achieved ops/s.
std::string roofline_text(const Graph& g, const Device& dev, double clock_mhz, double design_fps);
nlohmann::json roofline_json(const Graph& g, const Device& dev, double clock_mhz, double design_fps);

}  // namespace lowbit::hw
