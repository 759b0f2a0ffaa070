// Dense / Conv2d with weight and input quantizers, the quant_act layer, and their JSON
// topology form. A quantized layer must compute exactly what a float layer computes on
// Q(x) and Q(W), and map gradients back through the surrogate gradients.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>

#include "lowbit/kernels/gemm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/model.hpp"
#include "lowbit/nn/presets.hpp"
#include "lowbit/nn/quant_act.hpp"
#include "lowbit/nn/summary.hpp"
#include "lowbit/quant/quantizer.hpp"
#include "nn/gradcheck.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using testing::random_tensor;

Tensor sign_of(const Tensor& t) {
  Tensor s = t;
  for (float& v : s) v = v >= 0.f ? 1.f : -1.f;
  return s;
}
Tensor ste_mask(const Tensor& g, const Tensor& x) {
  Tensor r = g;
  for (int64_t i = 0; i < r.size(); ++i)
    if (std::fabs(x[i]) > 1.f) r[i] = 0.f;
  return r;
}
void expect_near(const Tensor& a, const Tensor& b, float tol = 1e-5f) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + std::fabs(b[i]))) << i;
}

// Runs `quantized` (binary weights and inputs) and `ref` (float, weights set to sign(W))
// on sign(x) and compares outputs and the STE-mapped gradients.
// scale 3 puts some latent |w| > 1 (STE mask applied); scale 1 keeps all inside (the
// layer then writes dL/dW directly).
void check_binary_layer(nn::WeightedLayer& quantized, nn::WeightedLayer& ref, const Tensor& x, float scale) {
  Rng rng(1);
  quantized.init(rng);
  for (int64_t i = 0; i < quantized.weight().value.size(); ++i) quantized.weight().value[i] *= scale;
  ref.weight().value = sign_of(quantized.weight().value);
  Context ctx{true, &rng};
  Tensor y, yr, dx, dxr;
  quantized.forward(x, y, ctx);
  const Tensor xs = sign_of(x);
  ref.forward(xs, yr, ctx);
  expect_near(y, yr);
  expect_near(quantized.effective_weight(), ref.weight().value);  // Q(W) is inspectable
  Tensor dy = random_tensor(y.shape(), 3);
  quantized.backward(x, y, dy, &dx);
  ref.backward(xs, yr, dy, &dxr);
  expect_near(quantized.weight().grad, ste_mask(ref.weight().grad, quantized.weight().value));
  expect_near(dx, ste_mask(dxr, x));
}

TEST(QuantizedLayers, BinaryDenseEqualsFloatDenseOnSigns) {
  for (auto [n, in, out] : {std::tuple{1, 1, 1}, {3, 65, 7}, {2, 130, 5}}) {
    SCOPED_TRACE(::testing::Message() << n << "x" << in << "->" << out);
    nn::Dense q(in, out, true, {}, {"binary", "binary"});
    nn::Dense ref(in, out, true);
    for (float scale : {1.f, 30.f}) check_binary_layer(q, ref, random_tensor({n, in}, 5, -2.f, 2.f), scale);
  }
}

TEST(QuantizedLayers, BinaryConvEqualsFloatConvOnSigns) {
  struct C { int n, c, h, w, o, k, s, p; };
  for (C c : {C{1, 1, 1, 1, 1, 1, 1, 0}, C{2, 3, 7, 5, 4, 3, 1, 1}, C{3, 2, 9, 9, 5, 3, 2, 0}, C{1, 5, 4, 4, 3, 1, 1, 0}}) {
    SCOPED_TRACE(::testing::Message() << c.n << "x" << c.c << "x" << c.h << "x" << c.w << " k" << c.k);
    nn::Conv2d q(c.c, c.o, c.k, c.k, c.s, c.p, false, {}, {"binary", "binary"});
    nn::Conv2d ref(c.c, c.o, c.k, c.k, c.s, c.p, false);
    for (float scale : {1.f, 30.f}) check_binary_layer(q, ref, random_tensor({c.n, c.c, c.h, c.w}, 6, -2.f, 2.f), scale);
  }
}

TEST(QuantizedLayers, LatentClipFollowsTheWeightQuantizer) {
  EXPECT_EQ(nn::Dense(4, 3, true, {}, {"binary"}).weight().clip, 1.f);
  EXPECT_EQ(nn::Dense(4, 3, true, {}, {"dorefa:2"}).weight().clip, 0.f);
  EXPECT_EQ(nn::Dense(4, 3).weight().clip, 0.f);
  EXPECT_EQ(nn::Dense(4, 3, true, {}, {"binary", "none", 0.5f}).weight().clip, 0.5f);
}

TEST(QuantizedLayers, SyqScaleGradientThroughTheLayerMatchesFiniteDifferences) {
  nn::Conv2d conv(3, 4, 3, 3, 1, 1, false, {}, nn::QuantConfig{"syq:binary:pixel"});
  Rng rng(2);
  conv.init(rng);
  Param* alpha = conv.params().back();
  ASSERT_EQ(alpha->name, "weight_quantizer.alpha");
  ASSERT_EQ(alpha->value.size(), 9);
  EXPECT_FALSE(alpha->decay);
  const Tensor x = random_tensor({2, 3, 5, 5}, 4);
  const Tensor r = random_tensor({2, 4, 5, 5}, 8);
  auto loss = [&] {
    Tensor y;
    conv.forward(x, y, {true, &rng});
    double s = 0;
    for (int64_t i = 0; i < y.size(); ++i) s += double(y[i]) * r[i];
    return s;
  };
  Tensor y;
  conv.forward(x, y, {true, &rng});
  conv.backward(x, y, r, nullptr);
  const Tensor analytic = alpha->grad;
  for (int64_t g = 0; g < 9; ++g) {
    const float a = alpha->value[g];
    alpha->value[g] = a + 1e-2f;
    const double up = loss();
    alpha->value[g] = a - 1e-2f;
    const double down = loss();
    alpha->value[g] = a;
    EXPECT_NEAR(analytic[g], (up - down) / 2e-2, 2e-3 * (1 + std::fabs(analytic[g]))) << g;
  }
}

TEST(QuantizedLayers, FloatLayersStillPassGradientChecks) {
  // The quantizer plumbing must not change float layers.
  nn::Dense d(7, 5);
  Rng rng(3);
  d.init(rng);
  testing::check_gradients(d, random_tensor({3, 7}, 5));
}

TEST(QuantizedLayers, QuantActLayer) {
  nn::QuantAct a("dorefa:2");
  Tensor x({1, 5}, {-0.5f, 0.1f, 0.2f, 0.6f, 1.5f}), y, dx;
  a.forward(x, y, {});
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{0.f, 0.f, 1.f / 3, 2.f / 3, 1.f}));
  a.backward(x, y, Tensor({1, 5}, 1.f), &dx);
  EXPECT_EQ(std::vector<float>(dx.begin(), dx.end()), (std::vector<float>{0, 1, 1, 1, 0}));
  EXPECT_EQ(a.spec().dump(), R"({"quantizer":"dorefa:2","type":"quant_act"})");
  testing::expect_error_naming([] { nn::QuantAct("none"); }, "identity");
  testing::expect_error_naming([] { nn::QuantAct("xnor"); }, "weights only");
}

nn::json topology_with(const nn::json& layers, const nn::json& extra = nn::json::object()) {
  nn::json t = {{"name", "t"}, {"input", {1, 6, 6}}, {"layers", layers}};
  for (auto it = extra.begin(); it != extra.end(); ++it) t[it.key()] = it.value();
  return t;
}

TEST(QuantizedLayers, TopologyDefaultsAndPerLayerOverrides) {
  nn::json layers = nn::json::array({
      {{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}, {"input_quantizer", "dorefa:8"}},
      {{"type", "batchnorm"}},
      {{"type", "quant_act"}},
      {{"type", "flatten"}},
      {{"type", "dense"}, {"units", 3}, {"weight_quantizer", "ternary"}},
  });
  auto m = nn::build_model(topology_with(layers, {{"weights", "binary"}, {"acts", "dorefa:2"}}));
  auto w = m->weighted_layers();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0]->quant().weight_spec(), "binary");  // top-level default
  EXPECT_EQ(w[0]->quant().input_spec(), "dorefa:8");
  EXPECT_EQ(w[1]->quant().weight_spec(), "ternary");  // per-layer override
  EXPECT_EQ(m->quantizers().size(), 4u);
  // The model's topology spells every quantizer out, so it rebuilds without the defaults.
  nn::json t = m->topology();
  EXPECT_FALSE(t.contains("weights"));
  auto again = nn::build_model(t);
  EXPECT_EQ(again->topology(), t);
  EXPECT_EQ(again->weighted_layers()[0]->quant().weight_spec(), "binary");
}

TEST(QuantizedLayers, BadQuantizerInTopologyNamesTheLayer) {
  auto bad = [](const nn::json& layer) {
    return testing::error_of([&] { nn::build_model(topology_with(nn::json::array({{{"type", "flatten"}}, layer}))); });
  };
  std::string msg = bad({{"type", "dense"}, {"units", 3}, {"weight_quantizer", "dorefa:0"}});
  EXPECT_NE(msg.find("layers[1] (dense)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(quant::valid_quant_forms()), std::string::npos) << msg;
  msg = bad({{"type", "dense"}, {"units", 3}, {"input_quantizer", "xnor"}});
  EXPECT_NE(msg.find("weights only"), std::string::npos) << msg;
  msg = bad({{"type", "quant_act"}});
  EXPECT_NE(msg.find("quant_act needs"), std::string::npos) << msg;
  msg = bad({{"type", "dense"}, {"units", 3}, {"weight_clip", -1}});
  EXPECT_NE(msg.find("weight_clip"), std::string::npos) << msg;
}

TEST(QuantizedLayers, PresetsPlaceQuantizersLikeFinn) {
  nn::PresetOptions o;
  o.weights = "binary";
  o.acts = "binary";
  o.input_bits = 8;
  auto m = nn::build_model(nn::preset_topology("lfc", o));
  auto rows = nn::summary_rows(*m);
  ASSERT_EQ(rows[0].type, "quant_act");  // the 8-bit input
  EXPECT_EQ(rows[0].output_bits, 8);
  int dense = 0;
  for (const auto& r : rows) {
    if (r.type != "dense") continue;
    EXPECT_EQ(r.weight_bits, 1) << r.name;
    EXPECT_EQ(r.input_bits, dense == 0 ? 8 : 1) << r.name;
    ++dense;
  }
  EXPECT_EQ(dense, 4);
  EXPECT_EQ(rows.back().type, "batchnorm");  // last layer: binary dense + BatchNorm, no activation
  nn::json s = nn::summary_json(*m);
  const double share = s["binary_mac_share"];
  EXPECT_NEAR(share, (1024.0 * 1024 * 2 + 10240) / (784.0 * 1024 + 1024.0 * 1024 * 2 + 10240), 1e-9);
  EXPECT_EQ(s["macs_by_precision"]["W1A8"], 784 * 1024);
  // memory: 1 bit per weight, 32 per BatchNorm parameter.
  EXPECT_NEAR(s["memory_bytes"].get<double>(), (784.0 * 1024 + 2 * 1024 * 1024 + 10240) / 8 + (3 * 2048 + 20) * 4, 1e-6);
  o.input_bits = 1;
  EXPECT_EQ(nn::build_model(nn::preset_topology("lfc", o))->topology()["layers"][0]["quantizer"], "binary");
}

// int:k on a BatchNorm output is nearly the identity, so presets keep the ReLU in front of
// it (Brevitas QuantReLU); clipping quantizers (sign, DoReFa) replace the activation.
TEST(QuantizedLayers, PresetsKeepReluBeforeIntActivations) {
  auto types_after_first_bn = [](const std::string& acts) {
    nn::PresetOptions o;
    o.acts = acts;
    nn::json layers = nn::preset_topology("lfc", o)["layers"];
    size_t i = 0;
    while (layers[i]["type"] != "batchnorm") ++i;
    return std::vector<std::string>{layers[i + 1]["type"], layers[i + 2]["type"]};
  };
  EXPECT_EQ(types_after_first_bn("int:8"), (std::vector<std::string>{"relu", "quant_act"}));
  EXPECT_EQ(types_after_first_bn("int:4:signed"), (std::vector<std::string>{"relu", "quant_act"}));
  EXPECT_EQ(types_after_first_bn("dorefa:2")[0], "quant_act");
  EXPECT_EQ(types_after_first_bn("binary")[0], "quant_act");
  EXPECT_EQ(types_after_first_bn("none")[0], "relu");
  nn::PresetOptions o;
  o.acts = "int:8";
  for (const char* model : {"cnv", "lenet5"}) {
    nn::json layers = nn::preset_topology(model, o)["layers"];
    int relus = 0, acts = 0;
    for (const auto& l : layers) relus += l["type"] == "relu", acts += l["type"] == "quant_act";
    EXPECT_EQ(relus, acts) << model;
    EXPECT_GT(acts, 0) << model;
  }
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Average pooling of k-bit codes makes window sums (what export and the runtime carry): a
// 2x2 pool of +-1 codes is 3-bit (levels 0..4), of 2-bit codes 4-bit (0..12); padded
// pooling leaves the grid: float.
TEST(QuantSummary, AveragePoolingOfCodesCountsTheSumsBits) {
  for (const auto& [acts, padding, bits] : {std::tuple{"binary", 0, 3}, std::tuple{"dorefa:2", 0, 4},
                                            std::tuple{"binary", 1, 32}}) {
    const nn::json topo = {{"input", {1, 8, 8}}, {"weights", "binary"},
                           {"layers",
                            {{{"type", "quant_act"}, {"quantizer", "dorefa:8"}},
                             {{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}},
                             {{"type", "quant_act"}, {"quantizer", acts}},
                             {{"type", "avgpool2d"}, {"kernel", 2}, {"padding", padding}},
                             {{"type", "flatten"}},
                             {{"type", "dense"}, {"units", 3}}}}};
    auto m = nn::build_model(topo);
    const auto rows = nn::summary_rows(*m);
    ASSERT_EQ(rows[3].type, "avgpool2d");
    EXPECT_EQ(rows[3].output_bits, bits) << acts << " padding " << padding;
    EXPECT_EQ(rows.back().input_bits, bits) << acts << " padding " << padding;  // the dense layer reads the sums
  }
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Exact evaluation multiplies integer codes; --compute bf16 must not round them (bfloat16
// holds integers only up to 256): an int:12 layer evaluates the same under bf16 and f32,
// and its codes do exceed 256.
TEST(QuantizedLayers, ExactEvaluationIgnoresBfloat16Compute) {
  for (bool conv : {false, true}) {
    SCOPED_TRACE(conv ? "conv2d" : "dense");
    std::unique_ptr<nn::WeightedLayer> layer;
    Tensor x;
    if (conv) {
      layer = std::make_unique<nn::Conv2d>(3, 4, 3, 3, 1, 0, false, nn::Init{}, nn::QuantConfig{"int:12", "dorefa:8"});
      x = testing::random_tensor({2, 3, 6, 6}, 7, 0.f, 1.f);
    } else {
      layer = std::make_unique<nn::Dense>(8, 4, false, nn::Init{}, nn::QuantConfig{"int:12", "dorefa:8"});
      x = testing::random_tensor({3, 8}, 7, 0.f, 1.f);  // 8 taps: sums below 2^24, not "wide"
    }
    Rng rng(3);
    layer->init(rng);
    Context eval{false, &rng};
    Tensor y32, y16;
    layer->forward(x, y32, eval);
    float max_code = 0.f;
    for (float c : layer->quant().weight_codes()) max_code = std::max(max_code, std::fabs(c));
    ASSERT_GT(max_code, 256.f) << "the weight codes no longer reach beyond bfloat16's integers";
    kernels::set_gemm_compute(kernels::GemmCompute::kBfloat16);
    layer->forward(x, y16, eval);
    kernels::set_gemm_compute(kernels::GemmCompute::kFloat32);
    ASSERT_EQ(y16.shape(), y32.shape());
    for (int64_t i = 0; i < y32.size(); ++i) ASSERT_EQ(y16[i], y32[i]) << i;
  }
}

}  // namespace
}  // namespace lowbit
