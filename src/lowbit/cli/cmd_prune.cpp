// lowbit prune: quantization pruning (masks) or filter pruning of a checkpoint, written as a
// new checkpoint to fine-tune with `lowbit train --init-from` (docs/SPARSITY.md).
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/pruning_cost.hpp"
#include "lowbit/nn/filter_pruning.hpp"
#include "lowbit/nn/pruning.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"

namespace lowbit::cli {

namespace {

struct PruneArgs {
  std::string checkpoint, output;
  std::string layers = "*";
  float sigma = -1.f;
  double filters = 0;
  std::string rank = "msqe";
  std::string multiple = "1";  // a count, or "auto": the layer's PE in the planner's fit
  std::string board;           // --layers auto / --multiple-of auto: the device the planner fits
  int top = 1;                 // --layers auto: how many of the planner's ranked layers
  uint64_t seed = 1;
};

// One layer to prune and the multiple its remaining filter count must be.
struct Target {
  std::string name;
  int64_t multiple = 1;
  std::string why;  // the planner's reason (auto)
};

// The planner's ranking of the model's layers on --board (thesis Algorithm 3, section
// 4.5.1), as training layer names with their PE: the IR names a layer by its index in the
// model's leaf layers ("conv2d@4").
std::vector<Target> planner_targets(nn::Model& model, const train::Checkpoint& ck, const PruneArgs& a) {
  exporter::ExportOptions eo;
  if (ck.meta.contains("train_config")) eo.normalize = train::checkpoint_train_config(ck, a.checkpoint).data.normalize;
  std::string why = exporter::export_problem(model.topology(), eo);
  if (!why.empty()) usage_fail("--layers auto / --multiple-of auto plan the exported model, and ", a.checkpoint, " does not export: ", why);
  const format::ModelDesc desc = exporter::fold(model, eo);
  hw::CostModel cm;
  cm.device = hw::find_device(a.board);
  cm.clock_mhz = cm.device.clock_mhz;
  const std::vector<nn::Layer*> leaves = model.leaf_layers();
  std::vector<Target> out;
  for (const hw::LayerChoice& c : hw::rank_layers_for_pruning(desc, cm)) {
    const size_t at = c.name.find('@');
    const size_t index = at == std::string::npos ? leaves.size() : std::stoul(c.name.substr(at + 1));
    LOWBIT_CHECK(index < leaves.size(), "the planner names layer '", c.name, "', which ", model.name(), " does not have");
    out.push_back({leaves[index]->name(), c.pe, c.reason});
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

// The checkpoint `lowbit train --init-from` reads: the (new) topology, the source's training
// configuration (for its pixel scaling), the tensors and masks, and where it came from.
void write_pruned(nn::Model& model, const train::Checkpoint& source, const PruneArgs& a, const nlohmann::json& how) {
  train::Checkpoint ck;
  ck.meta["kind"] = "lowbit-checkpoint";
  ck.meta["topology"] = model.topology();
  if (source.meta.contains("train_config")) ck.meta["train_config"] = source.meta.at("train_config");
  ck.meta["epochs_done"] = 0;
  ck.meta["history"] = nlohmann::json::array();
  ck.meta["pruned"] = how;
  train::add_model_tensors(model, ck);
  const std::vector<uint8_t> bytes = train::encode_checkpoint(ck);
  write_output(a.output, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

Action add_prune_command(CLI::App& app) {
  auto a = std::make_shared<PruneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "prune",
      "Prune a checkpoint: quantization pruning (weights with |w| <= sigma set to 0 and masked, thesis eq. 3.6) or, "
      "with --filters, whole filters ranked by quantization error (thesis ch. 4); fine-tune the result with "
      "`lowbit train --init-from OUT`");
  cmd->footer(kExitCodesHelp);
  cmd->add_option("checkpoint", a->checkpoint, "The checkpoint to prune (.ckpt)")->required();
  cmd->add_option("-o,--output", a->output, "The pruned checkpoint to write")->required();
  cmd->add_option("--layers", a->layers,
                  "Layers to prune: a glob over layer names (quantization pruning, default every prunable layer), or "
                  "a comma-separated list of dense/conv2d layers (--filters), or auto (--filters: the layers the "
                  "dataflow planner ranks first on --board)");
  CLI::Option* sigma = cmd->add_option("--sigma", a->sigma,
                                       "Quantization pruning threshold sigma in latent units (default: each layer's "
                                       "quantization threshold eta, the thesis' sigma = eta)")
                           ->check(real_in(0, 1e30));
  CLI::Option* filters =
      cmd->add_option("--filters", a->filters,
                      "Filter pruning: the fraction of each listed layer's filters to remove, in (0, 1) (the thesis "
                      "prunes 0.1 per round, retraining between rounds)")
          ->check(real_in(0, 1, true))  // 1 itself is refused when the command runs
          ->excludes(sigma);
  cmd->add_option("--rank", a->rank, "Filter ranking: msqe (highest quantization error first, thesis eq. 4.8), "
                                     "magnitude (lowest mean |w| first) or random")
      ->capture_default_str()
      ->check(CLI::IsMember({"msqe", "magnitude", "random"}))
      ->needs(filters);
  cmd->add_option("--multiple-of", a->multiple,
                  "Keep a multiple of this many filters (the layer's PE count, so N % PE == 0: thesis 4.5.2; rounded "
                  "down), or auto: each layer's PE in the fastest folding that fits --board")
      ->capture_default_str()
      ->needs(filters);
  cmd->add_option("--board", a->board,
                  "For --layers auto and --multiple-of auto: the board or part the dataflow planner fits the exported "
                  "model to (lowbit hw devices)");
  cmd->add_option("--top", a->top,
                  "--layers auto: prune the planner's first N ranked layers (the layers whose MVAUs use the most of the "
                  "binding resource: thesis Algorithm 3)")
      ->capture_default_str()
      ->check(whole_in(1, 1024));
  CLI::Option* seed_opt = cmd->add_option("--seed", a->seed, "Seed of --rank random")->capture_default_str()->needs(filters);

  return [a, filters, seed_opt]() {
    if (!filters->count() && (a->board.size() || a->top != 1))
      usage_fail("--board and --top choose layers for --filters");
    if (a->top != 1 && a->layers != "auto") usage_fail("--top needs --layers auto");
    if (filters->count() && !(a->filters < 1.0)) usage_fail("--filters must be a fraction in (0, 1), got ", a->filters);
    if (!a->board.empty() && a->layers != "auto" && a->multiple != "auto")
      usage_fail("--board is for --layers auto and --multiple-of auto");
    if (seed_opt->count() && a->rank != "random") usage_fail("--seed is for --rank random");
    check_output("--output", a->output, {a->checkpoint});
    train::LoadedModel loaded = train::load_model(a->checkpoint);
    nn::Model& model = *loaded.model;
    if (!filters->count()) {
      quant::SparsityConfig c;
      c.prune_sigma = a->sigma;
      std::vector<std::string> skipped;
      const std::vector<nn::LayerZeros> z = nn::quantization_prune(model, c, a->layers, &skipped);
      for (const std::string& s : skipped) std::cout << "skipped " << s << "\n";
      std::cout << "quantization pruning (" << (a->sigma < 0 ? std::string("sigma = eta") : cat("sigma ", a->sigma))
                << "), zeros of the quantized weights:\n"
                << nn::zeros_table(nn::weight_zeros(model));
      (void)z;
      write_pruned(model, loaded.checkpoint, *a, {{"method", "quantization"}, {"sigma", a->sigma}, {"layers", a->layers},
                                                  {"from", a->checkpoint}});
    } else {
      const nn::FilterRank rank = nn::parse_filter_rank(a->rank);
      std::unique_ptr<nn::Model> current;
      nn::Model* m = &model;
      nlohmann::json done = nlohmann::json::array();
      const bool auto_layers = a->layers == "auto", auto_multiple = a->multiple == "auto";
      int64_t multiple = 1;
      if (!auto_multiple) {
        try {
          size_t used = 0;
          multiple = std::stoll(a->multiple, &used);
          if (used != a->multiple.size() || multiple < 1 || multiple > 65536) throw std::invalid_argument("range");
        } catch (const std::exception&) {
          usage_fail("--multiple-of must be a whole number in 1..65536 or auto, got '", a->multiple, "'");
        }
      }
      if ((auto_layers || auto_multiple) && a->board.empty())
        usage_fail("--layers auto and --multiple-of auto need --board (the device the planner fits)");
      std::vector<Target> targets;
      const std::vector<Target> planned = auto_layers || auto_multiple ? planner_targets(model, loaded.checkpoint, *a)
                                                                       : std::vector<Target>{};
      if (auto_layers) {
        for (const Target& t : planned)
          if (static_cast<int>(targets.size()) < a->top && nn::filter_pruning_problem(model, t.name).empty())
            targets.push_back(t);
        if (targets.empty()) usage_fail("--layers auto: the planner ranks no layer whose filters can be pruned");
      } else {
        if (a->layers == "*") usage_fail("--filters needs --layers: a comma-separated list of layers, or auto");
        for (const std::string& name : split_commas(a->layers)) {
          Target t{name, multiple, ""};
          if (auto_multiple) {
            t.multiple = 0;
            for (const Target& p : planned)
              if (p.name == name) t.multiple = p.multiple;
            if (t.multiple == 0) usage_fail("--multiple-of auto: the planner has no PE for ", name);
          }
          targets.push_back(t);
        }
      }
      if (!auto_multiple)
        for (Target& t : targets) t.multiple = multiple;
      for (const Target& t : targets) {
        const std::string& name = t.name;
        if (std::string why = nn::filter_pruning_problem(*m, name); !why.empty())
          usage_fail("--layers: cannot prune the filters of ", name, ": ", why);
        nn::WeightedLayer* layer = nullptr;
        for (nn::WeightedLayer* l : m->weighted_layers())
          if (l->name() == name) layer = l;
        const int64_t n = layer->weight().value.dim(0);
        if (t.multiple > n) usage_fail("--multiple-of ", t.multiple, " is more than ", name, "'s ", n, " filters");
        if (!t.why.empty()) std::cout << name << ": chosen by the planner on " << a->board << ": " << t.why << "\n";
        // Round to the nearest filter, then down to the multiple (hw::round_filters_to_pe:
        // rounding down never hands back what the cut was meant to free).
        const int64_t wanted = std::max<int64_t>(1, std::llround(static_cast<double>(n) * (1.0 - a->filters)));
        const int64_t keep_n = hw::round_filters_to_pe(wanted, t.multiple);
        const std::vector<int64_t> order = nn::rank_filters(*layer, rank, a->seed);
        std::vector<int64_t> keep(order.begin() + (n - keep_n), order.end());
        std::sort(keep.begin(), keep.end());
        std::cout << name << ": " << n << " -> " << keep_n << " filters (" << a->rank << " ranking, a multiple of "
                  << t.multiple << ": " << 100 * (n - keep_n) / n << "% pruned)\n";
        done.push_back({{"layer", name}, {"from", n}, {"to", keep_n}, {"multiple_of", t.multiple}});
        current = nn::prune_filters(*m, name, keep);
        m = current.get();
      }
      write_pruned(*m, loaded.checkpoint, *a,
                   {{"method", "filters"}, {"fraction", a->filters}, {"rank", a->rank}, {"layers", done}, {"from", a->checkpoint}});
      std::cout << "parameters " << model.num_params() << " -> " << m->num_params() << ", MACs per sample "
                << model.macs() << " -> " << m->macs() << "\n";
    }
    std::cout << "wrote " << a->output << " (fine-tune it: lowbit train --init-from " << a->output << " --data ...)\n";
    return 0;
  };
}

}  // namespace lowbit::cli
