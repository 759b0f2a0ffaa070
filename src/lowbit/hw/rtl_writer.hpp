// Files of a generated design (docs/HARDWARE.md, "Verilog generation"): the Verilog library
// (hw/verilog/*.v, compiled into the binary), the network's top module, $readmemh images,
// the per-unit cycle bench, and the design folder `lowbit hw rtl -o DIR` writes:
//   DIR/rtl/lb_*.v           the library (one module per stage kind, parameterised)
//   DIR/rtl/<top>.v          the network: units, FIFOs, width converters, score fork
//   DIR/rtl/*.mem            weights, thresholds, score ranks (hex, one word per line)
//   DIR/bench/stage_bench.v  every unit on its own, fed and drained at full rate
//   DIR/model.lbm            the model, DIR/folding.json its folding (what sim and synth
//                            rebuild the design from), DIR/design.json a summary.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lowbit/hw/rtl_design.hpp"

namespace lowbit::hw {

// The library: {file name, Verilog text} (generated from src/lowbit/hw/verilog/*.v).
const std::vector<std::pair<std::string, std::string>>& verilog_library();

// The top module: ports clk, rst (synchronous, active high), the pixel stream in_*
// (in_elems bytes per beat), the raw score stream acc_* (acc_elems signed accumulators per
// beat) and the label stream label_* (one beat per frame).
std::string top_verilog(const RtlDesign& d);

// Every planner unit instantiated alone (module lowbit_stage_bench) with an always-valid
// source and an always-ready sink for `frames` frames; prints one line per unit:
// "STAGE <name> <first clock with input offered> <clock of the last output beat of frame 0> ...".
// Under Verilator the clock is an input; elsewhere the bench makes its own.
std::string stage_bench_verilog(const RtlDesign& d, int frames, int64_t max_cycles);

// One stage alone as a module `module_name` with the stage's ports (clk, rst, in_*, out_*),
// for synthesis per unit: the stage's module instantiated with its parameters.
std::string stage_wrapper_verilog(const RtlStage& s, const std::string& module_name);

// The $readmemh text of a memory image (one hex word per line).
std::string mem_text(const MemImage& m);

// A summary of the design (units, modules, parameters, stream widths, FIFO depths, cycle
// estimates, memory bits) as JSON text.
std::string design_json(const RtlDesign& d);

// Writes the design folder (creating DIR; files written atomically; DIR/rtl and DIR/bench
// are replaced). `model_bytes` is the .lbm file, `folding` the folding JSON text.
// Throws lowbit::Error naming the path on an I/O failure, or when DIR exists and is neither
// empty nor a design folder (it has no design.json), so nothing of the user's is deleted.
void write_design_folder(const RtlDesign& d, const std::string& dir, const std::vector<uint8_t>& model_bytes,
                         const std::string& folding);

}  // namespace lowbit::hw
