// Filter pruning of the IR for hardware what-ifs (docs/HARDWARE.md, "Pruning costs (thesis
// eqs 4.5-4.7)"): removes output channels (filters) of one layer and the matching input
// channels of the next, as thesis section 4.5 prunes a trained network (Faraone, seed 003:
// "removing full sets of weights from a convolutional kernel and their corresponding output
// feature maps"). The result has the pruned network's shapes, bit widths and weight codes,
// which is all the planner reads; it does not compute what a retrained pruned network would
// (the next layer's thresholds are kept, not re-fitted to the missing inputs), so it is for
// costing only. Choosing which filters to drop (the thesis's MSQE ranking, eq 4.8) is the
// training side's job.
#pragma once
#include <cstdint>
#include <vector>

#include "lowbit/format/model_desc.hpp"

namespace lowbit::hw {

// desc with layer `layer`'s output channels reduced to `keep` (strictly ascending indices in
// 0..out-1, at least one): its weight rows, `negated` flags and thresholds (or SYQ's float
// thresholds) of the kept channels, and the next layer's weights at the kept input channels
// (every kernel tap of a conv, every map position of a dense layer) with its in_c reduced.
// Throws lowbit::Error naming the layer when it is the last (score) layer (its outputs are
// the classes), when the model has residual shortcuts (a pruned map would no longer match
// the map it is added to), or when `keep` is empty, unsorted, repeated or out of range. The
// result is validated (format::validate).
format::ModelDesc drop_filters(const format::ModelDesc& desc, size_t layer, const std::vector<int64_t>& keep);

// drop_filters keeping the first `n` filters (1 <= n <= out); for shape what-ifs, where which
// filters go does not matter.
format::ModelDesc keep_first_filters(const format::ModelDesc& desc, size_t layer, int64_t n);

}  // namespace lowbit::hw
