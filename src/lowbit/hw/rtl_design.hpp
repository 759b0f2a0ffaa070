// The RTL design of a folded dataflow graph (docs/HARDWARE.md, "Verilog generation"): which
// module of lowbit's Verilog library (hw/verilog/*.v) each unit becomes, with its
// parameters, stream widths and memory images, and the glue between units (FIFOs, width
// converters, the fork of the score stream). rtl_writer.cpp turns it into files; the
// simulation and synthesis flows (rtl_sim.hpp, rtl_synth.hpp) rebuild it from the design
// folder's model.lbm and folding.json.
//
// Streams carry elements of EB bits, E per beat, element 0 in the low bits and first in
// stream order. Maps stream pixel by pixel in (y, x, c) order; a window in (ky, kx, c); a dense
// layer's input in the IR's k order. Values are the IR's (format/model_desc.hpp): an
// element is a level (code), the MVAU computes acc = sum W x on the codes' values exactly
// (+-1: the XNOR popcount 2 pc - n; k-bit: code - zero point), thresholds are the IR's,
// clipped into the accumulator's range, and the score layer streams raw accumulators.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/dataflow.hpp"

namespace lowbit::hw {

// A $readmemh image: `words` words of `width` bits, one hex line each (MSB first).
struct MemImage {
  std::string file;  // e.g. "MVAU_hls_0_weights.mem"
  int64_t width = 0;
  std::vector<std::string> lines;
};

// One module instance of the chain.
struct RtlStage {
  std::string name;       // the unit's name (MVAU_hls_0), or glue ("dwc_3", "fork")
  std::string module;     // lb_mvau, lb_swu, lb_fmpadding, lb_thresholding, lb_maxpool, lb_label_select, lb_dwc
  int node = -1;          // its unit in the graph; -1 for glue
  std::vector<std::pair<std::string, std::string>> params;  // Verilog parameter -> value text
  int64_t in_elems = 1, in_bits = 1, out_elems = 1, out_bits = 1;  // per beat / per element
  int64_t in_beats = 0, out_beats = 0;  // per frame
  int64_t fifo_depth = 2;   // the FIFO in front of it
  int64_t cycles = 0;       // the RTL cycle model's clocks per frame (rtl_cycles); 0 for glue
  int64_t in_width() const { return in_elems * in_bits; }
  int64_t out_width() const { return out_elems * out_bits; }
};

struct RtlDesign {
  std::string top;          // Verilog top module, "lowbit_" + the model's name (sanitized)
  Graph graph;              // the folded graph it implements
  std::vector<RtlStage> stages;  // in stream order; the score stream forks before stage `label_stage`
  std::vector<MemImage> mems;
  // The input stream: 8-bit pixels, in_elems per beat, in_bytes per frame, in the order of
  // input_index (stream position -> index into a [C, H, W] image).
  int64_t in_elems = 1, in_bytes = 0;
  std::vector<int64_t> input_index;
  // The score stream (raw accumulators, signed acc_bits each, acc_elems per beat) and the
  // label stream (label_bits).
  int64_t classes = 0, acc_elems = 1, acc_bits = 0, label_bits = 1;
  size_t label_stage = 0;   // index of the LabelSelect stage
  bool label_rom = false;   // LabelSelect ranks the float scores through a ROM
  int64_t weight_bits = 0, memory_bits = 0;  // weights; all memories (weights, thresholds, ranks)

  // The unit with the most clocks per frame (the first of equals): it sets the interval.
  const RtlStage& bottleneck() const;
};

// Clocks per frame of a unit in lowbit's RTL: FINN's exp_cycles (finn_model.hpp), except the
// max pool, which takes the MVAU's PE-wide beats (ifm_h * ifm_w * channels / E, E its input
// elements per beat), and LabelSelect, one class per clock (channels).
int64_t rtl_cycles(const Node& n, int64_t in_elems);

// The design of `desc` folded as `g` (a graph of desc with a valid folding). Throws
// lowbit::Error naming the unit when a unit cannot be generated: a pad value with no code in
// its stream, a stream wider than kMaxStreamBits, a score ROM above 2^24 words, or a max pool
// after the score layer.
RtlDesign build_rtl(const format::ModelDesc& desc, const Graph& g);

}  // namespace lowbit::hw
