// SYQ's row and pixel scales on convolutions through export and the runtime (docs/
// DEPLOYMENT.md, "SYQ row and pixel scales"): random small CNNs with syq:binary / syq:ternary
// weights at row and pixel granularity (first layer on 8-bit codes included, padding, max
// pooling, random BatchNorm statistics). Training's evaluation (per-group integer partial
// sums combined in float in group order), the IR's plain interpreter and the runtime give
// the same scores bit for bit; training's convolution outputs are the float sums of the
// interpreter's partial sums, and the runtime's partial sums are the interpreter's.
#include <gtest/gtest.h>

#include <string>

#include "export/export_test_util.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/runtime/engine.hpp"
#include "runtime/ir_reference.hpp"
#include "lowbit/format/semantics.hpp"
#include "lowbit/nn/conv2d.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

// conv 3x3 (padding `pad`) + BN + quantizer + maxpool 2, conv 3x3 (70 filters: two words per
// pixel) + BN + quantizer, dense 4 + BN; SYQ weights everywhere (the dense layer has one
// scale whatever the granularity).
json syq_net(const std::string& weights, const std::string& acts, int pad) {
  json layers = json::array({{{"type", "quant_act"}, {"quantizer", "dorefa:8"}}});
  layers.push_back({{"type", "conv2d"}, {"filters", 5}, {"kernel", 3}, {"padding", pad}, {"bias", true}});
  layers.push_back({{"type", "batchnorm"}});
  layers.push_back({{"type", "quant_act"}, {"quantizer", acts}});
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  layers.push_back({{"type", "conv2d"}, {"filters", 70}, {"kernel", 3}, {"padding", pad}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  layers.push_back({{"type", "quant_act"}, {"quantizer", acts}});
  layers.push_back({{"type", "flatten"}});
  layers.push_back({{"type", "dense"}, {"units", 4}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "syq_cnn"}, {"input", {2, 10, 9}}, {"weights", weights}, {"layers", layers}};
}

void check_syq(const std::string& weights, const std::string& acts, int pad, uint64_t seed) {
  SCOPED_TRACE(weights + " / " + acts + " / padding " + std::to_string(pad));
  auto model = nn::build_model(syq_net(weights, acts, pad));
  model->init(seed);
  testing::calibrate(*model, seed + 3);
  testing::randomize_batchnorms(*model, seed + 1);
  const format::ModelDesc d = exporter::fold(*model, {});
  ASSERT_EQ(d.layers.size(), 3u);
  const int groups = weights.find(":pixel") != std::string::npos ? 9 : 3;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(d.layers[i].groups(), groups) << "layer " << i;
    EXPECT_EQ(d.layers[i].float_thresholds.size(), static_cast<size_t>(d.layers[i].out * d.layers[i].levels));
  }
  EXPECT_FALSE(d.layers[2].grouped());

  const Shape in = model->input_shape();
  const int64_t n = 9, size = shape_numel(in), classes = d.classes();
  const std::vector<uint8_t> images = testing::random_images(n, size, seed + 2);
  const Tensor logits =
      model->forward(testing::training_batch(images, n, in, in, data::Normalize::ZeroOne), Context{false, nullptr});
  for (nn::Layer* l : model->leaf_layers())
    if (auto* w = dynamic_cast<nn::WeightedLayer*>(l)) {
      ASSERT_TRUE(w->quant().last_exact()) << l->name() << ": " << w->quant().inexact_reason();
      if (dynamic_cast<nn::Conv2d*>(l)) {
        EXPECT_NE(w->quant().grouped(), nullptr) << l->name();
      }
    }

  // Layer by layer: training's convolution outputs are the float sums of the interpreter's
  // partial sums in group order (format::group_first / group_next), plus the bias.
  std::vector<std::pair<nn::Conv2d*, size_t>> convs;
  nn::Sequential& net = model->net();
  for (size_t i = 0; i < net.size(); ++i)
    if (auto* c = dynamic_cast<nn::Conv2d*>(&net.at(i))) convs.emplace_back(c, i);
  ASSERT_EQ(convs.size(), 2u);
  for (int64_t img = 0; img < n; ++img) {
    std::vector<std::vector<int64_t>> accs;
    testing::ir_reference(d, images.data() + img * size, &accs);
    for (size_t li = 0; li < 2; ++li) {
      const format::LayerDesc& l = d.layers[li];
      const Tensor& y = net.activation(convs[li].second);
      const Param* bias = convs[li].first->bias();
      const int64_t M = l.out, P = l.conv_h() * l.conv_w(), G = l.groups();
      for (int64_t o = 0; o < M; ++o)
        for (int64_t p = 0; p < P; ++p) {
          const int64_t sign = l.negated[static_cast<size_t>(o)] ? -1 : 1;
          auto partial = [&](int64_t g) { return static_cast<float>(sign * accs[li][static_cast<size_t>((p * M + o) * G + g)]); };
          float want = format::group_first(partial(0), l.group_scale[0]);
          for (int64_t g = 1; g < G; ++g) want = format::group_next(want, partial(g), l.group_scale[static_cast<size_t>(g)]);
          if (bias) want = want + bias->value[o];
          ASSERT_EQ(y[(img * M + o) * P + p], want) << "image " << img << " layer " << li << " channel " << o << " pixel " << p;
        }
    }
  }

  runtime::EngineOptions eo;
  eo.chunk = 4;
  eo.threads = 2;
  runtime::Engine engine = runtime::Engine::from_bytes(format::model_desc_bytes(d), "syq model", eo);
  std::vector<float> got(static_cast<size_t>(n * classes));
  engine.run(images.data(), n, in[0], in[1], in[2], got.data(), nullptr);
  const auto trace = engine.trace(images.data(), n, in[0], in[1], in[2]);
  for (int64_t img = 0; img < n; ++img) {
    std::vector<std::vector<int64_t>> accs;
    const std::vector<float> scores = testing::ir_reference(d, images.data() + img * size, &accs);
    for (int64_t c = 0; c < classes; ++c) {
      ASSERT_EQ(scores[static_cast<size_t>(c)], logits[img * classes + c]) << "interpreter, image " << img;
      ASSERT_EQ(got[static_cast<size_t>(img * classes + c)], logits[img * classes + c]) << "runtime, image " << img;
    }
    for (size_t li = 0; li < 2; ++li) {  // partial sums (pixel, o, group), trained sign in the trace
      const format::LayerDesc& l = d.layers[li];
      const size_t per = accs[li].size();
      ASSERT_EQ(trace[li].size(), per * static_cast<size_t>(n));
      for (size_t k = 0; k < per; ++k) {
        const int64_t a = accs[li][k];
        const bool neg = l.negated[(k / static_cast<size_t>(l.groups())) % static_cast<size_t>(l.out)];
        ASSERT_EQ(trace[li][img * per + k], neg ? -a : a) << "image " << img << " layer " << li << " value " << k;
      }
    }
  }
}

TEST(ExportSyq, RowAndPixelScalesAreBitExact) {
  check_syq("syq:binary:row", "binary", 0, 601);
  check_syq("syq:binary:pixel", "binary", 1, 602);  // +-1 codes padded with 0: the padding fix per group
  check_syq("syq:ternary:row", "dorefa:2", 1, 603);
  check_syq("syq:ternary:pixel", "dorefa:2", 0, 604);
}

TEST(ExportSyq, DescriptionRoundTripsAsVersionThree) {
  auto model = nn::build_model(syq_net("syq:binary:row", "binary", 0));
  model->init(7);
  testing::calibrate(*model, 8);
  const format::ModelDesc d = exporter::fold(*model, {});
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  const json m = json::parse(file.json_text("model"));
  EXPECT_EQ(m["version"], 3);
  EXPECT_EQ(m["layers"][0]["groups"]["taps"], json({0, 0, 0, 1, 1, 1, 2, 2, 2}));
  EXPECT_FALSE(m["layers"][0]["output"].contains("thresholds"));  // an older reader refuses the layer
  const format::ModelDesc r = format::read_model_desc(file);
  for (size_t i = 0; i < d.layers.size(); ++i) {
    EXPECT_EQ(r.layers[i].tap_group, d.layers[i].tap_group);
    EXPECT_EQ(r.layers[i].group_scale, d.layers[i].group_scale);
    EXPECT_EQ(r.layers[i].float_thresholds, d.layers[i].float_thresholds);
  }
  format::ModelDesc bad = d;
  bad.layers[0].float_thresholds[0] = std::nanf("");
  testing::expect_error_naming([&] { format::validate(bad); }, "layer 0: float threshold of channel 0 is NaN");
  bad = d;
  bad.layers[0].tap_group[4] = 3;
  testing::expect_error_naming([&] { format::validate(bad); }, "layer 0: tap group 3 (0..2)");
  bad = d;
  bad.layers[0].group_scale[1] = 0.f;
  testing::expect_error_naming([&] { format::validate(bad); }, "layer 0: group scale 0");
}

}  // namespace
}  // namespace lowbit
