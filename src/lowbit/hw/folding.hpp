// Folding: how much of each unit is built in parallel (docs/HARDWARE.md, "Folding"). An
// MVAU computes PE rows x SIMD columns per cycle (MH % PE == 0, MW % SIMD == 0: FINN's
// constraints), a SWU or FMPadding moves SIMD channels per cycle (channels % SIMD == 0), a
// Thresholding or LabelSelect handles PE channels (channels % PE == 0); every stream is at
// most 8191 bits wide (FINN's AP_INT_MAX_W bound, hlsbackend.py), the MVAU's weight stream
// (PE x SIMD x W bits) included.
//
// Three ways to fold a graph:
//  - a folding file, FINN's folding-config JSON ({"Defaults": {}, "MVAU_hls_0": {"PE": 32,
//    "SIMD": 49, "ram_style": "block"}, ...}); node names may use FINN's older op names;
//  - set_folding: FINN's SetFolding transformation for a target of cycles per frame;
//  - fit_folding: lowbit's resource-aware search for the highest fps within a budget.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/plan.hpp"

namespace lowbit::hw {

inline constexpr int64_t kMaxStreamBits = 8191;

// Why the unit's folding is invalid ("MVAU_hls_1 (dense@1): PE 48 does not divide MH 1024"),
// or "" when it is valid.
std::string folding_problem(const Node& n);
// Throws lowbit::Error with every invalid unit, one per line.
void check_folding(const Graph& g);

// Applies a folding file to g (PE, SIMD, ram_style, ram_style_thresholds, resType,
// mem_mode); units the file does not name keep their folding (PE = SIMD = 1 after
// build_graph). Node names: FINN's ("MVAU_hls_0") or its older op names for the same unit
// (MVAU, MVAU_rtl, MatrixVectorActivation, StreamingFCLayer_Batch; ConvolutionInputGenerator
// and _rtl; Thresholding_Batch, ...). FINN's FIFO and width-converter entries
// (StreamingFIFO*, StreamingDataWidthConverter*) and attributes that do not change this
// model (inFIFODepths, runtime_writeable_weights, ...) are skipped and listed in the result.
// Throws lowbit::Error naming the file and the key: a key given twice, an unknown node or
// attribute, an
// attribute the unit does not have (SIMD on a Thresholding), a value of the wrong type or
// out of its set, and (check_folding) a PE/SIMD that does not divide.
std::vector<std::string> apply_folding_file(Graph& g, const std::string& path);
// The same from parsed JSON; `where` names the source in errors.
std::vector<std::string> apply_folding(Graph& g, const nlohmann::json& j, const std::string& where);
// The graph's folding as a FINN folding-config JSON (read back by apply_folding).
nlohmann::json folding_json(const Graph& g);

// FINN's target: int(10^9 / clk_period_ns / fps) with clk_period_ns = 1000 / clock_mhz
// (build_dataflow_config.py _resolve_cycles_per_frame).
int64_t target_cycles_per_frame(double clock_mhz, double fps);

// FINN's SetFolding (set_folding.py): per unit in stream order, an MVAU first raises SIMD
// through the divisors of MW until its cycles fall below the target or W x SIMD would
// exceed mvau_wwidth_max (then the last step is undone), then PE through the divisors of MH
// until below the target; SWU/FMPadding raise SIMD, Thresholding/LabelSelect PE the same
// way; StreamingMaxPool has no folding. With two_pass_relaxation, when the slowest unit
// still misses the target, the whole walk runs once more with that unit's cycles as the
// target, to balance the pipeline. Resources are not looked at. Returns the warnings FINN
// prints (the second pass).
struct SetFoldingOptions {
  int64_t target_cycles = 1000;
  int64_t mvau_wwidth_max = 36;
  bool two_pass_relaxation = true;
};
std::vector<std::string> set_folding(Graph& g, const SetFoldingOptions& opt);

// lowbit's resource-aware folding (docs/HARDWARE.md, "--fit"): the fastest folding whose
// resources fit the budget. Every unit's options (all valid PE x SIMD divisor pairs, and
// for MVAUs and SWUs the block or distributed RAM style, UltraRAM where the device has it)
// are costed once; for each candidate bottleneck T (every cycle count an option reaches),
// smallest first, each unit takes its cheapest option within T cycles (cost: the sum of
// its resource shares of the budget), and the first T whose total fits wins. The fastest
// fitting SetFolding design (targets swept over the same T values) is computed as well
// (with `mvau_wwidth_max`) and returned when it is faster, so the result is never slower
// than SetFolding's.
struct FitResult {
  bool found = false;           // false: not even the smallest design fits (g gets it: each unit's cheapest option)
  double fps = 0;               // of the chosen folding
  double setfolding_fps = 0;    // the fastest fitting SetFolding design (0: none fits)
  int64_t setfolding_target = 0;  // its target cycles
  bool from_setfolding = false;  // the result is SetFolding's (it was faster)
  // What stopped lowbit's search from going faster: the next faster candidate bottleneck it
  // tried (the largest T below the one that fit; 0 when the first candidate fit or none
  // did) and the resource totals of its cheapest design, which exceed the budget
  // (pruning_cost.hpp reads them to say which resource binds).
  int64_t blocked_cycles = 0;
  Resources blocked_total;
};
FitResult fit_folding(Graph& g, const CostModel& cm, int64_t mvau_wwidth_max = 36);

}  // namespace lowbit::hw
