// The element maths of sparse ternary training and pruning (quant/pruning.hpp).
#include "lowbit/quant/pruning.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"

namespace lowbit {
namespace {

TEST(FilterMsqe, MatchesTheIssuesGolden) {
  // w = [0.5, -0.25, 1, -1], q = sign(w): ((0.5)^2 + (0.75)^2 + 0 + 0) / 4 = 0.203125.
  const float w[] = {0.5f, -0.25f, 1.f, -1.f};
  const float q[] = {1.f, -1.f, 1.f, -1.f};
  const std::vector<double> e = quant::filter_msqe(q, w, 1, 4);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_DOUBLE_EQ(e[0], 0.203125);
}

TEST(FilterMsqe, OneValuePerFilterRow) {
  const float w[] = {0.5f, 0.5f, 0.f, 1.f};
  const float q[] = {1.f, 1.f, 0.f, 1.f};
  const std::vector<double> e = quant::filter_msqe(q, w, 2, 2);
  EXPECT_DOUBLE_EQ(e[0], 0.25);
  EXPECT_DOUBLE_EQ(e[1], 0.0);
  const std::vector<double> m = quant::filter_magnitude(w, 2, 2);
  EXPECT_DOUBLE_EQ(m[0], 0.5);
  EXPECT_DOUBLE_EQ(m[1], 0.5);
}

TEST(QuantizationPrune, MasksAtOrBelowSigmaAndAccumulates) {
  float w[] = {0.9f, -0.9f, 0.91f, -0.95f, 0.2f, 1.f};
  float m[] = {1, 1, 1, 1, 1, 0};
  w[5] = 0.f;  // already pruned
  // |w| <= sigma is pruned (eq. 3.6: -sigma <= w <= sigma -> 0); the boundary itself too.
  EXPECT_EQ(quant::quantization_prune(w, m, 6, 0.9f), 4);
  const float want_m[] = {0, 0, 1, 1, 0, 0};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(m[i], want_m[i]) << i;
    if (m[i] == 0.f) {
      EXPECT_EQ(w[i], 0.f) << i;
    }
  }
  EXPECT_EQ(w[2], 0.91f);
  // A second pruning at a higher sigma only adds zeros.
  EXPECT_EQ(quant::quantization_prune(w, m, 6, 0.93f), 5);
  EXPECT_EQ(m[3], 1.f);
}

TEST(QuantizedL2, AddsLambdaTimesTheQuantizedWeight) {
  float g[] = {0.1f, 0.1f, 0.1f};
  const float q[] = {1.f, 0.f, -1.f};
  quant::add_quantized_l2(g, q, 3, 0.5f);
  EXPECT_FLOAT_EQ(g[0], 0.6f);
  EXPECT_FLOAT_EQ(g[1], 0.1f);  // a zero weight is not decayed
  EXPECT_FLOAT_EQ(g[2], -0.4f);
}

TEST(SparsityConfig, PerLayerValuesLaterWinsAndJsonRoundTrips) {
  quant::SparsityConfig c;
  c.quant_l2 = 1e-4f;
  c.quant_l2_layers = {quant::parse_layer_value("dense_*=0.001", "--quant-l2-layer"),
                       quant::parse_layer_value("dense_3=0", "--quant-l2-layer")};
  c.prune_after = {3, 6};
  c.prune_sigma_layers = {quant::parse_layer_value("conv2d_1=0.7", "--prune-sigma-layer")};
  EXPECT_FLOAT_EQ(c.quant_l2_of("conv2d_1"), 1e-4f);
  EXPECT_FLOAT_EQ(c.quant_l2_of("dense_1"), 0.001f);
  EXPECT_FLOAT_EQ(c.quant_l2_of("dense_3"), 0.f);
  EXPECT_FLOAT_EQ(c.prune_sigma_of("conv2d_1"), 0.7f);
  EXPECT_FLOAT_EQ(c.prune_sigma_of("conv2d_2"), -1.f);
  const quant::SparsityConfig r = quant::sparsity_from_json(quant::to_json(c), "test");
  EXPECT_EQ(quant::to_json(r), quant::to_json(c));
  EXPECT_TRUE(r.active());
  EXPECT_FALSE(quant::SparsityConfig{}.active());
}

TEST(SparsityConfig, BadInputIsAClearError) {
  EXPECT_THROW(quant::parse_layer_value("dense_1", "--quant-l2-layer"), UsageError);
  EXPECT_THROW(quant::parse_layer_value("=0.1", "--quant-l2-layer"), UsageError);
  EXPECT_THROW(quant::parse_layer_value("dense_1=-1", "--quant-l2-layer"), UsageError);
  EXPECT_THROW(quant::parse_layer_value("dense_1=nan", "--quant-l2-layer"), UsageError);
  EXPECT_THROW(quant::parse_layer_value("dense_1=0.1x", "--quant-l2-layer"), UsageError);
  using nlohmann::json;
  EXPECT_THROW(quant::sparsity_from_json(json{{"quant_l2", -1}}, "t"), Error);
  EXPECT_THROW(quant::sparsity_from_json(json{{"prune_after", {5, 3}}}, "t"), Error);
  EXPECT_THROW(quant::sparsity_from_json(json{{"prune_afterr", {5}}}, "t"), Error);
  EXPECT_THROW(quant::sparsity_from_json(json{{"quant_l2_layers", {{{"match", "x"}}}}}, "t"), Error);
  try {
    quant::parse_layer_value("dense_1", "--quant-l2-layer");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--quant-l2-layer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowbit
