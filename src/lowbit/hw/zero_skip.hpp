// Zero skipping of sparse weights in the dataflow planner (docs/HARDWARE.md, "Zero skipping
// (thesis 3.4)"): what an MVAU gains when its weights are stored run-length encoded and only
// nonzero weights are fed to its PEs, after Faraone's thesis (seed 003), section 3.4:
//   3.4.1  an RLE decoder yields one (input address, weight) pair per cycle at 250 MHz in 112
//          LUTs (Vivado HLS 2017.1);
//   3.4.3  a dense binary MAC (XNOR + popcount) costs ~5 LUTs (FINN's 2.5 LUTs per op x 2 ops);
//   3.4.4  one decoded weight serves R MACs on different inputs, R = B for a dense layer at
//          batch B and R = B x P for a convolution with P output pixels, so the effective
//          cost of one (dense-equivalent) operation is
//              C_e = gamma x (C_op + C_dec / R),
//          gamma the share of nonzero weights, and the effective throughput T_e = f / C_e.
//
// The zero-skipping MVAU modelled here keeps the dense unit's PE x SIMD lanes and feeds each
// lane nonzero weights only. Assumptions:
//  - rows of a neuron fold (FINN folds rows i*PE .. i*PE + PE - 1 together) run in lockstep:
//    they share the input vector and finish together, so a fold takes the cycles of its
//    densest row, ceil(max nnz / SIMD) (a row's nonzeros spread over its SIMD lanes: the
//    decoder hands out SIMD pairs per cycle and the input buffer serves SIMD reads at any
//    address), and at least one cycle (to emit the outputs);
//  - decoders are shared by R lanes that apply the same weight to R inputs (weight-stationary
//    over pixels or batch items): ceil(PE x SIMD / R) decoders. FINN's MVAU streams the whole
//    weight matrix once per input vector (input-stationary), which is R = 1: a decoder per lane;
//  - "equal resources": the zero-skipping unit gets the LUTs of the dense unit's MAC lanes,
//    PE x SIMD x C_op, to spend on lanes (C_op each) and decoders (C_dec per R lanes), so it
//    has 1 / (1 + C_dec / (R C_op)) of the lanes and its cycles grow by that factor
//    (continuous: lane counts are not rounded to divisors, so a fold costs its densest row's
//    nonzeros / SIMD cycles, not rounded up to whole SIMD words nor to one cycle);
//  - C_op is the thesis's 5 LUTs for an XNOR MVAU; a multiplying MVAU (W-bit weights, A-bit
//    inputs) scales it by FINN's per-lane multiplier + adder-tree LUTs, lane(W, A) / lane(1, 1)
//    with lane(W, A) = (2 ceil((W+A)/6) - 1)(W+A) + 2(W+A) (finn_model.hpp, MVAU_hls);
//  - the rest of the unit (accumulators, thresholds, weight memory) and the other units are
//    unchanged; an RLE stream's extra bits per weight are not costed.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/plan.hpp"

namespace lowbit::hw {

struct ZeroSkipOptions {
  int64_t batch = 1;           // B, frames that share a decoded weight (the planner streams 1)
  double op_luts = 5;          // C_op of a binary MAC (XNOR + popcount), LUTs (thesis 3.4.3)
  double decoder_luts = 112;   // C_dec of an RLE decoder, LUTs (thesis 3.4.1)
};

// Eq of section 3.4.4: C_e = gamma (C_op + C_dec / R), LUTs per dense-equivalent operation.
// Throws lowbit::Error when gamma is outside [0, 1], a cost negative or reuse < 1.
double effective_op_cost(double gamma, double op_luts, double decoder_luts, int64_t reuse);

// Cycles per frame of a zero-skipping MVAU with `row_nonzeros[r]` nonzero weights in row r
// (MH rows), PE rows per fold in lockstep, SIMD lanes per row: vectors x sum over folds of
// max(1, ceil(max nnz of the fold's rows / SIMD)). Throws when PE does not divide the rows or
// a size is < 1.
int64_t zero_skip_cycles(const std::vector<int64_t>& row_nonzeros, int64_t pe, int64_t simd, int64_t vectors);

struct ZeroSkipUnit {
  std::string name, layer_name;  // MVAU_hls_2, conv2d@2
  int layer = -1;
  int64_t mw = 0, mh = 0, pe = 1, simd = 1, vectors = 1;
  int64_t nonzeros = 0;        // nonzero weights of the layer
  double gamma = 1;            // nonzeros / (MW x MH)
  int64_t row_max = 0;         // nonzeros of the densest row (bounds lockstep folds)
  int64_t reuse = 1;           // R = B x P (conv: P = vectors) or B (dense)
  double op_luts = 0;          // C_op of this unit's MAC
  int64_t decoders = 0;        // ceil(PE x SIMD / R)
  int64_t decoder_luts = 0;    // decoders x C_dec
  double cost_per_op = 0;      // C_e = gamma (C_op + C_dec / R)
  double effective_macs = 0;   // gamma x MACs per frame: the MACs left to compute
  int64_t dense_cycles = 0;    // (MH/PE)(MW/SIMD) x vectors
  int64_t zs_cycles = 0;       // same PE x SIMD, decoders added (zero_skip_cycles)
  int64_t zs_cycles_fixed = 0;  // a fixed schedule sized by the densest row: MH/PE x ceil(row_max/SIMD) x vectors
  int64_t eq_cycles = 0;       // at equal LUTs with reuse R: vectors x sum over folds of max nnz / SIMD, x (1 + C_dec / (R C_op)), rounded up
  int64_t eq_cycles_r1 = 0;    // the same with R = 1 (FINN's input-stationary order)
};

struct ZeroSkipReport {
  ZeroSkipOptions options;
  std::vector<ZeroSkipUnit> units;  // one per MVAU, in stream order
  double clock_mhz = 0;
  double dense_fps = 0;   // the plan's
  double zs_fps = 0;      // MVAUs with zeros skip them at the same folding (decoder LUTs extra)
  int64_t extra_luts = 0;  // the decoders that takes (reuse R)
  double eq_fps = 0;      // at equal LUTs, reuse R; each MVAU skips zeros only where that is faster
  double eq_fps_r1 = 0;   // the same with R = 1
};

// The report for a folded graph g of desc (build_graph(desc), valid folding) and its plan p.
// Weight codes are read from desc (any integer weights; a ternary layer's 0s are its zeros).
// Throws lowbit::Error when g is not desc's graph or the options are out of range (batch
// 1..2^20, costs finite and >= 0, op_luts > 0).
ZeroSkipReport zero_skip_report(const format::ModelDesc& desc, const Graph& g, const Plan& p, const ZeroSkipOptions& opt);

// True when some weighted layer of desc has a zero weight (the plan then mentions --zero-skip).
bool has_zero_weights(const format::ModelDesc& desc);

std::string zero_skip_text(const ZeroSkipReport& r);
nlohmann::json zero_skip_json(const ZeroSkipReport& r);

}  // namespace lowbit::hw
