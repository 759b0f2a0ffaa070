// Simulation of a generated design (docs/HARDWARE.md, "Simulation"): one Verilog testbench
// (lowbit_tb, written per run) streams real input frames into the network's top module and
// records every raw score accumulator, every label and the clock of each; Verilator (a C++
// main that only drives the clock) or Icarus Verilog runs it. The per-unit bench
// (rtl_writer.hpp stage_bench_verilog) measures each unit alone.
// The comparison with the runtime lives in the CLI (it needs the runtime; hw/ reads the IR
// only).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/hw/rtl_design.hpp"

namespace lowbit::hw {

struct SimOptions {
  std::string simulator = "verilator";  // verilator | iverilog
  bool backpressure = false;  // random stalls: input valid, score and label ready each ~50% of clocks
  uint32_t seed = 1;          // of the back-pressure pattern (an LFSR, the same in both simulators)
  int64_t max_cycles = 0;     // 0: a bound from the design's cycle estimates
  int jobs = 2;               // Verilator's C++ build jobs
};

struct SimFrame {
  std::vector<int64_t> acc;  // the raw score accumulators (classes)
  int64_t label = -1;
  int64_t in_cycle = 0;      // clock of the frame's first input beat
  int64_t acc_cycle = 0;     // clock of its last score beat
  int64_t label_cycle = 0;   // clock of its label
};

struct SimResult {
  std::vector<SimFrame> frames;
  int64_t cycles = 0;   // clocks simulated
  double seconds = 0;   // wall time of the simulation (not the build)
};

// Simulates `frames` frames: `stream` holds frames * d.in_bytes bytes in stream order
// (d.input_index applied). Works in DIR/sim (replaced); DIR/rtl must hold the design.
// Throws lowbit::Error: a missing tool (naming its Debian package), a build failure, a
// timeout (the bound, with how many frames came out), malformed output.
SimResult simulate(const RtlDesign& d, const std::string& dir, const std::vector<uint8_t>& stream, int64_t frames,
                   const SimOptions& opt);

// Clocks of one unit alone (never starved, never blocked): the first clock its input is
// offered (a unit may start before taking a beat: FMPadding emits the top padding), and the last
// output beat of each of 4 frames.
struct StageTiming {
  std::string name;
  int64_t estimate = 0;       // rtl_cycles
  int64_t first = 0;
  std::vector<int64_t> ends;  // per frame
  int64_t latency() const { return ends.empty() ? 0 : ends[0] - first + 1; }  // frame 0, first beat in to last out
  int64_t interval() const {  // steady-state clocks between frames
    return ends.size() < 3 ? 0 : (ends.back() - ends[1]) / static_cast<int64_t>(ends.size() - 2);
  }
};
std::vector<StageTiming> measure_stages(const RtlDesign& d, const std::string& dir, const SimOptions& opt);

// n images (channels x height x width pixels each, [C, H, W] order, fitting the model input
// `shape` as the runtime takes them: smaller ones centre-padded with pixel 0) as the design's
// input stream: n * d.in_bytes bytes in d.input_index order.
std::vector<uint8_t> input_stream(const RtlDesign& d, const std::vector<int64_t>& shape, const uint8_t* images, int64_t n,
                                  int64_t channels, int64_t height, int64_t width);

// The bound on simulated clocks for `frames` frames: 4 x (frames + 2) x the slowest unit's
// estimate + 10^5 (x 4 with back-pressure).
int64_t cycle_bound(const RtlDesign& d, int64_t frames, bool backpressure);

// The testbench's Verilog (for the docs and tests).
std::string testbench_verilog(const RtlDesign& d, int64_t frames, const SimOptions& opt, int64_t max_cycles);

}  // namespace lowbit::hw
