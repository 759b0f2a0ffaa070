#include "lowbit/hw/prune_whatif.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lowbit/core/error.hpp"
#include "lowbit/hw/filter_prune.hpp"

namespace lowbit::hw {

namespace {

// The fit of a model: its folded graph's plan and report.
struct Fitted {
  Graph g;
  FitResult fit;
  Plan plan;
  PruningReport report;
};

Fitted fit_model(const format::ModelDesc& d, const CostModel& cm) {
  Fitted f;
  f.g = build_graph(d);
  f.fit = fit_folding(f.g, cm);
  f.plan = evaluate(f.g, cm);
  f.report = pruning_report(d, f.g, f.plan, cm, &f.fit);
  return f;
}

WhatIf variant(const format::ModelDesc& desc, const CostModel& cm, const std::vector<PruneCut>& cuts, double base_fps) {
  format::ModelDesc d = desc;
  for (const PruneCut& c : cuts)
    if (c.to < c.from) d = keep_first_filters(d, static_cast<size_t>(c.layer), c.to);
  const Fitted f = fit_model(d, cm);
  WhatIf w;
  w.cuts = cuts;
  w.fits = f.fit.found;
  w.fps = f.fit.found ? f.plan.fps : 0;
  w.speedup = base_fps > 0 ? w.fps / base_fps : 0;
  if (f.plan.bottleneck >= 0) w.bottleneck = f.g.nodes[static_cast<size_t>(f.plan.bottleneck)].name;
  w.total = f.plan.total;
  w.bound = f.report.bound;
  return w;
}

// N' for a cut of `fraction`: rounded to the step, or, when the step is too coarse to cut
// anything (N' would stay N), to its largest proper divisor, down to 1.
int64_t cut_to(int64_t n, double fraction, int64_t step, FilterRounding rounding) {
  const int64_t wanted = std::max<int64_t>(1, std::llround(static_cast<double>(n) * (1 - fraction)));
  for (int64_t s = step;;) {
    const int64_t to = std::min(n, round_filters_to_pe(wanted, s, rounding));
    if (to < n || s == 1) return to;
    int64_t d = s / 2;
    while (s % d) --d;
    s = d;
  }
}

std::string percent(double f) { return cat(static_cast<int64_t>(std::lround(100 * f)), "%"); }

std::string cuts_str(const std::vector<PruneCut>& cuts) {
  std::string s;
  for (const PruneCut& c : cuts) s += cat(s.empty() ? "" : ", ", c.name, " ", c.from, "->", c.to);
  return s;
}

}  // namespace

WhatIfReport prune_what_if(const format::ModelDesc& desc, const CostModel& cm, const std::vector<double>& fractions,
                           int top_k, FilterRounding rounding) {
  for (double f : fractions)
    LOWBIT_CHECK(f > 0 && f < 1, "prune_what_if: a cut is a fraction of the filters in (0, 1), got ", f);
  const Fitted base = fit_model(desc, cm);
  WhatIfReport r;
  r.base_fps = base.fit.found ? base.plan.fps : 0;
  r.base_bound = base.report.bound;
  const auto& rank = base.report.ranking;
  for (double f : fractions) {
    auto cut_of = [&](const LayerChoice& c) {
      return PruneCut{c.layer, c.name, c.filters, cut_to(c.filters, f, c.pe, rounding)};
    };
    for (const LayerChoice& c : rank) {
      WhatIf w = variant(desc, cm, {cut_of(c)}, r.base_fps);
      w.label = cat(c.name, " -", percent(f));
      r.rows.push_back(std::move(w));
    }
    std::vector<PruneCut> together;
    for (int k = 1; k <= std::min<int>(top_k, static_cast<int>(rank.size())); ++k) {
      together.push_back(cut_of(rank[static_cast<size_t>(k - 1)]));
      if (k < 2) continue;
      WhatIf w = variant(desc, cm, together, r.base_fps);
      w.label = cat("top ", k, " -", percent(f));
      r.rows.push_back(std::move(w));
    }
  }
  return r;
}

GreedyReport greedy_prune(const format::ModelDesc& desc, const CostModel& cm, const GreedyOptions& opt) {
  LOWBIT_CHECK(opt.step_fraction > 0 && opt.step_fraction < 1, "greedy_prune: step_fraction must be in (0, 1), got ",
               opt.step_fraction);
  LOWBIT_CHECK(opt.min_keep > 0 && opt.min_keep <= 1, "greedy_prune: min_keep must be in (0, 1], got ", opt.min_keep);
  LOWBIT_CHECK(opt.target_speedup > 0, "greedy_prune: the target speedup must be positive");
  LOWBIT_CHECK(opt.max_steps >= 0 && opt.max_steps <= 10000, "greedy_prune: max_steps in 0..10000, got ", opt.max_steps);
  GreedyReport r;
  r.pruned = desc;
  Fitted cur = fit_model(desc, cm);
  r.base_fps = cur.fit.found ? cur.plan.fps : 0;
  if (!cur.fit.found) {
    r.stopped = "the unpruned model fits no folding; nothing to compare against";
    return r;
  }
  std::vector<int64_t> original;
  for (const format::LayerDesc& l : desc.layers) original.push_back(l.out);
  for (int step = 0;; ++step) {
    const double speedup = cur.fit.found ? cur.plan.fps / r.base_fps : 0;
    if (speedup >= opt.target_speedup) {
      r.reached = true;
      r.stopped = cat("reached ", fixed_point(speedup, 2), "x >= ", fixed_point(opt.target_speedup, 2), "x");
      break;
    }
    if (step >= opt.max_steps) {
      r.stopped = cat("stopped after ", opt.max_steps, " steps");
      break;
    }
    const LayerChoice* pick = nullptr;
    int64_t to = 0;
    for (const LayerChoice& c : cur.report.ranking) {
      const int64_t cut = std::max<int64_t>(1, std::llround(opt.step_fraction * static_cast<double>(c.filters)));
      const int64_t n = c.filters - cut >= 1 ? round_filters_to_pe(c.filters - cut, c.pe, opt.rounding) : c.filters;
      const double floor_n = opt.min_keep * static_cast<double>(original[static_cast<size_t>(c.layer)]);
      if (n < c.filters && static_cast<double>(n) >= floor_n - 1e-9) {
        pick = &c, to = n;
        break;
      }
    }
    if (!pick) {
      r.stopped = cat("no ranked layer can lose filters (each at ", percent(opt.min_keep),
                      " of its original count or one filter step from it)");
      break;
    }
    GreedyStep s;
    s.cut = {pick->layer, pick->name, pick->filters, to};
    s.bound = cur.report.bound;
    r.pruned = keep_first_filters(r.pruned, static_cast<size_t>(pick->layer), to);
    cur = fit_model(r.pruned, cm);
    s.fits = cur.fit.found;
    s.fps = cur.fit.found ? cur.plan.fps : 0;
    s.speedup = s.fps / r.base_fps;
    r.steps.push_back(s);
  }
  return r;
}

std::string what_if_text(const WhatIfReport& r) {
  std::ostringstream os;
  os << "Filter-cut what-ifs (each variant re-fitted: the fastest folding within the same budget; unpruned "
     << fixed_point(r.base_fps, 1) << " frames/s, " << (r.base_bound.empty() ? "nothing" : r.base_bound) << "-bound)\n";
  size_t wl = 7, wc = 4;
  for (const WhatIf& w : r.rows) wl = std::max(wl, w.label.size()), wc = std::max(wc, cuts_str(w.cuts).size());
  os << pad("variant", wl) << "  " << pad("cuts", wc) << "  " << rpad("frames/s", 10) << " " << rpad("speedup", 7) << "  "
     << rpad("LUT", 6) << " " << rpad("BRAM18", 6) << "  bound   bottleneck\n";
  for (const WhatIf& w : r.rows)
    os << pad(w.label, wl) << "  " << pad(cuts_str(w.cuts), wc) << "  "
       << rpad(w.fits ? fixed_point(w.fps, 1) : std::string("no fit"), 10) << " " << rpad(cat(fixed_point(w.speedup, 2), "x"), 7)
       << "  " << rpad(std::to_string(w.total.lut), 6) << " " << rpad(std::to_string(w.total.bram18), 6) << "  "
       << pad(w.bound, 6) << "  " << w.bottleneck << "\n";
  return os.str();
}

nlohmann::json what_if_json(const WhatIfReport& r) {
  using nlohmann::json;
  json rows = json::array();
  for (const WhatIf& w : r.rows) {
    json cuts = json::array();
    for (const PruneCut& c : w.cuts) cuts.push_back({{"layer", c.layer}, {"name", c.name}, {"from", c.from}, {"to", c.to}});
    rows.push_back({{"label", w.label},
                    {"cuts", cuts},
                    {"fits", w.fits},
                    {"fps", w.fps},
                    {"speedup", w.speedup},
                    {"bottleneck", w.bottleneck},
                    {"bound", w.bound},
                    {"LUT", w.total.lut},
                    {"BRAM_18K", w.total.bram18},
                    {"DSP", w.total.dsp}});
  }
  return json{{"base_fps", r.base_fps}, {"base_bound", r.base_bound}, {"variants", rows}};
}

std::string greedy_text(const GreedyReport& r, const GreedyOptions& opt) {
  std::ostringstream os;
  os << "Algorithm 3 on hardware alone (no retraining): cut " << percent(opt.step_fraction)
     << " of the top-ranked layer's filters per step (rounded " << (opt.rounding == FilterRounding::kDown ? "down" : "to nearest")
     << " to a multiple of its PE, never below " << percent(opt.min_keep) << " of the original), re-fit; target "
     << fixed_point(opt.target_speedup, 2) << "x of " << fixed_point(r.base_fps, 1) << " frames/s\n";
  int i = 1;
  for (const GreedyStep& s : r.steps)
    os << "  " << rpad(std::to_string(i++), 3) << ". " << pad(cat(s.bound, "-bound"), 12) << " " << s.cut.name << " "
       << s.cut.from << " -> " << s.cut.to << ": " << (s.fits ? fixed_point(s.fps, 1) : std::string("no fit")) << " frames/s ("
       << fixed_point(s.speedup, 2) << "x)\n";
  os << "Result: " << r.stopped << "; filters now:";
  for (const format::LayerDesc& l : r.pruned.layers) os << " " << l.out;
  os << "\n";
  return os.str();
}

nlohmann::json greedy_json(const GreedyReport& r) {
  using nlohmann::json;
  json steps = json::array();
  for (const GreedyStep& s : r.steps)
    steps.push_back({{"layer", s.cut.layer},
                     {"name", s.cut.name},
                     {"from", s.cut.from},
                     {"to", s.cut.to},
                     {"bound", s.bound},
                     {"fits", s.fits},
                     {"fps", s.fps},
                     {"speedup", s.speedup}});
  json filters = json::array();
  for (const format::LayerDesc& l : r.pruned.layers) filters.push_back(l.out);
  return json{{"base_fps", r.base_fps}, {"steps", steps}, {"reached", r.reached}, {"stopped", r.stopped},
              {"filters", filters}};
}

}  // namespace lowbit::hw
