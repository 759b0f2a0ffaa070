// Hardware-aware filter pruning, the hardware half (docs/HARDWARE.md, "Pruning costs (thesis
// eqs 4.5-4.7)"): the layer cost model of Faraone's thesis (seed 003, chapter 4, section
// 4.5.1, eqs 4.5-4.7), a per-layer report of a folded dataflow design, which layer to prune
// next (section 4.5.1 and Algorithm 3) and filter counts rounded to the folding (section
// 4.5.2). Reads the IR and the planner only: nothing here depends on training code.
//
// Notation (thesis section 4.4): layer l reads I IFMs of F_in x F_in and has N filters of
// K x K, producing N OFMs of F_out x F_out (before any pooling). A dense layer is K = 1,
// F_in = F_out = 1 and I = its fan-in. The thesis assumes square maps and kernels; here
// every K*K and F*F is kernel_h*kernel_w and h*w.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/plan.hpp"

namespace lowbit::hw {

// Eq 4.5: OPS^l = K*K*I*N*F_out*F_out, the multiply-accumulates of one frame (one MAC = one
// "op" in the thesis; FINN's and the plan's ops count 2 per MAC). Equals
// format::LayerDesc::macs(). Throws lowbit::Error on a non-positive size or int64 overflow.
int64_t layer_ops(int64_t kernel_h, int64_t kernel_w, int64_t in_channels, int64_t filters, int64_t out_h, int64_t out_w);

// Eq 4.6: Reuse = ceil(OPS^l / PE^l), the times each of the layer's PE^l MAC units is used per
// frame. With FINN's folding PE^l = PE * SIMD (MACs per cycle), and Reuse is the MVAU's cycles
// per frame, (MH/PE)(MW/SIMD) x vectors (finn_model.hpp exp_cycles). Throws on ops < 0 or
// pe < 1.
int64_t pe_reuse(int64_t ops, int64_t pe);

// Eq 4.7: BRAM_IFM = ceil(I * F_in * F_in * (Reuse - 1) / (Reuse * B_w)), the block RAMs that
// buffer a layer's input feature maps (I maps of F_in x F_in, one word per activation) when
// its PEs are reused: with Reuse = 1 the map streams through unbuffered (0), as Reuse grows
// the buffered share (Reuse - 1)/Reuse tends to the whole map. B_w: words per BRAM
// (bram18_words). Throws on a non-positive size, reuse < 1 or words_per_bram < 1.
int64_t fm_bram(int64_t in_channels, int64_t in_h, int64_t in_w, int64_t reuse, int64_t words_per_bram);

// B_w of a RAMB18 for words of `bits` bits: the deepest aspect ratio at least that wide
// (16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18, 512 x 36; UG473), 1 <= bits <= 36.
int64_t bram18_words(int bits);

// One weighted layer of a folded design under the thesis's model and the planner's.
struct LayerCost {
  int layer = -1;           // IR index
  std::string name;         // e.g. "conv2d@3"
  bool conv = false;
  int64_t kernel_h = 1, kernel_w = 1;  // K (1 for dense)
  int64_t in_channels = 0;  // I (dense: the fan-in)
  int64_t filters = 0;      // N (MH)
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;  // F_in (unpadded input), F_out (conv output, before pooling)
  int64_t ops = 0;          // eq 4.5, MACs per frame
  int64_t pe = 1, simd = 1;  // the MVAU's folding
  int64_t macs_per_cycle = 1;  // PE^l = PE * SIMD
  int64_t reuse = 0;        // eq 4.6
  int act_bits = 1;         // bits of one input activation (the word of eq 4.7)
  int64_t words_per_bram = 0;  // B_w, RAMB18 (bram18_words(act_bits))
  int64_t fm_bram18 = 0;    // eq 4.7 with the layer's own Reuse
  Resources mvau;           // the MVAU under the plan's resource model: PEs, weights, thresholds
  Resources all;            // every unit of the layer (FMPadding, SWU line buffer, MVAU, pool, label select)
  int64_t cycles = 0;       // the slowest of the layer's units
  int64_t filter_step = 1;  // N' a multiple of this keeps the whole folding valid (filter_step)
  bool prunable = false;    // false for the score layer (N = the classes)
};

// Why a layer is ranked where it is.
struct LayerChoice {
  int layer = -1;           // IR index
  std::string name;
  std::string resource;     // the binding resource ranked by: "LUT", "DSP" (PE resources), "BRAM18", "URAM", "EBR" (memory)
  int64_t used = 0;         // of it by this layer: the MVAU's for LUT/DSP, all its units' for memories
  double share = 0;         // used / the design's total of that resource
  int64_t filters = 0;      // N now
  int64_t pe = 1;           // the MVAU's PE: N' % PE == 0 (thesis 4.5.2; round_filters_to_pe's step)
  int64_t filter_step = 1;  // a multiple of PE: N' a multiple of it keeps the whole folding (filter_step)
  std::string reason;       // "LUT-bound: its MVAU (PE 16 x SIMD 32) uses 9876 LUT, 31% of the design's"
};

struct PruningReport {
  std::vector<LayerCost> layers;   // every weighted layer, in IR order
  std::string bound;               // the binding resource ("LUT", ...), "" when the device has none of any resource
  std::string bound_why;           // how it was found
  std::vector<LayerChoice> ranking;  // prunable layers, most expensive in `bound` first
};

// The report of a folded graph `g` of `desc` (build_graph(desc) with a valid folding) and its
// plan `p`. The binding resource: when `fit` is given and its search was blocked at a faster
// bottleneck (FitResult::blocked_cycles below p.max_cycles), the resource that design
// overshot most (relative to the budget): the one a faster design would need more of;
// otherwise the resource with the largest share of the budget in `p`. The ranking follows
// the thesis (section 4.5.1): PE-bound (LUT or DSP) -> the layer whose MVAU (its PEs) uses
// the most of it; memory-bound (BRAM18, URAM, EBR) -> the layer whose units use the most
// (feature-map buffers + weights + thresholds); ties by cycles, then IR order. The score
// layer is not ranked (its N is the number of classes). Throws lowbit::Error when g is not
// desc's graph.
PruningReport pruning_report(const format::ModelDesc& desc, const Graph& g, const Plan& p, const CostModel& cm,
                             const FitResult* fit = nullptr);

// The layers to prune next, best first (thesis Algorithm 3, step 2): builds desc's graph,
// folds it with fit_folding (the fastest folding within cm's budget) and ranks as
// pruning_report does. Each choice names the binding resource and the filter step.
std::vector<LayerChoice> rank_layers_for_pruning(const format::ModelDesc& desc, const CostModel& cm);

// The multiple a pruned filter count N' of IR layer `layer` must be for g's folding to stay
// valid unchanged (the same folding file still applies): the lcm of the layer's MVAU PE (MH %
// PE == 0, the thesis's N % PE == 0) and what the next layer's units need of their N' input
// channels: its FMPadding's and SWU's SIMD (channels % SIMD == 0) and its MVAU's SIMD /
// gcd(SIMD, window) (MW = window x N', MW % SIMD == 0; window = K*K for a conv, H*W for a
// dense layer after a map). Always divides N; it is N when the next MVAU has SIMD = MW (a
// re-fit then picks the next layer's SIMD anew: the thesis's rule is the PE alone). Throws
// when the layer has no MVAU in g.
int64_t filter_step(const Graph& g, int layer);

// How round_filters_to_pe rounds.
enum class FilterRounding {
  kDown,     // the largest multiple <= wanted: prunes a bit more than asked (the default)
  kNearest,  // the nearest multiple, ties down
};

// A filter count a multiple of `step` (the layer's PE, or filter_step to keep the whole
// folding) near `wanted`, never
// below one step (a layer keeps at least `step` filters). kDown is the default: the layer was
// chosen because it holds the resource that binds, so rounding must not give back filters
// the cut was meant to free (rounding up can leave the design as big as before); kNearest
// suits the final fine-tuning (thesis 4.5.2), where N is also raised in cheap layers.
// Throws lowbit::Error when wanted < 1 or step < 1.
int64_t round_filters_to_pe(int64_t wanted, int64_t step, FilterRounding rounding = FilterRounding::kDown);

// The report as text: the eq 4.5-4.7 table (layer, K, I, N, F_in, F_out, OPS, PE x SIMD,
// Reuse, FM BRAM, weight/MVAU BRAM18, LUT), the binding resource and the ranking.
std::string pruning_text(const PruningReport& r);
nlohmann::json pruning_json(const PruningReport& r);

}  // namespace lowbit::hw
