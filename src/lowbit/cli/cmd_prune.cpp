// lowbit prune: quantization pruning (masks) or filter pruning of a checkpoint, written as a
// new checkpoint to fine-tune with `lowbit train --init-from` (docs/SPARSITY.md).
#include <iostream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/core/error.hpp"
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
  int64_t multiple = 1;
  uint64_t seed = 1;
};

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
                  "a comma-separated list of dense/conv2d layers (--filters)");
  CLI::Option* sigma = cmd->add_option("--sigma", a->sigma,
                                       "Quantization pruning threshold sigma in latent units (default: each layer's "
                                       "quantization threshold eta, the thesis' sigma = eta)")
                           ->check(real_in(0, 1e30));
  CLI::Option* filters =
      cmd->add_option("--filters", a->filters,
                      "Filter pruning: the fraction of each listed layer's filters to remove, in (0, 1) (the thesis "
                      "prunes 0.1 per round, retraining between rounds)")
          ->check(real_in(0, 1, true))
          ->excludes(sigma);
  cmd->add_option("--rank", a->rank, "Filter ranking: msqe (highest quantization error first, thesis eq. 4.8), "
                                     "magnitude (lowest mean |w| first) or random")
      ->capture_default_str()
      ->check(CLI::IsMember({"msqe", "magnitude", "random"}))
      ->needs(filters);
  cmd->add_option("--multiple-of", a->multiple,
                  "Keep a multiple of this many filters (the layer's PE count, so N % PE == 0: thesis 4.5.2); the "
                  "count is rounded down")
      ->capture_default_str()
      ->check(whole_in(1, 65536))
      ->needs(filters);
  cmd->add_option("--seed", a->seed, "Seed of --rank random")->capture_default_str()->needs(filters);

  return [a, filters]() {
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
      for (const std::string& name : split_commas(a->layers)) {
        if (std::string why = nn::filter_pruning_problem(*m, name); !why.empty())
          usage_fail("--layers: cannot prune the filters of ", name, ": ", why);
        nn::WeightedLayer* layer = nullptr;
        for (nn::WeightedLayer* l : m->weighted_layers())
          if (l->name() == name) layer = l;
        const int64_t n = layer->weight().value.dim(0);
        if (a->multiple > n) usage_fail("--multiple-of ", a->multiple, " is more than ", name, "'s ", n, " filters");
        const int64_t keep_n = nn::filters_after_pruning(n, a->filters, a->multiple);
        const std::vector<int64_t> order = nn::rank_filters(*layer, rank, a->seed);
        std::vector<int64_t> keep(order.begin() + (n - keep_n), order.end());
        std::sort(keep.begin(), keep.end());
        std::cout << name << ": " << n << " -> " << keep_n << " filters (" << a->rank << " ranking)\n";
        done.push_back({{"layer", name}, {"from", n}, {"to", keep_n}});
        current = nn::prune_filters(*m, name, keep);
        m = current.get();
      }
      write_pruned(*m, loaded.checkpoint, *a,
                   {{"method", "filters"}, {"fraction", a->filters}, {"rank", a->rank}, {"multiple_of", a->multiple},
                    {"layers", done}, {"from", a->checkpoint}});
      std::cout << "parameters " << model.num_params() << " -> " << m->num_params() << ", MACs per sample "
                << model.macs() << " -> " << m->macs() << "\n";
    }
    std::cout << "wrote " << a->output << " (fine-tune it: lowbit train --init-from " << a->output << " --data ...)\n";
    return 0;
  };
}

}  // namespace lowbit::cli
