// Sparse ternary training and pruning on a model (nn/pruning.hpp): the two ternary
// boundaries, quantization pruning, zero counts, the quantized L2 gradient.
#include "lowbit/nn/pruning.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/quant/quantizer.hpp"

namespace lowbit {
namespace {

using nn::json;

// The thesis' ternary (eq. 3.1, lowbit's ternary:T): |w| <= eta -> 0, so a weight exactly at
// the threshold is a zero. SYQ's ternary (Faraone et al. 2018): |w| >= eta -> +-1, so the
// same weight is nonzero there.
TEST(TernaryBoundary, ThesisZeroesTheThresholdSyqKeepsIt) {
  auto t = quant::make_quantizer("ternary:0.5", quant::Role::kWeight);
  Tensor w({1, 5}, {0.5f, -0.5f, 0.50001f, -0.6f, 0.4f}), y;
  t->forward(w, y, Context{});
  const float want[] = {0.f, 0.f, 1.f, -1.f, 0.f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(y[i], want[i]) << i;

  // SYQ's eta = 0.05 * max|W| = 0.05 here; -0.05 and 0.05 are at it, 0.049 below.
  auto s = quant::make_quantizer("syq:ternary", quant::Role::kWeight);
  Tensor v({1, 4}, {1.f, 0.05f, -0.05f, 0.049f}), z;
  s->init(v);
  s->forward(v, z, Context{});
  EXPECT_GT(z[0], 0.f);
  EXPECT_GT(z[1], 0.f);  // |w| == eta: nonzero in SYQ
  EXPECT_LT(z[2], 0.f);
  EXPECT_EQ(z[3], 0.f);
}

json ternary_net(const std::string& first_weights = "ternary:0.5") {
  return {{"name", "tern"},
          {"input", {1, 4, 4}},
          {"weights", "ternary:0.5"},
          {"init", "uniform:1"},
          {"layer_weights", {{{"match", "dense_1"}, {"weight_quantizer", first_weights}}}},
          {"layers",
           {{{"type", "flatten"}},
            {{"type", "dense"}, {"units", 12}, {"bias", false}},
            {{"type", "batchnorm"}},
            {{"type", "quant_act"}, {"quantizer", "binary"}},
            {{"type", "dense"}, {"units", 3}, {"bias", false}}}}};
}

TEST(QuantizationPrune, MasksEveryPrunableLayerAtItsThreshold) {
  auto m = nn::build_model(ternary_net());
  m->init(3);
  std::vector<float> before;
  for (nn::WeightedLayer* l : m->weighted_layers())
    before.insert(before.end(), l->weight().value.begin(), l->weight().value.end());
  const std::vector<nn::LayerZeros> z0 = nn::weight_zeros(*m);
  const std::vector<nn::LayerZeros> z = nn::quantization_prune(*m, quant::SparsityConfig{});
  ASSERT_EQ(z.size(), 2u);
  size_t k = 0;
  for (nn::WeightedLayer* l : m->weighted_layers()) {
    const nn::Param& w = l->weight();
    ASSERT_TRUE(w.masked());
    for (int64_t i = 0; i < w.value.size(); ++i, ++k) {
      const bool pruned = std::fabs(before[k]) <= 0.5f;
      EXPECT_EQ(w.mask[i], pruned ? 0.f : 1.f);
      EXPECT_EQ(w.value[i], pruned ? 0.f : before[k]);
    }
  }
  // sigma = eta prunes exactly the weights that were zeros already: the zero count is unchanged.
  const std::vector<nn::LayerZeros> z1 = nn::weight_zeros(*m);
  for (size_t i = 0; i < z1.size(); ++i) {
    EXPECT_EQ(z1[i].zeros, z0[i].zeros);
    EXPECT_EQ(z1[i].masked, z1[i].zeros);
  }
  EXPECT_GT(nn::total_zeros(z1).fraction(), 0.3);  // uniform:1 with eta 0.5: about half
  EXPECT_NE(nn::zeros_table(z1).find("dense_1"), std::string::npos);
}

TEST(QuantizationPrune, AHigherSigmaPrunesNonzerosAndBinaryLayersAreSkipped) {
  auto m = nn::build_model(ternary_net("binary"));
  m->init(4);
  quant::SparsityConfig c;
  c.prune_sigma = 0.8f;
  std::vector<std::string> skipped;
  const std::vector<nn::LayerZeros> z = nn::quantization_prune(*m, c, "*", &skipped);
  ASSERT_EQ(z.size(), 1u);
  EXPECT_EQ(z[0].layer, "dense_2");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("sign(0) = +1"), std::string::npos) << skipped[0];
  EXPECT_GT(z[0].fraction(), 0.6);
  // A model with nothing prunable is a usage error naming why.
  auto b = nn::build_model(ternary_net("binary"));
  EXPECT_THROW(nn::quantization_prune(*b, c, "dense_1"), UsageError);
}

TEST(QuantizedL2, GradientGainsLambdaTimesTheQuantizedWeights) {
  auto m = nn::build_model(ternary_net());
  m->init(5);
  Tensor x({6, 1, 4, 4});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7) % 11) / 11.f - 0.5f;
  Rng rng(1, 0);
  Context ctx{true, &rng};
  auto grads = [&](bool l2) {
    const Tensor& y = m->forward(x, ctx);
    Tensor dy(y.shape(), 0.1f);
    m->backward(dy);
    quant::SparsityConfig c;
    c.quant_l2_layers = {{"dense_2", 0.25f}};
    if (l2) nn::add_quantized_l2(*m, c);
    std::vector<Tensor> out;
    for (nn::WeightedLayer* l : m->weighted_layers()) out.push_back(l->weight().grad);
    return out;
  };
  const std::vector<Tensor> plain = grads(false), with = grads(true);
  nn::WeightedLayer* d2 = m->weighted_layers()[1];
  const Tensor& q = d2->effective_weight();
  for (int64_t i = 0; i < q.size(); ++i) EXPECT_FLOAT_EQ(with[1][i], plain[1][i] + 0.25f * q[i]) << i;
  for (int64_t i = 0; i < plain[0].size(); ++i) EXPECT_EQ(with[0][i], plain[0][i]);  // dense_1: lambda 0
}

TEST(SparsityConfigCheck, PatternsMustMatchAndFloatLayersTakeNoQuantizedL2) {
  auto m = nn::build_model(ternary_net());
  quant::SparsityConfig c;
  c.quant_l2_layers = {{"conv2d_*", 0.1f}};
  EXPECT_THROW(nn::check_sparsity_config(*m, c), UsageError);
  json t = ternary_net();
  t["layer_weights"] = {{{"match", "dense_2"}, {"weight_quantizer", "none"}}};
  auto f = nn::build_model(t);
  quant::SparsityConfig all;
  all.quant_l2 = 0.1f;
  EXPECT_THROW(nn::check_sparsity_config(*f, all), UsageError);
}

TEST(LayerWeights, TopologyOverridesWinAndMustMatchALayer) {
  auto m = nn::build_model(ternary_net("ternary:0.9"));
  EXPECT_EQ(m->weighted_layers()[0]->quant().weight_spec(), "ternary:0.9");
  EXPECT_EQ(m->weighted_layers()[1]->quant().weight_spec(), "ternary:0.5");
  // The rebuilt topology carries the resolved quantizer per layer.
  auto again = nn::build_model(m->topology());
  EXPECT_EQ(again->weighted_layers()[0]->quant().weight_spec(), "ternary:0.9");
  json t = ternary_net();
  t["layer_weights"] = {{{"match", "dense_9"}, {"weight_quantizer", "binary"}}};
  EXPECT_THROW(nn::build_model(t), Error);
  t["layer_weights"] = {{{"match", "dense_1"}}};
  EXPECT_THROW(nn::build_model(t), Error);
  t = ternary_net();
  t["init"] = "uniform";
  EXPECT_THROW(nn::build_model(t), Error);
}

}  // namespace
}  // namespace lowbit
