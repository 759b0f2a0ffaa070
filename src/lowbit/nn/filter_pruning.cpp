#include "lowbit/nn/filter_pruning.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/quant/pruning.hpp"

namespace lowbit::nn {

FilterRank parse_filter_rank(const std::string& s) {
  if (s == "msqe") return FilterRank::kMsqe;
  if (s == "magnitude") return FilterRank::kMagnitude;
  if (s == "random") return FilterRank::kRandom;
  usage_fail("unknown filter ranking '", s, "' (valid: msqe, magnitude, random)");
}

const char* filter_rank_name(FilterRank r) {
  switch (r) {
    case FilterRank::kMsqe: return "msqe";
    case FilterRank::kMagnitude: return "magnitude";
    case FilterRank::kRandom: return "random";
  }
  return "?";
}

std::vector<int64_t> rank_filters(WeightedLayer& layer, FilterRank rank, uint64_t seed) {
  const Param& w = layer.weight();
  const int64_t filters = w.value.dim(0), fan = w.value.size() / filters;
  std::vector<int64_t> order(static_cast<size_t>(filters));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (rank == FilterRank::kRandom) {
    Rng rng(seed, 0x5eed'f11e'0000ULL);
    for (int64_t i = filters - 1; i > 0; --i)  // Fisher-Yates
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(static_cast<uint64_t>(i) + 1))]);
    return order;
  }
  std::vector<double> score;
  if (rank == FilterRank::kMsqe) {
    LOWBIT_CHECK_USAGE(layer.quant().weight_quantizer(), "--rank msqe: ", layer.name(),
                       " has float weights, whose quantization error is 0 for every filter; rank it by magnitude");
    const Tensor& q = layer.quant().weights(w, Context{});
    score = quant::filter_msqe(q.data(), w.value.data(), filters, fan);
    for (double& s : score) s = -s;  // highest error first
  } else {
    score = quant::filter_magnitude(w.value.data(), filters, fan);  // lowest magnitude first
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return score[static_cast<size_t>(a)] < score[static_cast<size_t>(b)]; });
  return order;
}

namespace {

bool per_channel_between(const std::string& type) {
  return type == "batchnorm" || type == "relu" || type == "hardtanh" || type == "quant_act" || type == "maxpool2d" ||
         type == "avgpool2d" || type == "dropout" || type == "flatten";
}

// The top-level layers of a plain chain: JSON index, type and the name the builder gives it.
struct Entry {
  size_t index;
  std::string type, name;
};

std::vector<Entry> chain(const json& topology) {
  std::vector<Entry> out;
  std::map<std::string, int> counters;
  const json& layers = topology.at("layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string type = layers[i].at("type").get<std::string>();
    out.push_back({i, type, type + "_" + std::to_string(++counters[type])});
  }
  return out;
}

// Positions in chain(): the layer, the next dense/conv2d; "" or why not.
std::string locate(Model& model, const std::string& name, size_t& at, size_t& next) {
  const json topology = model.topology();
  const std::vector<Entry> c = chain(topology);
  for (const Entry& e : c)
    if (e.type == "residual" || e.type == "sequential")
      return cat(model.name(), " has residual blocks, whose sums need both branches' channels: filter pruning takes "
                 "plain chains only");
  at = c.size();
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i].name == name) at = i;
  if (at == c.size()) {
    std::string names;
    for (const Entry& e : c)
      if (e.type == "dense" || e.type == "conv2d") names += (names.empty() ? "" : ", ") + e.name;
    return cat("no dense or conv2d layer '", name, "' in ", model.name(), " (they are: ", names, ")");
  }
  if (c[at].type != "dense" && c[at].type != "conv2d") return cat(name, " is a ", c[at].type, ", not a dense or conv2d layer");
  bool flat = false;  // after a flatten, a batchnorm normalizes features, not channels
  for (next = at + 1; next < c.size(); ++next) {
    if (c[next].type == "dense" || c[next].type == "conv2d") return "";
    flat = flat || c[next].type == "flatten";
    if (!per_channel_between(c[next].type) || (flat && c[next].type == "batchnorm" && c[at].type == "conv2d"))
      return cat(c[next].name, " (", c[next].type, ") between ", name, " and the next weighted layer does not work per channel");
  }
  return cat(name, " is the last weighted layer: its outputs are the classes");
}

// `src` with only the rows `keep` along axis 0 (rows of dim(0)) or, along axis 1, the
// groups of `group` consecutive elements of each row that belong to the kept channels.
Tensor take(const Tensor& src, int axis, const std::vector<int64_t>& keep, int64_t channels) {
  Shape shape = src.shape();
  if (axis == 0) {
    const int64_t row = src.size() / shape[0];
    shape[0] = static_cast<int64_t>(keep.size());
    Tensor out(shape);
    for (size_t r = 0; r < keep.size(); ++r)
      std::copy_n(src.data() + keep[r] * row, row, out.data() + static_cast<int64_t>(r) * row);
    return out;
  }
  const int64_t rows = shape[0], cols = src.size() / rows, group = cols / channels;
  const int64_t kept_cols = static_cast<int64_t>(keep.size()) * group;
  // (out, C, kh, kw) -> (out, C', kh, kw); (out, C*H*W) -> (out, C'*H*W).
  if (shape.size() == 4) shape[1] = static_cast<int64_t>(keep.size());
  else shape[1] = kept_cols;
  Tensor out(shape);
  for (int64_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < keep.size(); ++k)
      std::copy_n(src.data() + r * cols + keep[k] * group, group, out.data() + r * kept_cols + static_cast<int64_t>(k) * group);
  return out;
}

}  // namespace

std::string filter_pruning_problem(Model& model, const std::string& name) {
  size_t at = 0, next = 0;
  return locate(model, name, at, next);
}

std::unique_ptr<Model> prune_filters(Model& model, const std::string& name, const std::vector<int64_t>& keep) {
  size_t at = 0, next = 0;
  if (std::string why = locate(model, name, at, next); !why.empty()) usage_fail("cannot prune the filters of ", name, ": ", why);
  json topology = model.topology();
  const std::vector<Entry> c = chain(topology);
  json& spec = topology["layers"][c[at].index];
  const char* count_key = c[at].type == "conv2d" ? "filters" : "units";
  const int64_t n = spec.at(count_key).get<int64_t>();
  LOWBIT_CHECK_USAGE(!keep.empty(), "pruning every filter of ", name, " leaves nothing");
  for (size_t i = 0; i < keep.size(); ++i)
    LOWBIT_CHECK_USAGE(keep[i] >= 0 && keep[i] < n && (i == 0 || keep[i] > keep[i - 1]), name,
                       ": the filters to keep must be distinct channels in 0..", n - 1, ", ascending");
  spec[count_key] = static_cast<int64_t>(keep.size());
  auto pruned = build_model(topology);

  // Which tensors shrink, and how: by name prefix ("conv2d_2.").
  std::map<std::string, int> axis_of_layer;  // layer name -> axis (0: its rows; 1: its input channels)
  axis_of_layer[c[at].name] = 0;
  for (size_t i = at + 1; i < next; ++i) axis_of_layer[c[i].name] = 0;
  axis_of_layer[c[next].name] = 1;
  auto reshape = [&](const std::string& tensor_name, const Tensor& src, const Shape& want) -> Tensor {
    const std::string layer = tensor_name.substr(0, tensor_name.find('.'));
    auto it = axis_of_layer.find(layer);
    if (src.shape() == want) return src;  // unchanged (a per-tensor scale, another layer)
    LOWBIT_CHECK(it != axis_of_layer.end(), "filter pruning: ", tensor_name, " changed shape from ", shape_str(src.shape()),
                 " to ", shape_str(want), " outside the pruned layers");
    // The next layer's weight (and its mask) lose input channels; the pruned layer's and the
    // per-channel layers' tensors lose rows. Quantizer tensors of the next layer keep their
    // shape (per-tensor input ranges, per-output-channel weight scales) and returned above.
    const bool input_side = it->second == 1;
    LOWBIT_CHECK(input_side || (src.rank() >= 1 && src.dim(0) == n), "filter pruning: ", tensor_name, " of shape ",
                 shape_str(src.shape()), " is not per channel");
    Tensor out = take(src, input_side ? 1 : 0, keep, n);
    LOWBIT_CHECK(out.shape() == want, "filter pruning: ", tensor_name, " became ", shape_str(out.shape()), ", expected ",
                 shape_str(want));
    return out;
  };
  std::map<std::string, Param*> src_params;
  for (auto& [pname, p] : model.named_params()) src_params[pname] = p;
  for (auto& [pname, p] : pruned->named_params()) {
    const Param* s = src_params.at(pname);
    p->value = reshape(pname, s->value, p->value.shape());
    p->mask = s->masked() ? reshape(pname, s->mask, p->value.shape()) : Tensor();
  }
  std::map<std::string, Tensor*> src_buffers;
  for (auto& [bname, t] : model.named_buffers()) src_buffers[bname] = t;
  for (auto& [bname, t] : pruned->named_buffers()) *t = reshape(bname, *src_buffers.at(bname), t->shape());
  return pruned;
}

}  // namespace lowbit::nn
