// What filter pruning buys on a device (docs/HARDWARE.md, "Pruning costs (thesis eqs
// 4.5-4.7)"): the fps of the fastest folding that fits (fit_folding) after cutting the
// filters of chosen layers (filter_prune.hpp), against the unpruned model's at the same
// budget; and a hardware-only run of the thesis's Algorithm 3 loop (Faraone, seed 003,
// section 4.5.1): rank the layers (pruning_cost.hpp), cut ~10% of the top one's filters
// rounded to a multiple of its PE (N % PE == 0, thesis 4.5.2), re-fit, repeat until a target
// speedup. Every variant is re-fitted, so the next layer's SIMD is chosen anew (the stricter
// filter_step, which keeps the whole folding, can forbid any cut: a next layer with SIMD =
// MW needs N' = N). No retraining and no accuracy check happen here: they are the training
// side's (the lead's filter-pruning loop).
#pragma once
#include <string>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/hw/plan.hpp"
#include "lowbit/hw/pruning_cost.hpp"

namespace lowbit::hw {

struct PruneCut {
  int layer = -1;
  std::string name;
  int64_t from = 0, to = 0;  // filters before and after
};

// One pruned variant and its best fitting design.
struct WhatIf {
  std::string label;          // "conv2d@3 -25%", "top 2 -25%"
  std::vector<PruneCut> cuts;
  bool fits = false;          // a folding fits the budget
  double fps = 0;             // of the fastest fitting folding (fit_folding)
  double speedup = 0;         // fps / the unpruned model's fps
  std::string bottleneck;     // its slowest unit
  Resources total;
  std::string bound;          // its binding resource (pruning_report)
};

struct WhatIfReport {
  double base_fps = 0;        // the unpruned model's fit
  std::string base_bound;
  std::vector<WhatIf> rows;
};

// The fit of `desc` with filters cut: for each fraction f in `fractions` (0 < f < 1), each
// prunable layer alone, then the top k layers of the unpruned ranking together for k = 2 ..
// `top_k`, each cut to N' = round_filters_to_pe(round(N (1 - f)), the layer's PE in the
// unpruned fit, rounding); when the PE is too coarse to cut anything (PE = N), its largest
// proper divisor is used instead, down to 1. Throws lowbit::Error on a fraction outside
// (0, 1) or a model the planner cannot take.
WhatIfReport prune_what_if(const format::ModelDesc& desc, const CostModel& cm, const std::vector<double>& fractions,
                           int top_k = 3, FilterRounding rounding = FilterRounding::kDown);

struct GreedyOptions {
  double step_fraction = 0.1;  // of a layer's current filters per step (the thesis: 10%)
  double target_speedup = 1.5;  // stop once fps >= target x the unpruned fps
  double min_keep = 0.5;       // never cut a layer below this share of its original filters
  int max_steps = 40;
  FilterRounding rounding = FilterRounding::kDown;
};

struct GreedyStep {
  PruneCut cut;                // what this step cut
  std::string bound;           // the binding resource that chose the layer
  double fps = 0, speedup = 0;  // after the step
  bool fits = false;
};

struct GreedyReport {
  double base_fps = 0;
  std::vector<GreedyStep> steps;
  bool reached = false;            // the target speedup was reached
  std::string stopped;             // why it stopped
  format::ModelDesc pruned;        // the last step's model
};

// Algorithm 3's loop on hardware alone: each step ranks the current model's layers
// (rank_layers_for_pruning), takes the first whose filters can still be cut (N' =
// round_filters_to_pe(N - max(1, round(step_fraction N)), its PE) < N and N' >= min_keep x
// its original N; otherwise the next in the ranking), cuts it (keep_first_filters) and
// re-fits. Stops at the target, when no ranked layer can be cut, or after max_steps.
GreedyReport greedy_prune(const format::ModelDesc& desc, const CostModel& cm, const GreedyOptions& opt = {});

// The reports as text (one row per variant / step) and JSON.
std::string what_if_text(const WhatIfReport& r);
nlohmann::json what_if_json(const WhatIfReport& r);
std::string greedy_text(const GreedyReport& r, const GreedyOptions& opt);
nlohmann::json greedy_json(const GreedyReport& r);

}  // namespace lowbit::hw
