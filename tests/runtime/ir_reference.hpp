// A plain interpreter of the deployment IR (docs/FORMAT.md "The model description"), written
// from the page's definitions with format/semantics.hpp and nothing of the runtime: loops
// over (y, x, c) maps, the window in (ky, kx, c) order, padded taps reading pad_value, max
// pooling of the accumulators, thresholds (per shortcut level when the layer has a shortcut;
// float ones on the float sum of the partial sums of a layer with tap groups),
// sum pooling of the output values, the score map.
// Tests compare the runtime, which packs its own bit-planes at load, and training's
// evaluation (export tests) with it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "lowbit/format/model_desc.hpp"
#include "lowbit/format/semantics.hpp"

namespace lowbit::testing {

// Scores (classes floats) of one image of the model's full input size, C x H x W pixels
// (channel-major); `accs`, when given, receives each layer's accumulators (after max pooling,
// (y, x, c) order; for a layer with tap groups, its partial sums before pooling, (y, x, c, g)).
inline std::vector<float> ir_reference(const format::ModelDesc& d, const uint8_t* image,
                                       std::vector<std::vector<int64_t>>* accs = nullptr) {
  const auto& shape = d.input.shape;
  const bool image_input = shape.size() == 3;
  const int64_t C = image_input ? shape[0] : 1, H = image_input ? shape[1] : 1, W = image_input ? shape[2] : shape[0];
  const bool conv_input = image_input && d.layers.front().kind == format::LayerKind::kConv;
  // The input map of values, (y, x, c).
  std::vector<int64_t> map;
  if (conv_input) {
    map.resize(static_cast<size_t>(H * W * C));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          map[static_cast<size_t>((y * W + x) * C + c)] = d.input.codes.value(d.input.table[image[(c * H + y) * W + x]]);
  } else {
    for (int64_t i = 0; i < C * H * W; ++i) map.push_back(d.input.codes.value(d.input.table[image[i]]));
  }
  std::vector<std::vector<int64_t>> inputs;  // each layer's input map (the shortcuts read them)
  for (size_t li = 0; li < d.layers.size(); ++li) {
    const format::LayerDesc& l = d.layers[li];
    inputs.push_back(map);
    const int64_t oh = l.conv_h(), ow = l.conv_w(), K = l.in_fan();
    const int G = l.grouped() ? l.groups() : 1;
    // Per output (pixel, o) and group g (one group unless the layer has tap groups).
    std::vector<int64_t> partial(static_cast<size_t>(oh * ow * l.out * G));
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t o = 0; o < l.out; ++o)
          for (int g = 0; g < G; ++g) {
          int64_t sum = 0;
          for (int64_t k = 0; k < K; ++k) {
            if (l.grouped() && l.tap_group[static_cast<size_t>(k / l.in_c)] != g) continue;
            const int64_t c = k % l.in_c, tap = k / l.in_c, ky = tap / l.window_w(), kx = tap % l.window_w();
            int64_t v;
            if (l.kind == format::LayerKind::kDense) {
              v = map[static_cast<size_t>(k)];
            } else {
              const int64_t iy = oy * l.stride + ky - l.pad_h, ix = ox * l.stride + kx - l.pad_w;
              const bool inside = iy >= 0 && iy < l.in_h && ix >= 0 && ix < l.in_w;
              v = inside ? map[static_cast<size_t>((iy * l.in_w + ix) * l.in_c + c)] : l.pad_value;
            }
            sum += l.weight(o, k) * v;
          }
          partial[static_cast<size_t>(((oy * ow + ox) * l.out + o) * G + g)] = sum;
        }
    if (l.grouped()) {
      // SYQ's grouped scales: the float combination in group order, max-pooled, thresholded.
      if (accs) accs->push_back(partial);
      const int64_t ph = l.pooled_h(), pw = l.pooled_w(), pk = l.pool.kernel ? l.pool.kernel : 1,
                    ps = l.pool.kernel ? l.pool.stride : 1;
      std::vector<float> y(static_cast<size_t>(oh * ow * l.out));
      for (size_t i = 0; i < y.size(); ++i) {
        y[i] = format::group_first(static_cast<float>(partial[i * G]), l.group_scale[0]);
        for (int g = 1; g < G; ++g)
          y[i] = format::group_next(y[i], static_cast<float>(partial[i * G + g]), l.group_scale[static_cast<size_t>(g)]);
      }
      map.assign(static_cast<size_t>(ph * pw * l.out), 0);
      for (int64_t py = 0; py < ph; ++py)
        for (int64_t px = 0; px < pw; ++px)
          for (int64_t o = 0; o < l.out; ++o) {
            float m = -std::numeric_limits<float>::infinity();
            for (int64_t dy = 0; dy < pk; ++dy)
              for (int64_t dx = 0; dx < pk; ++dx)
                m = std::max(m, y[static_cast<size_t>(((py * ps + dy) * ow + px * ps + dx) * l.out + o)]);
            const int level = format::threshold_level(l.float_thresholds.data() + o * l.levels, l.levels, m);
            map[static_cast<size_t>((py * pw + px) * l.out + o)] = l.output.value(level);
          }
    }
    std::vector<int64_t> acc = partial;  // one group: the accumulators
    if (l.pool.kernel && !l.grouped()) {
      const int64_t ph = l.pooled_h(), pw = l.pooled_w();
      std::vector<int64_t> pooled(static_cast<size_t>(ph * pw * l.out), std::numeric_limits<int64_t>::min());
      for (int64_t y = 0; y < ph; ++y)
        for (int64_t x = 0; x < pw; ++x)
          for (int64_t o = 0; o < l.out; ++o)
            for (int64_t dy = 0; dy < l.pool.kernel; ++dy)
              for (int64_t dx = 0; dx < l.pool.kernel; ++dx) {
                int64_t& p = pooled[static_cast<size_t>((y * pw + x) * l.out + o)];
                p = std::max(p, acc[static_cast<size_t>(((y * l.pool.stride + dy) * ow + x * l.pool.stride + dx) * l.out + o)]);
              }
      acc = pooled;
    }
    if (accs && !l.grouped()) accs->push_back(acc);
    if (l.scores) {
      std::vector<float> scores(static_cast<size_t>(l.out));
      const auto& s = l.score;
      for (int64_t o = 0; o < l.out; ++o)
        scores[static_cast<size_t>(o)] =
            format::score(acc[static_cast<size_t>(o)], o, s.scale.data(), s.bias.empty() ? nullptr : s.bias.data(),
                          s.bn_mean.empty() ? nullptr : s.bn_mean.data(), s.bn_scale.data(), s.bn_shift.data());
      return scores;
    }
    if (!l.grouped()) map.assign(acc.size(), 0);
    for (size_t i = 0; i < acc.size() && !l.grouped(); ++i) {
      const int64_t o = static_cast<int64_t>(i) % l.out;
      // With a shortcut, the set of the shortcut map's level at the same (y, x, o).
      const int s = l.has_shortcut() ? l.shortcut.level(static_cast<int32_t>(inputs[static_cast<size_t>(l.shortcut_from)][i])) : 0;
      const int level = format::threshold_level(l.threshold_set(o, s), l.levels, acc[i]);
      map[i] = l.output.value(level);
    }
    if (l.sum_pool.kernel) {
      // Each output value is the sum of the values of its window of output codes.
      const int64_t pw = l.pooled_w(), k = l.sum_pool.kernel, st = l.sum_pool.stride;
      std::vector<int64_t> sums(static_cast<size_t>(l.out_h() * l.out_w() * l.out), 0);
      for (int64_t y = 0; y < l.out_h(); ++y)
        for (int64_t x = 0; x < l.out_w(); ++x)
          for (int64_t o = 0; o < l.out; ++o)
            for (int64_t dy = 0; dy < k; ++dy)
              for (int64_t dx = 0; dx < k; ++dx)
                sums[static_cast<size_t>((y * l.out_w() + x) * l.out + o)] +=
                    map[static_cast<size_t>(((y * st + dy) * pw + x * st + dx) * l.out + o)];
      map = sums;
    }
  }
  return {};
}

}  // namespace lowbit::testing
