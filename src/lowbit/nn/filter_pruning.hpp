// Filter pruning (Faraone's thesis, seed 003, chapter 4): removing whole output channels
// (filters) of a dense or conv2d layer, with their feature maps, so that the network stays
// dense and every consumer simply computes less. docs/SPARSITY.md has the method.
//
//   std::vector<int64_t> order = nn::rank_filters(*layer, nn::FilterRank::kMsqe, seed);
//   std::vector<int64_t> keep(order.begin() + n_drop, order.end());  // drop the first n_drop
//   std::unique_ptr<nn::Model> smaller = nn::prune_filters(model, layer->name(), keep);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/nn/model.hpp"

namespace lowbit::nn {

// How filters are ranked (thesis section 4.5.4, Fig. 4.3):
//  kMsqe      the mean squared quantization error of the filter, eq. 4.8, over its K*K*I
//             weights: highest first ("Qerror", the thesis' method);
//  kMagnitude the mean |w| of its latent weights: lowest first ("Real");
//  kRandom    a seeded random order ("Random", the control).
enum class FilterRank { kMsqe, kMagnitude, kRandom };
FilterRank parse_filter_rank(const std::string& s);  // "msqe" | "magnitude" | "random"; UsageError otherwise
const char* filter_rank_name(FilterRank r);

// The filters (output channels) of `layer` in pruning order: the first is pruned first.
// Ties keep channel order. MSQE and magnitude read the latent weights now (Q(W) in
// evaluation for MSQE); `seed` is used by kRandom only.
std::vector<int64_t> rank_filters(WeightedLayer& layer, FilterRank rank, uint64_t seed);

// Why the filters of layer `name` cannot be pruned here, or "": the model must be a plain
// chain (no residual blocks), `name` a dense or conv2d layer that is not the last one
// (its outputs are the classes), and the layers between it and the next dense/conv2d
// must be per-channel (batchnorm, activations, quant_act, pooling, dropout, flatten).
std::string filter_pruning_problem(Model& model, const std::string& name);

// A new model in which layer `name` keeps only output channels `keep` (ascending, distinct,
// non-empty), in that order: its weights, bias and per-channel quantizer state, the
// per-channel tensors of the layers between (BatchNorm gamma, beta, running statistics),
// and the matching input channels of the next dense/conv2d layer (for a dense layer after
// a flatten, the h*w features of each kept channel) are copied, and so are the pruning
// masks of those layers; every other tensor is copied whole. The source model is unchanged. The new
// topology has the smaller "filters"/"units" count. Throws lowbit::UsageError with
// filter_pruning_problem's reason, or for a bad `keep`.
std::unique_ptr<Model> prune_filters(Model& model, const std::string& name, const std::vector<int64_t>& keep);

}  // namespace lowbit::nn
