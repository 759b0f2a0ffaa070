// Residual blocks through export and the runtime (docs/DEPLOYMENT.md, "Residual blocks"):
// random convolutional and dense networks with Bi-Real blocks (a body's BatchNorm output plus
// the block's input codes, quantized), two-layer bodies, and integer adds (the body's own
// quantizer's output plus the input), with random BatchNorm statistics. Training's
// evaluation, the plain interpreter of the IR and the runtime give the same scores bit for
// bit, and training's, the interpreter's and the runtime's accumulators are equal, layer by
// layer. Shapes that do
// not deploy are clear errors naming the layer and the rule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "export/export_test_util.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/sequential.hpp"
#include "lowbit/runtime/engine.hpp"
#include "runtime/ir_reference.hpp"
#include "test_util.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

json block(const json& body) { return {{"type", "residual"}, {"body", body}}; }
json qa(const std::string& q) { return {{"type", "quant_act"}, {"quantizer", q}}; }
json bn() { return {{"type", "batchnorm"}}; }

// conv: a 3x3 stem, a one-conv Bi-Real block, a two-conv block with HardTanh after the add,
// an integer add (1x1 conv + its quantizer, plus the input), 2x2 average pooling, dense 4.
// dense: the same blocks on 24 units.
json residual_net(bool conv, const std::string& weights, const std::string& acts) {
  json layers = json::array({qa("dorefa:8")});
  auto weighted = [&](int64_t kernel) {
    if (!conv) return json{{"type", "dense"}, {"units", 24}, {"bias", false}};
    return json{{"type", "conv2d"}, {"filters", 6}, {"kernel", kernel}, {"padding", kernel / 2}, {"bias", false}};
  };
  if (!conv) layers.push_back({{"type", "flatten"}});
  layers.push_back(weighted(3));
  layers.push_back(bn());
  layers.push_back(qa(acts));
  layers.push_back(block(json::array({weighted(3), bn()})));
  layers.push_back(qa(acts));
  layers.push_back(block(json::array({weighted(3), bn(), qa(acts), {{"type", "dropout"}, {"rate", 0.2}}, weighted(3), bn()})));
  layers.push_back({{"type", "hardtanh"}});
  layers.push_back(qa(acts));
  layers.push_back(block(json::array({weighted(1), bn(), qa(acts)})));
  layers.push_back(qa(acts));
  if (conv) layers.push_back({{"type", "avgpool2d"}, {"kernel", 2}});
  layers.push_back({{"type", "flatten"}});
  layers.push_back({{"type", "dense"}, {"units", 4}, {"bias", false}});
  layers.push_back(bn());
  const Shape image = conv ? Shape{2, 6, 6} : Shape{1, 5, 7};
  return {{"name", conv ? "res_cnv" : "res_mlp"}, {"input", image}, {"weights", weights}, {"layers", layers}};
}

// Training's weighted layers in evaluation order (residual bodies opened, as export folds
// them), each with the output tensor its last evaluation left: (N, M, OH, OW) or (N, M).
void weighted_outputs(nn::Sequential& net, std::vector<std::pair<nn::WeightedLayer*, const Tensor*>>& out) {
  for (size_t i = 0; i < net.size(); ++i) {
    if (auto* w = dynamic_cast<nn::WeightedLayer*>(&net.at(i))) out.emplace_back(w, &net.activation(i));
    if (auto* r = dynamic_cast<nn::Residual*>(&net.at(i))) weighted_outputs(r->body(), out);
  }
}

void check_residual(bool conv, const std::string& weights, const std::string& acts, uint64_t seed) {
  SCOPED_TRACE(std::string(conv ? "conv " : "dense ") + weights + " / " + acts);
  auto model = nn::build_model(residual_net(conv, weights, acts));
  model->init(seed);
  testing::calibrate(*model, seed + 3);
  testing::randomize_batchnorms(*model, seed + 1);
  const format::ModelDesc d = exporter::fold(*model, {});
  // The stem, the Bi-Real block's conv (its own input is the shortcut), the two-conv block
  // (the second reads the first's input), the integer add, the scores.
  ASSERT_EQ(d.layers.size(), 6u);
  const int want_from[] = {-1, 1, -1, 2, 4, -1};
  for (size_t i = 0; i < d.layers.size(); ++i) EXPECT_EQ(d.layers[i].shortcut_from, want_from[i]) << "layer " << i;
  EXPECT_EQ(d.layers[1].thresholds.size(), static_cast<size_t>(d.layers[1].out * (d.layers[1].shortcut.levels() + 1) *
                                                                d.layers[1].levels));

  const Shape in = model->input_shape();
  const int64_t n = 11, size = shape_numel(in), classes = d.classes();
  const std::vector<uint8_t> images = testing::random_images(n, size, seed + 2);
  const Tensor logits =
      model->forward(testing::training_batch(images, n, in, in, data::Normalize::ZeroOne), Context{false, nullptr});
  for (nn::Layer* l : model->leaf_layers()) {
    if (auto* w = dynamic_cast<nn::WeightedLayer*>(l)) {
      ASSERT_TRUE(w->quant().last_exact()) << l->name() << ": " << w->quant().inexact_reason();
    }
  }

  // Layer by layer, training's integer accumulators (its outputs over their scales, the
  // rows export negated negated back) are the interpreter's. The score layer is the net's
  // last and keeps no activation: its scores are compared below.
  std::vector<std::pair<nn::WeightedLayer*, const Tensor*>> outputs;
  weighted_outputs(model->net(), outputs);
  ASSERT_EQ(outputs.size(), d.layers.size());
  for (int64_t img = 0; img < n; ++img) {
    std::vector<std::vector<int64_t>> accs;
    testing::ir_reference(d, images.data() + img * size, &accs);
    for (size_t li = 0; li + 1 < d.layers.size(); ++li) {
      const format::LayerDesc& l = d.layers[li];
      const Tensor& y = *outputs[li].second;
      const auto& scale = outputs[li].first->quant().output_scales();
      const int64_t M = l.out, P = l.conv_h() * l.conv_w();
      for (int64_t o = 0; o < M; ++o)
        for (int64_t p = 0; p < P; ++p) {
          const auto a = static_cast<int64_t>(std::nearbyint(y[(img * M + o) * P + p] / scale[static_cast<size_t>(o)]));
          ASSERT_EQ(accs[li][static_cast<size_t>(p * M + o)], l.negated[static_cast<size_t>(o)] ? -a : a)
              << "image " << img << " layer " << li << " channel " << o << " pixel " << p;
        }
    }
  }

  runtime::EngineOptions eo;
  eo.chunk = 4;  // several chunks, the last one partial
  eo.threads = 2;
  runtime::Engine engine = runtime::Engine::from_bytes(format::model_desc_bytes(d), "residual model", eo);
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
    for (size_t li = 0; li < d.layers.size(); ++li) {  // the trace is in the trained sign
      const format::LayerDesc& l = d.layers[li];
      const size_t per = accs[li].size();
      for (size_t k = 0; k < per; ++k) {
        const int64_t a = accs[li][k];
        ASSERT_EQ(trace[li][img * per + k], l.negated[k % static_cast<size_t>(l.out)] ? -a : a)
            << "image " << img << " layer " << li << " value " << k;
      }
    }
  }
  if (!conv) {  // batch 1 on a dense network: the latency mode, threads sharing channels
    engine.set_threads(2);
    std::vector<float> one(static_cast<size_t>(classes));
    engine.run(images.data(), 1, in[0], in[1], in[2], one.data(), nullptr);
    for (int64_t c = 0; c < classes; ++c) ASSERT_EQ(one[static_cast<size_t>(c)], logits[c]);
  }
}

TEST(ExportResidual, BinaryBlocksAreBitExact) {
  check_residual(true, "binary", "binary", 501);
  check_residual(false, "binary", "binary", 502);
}

TEST(ExportResidual, MultiBitBlocksAreBitExact) {
  check_residual(true, "dorefa:2", "dorefa:2", 511);
  check_residual(false, "ternary", "dorefa:2", 512);
  // Codes with a zero point as the shortcut (int:k without a ReLU), and 4-bit codes on int:4
  // weights, which the runtime reads as bytes (the shortcut kept from byte codes).
  check_residual(true, "int:4", "int:3", 513);
  check_residual(false, "int:4", "int:4", 514);
}

TEST(ExportResidual, ShapesThatDoNotDeployAreClearErrors) {
  testing::RunDir dir("export", "residual_errors");
  std::filesystem::create_directories(dir.dir);
  const std::string path = (dir.dir / "bad.lbm").string();
  auto export_of = [&](const json& topo) {
    auto m = nn::build_model(topo);
    m->init(1);
    exporter::write_lbm(*m, {}, path);
  };
  const json good = residual_net(true, "binary", "binary");
  json projection = good;  // a 1x1 conv + BatchNorm shortcut: two float branches
  projection["layers"][4]["shortcut"] = json::array({{{"type", "conv2d"}, {"filters", 6}, {"kernel", 1}, {"bias", false}}, bn()});
  testing::expect_error_naming([&] { export_of(projection); }, "a shortcut branch (e.g. a projection) does not deploy");
  json on_input = good;  // the first block reads the input quantizer's codes
  on_input["layers"].erase(on_input["layers"].begin() + 1, on_input["layers"].begin() + 4);
  on_input["input"] = {6, 6, 6};
  testing::expect_error_naming([&] { export_of(on_input); }, "a residual block on the input quantizer's codes");
  json no_quantizer = good;  // the block's sum goes straight into the next convolution
  no_quantizer["layers"].erase(no_quantizer["layers"].begin() + 5);
  testing::expect_error_naming([&] { export_of(no_quantizer); }, "the runtime adds a shortcut before an activation quantizer");
  json max_pool = good;  // max pooling of a shortcut layer's codes
  max_pool["layers"].insert(max_pool["layers"].begin() + 6, json{{"type", "maxpool2d"}, {"kernel", 2}});
  testing::expect_error_naming([&] { export_of(max_pool); }, "max pooling right after a residual block's activation quantizer");
  json after_avg = good;  // the block's input is window sums
  after_avg["layers"].insert(after_avg["layers"].begin() + 4, json{{"type", "avgpool2d"}, {"kernel", 2}, {"stride", 1}});
  testing::expect_error_naming([&] { export_of(after_avg); }, "window sums of an average pooling");
  json ends_with_pool = good;  // a body that ends with something no weighted layer closes
  ends_with_pool["layers"][4]["body"].push_back(qa("binary"));
  ends_with_pool["layers"][4]["body"].push_back(json{{"type", "maxpool2d"}, {"kernel", 1}});
  testing::expect_error_naming([&] { export_of(ends_with_pool); }, "without a conv2d/dense layer closing it");
  json syq_closing = good;  // grouped scales on the layer that thresholds with the shortcut
  syq_closing["layers"][4]["body"][0]["weight_quantizer"] = "syq:binary:row";
  testing::expect_error_naming([&] { export_of(syq_closing); }, "SYQ row / pixel scales on the last layer of a residual body");
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace lowbit
