// Filter pruning (nn/filter_pruning.hpp): ranking, counts rounded to the PE width, and the
// surgery that removes channels from a layer and from its consumer.
#include "lowbit/nn/filter_pruning.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/nn/builder.hpp"

namespace lowbit {
namespace {

using nn::json;

json conv_chain(const std::string& weights = "none") {
  return {{"name", "chain"},
          {"input", {2, 6, 6}},
          {"weights", weights},
          {"layers",
           {{{"type", "conv2d"}, {"filters", 6}, {"kernel", 3}, {"padding", 1}},
            {{"type", "batchnorm"}},
            {{"type", "relu"}},
            {{"type", "maxpool2d"}, {"kernel", 2}},
            {{"type", "conv2d"}, {"filters", 5}, {"kernel", 3}, {"padding", 1}},
            {{"type", "batchnorm"}},
            {{"type", "relu"}},
            {{"type", "flatten"}},
            {{"type", "dense"}, {"units", 7}},
            {{"type", "relu"}},
            {{"type", "dense"}, {"units", 3}}}}};
}

void randomize_buffers(nn::Model& m) {
  Rng rng(9);
  // Every per-channel parameter too (BatchNorm gamma/beta, biases): a wrong slice must show.
  for (auto& [name, p] : m.named_params())
    if (name.find("weight") == std::string::npos)
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = rng.uniform(0.5f, 1.5f) * (i % 2 ? 1.f : -1.f);
  for (auto& [name, t] : m.named_buffers())
    for (int64_t i = 0; i < t->size(); ++i) (*t)[i] = name.find("var") != std::string::npos ? rng.uniform(0.5f, 2.f) : rng.uniform(-1.f, 1.f);
}

Tensor eval_forward(nn::Model& m, const Tensor& x) { return m.forward(x, Context{}); }

// Zeroing the consumer's weights of the dropped channels in the original gives the same
// function as removing them: the pruned model must compute it (up to float summation order).
void check_equivalent(const std::string& layer, const std::vector<int64_t>& keep, int consumer_index) {
  auto m = nn::build_model(conv_chain());
  m->init(2);
  randomize_buffers(*m);
  auto pruned = nn::prune_filters(*m, layer, keep);
  nn::WeightedLayer* consumer = m->weighted_layers()[static_cast<size_t>(consumer_index)];
  Tensor& w = consumer->weight().value;
  const int64_t channels = m->weighted_layers()[static_cast<size_t>(consumer_index - 1)]->weight().value.dim(0);
  const int64_t per_row = w.size() / w.dim(0), group = per_row / channels;
  for (int64_t r = 0; r < w.dim(0); ++r)
    for (int64_t ch = 0; ch < channels; ++ch)
      if (!std::binary_search(keep.begin(), keep.end(), ch))
        for (int64_t g = 0; g < group; ++g) w[r * per_row + ch * group + g] = 0.f;
  Tensor x({3, 2, 6, 6});
  Rng rng(4);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.f, 1.f);
  const Tensor a = eval_forward(*m, x), b = eval_forward(*pruned, x);
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4f) << i;
}

TEST(PruneFilters, ConvIntoConvComputesTheSameFunction) { check_equivalent("conv2d_1", {0, 2, 3, 5}, 1); }
TEST(PruneFilters, ConvIntoFlattenDenseComputesTheSameFunction) { check_equivalent("conv2d_2", {1, 4}, 2); }
TEST(PruneFilters, DenseIntoDenseComputesTheSameFunction) { check_equivalent("dense_1", {0, 1, 2, 6}, 3); }

TEST(PruneFilters, TheTopologyAndMasksShrinkAndTheSourceIsUnchanged) {
  auto m = nn::build_model(conv_chain("ternary:0.05"));
  m->init(3);
  for (nn::WeightedLayer* l : m->weighted_layers()) {
    nn::Param& w = l->weight();
    w.mask = Tensor(w.value.shape(), 1.f);
    for (int64_t i = 0; i < w.value.size(); i += 7) w.mask[i] = 0.f, w.value[i] = 0.f;
  }
  const json before = m->topology();
  auto p = nn::prune_filters(*m, "conv2d_2", {0, 3, 4});
  EXPECT_EQ(m->topology(), before);
  EXPECT_EQ(p->topology()["layers"][4]["filters"], 3);
  EXPECT_EQ(p->weighted_layers()[1]->weight().mask.shape(), (Shape{3, 6, 3, 3}));
  EXPECT_EQ(p->weighted_layers()[2]->weight().mask.shape(), (Shape{7, 3 * 3 * 3}));
  // The kept filters are the source's, in order.
  const Tensor& src = m->weighted_layers()[1]->weight().value;
  const Tensor& dst = p->weighted_layers()[1]->weight().value;
  for (int64_t i = 0; i < 54; ++i) EXPECT_EQ(dst[54 + i], src[3 * 54 + i]);
  // Masks follow their weights: filter 1 of the pruned layer is the source's filter 3, and
  // the consumer keeps the columns of channels 0, 3, 4 (9 features each after the flatten).
  const Tensor& sm = m->weighted_layers()[1]->weight().mask;
  const Tensor& dm = p->weighted_layers()[1]->weight().mask;
  for (int64_t i = 0; i < 54; ++i) EXPECT_EQ(dm[54 + i], sm[3 * 54 + i]);
  const Tensor& cs = m->weighted_layers()[2]->weight().mask;
  const Tensor& cd = p->weighted_layers()[2]->weight().mask;
  const int64_t keep[] = {0, 3, 4};
  for (int64_t r = 0; r < 7; ++r)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t g = 0; g < 9; ++g) EXPECT_EQ(cd[r * 27 + k * 9 + g], cs[r * 45 + keep[k] * 9 + g]);
  // An exported rebuild of the topology loads the pruned tensors.
  auto again = nn::build_model(p->topology());
  EXPECT_EQ(again->num_params(), p->num_params());
}

TEST(PruneFilters, WhatCannotBePrunedIsAUsageError) {
  auto m = nn::build_model(conv_chain());
  EXPECT_THROW(nn::prune_filters(*m, "dense_2", {0, 1}), UsageError);  // the classes
  EXPECT_THROW(nn::prune_filters(*m, "batchnorm_1", {0}), UsageError);
  EXPECT_THROW(nn::prune_filters(*m, "conv2d_9", {0}), UsageError);
  EXPECT_THROW(nn::prune_filters(*m, "conv2d_1", {}), UsageError);
  EXPECT_THROW(nn::prune_filters(*m, "conv2d_1", {2, 1}), UsageError);
  EXPECT_THROW(nn::prune_filters(*m, "conv2d_1", {0, 6}), UsageError);
  json r = {{"name", "res"},
            {"input", {2, 4, 4}},
            {"layers",
             {{{"type", "conv2d"}, {"filters", 2}, {"padding", 1}},
              {{"type", "residual"}, {"body", {{{"type", "conv2d"}, {"filters", 2}, {"padding", 1}}}}},
              {{"type", "flatten"}},
              {{"type", "dense"}, {"units", 2}}}}};
  auto res = nn::build_model(r);
  EXPECT_NE(nn::filter_pruning_problem(*res, "conv2d_1").find("residual"), std::string::npos);
  // A batchnorm after the flatten normalizes features, not the conv's channels.
  json f = {{"name", "flatbn"},
            {"input", {2, 4, 4}},
            {"layers",
             {{{"type", "conv2d"}, {"filters", 2}, {"padding", 1}},
              {{"type", "flatten"}},
              {{"type", "batchnorm"}},
              {{"type", "dense"}, {"units", 2}}}}};
  auto fb = nn::build_model(f);
  EXPECT_NE(nn::filter_pruning_problem(*fb, "conv2d_1"), "");
  // MSQE on float weights would rank every filter equal.
  EXPECT_THROW(nn::rank_filters(*m->weighted_layers()[0], nn::FilterRank::kMsqe, 1), UsageError);
}

TEST(RankFilters, MsqeFirstPrunesTheFiltersFarthestFromTheirCodes) {
  json t = {{"name", "r"},
            {"input", {4}},
            {"weights", "binary"},
            {"layers", {{{"type", "dense"}, {"units", 3}}, {{"type", "dense"}, {"units", 2}}}}};
  auto m = nn::build_model(t);
  m->init(1);
  Tensor& w = m->weighted_layers()[0]->weight().value;
  // Filter 0: near +-1 (small error); filter 1: near 0 (large); filter 2: in between.
  const float v[] = {0.9f, -0.95f, 1.f, -0.9f, 0.1f, -0.05f, 0.2f, -0.1f, 0.5f, -0.5f, 0.6f, -0.4f};
  std::copy(v, v + 12, w.data());
  EXPECT_EQ(nn::rank_filters(*m->weighted_layers()[0], nn::FilterRank::kMsqe, 0), (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(nn::rank_filters(*m->weighted_layers()[0], nn::FilterRank::kMagnitude, 0), (std::vector<int64_t>{1, 2, 0}));
  std::vector<int64_t> r1 = nn::rank_filters(*m->weighted_layers()[0], nn::FilterRank::kRandom, 7);
  EXPECT_EQ(r1, nn::rank_filters(*m->weighted_layers()[0], nn::FilterRank::kRandom, 7));
  std::sort(r1.begin(), r1.end());
  EXPECT_EQ(r1, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_THROW(nn::parse_filter_rank("qerror"), UsageError);
}

}  // namespace
}  // namespace lowbit
