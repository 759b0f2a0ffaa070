#include "lowbit/hw/filter_prune.hpp"

#include "lowbit/core/error.hpp"

namespace lowbit::hw {

using format::LayerDesc;

format::ModelDesc drop_filters(const format::ModelDesc& desc, size_t layer, const std::vector<int64_t>& keep) {
  LOWBIT_CHECK(layer < desc.layers.size(), "drop_filters: layer ", layer, " of '", desc.name, "', which has ",
               desc.layers.size(), " layers");
  const LayerDesc& l = desc.layers[layer];
  const std::string at = cat("drop_filters: layer ", layer, " (", l.name, ")");
  LOWBIT_CHECK(layer + 1 < desc.layers.size() && !l.scores, at,
               ": the last layer's outputs are the classes, not filters to prune");
  for (const LayerDesc& x : desc.layers)
    LOWBIT_CHECK(!x.has_shortcut(), at, ": '", desc.name, "' has a residual shortcut (layer ", x.name,
                 "); pruning would break the map it adds");
  LOWBIT_CHECK(!keep.empty(), at, ": keeps no filter (at least one must stay)");
  for (size_t i = 0; i < keep.size(); ++i)
    LOWBIT_CHECK(keep[i] >= 0 && keep[i] < l.out && (i == 0 || keep[i] > keep[i - 1]), at, ": kept filter ", keep[i],
                 " at position ", i, " (the list must ascend strictly within 0..", l.out - 1, ")");

  format::ModelDesc d = desc;
  LayerDesc& p = d.layers[layer];
  const int64_t n = static_cast<int64_t>(keep.size()), fan = l.in_fan();
  p.out = n;
  p.weights.clear(), p.negated.clear();
  std::vector<int32_t> thr, fthr;
  const int64_t per_channel = static_cast<int64_t>(l.threshold_sets()) * l.levels;
  for (int64_t o : keep) {
    p.weights.insert(p.weights.end(), l.weights.begin() + o * fan, l.weights.begin() + (o + 1) * fan);
    if (!l.negated.empty()) p.negated.push_back(l.negated[static_cast<size_t>(o)]);
    if (!l.thresholds.empty())
      thr.insert(thr.end(), l.thresholds.begin() + o * per_channel, l.thresholds.begin() + (o + 1) * per_channel);
  }
  p.thresholds = std::move(thr);
  if (!l.float_thresholds.empty()) {
    p.float_thresholds.clear();
    for (int64_t o : keep)
      p.float_thresholds.insert(p.float_thresholds.end(), l.float_thresholds.begin() + o * l.levels,
                                l.float_thresholds.begin() + (o + 1) * l.levels);
  }

  // The next layer reads (ky, kx, c) (conv) or (y, x, c) (dense) with c fastest: keep the
  // kept channels at every tap / position.
  const LayerDesc& next = desc.layers[layer + 1];
  LayerDesc& q = d.layers[layer + 1];
  LOWBIT_CHECK(next.in_c == l.out, at, ": the next layer reads ", next.in_c, " channels, not this layer's ", l.out);
  const int64_t taps = next.window_h() * next.window_w(), old_fan = next.in_fan();
  q.in_c = n;
  q.weights.clear();
  q.weights.reserve(static_cast<size_t>(next.out * taps * n));
  for (int64_t o = 0; o < next.out; ++o)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t c : keep) q.weights.push_back(next.weights[static_cast<size_t>(o * old_fan + t * l.out + c)]);
  format::validate(d);
  return d;
}

format::ModelDesc keep_first_filters(const format::ModelDesc& desc, size_t layer, int64_t n) {
  LOWBIT_CHECK(layer < desc.layers.size(), "keep_first_filters: layer ", layer, " of '", desc.name, "', which has ",
               desc.layers.size(), " layers");
  const int64_t out = desc.layers[layer].out;
  LOWBIT_CHECK(n >= 1 && n <= out, "keep_first_filters: layer ", layer, " (", desc.layers[layer].name, "): keep ", n,
               " of its ", out, " filters (1..", out, ")");
  std::vector<int64_t> keep(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keep[static_cast<size_t>(i)] = i;
  return drop_filters(desc, layer, keep);
}

}  // namespace lowbit::hw
