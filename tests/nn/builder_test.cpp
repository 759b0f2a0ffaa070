#include "lowbit/nn/builder.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "lowbit/nn/presets.hpp"
#include "lowbit/nn/summary.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

using nn::json;

std::string error_of(const json& topo) {
  try {
    nn::build_model(topo);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Builder, PresetsBuildWithExpectedShapesAndMacs) {
  nn::PresetOptions o;
  auto lfc = nn::build_model(nn::preset_topology("lfc", o));
  EXPECT_EQ(lfc->output_shape(), (Shape{10}));
  EXPECT_EQ(lfc->macs(), 784 * 1024 + 2 * 1024 * 1024 + 1024 * 10);
  auto cnv = nn::build_model(nn::preset_topology("cnv", o));
  EXPECT_EQ(cnv->input_shape(), (Shape{1, 32, 32}));
  EXPECT_EQ(cnv->output_shape(), (Shape{10}));
  // BNN-PYNQ CNV on one input channel: convs 30x30x64x9 + 28x28x64x576 + 12x12x128x576
  // + 10x10x128x1152 + 3x3x256x1152 + 1x1x256x2304, then FC 256x512 + 512x512 + 512x10.
  int64_t conv = 900 * 64 * 9 + 784 * 64 * 576 + 144 * 128 * 576 + 100 * 128 * 1152 + 9 * 256 * 1152 + 256 * 2304;
  EXPECT_EQ(cnv->macs(), conv + 256 * 512 + 512 * 512 + 512 * 10);
  for (const auto& name : nn::preset_names()) {
    auto m = nn::build_model(nn::preset_topology(name, o));
    EXPECT_EQ(m->output_shape(), (Shape{10})) << name;
  }
  // PBNN's Table 1 on 28x28 images: padding 1 keeps sizes; pooling floors 7 to 3.
  auto pbnn = nn::build_model(nn::preset_topology("pbnn", o));
  EXPECT_EQ(pbnn->input_shape(), (Shape{1, 28, 28}));
  const int64_t pconv = 784 * 128 * 9 + 784 * 128 * 1152 + 196 * 128 * 1152 + 196 * 256 * 1152 + 49 * 256 * 2304 +
                        49 * 512 * 2304;
  EXPECT_EQ(pbnn->macs(), pconv + 4608 * 1024 + 1024 * 1024 + 1024 * 10);
  o.input = {3, 32, 32};
  EXPECT_EQ(nn::build_model(nn::preset_topology("cnv", o))->input_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(nn::build_model(nn::preset_topology("pbnn", o))->output_shape(), (Shape{10}));
}

TEST(Builder, TopologyRoundTripsThroughJson) {
  auto m = nn::build_model(nn::preset_topology("lenet5", {}));
  auto again = nn::build_model(m->topology());
  EXPECT_EQ(again->topology(), m->topology());
  EXPECT_EQ(again->num_params(), m->num_params());
}

TEST(Builder, ErrorsNameTheLayerAndTheProblem) {
  json base = {{"input", {1, 8, 8}}, {"layers", json::array()}};
  json t = base;
  t["layers"] = {{{"type", "flatten"}}, {{"type", "dense"}, {"unit", 3}}};
  EXPECT_NE(error_of(t).find("layers[1] (dense)"), std::string::npos) << error_of(t);
  t["layers"] = {{{"type", "flatten"}}, {{"type", "dense"}, {"units", 3}, {"unit", 3}}};
  EXPECT_NE(error_of(t).find("unknown key 'unit'"), std::string::npos) << error_of(t);
  t["layers"] = {{{"type", "convolution"}}};
  EXPECT_NE(error_of(t).find("valid types"), std::string::npos) << error_of(t);
  t["layers"] = {{{"type", "conv2d"}, {"filters", 4}, {"kernel", 9}}};  // kernel larger than the 8x8 input
  EXPECT_NE(error_of(t).find("layers[0] (conv2d)"), std::string::npos) << error_of(t);
  t["layers"] = {{{"type", "flatten"}}, {{"type", "dense"}, {"units", "ten"}}};
  EXPECT_NE(error_of(t).find("'units' must be an integer"), std::string::npos) << error_of(t);
  EXPECT_NE(error_of({{"layers", json::array()}}).find("input"), std::string::npos);
  EXPECT_NE(error_of({{"input", {1}}, {"layers", json::array()}, {"extra", 1}}).find("unknown key"), std::string::npos);
  t["layers"] = {{{"type", "residual"}, {"body", {{{"type", "conv2d"}, {"filters", 2}, {"kernel", 3}}}}}};
  EXPECT_NE(error_of(t).find("shortcut"), std::string::npos) << error_of(t);
}

// Every number a topology gives is typed and range-checked before anything is allocated,
// and the error names the layer and the key (a dense layer of 2^63 - 1 units crashed
// summary/train/eval/export; 10.5 was truncated; 2^64 - 1 wrapped to -1).
TEST(Builder, NumbersAreTypedAndRangeChecked) {
  auto dense = [](json units) {
    return json{{"input", {1, 8, 8}}, {"layers", {{{"type", "flatten"}}, {{"type", "dense"}, {"units", units}}}}};
  };
  for (const json& bad : {json(9223372036854775807LL), json(18446744073709551615ULL), json(10.5), json(0), json(-3),
                          json(true), json(nullptr), json::array({4})}) {
    const std::string msg = error_of(dense(bad));
    EXPECT_NE(msg.find("layers[1] (dense): 'units' must be an integer in 1.."), std::string::npos) << bad << ": " << msg;
  }
  auto conv = [](const char* key, json v) {
    json layer = {{"type", "conv2d"}, {"filters", 2}, {"kernel", 3}};
    layer[key] = v;
    return json{{"input", {1, 8, 8}}, {"layers", {layer}}};
  };
  EXPECT_NE(error_of(conv("filters", 1LL << 40)).find("'filters' must be an integer"), std::string::npos);
  EXPECT_NE(error_of(conv("kernel", json::array({3, 2.5}))).find("'kernel'[1] must be an integer"), std::string::npos);
  EXPECT_NE(error_of(conv("stride", -1)).find("'stride' must be an integer in 1.."), std::string::npos);
  EXPECT_NE(error_of(conv("padding", 1 << 20)).find("'padding' must be an integer in 0.."), std::string::npos);
  EXPECT_NE(error_of(conv("bias", 1)).find("'bias' must be true or false"), std::string::npos);
  // Products: each factor in range, their product not.
  json wide = conv("filters", 1 << 20);
  wide["input"] = {4096, 8, 8};
  EXPECT_NE(error_of(wide).find("too many"), std::string::npos) << error_of(wide);
  json huge_input = {{"input", {1, 1 << 24, 1 << 24}}, {"layers", {{{"type", "flatten"}}}}};
  EXPECT_NE(error_of(huge_input).find("values per sample"), std::string::npos) << error_of(huge_input);
  EXPECT_NE(error_of({{"name", 5}, {"input", {1}}, {"layers", json::array()}}).find("'name' must be a string"),
            std::string::npos);
  EXPECT_NE(error_of({{"input", {1, 2.5}}, {"layers", json::array()}}).find("'input'[1] must be an integer"),
            std::string::npos);
  json drop = dense(3);
  drop["layers"][0] = {{"type", "dropout"}, {"rate", "high"}};
  EXPECT_NE(error_of(drop).find("'rate' must be a finite number"), std::string::npos) << error_of(drop);
}

// A residual network trains through the builder: dx through both branches and the
// parameters of body and shortcut match finite differences.
TEST(Builder, ResidualBlockGradients) {
  json topo = {{"input", {2, 5, 5}},
               {"layers",
                {{{"type", "residual"},
                  {"body",
                   {{{"type", "conv2d"}, {"filters", 3}, {"kernel", 3}, {"padding", 1}},
                    {{"type", "hardtanh"}, {"min", -10}, {"max", 10}},
                    {{"type", "conv2d"}, {"filters", 3}, {"kernel", 3}, {"padding", 1}}}},
                  {"shortcut", {{{"type", "conv2d"}, {"filters", 3}, {"kernel", 1}}}}},
                 {{"type", "residual"}, {"body", {{{"type", "conv2d"}, {"filters", 3}, {"kernel", 3}, {"padding", 1}}}}},
                 {{"type", "flatten"}},
                 {{"type", "dense"}, {"units", 4}}}}};
  auto m = nn::build_model(topo);
  m->init(3);
  EXPECT_EQ(m->output_shape(), (Shape{4}));
  lowbit::testing::check_gradients(m->net(), lowbit::testing::random_tensor({2, 2, 5, 5}, 4));
  auto names = m->named_params();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front().name, "conv2d_1.weight");
  std::string table = nn::summary_table(*m);
  EXPECT_NE(table.find("residual add"), std::string::npos) << table;
}

TEST(Builder, SequentialWithoutDxSkipsLeadingParameterFreeLayers) {
  auto m = nn::build_model(nn::preset_topology("tfc", {}));
  m->init(1);
  Tensor x = lowbit::testing::random_tensor({3, 1, 28, 28}, 2, 0.f, 1.f);
  Rng rng(1);
  const Tensor& y = m->forward(x, {true, &rng});
  Tensor dy = lowbit::testing::random_tensor(y.shape(), 5);
  m->backward(dy);
  double norm = 0;
  for (auto& p : m->named_params())
    for (float g : p.param->grad) norm += std::abs(g);
  EXPECT_GT(norm, 0.0);
}

}  // namespace
}  // namespace lowbit
