// Export + runtime against the trainer's evaluation, on small random dense networks with
// random BatchNorm statistics (negative and zero gammas included): the runtime's
// accumulators equal training's layer by layer, and its scores equal evaluation's logits
// bit for bit, so predictions agree image for image. Networks with average pooling (the
// IR's sum pooling, which the runtime does not run yet) are checked the same way through
// the plain interpreter of the IR (ExportAvgPool).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cfenv>
#include <functional>
#include <limits>
#include <tuple>

#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/data/batch.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/dense.hpp"
#include "lowbit/nn/loss.hpp"
#include "lowbit/runtime/engine.hpp"
#include "export/export_test_util.hpp"
#include "runtime/ir_reference.hpp"
#include "test_util.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using nn::json;
using testing::calibrate;
using testing::random_images;
using testing::randomize_batchnorms;
using testing::training_batch;

struct NetSpec {
  std::string weights, acts, input = "dorefa:8";
  data::Normalize normalize = data::Normalize::ZeroOne;
  Shape image = {1, 5, 7};
  std::vector<int64_t> hidden = {70, 65};
  bool conv = false;
  int padding = 0;  // of both convolutions
  float pad_value = 0.f;  // what their padded taps read (0, or -1 / +1 on +-1 codes)
  std::string float_act = {};  // "relu" / "hardtanh": a float activation before each hidden quantizer
};

void add_hidden_act(json& layers, const NetSpec& s) {
  if (!s.float_act.empty()) layers.push_back({{"type", s.float_act}});
  layers.push_back({{"type", "quant_act"}, {"quantizer", s.acts}});
}

// A small CNV: conv 3x3 (5 filters) + pool 2, conv 2x2 (70 filters: two words per pixel,
// with a gap), dense 4. Used when s.conv is set; the image must be at least 8x9.
json conv_net(const NetSpec& s) {
  json layers = json::array({{{"type", "quant_act"}, {"quantizer", s.input}}});
  layers.push_back({{"type", "conv2d"}, {"filters", 5}, {"kernel", 3}, {"bias", false}, {"padding", s.padding},
                    {"pad_value", s.pad_value}});
  layers.push_back({{"type", "batchnorm"}});
  add_hidden_act(layers, s);
  layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
  layers.push_back({{"type", "conv2d"}, {"filters", 70}, {"kernel", 2}, {"bias", false}, {"padding", s.padding},
                    {"pad_value", s.pad_value}});
  layers.push_back({{"type", "batchnorm"}});
  add_hidden_act(layers, s);
  layers.push_back({{"type", "flatten"}});
  layers.push_back({{"type", "dense"}, {"units", 4}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "tiny_cnv"}, {"input", s.image}, {"weights", s.weights}, {"layers", layers}};
}

json dense_net(const NetSpec& s) {
  if (s.conv) return conv_net(s);
  json layers = json::array({{{"type", "quant_act"}, {"quantizer", s.input}}, {{"type", "flatten"}}});
  for (int64_t h : s.hidden) {
    layers.push_back({{"type", "dense"}, {"units", h}, {"bias", false}});
    layers.push_back({{"type", "batchnorm"}});
    add_hidden_act(layers, s);
  }
  layers.push_back({{"type", "dense"}, {"units", 4}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "tiny"}, {"input", s.image}, {"weights", s.weights}, {"layers", layers}};
}

// `file` with its model description replaced by `meta`, written to `path` (blobs kept).
void write_with_description(const format::LbmFile& file, const json& meta, const std::string& path) {
  format::LbmWriter w;
  w.add_json("model", meta.dump());
  for (const auto& sec : file.sections())
    if (sec.name != "model") w.add_blob(sec.name, sec.data, sec.size);
  w.write(path);
}

void check_bit_exact(const NetSpec& spec, uint64_t seed, const Shape& image_override = {}) {
  SCOPED_TRACE(spec.weights + " / " + spec.acts + " / input " + spec.input);
  auto model = nn::build_model(dense_net(spec));
  model->init(seed);
  calibrate(*model, seed + 3);
  randomize_batchnorms(*model, seed + 1);
  const Shape image = image_override.empty() ? spec.image : image_override;
  const int64_t n = 37, image_size = shape_numel(image);
  const std::vector<uint8_t> images = random_images(n, image_size, seed + 2);

  testing::RunDir dir("export", "bitexact");
  std::filesystem::create_directories(dir.dir);
  const std::string path = (dir.dir / "tiny.lbm").string();
  exporter::ExportOptions opt;
  opt.normalize = spec.normalize;
  exporter::write_lbm(*model, opt, path);

  // Training's evaluation (after export, which must not disturb the model).
  const Tensor x = training_batch(images, n, image, model->input_shape(), spec.normalize);
  const Tensor logits = model->forward(x, Context{false, nullptr});

  runtime::EngineOptions eo;
  eo.chunk = 8;  // several chunks, last one partial
  eo.threads = 2;
  runtime::Engine engine = runtime::Engine::load(path, eo);
  std::vector<float> scores(static_cast<size_t>(n * 4));
  std::vector<int32_t> pred(static_cast<size_t>(n));
  engine.run(images.data(), n, image[0], image[1], image[2], scores.data(), pred.data());
  for (int64_t i = 0; i < n * 4; ++i) ASSERT_EQ(scores[static_cast<size_t>(i)], logits[i]) << "score " << i;
  std::vector<int32_t> expect(static_cast<size_t>(n));
  nn::argmax_rows(logits, expect.data());
  EXPECT_EQ(pred, expect);
  // Fewer images than threads: the latency mode, threads sharing each layer's channels.
  engine.set_threads(3);
  for (int64_t i = 0; i < 5; ++i) {
    std::vector<float> one(4);
    int32_t p = -1;
    engine.run(images.data() + i * image_size, 1, image[0], image[1], image[2], one.data(), &p);
    for (int64_t c = 0; c < 4; ++c) ASSERT_EQ(one[static_cast<size_t>(c)], logits[i * 4 + c]) << "image " << i;
    EXPECT_EQ(p, expect[static_cast<size_t>(i)]);
  }
  engine.set_threads(2);

  // Layer by layer: training's dense outputs are acc * scale (+0), so acc = rnd(y / scale).
  const auto trace = engine.trace(images.data(), n, image[0], image[1], image[2]);
  nn::Sequential& net = model->net();
  size_t layer = 0;
  for (size_t i = 0; i + 1 < net.size(); ++i) {
    auto* d = dynamic_cast<nn::WeightedLayer*>(&net.at(i));
    if (!d) continue;
    ASSERT_LT(layer, trace.size());
    const Tensor& y = net.activation(i);  // (N, M) or (N, M, OH, OW); the trace is (N, OH, OW, M)
    const auto& scale = d->quant().output_scales();
    const int64_t M = y.dim(1), P = y.size() / (y.dim(0) * M);
    ASSERT_EQ(static_cast<int64_t>(trace[layer].size()), y.size());
    for (int64_t k = 0; k < y.size(); ++k) {
      const int64_t img = k / (M * P), ch = (k / P) % M, pix = k % P;
      const float s = scale[static_cast<size_t>(ch)];
      ASSERT_EQ(trace[layer][static_cast<size_t>((img * P + pix) * M + ch)], static_cast<int32_t>(std::nearbyint(y[k] / s)))
          << "layer " << layer << " value " << k;
    }
    ++layer;
  }
  EXPECT_EQ(layer, trace.size());  // every dense layer, the score layer included
}

TEST(ExportRuntime, BinaryNetworkIsBitExact) { check_bit_exact({"binary", "binary"}, 11); }
TEST(ExportRuntime, TwoBitActivationsAreBitExact) { check_bit_exact({"binary", "dorefa:2"}, 21); }
TEST(ExportRuntime, TwoBitWeightsAndActivationsAreBitExact) { check_bit_exact({"dorefa:2", "dorefa:2"}, 31); }
TEST(ExportRuntime, XnorChannelScalesAreBitExact) { check_bit_exact({"xnor", "binary"}, 41); }

// Export is a function of the model alone: each layer answers for its exact form, no forward
// pass runs and nothing an earlier forward cached is read (XNOR's per-channel means, the
// codes of evaluation's last batch). Exports before and after other forwards are identical.
TEST(ExportRuntime, ExportIsAFunctionOfTheModelAlone) {
  NetSpec conv{"xnor", "dorefa:2"};
  conv.conv = true;
  conv.image = {2, 8, 9};
  for (const json& topo : {dense_net({"xnor", "binary"}), dense_net(conv)}) {
    auto model = nn::build_model(topo);
    model->init(9);
    calibrate(*model, 3);
    const std::vector<uint8_t> first = exporter::lbm_bytes(*model, {});
    Shape batch = {5};
    batch.insert(batch.end(), model->input_shape().begin(), model->input_shape().end());
    Tensor x(batch);
    Rng rng(77);
    for (float& v : x) v = rng.uniform(-3.f, 3.f);
    model->forward(x, Context{false, nullptr});  // leaves evaluation's caches of other data
    EXPECT_EQ(exporter::lbm_bytes(*model, {}), first);
    for (nn::Layer* layer : model->leaf_layers())
      if (auto* w = dynamic_cast<nn::WeightedLayer*>(layer)) w->weight().value[0] *= -1.f;  // other weights...
    EXPECT_NE(exporter::lbm_bytes(*model, {}), first);  // ...another export, without any forward
  }
}
// A model in the state a checkpoint restores (parameters and buffers, no forward pass
// since) exports the same file as the model that trained: int:k activation quantizers
// answer their grid from their running range, not from a cache of the last forward
// (`lowbit export` of an int:8 checkpoint failed with "has not quantized anything yet").
TEST(ExportRuntime, ExportOfARestoredModelNeedsNoForward) {
  for (const json& topo : {dense_net({"int:8", "int:4"}), dense_net({"binary", "int:3:unsigned"})}) {
    auto trained = nn::build_model(topo);
    trained->init(5);
    calibrate(*trained, 6);
    randomize_batchnorms(*trained, 7);
    auto restored = nn::build_model(topo);
    auto from_p = trained->named_params(), to_p = restored->named_params();
    auto from_b = trained->named_buffers(), to_b = restored->named_buffers();
    ASSERT_EQ(from_p.size(), to_p.size());
    ASSERT_EQ(from_b.size(), to_b.size());
    for (size_t i = 0; i < from_p.size(); ++i) to_p[i].param->value = from_p[i].param->value;
    for (size_t i = 0; i < from_b.size(); ++i) *to_b[i].tensor = *from_b[i].tensor;
    EXPECT_EQ(exporter::lbm_bytes(*restored, {}), exporter::lbm_bytes(*trained, {})) << topo.dump();
  }
}

TEST(ExportRuntime, FewBitInputsAndOtherSizes) {
  NetSpec s{"binary", "binary", "dorefa:3"};
  s.hidden = {1, 129};
  check_bit_exact(s, 51);
  NetSpec five{"binary", "binary", "dorefa:5"};  // 31 steps: the runtime's per-pixel table path
  five.hidden = {65};
  check_bit_exact(five, 52);
  NetSpec b{"binary", "binary", "binary"};
  b.normalize = data::Normalize::MinusOneOne;
  b.image = {2, 8, 9};
  b.hidden = {64};
  check_bit_exact(b, 61);
}
TEST(ExportRuntime, ConvolutionsWithPoolingAreBitExact) {
  for (const auto& [w, a, in] : {std::tuple{"binary", "binary", "dorefa:8"}, std::tuple{"binary", "dorefa:2", "dorefa:8"},
                                 std::tuple{"dorefa:2", "dorefa:2", "binary"}}) {
    NetSpec s{w, a, in};
    s.conv = true;
    s.image = {2, 8, 9};
    if (std::string(in) == "binary") s.normalize = data::Normalize::MinusOneOne;
    check_bit_exact(s, 81);
  }
  NetSpec padded{"binary", "binary"};
  padded.conv = true;
  padded.image = {1, 10, 10};
  check_bit_exact(padded, 91, Shape{1, 7, 8});
}

// Even weight codes are exported doubled (two planes for ternary, k + 1 for int:k): the
// runtime's accumulators are twice training's, its thresholds too, the score scale half.
TEST(ExportRuntime, TernaryAndIntWeightsAreBitExact) {
  check_bit_exact({"ternary", "binary"}, 101);
  check_bit_exact({"ternary", "dorefa:2"}, 102);
  check_bit_exact({"int:4:signed:narrow:channel", "binary"}, 103);
  NetSpec conv{"ternary", "binary"};
  conv.conv = true;
  conv.image = {2, 8, 9};
  check_bit_exact(conv, 104);
  NetSpec binary_input{"ternary", "binary", "binary"};  // first layer on +-1 inputs, doubled
  binary_input.normalize = data::Normalize::MinusOneOne;
  binary_input.conv = true;
  binary_input.image = {1, 8, 9};
  check_bit_exact(binary_input, 105);
}

// Zero-padded convolutions: padded taps are exact 0 in training; the runtime pads +-1
// inputs with bit 0 and corrects each border pixel, k-bit codes pad with code 0.
TEST(ExportRuntime, PaddedConvolutionsAreBitExact) {
  for (const auto& [w, a, in] : {std::tuple{"binary", "binary", "dorefa:8"}, std::tuple{"binary", "binary", "binary"},
                                 std::tuple{"binary", "dorefa:2", "dorefa:8"}, std::tuple{"ternary", "binary", "binary"}}) {
    SCOPED_TRACE(std::string(w) + " " + a + " " + in);
    NetSpec s{w, a, in};
    s.conv = true;
    s.padding = 1;
    s.image = {2, 8, 9};
    if (std::string(in) == "binary") s.normalize = data::Normalize::MinusOneOne;
    check_bit_exact(s, 111);
  }
  // Padding with -1 or +1 (ARCHITECTURE.md's explicit attribute) on +-1 codes: binary
  // input, so the first convolution pads +-1 codes too.
  for (float pad_value : {-1.f, 1.f})
    for (const char* weights : {"binary", "ternary"}) {
      SCOPED_TRACE(::testing::Message() << "pad_value " << pad_value << " " << weights);
      NetSpec s{weights, "binary", "binary"};
      s.conv = true;
      s.padding = 1;
      s.pad_value = pad_value;
      s.image = {2, 8, 9};
      s.normalize = data::Normalize::MinusOneOne;
      check_bit_exact(s, 113);
    }
  NetSpec smaller{"binary", "binary", "binary"};  // image centre padding and conv padding together
  smaller.conv = true;
  smaller.padding = 1;
  smaller.image = {1, 9, 9};
  smaller.normalize = data::Normalize::MinusOneOne;
  check_bit_exact(smaller, 112, Shape{1, 6, 7});
}

// AddNet weights are lambda times integer RCCM coefficients: an integer GEMM and one scale
// (codes up to 92 for 2 adders, 128 for 3: even codes, packed doubled by the runtime).
TEST(ExportRuntime, AddNetWeightsAreBitExact) {
  check_bit_exact({"addnet:2", "binary", "binary"}, 131);
  check_bit_exact({"addnet:3", "dorefa:2", "binary"}, 132);
  NetSpec conv{"addnet:2", "binary", "dorefa:2"};
  conv.conv = true;
  conv.image = {2, 8, 9};
  check_bit_exact(conv, 133);
}

// SYQ with one learned scale (layer granularity; dense layers have only that) folds like
// XNOR's; per-kernel-row scales vary along a dot product and are a clear export error.
TEST(ExportRuntime, SyqLayerScalesAreBitExact) {
  check_bit_exact({"syq:binary:layer", "binary"}, 121);
  check_bit_exact({"syq:ternary:row", "dorefa:2"}, 122);  // dense: one scale
  NetSpec conv{"syq:ternary:layer", "binary"};
  conv.conv = true;
  conv.image = {2, 8, 9};
  check_bit_exact(conv, 123);
}

// A float activation between BatchNorm and the activation quantizer (a preset's ReLU before
// int:k) is a monotone map: export folds it into the thresholds.
TEST(ExportRuntime, FloatActivationsBeforeTheQuantizerAreBitExact) {
  NetSpec relu{"binary", "int:4:unsigned"};
  relu.float_act = "relu";
  check_bit_exact(relu, 131);
  NetSpec affine{"binary", "int:3"};  // zero point 0 after a ReLU
  affine.float_act = "relu";
  check_bit_exact(affine, 132);
  NetSpec hardtanh{"ternary", "dorefa:2"};
  hardtanh.float_act = "hardtanh";
  check_bit_exact(hardtanh, 133);
  NetSpec conv{"binary", "int:2:unsigned"};
  conv.float_act = "relu";
  conv.conv = true;
  conv.image = {2, 8, 9};
  check_bit_exact(conv, 134);
}

// int:k with zero points (Jacob et al.): evaluation multiplies the values q - Z, the IR
// carries activations as levels q with their zero point ("affine" codes) and weights as
// values; the runtime adds the zero-point term -Z sum w per channel (bit-plane GEMM), folds
// it into the bias (the first convolution's integer GEMM) and into the padding fix.
TEST(ExportRuntime, ZeroPointCodesAreBitExact) {
  {  // the exported description does carry zero points (and negative weight values)
    auto model = nn::build_model(dense_net({"int:8", "int:4"}));
    model->init(141);
    calibrate(*model, 144);
    const format::ModelDesc d = exporter::fold(*model, {});
    ASSERT_EQ(d.layers.size(), 3u);
    for (size_t l = 1; l < 3; ++l) {
      EXPECT_FALSE(d.layers[l].input.pm1);
      EXPECT_GT(d.layers[l].input.zero_point, 0) << "layer " << l << ": " << d.layers[l].input.str();
    }
    EXPECT_GT(d.layers[0].max_abs_weight(), 127);  // int:8 affine values q - Z reach beyond int8
    // The 4-bit hidden codes times int:8's weight planes: the runtime passes them as bytes to
    // the integer GEMM (plan.cpp's wants_byte_codes), so the bit-exact checks below cover it.
    const runtime::Engine e = runtime::Engine::from_bytes(format::model_desc_bytes(d), "zero-point model");
    EXPECT_NE(e.info().layers[0].find("byte output"), std::string::npos) << e.info().layers[0];
    EXPECT_NE(e.info().layers[1].find("integer weights on byte codes"), std::string::npos) << e.info().layers[1];
  }
  check_bit_exact({"int:8", "int:4"}, 141);          // asymmetric weights and activations
  check_bit_exact({"binary", "int:4"}, 142);         // binary weights on codes with a zero point
  check_bit_exact({"int:4:channel", "int:3"}, 143);  // a zero point per output channel
  NetSpec signed_input{"binary", "int:2", "int:4:signed"};  // input codes -8..7: zero point 8
  signed_input.normalize = data::Normalize::MinusOneOne;
  check_bit_exact(signed_input, 144);
  for (int padding : {0, 1}) {
    NetSpec conv{"int:4", "int:2", "int:4:signed"};  // first convolution on byte codes, then bit-planes
    conv.normalize = data::Normalize::MinusOneOne;
    conv.conv = true;
    conv.padding = padding;
    conv.image = {2, 8, 9};
    check_bit_exact(conv, 145 + padding);
  }
}

// 8-bit integer-only networks (int8-range weights on 8-bit codes, Jacob et al.): products
// of codes beyond 2^24, which training evaluates exactly in double (gemm_integers), and the
// runtime's int32 accumulators rounded to float the same way.
TEST(ExportRuntime, WideIntegerProductsAreBitExact) {
  NetSpec s{"int:8", "int:8"};
  s.image = {1, 24, 24};  // K = 576 on 8-bit input: 576 * 255 * 255 > 2^24
  s.hidden = {1500, 70};  // K = 1500 on int:8 codes (about -128..127 on both sides)
  {
    auto model = nn::build_model(dense_net(s));
    model->init(151);
    calibrate(*model, 154);
    Tensor x({2, 1, 24, 24});
    for (float& v : x) v = 0.5f;
    model->forward(x, Context{false, nullptr});
    int wide = 0;
    for (nn::Layer* l : model->leaf_layers())
      if (auto* d = dynamic_cast<nn::WeightedLayer*>(l)) wide += d->quant().last_exact() && d->quant().wide();
    EXPECT_GE(wide, 2) << "the test no longer reaches products beyond 2^24";
  }
  check_bit_exact(s, 151);
  NetSpec relu{"int:8:signed:channel", "int:8:unsigned"};  // symmetric per-channel weights after a ReLU
  relu.float_act = "relu";
  relu.image = {1, 24, 24};
  relu.hidden = {1500, 70};
  check_bit_exact(relu, 152);
}

// Engine::run checks the images' channels, height and width against the model before it
// reads anything: a 3-channel model fed 1-channel images read past them (SIGSEGV), other
// mismatches gave scores from garbage.
TEST(ExportRuntime, ImagesThatDoNotFitAreRefused) {
  testing::RunDir dir("export", "fit");
  std::filesystem::create_directories(dir.dir);
  const std::string path = (dir.dir / "m.lbm").string();
  NetSpec conv{"binary", "binary"};
  conv.conv = true;
  conv.image = {2, 8, 9};
  auto model = nn::build_model(dense_net(conv));
  model->init(3);
  exporter::write_lbm(*model, {}, path);
  runtime::Engine engine = runtime::Engine::load(path);
  const std::vector<uint8_t> images = random_images(4, 3 * 9 * 10, 5);  // room for every geometry tried
  std::vector<float> scores(16, -7.f);
  std::vector<int32_t> pred(4, -7);
  for (const auto& [c, h, w, needle] : {std::tuple{1, 8, 9, "1 channels, the model takes 2"},
                                        std::tuple{3, 8, 9, "3 channels, the model takes 2"},
                                        std::tuple{2, 9, 9, "height 9 exceeds the model's 8"},
                                        std::tuple{2, 8, 10, "width 10 exceeds the model's 9"}}) {
    testing::expect_error_naming([&] { engine.run(images.data(), 4, c, h, w, scores.data(), pred.data()); }, needle);
    testing::expect_error_naming([&] { engine.trace(images.data(), 4, c, h, w); }, needle);
  }
  EXPECT_EQ(scores, std::vector<float>(16, -7.f));  // nothing written
  EXPECT_EQ(pred, std::vector<int32_t>(4, -7));
  EXPECT_NO_THROW(engine.run(images.data(), 4, 2, 7, 9, scores.data(), pred.data()));  // smaller: padded

  // A flat model ([features]) takes any C x H x W of that many values, in stored order, as
  // evaluation does.
  const json flat = {{"name", "flat"},
                     {"input", {35}},
                     {"weights", "binary"},
                     {"layers",
                      {{{"type", "quant_act"}, {"quantizer", "dorefa:8"}},
                       {{"type", "dense"}, {"units", 6}, {"bias", false}},
                       {{"type", "batchnorm"}},
                       {{"type", "quant_act"}, {"quantizer", "binary"}},
                       {{"type", "dense"}, {"units", 4}, {"bias", false}},
                       {{"type", "batchnorm"}}}}};
  auto fm = nn::build_model(flat);
  fm->init(4);
  randomize_batchnorms(*fm, 5);
  exporter::write_lbm(*fm, {}, path);
  runtime::Engine fe = runtime::Engine::load(path);
  Tensor x({4, 35});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = data::normalize_pixel(images[static_cast<size_t>(i)], data::Normalize::ZeroOne);
  const Tensor logits = fm->forward(x, Context{false, nullptr});
  for (const auto& [c, h, w] : {std::tuple{1, 5, 7}, std::tuple{1, 1, 35}, std::tuple{5, 7, 1}}) {
    std::fill(scores.begin(), scores.end(), 0.f);
    fe.run(images.data(), 4, c, h, w, scores.data(), pred.data());
    for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(scores[static_cast<size_t>(i)], logits[i]) << c << "x" << h << "x" << w;
  }
  testing::expect_error_naming([&] { fe.run(images.data(), 4, 1, 6, 6, scores.data(), pred.data()); },
                               "have 36 values each, the model takes 35");
}

// 1e-40: a denormal, or 0 with flush-to-zero. Not inlined, so the product is computed
// where it is called (GCC moves float arithmetic across fesetenv calls otherwise).
__attribute__((noinline)) float denormal_product() {
  volatile float a = 1e-20f;
  return a * a;
}

// The runtime computes in the contract's float mode whatever its caller's threads use, and
// leaves them as they were: scores equal evaluation's with BatchNorm constants in the
// denormal range even when the calling program never set FTZ/DAZ.
TEST(ExportRuntime, RuntimeUsesTheContractModeWhateverTheCaller) {
  testing::RunDir dir("export", "fpmode");
  std::filesystem::create_directories(dir.dir);
  const std::string path = (dir.dir / "m.lbm").string();
  auto model = nn::build_model(dense_net({"binary", "binary"}));
  model->init(9);
  randomize_batchnorms(*model, 10);
  for (nn::Layer* l : model->leaf_layers())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(l))
      for (int64_t c = 0; c < bn->channels(); c += 2) {
        bn->gamma()->value[c] = c % 4 ? 3e-38f : -1e-39f;
        bn->beta()->value[c] = c % 3 ? 1e-40f : 0.f;
      }
  exporter::write_lbm(*model, {}, path);  // enters the contract mode on this thread and the pool
  const std::vector<uint8_t> images = random_images(40, 35, 12);
  Tensor x = training_batch(images, 40, {1, 5, 7}, model->input_shape(), data::Normalize::ZeroOne);
  const Tensor logits = model->forward(x, Context{false, nullptr});
  runtime::EngineOptions eo;
  eo.threads = 2;
  runtime::Engine engine = runtime::Engine::load(path, eo);
  std::fenv_t saved;
  std::fegetenv(&saved);
#pragma omp parallel num_threads(2)
  std::fesetenv(FE_DFL_ENV);  // a caller, and its pool, that never heard of FTZ/DAZ
  std::vector<float> scores(160);
  std::vector<int32_t> pred(40);
  engine.run(images.data(), 40, 1, 5, 7, scores.data(), pred.data());
  // Still the caller's mode: a denormal result survives. (Compared here: under DAZ, after
  // the mode is restored below, a denormal compares equal to 0.)
  const bool caller_mode_kept = denormal_product() > 0.f && !in_fp_contract();
  std::fesetenv(&saved);
  enter_fp_contract_all_threads();
  EXPECT_TRUE(caller_mode_kept);
  // Bit patterns: under DAZ a float comparison would call any two denormals equal.
  for (int64_t i = 0; i < 160; ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(scores[static_cast<size_t>(i)]), std::bit_cast<uint32_t>(logits[i])) << "score " << i;
}

// NaN or infinite constants (a checkpoint of a diverged run) are named at export: they once
// surfaced as "evaluation gives -2147483648".
TEST(ExportRuntime, NonFiniteConstantsAreNamed) {
  for (const bool score_layer : {false, true}) {
    auto model = nn::build_model(dense_net({"binary", "binary"}));
    model->init(2);
    std::vector<nn::BatchNorm*> bns;
    for (nn::Layer* l : model->leaf_layers())
      if (auto* bn = dynamic_cast<nn::BatchNorm*>(l)) bns.push_back(bn);
    nn::BatchNorm* bn = score_layer ? bns.back() : bns.front();
    bn->running_var()[1] = std::numeric_limits<float>::quiet_NaN();
    const std::string msg = testing::error_of([&] { (void)exporter::lbm_bytes(*model, {}); });
    EXPECT_NE(msg.find(", channel 1: BatchNorm's scale"), std::string::npos) << msg;
    EXPECT_NE(msg.find("is nan"), std::string::npos) << msg;
    EXPECT_NE(msg.find("diverge"), std::string::npos) << msg;
  }
}

TEST(ExportRuntime, SmallerImagesArePaddedLikeTraining) {
  NetSpec s{"binary", "dorefa:2"};
  s.image = {1, 9, 10};
  check_bit_exact(s, 71, Shape{1, 6, 7});
}

TEST(ExportRuntime, UnsupportedModelsAreClearErrors) {
  testing::RunDir dir("export", "errors");
  std::filesystem::create_directories(dir.dir);
  const std::string path = (dir.dir / "bad.lbm").string();
  auto export_of = [&](const json& topo) {
    auto m = nn::build_model(topo);
    m->init(1);
    exporter::write_lbm(*m, {}, path);
  };
  json no_input = dense_net({"binary", "binary"});
  no_input["layers"].erase(0);
  testing::expect_error_naming([&] { export_of(no_input); }, "--input-bits");
  NetSpec pad_on_bytes{"binary", "binary"};  // 8-bit input codes have no -1
  pad_on_bytes.conv = true;
  pad_on_bytes.padding = 1;
  pad_on_bytes.pad_value = -1.f;
  pad_on_bytes.image = {2, 8, 9};
  testing::expect_error_naming([&] { export_of(dense_net(pad_on_bytes)); }, "pad_value");
  json float_net = dense_net({"none", "binary"});
  float_net.erase("weights");
  testing::expect_error_naming([&] { export_of(float_net); }, "no weight quantizer");
  json relu = dense_net({"binary", "binary"});
  relu["layers"][4] = {{"type", "relu"}};
  testing::expect_error_naming([&] { export_of(relu); }, "layer 4 (relu): a float activation the runtime cannot represent");
  NetSpec larq{"binary", "binary"};  // conv, maxpool, batchnorm: Larq's order
  larq.conv = true;
  larq.image = {2, 8, 9};
  json larq_net = dense_net(larq);
  std::swap(larq_net["layers"][4], larq_net["layers"][3]);  // the pool before the quantizer...
  std::swap(larq_net["layers"][3], larq_net["layers"][2]);  // ...and before the BatchNorm
  testing::expect_error_naming([&] { export_of(larq_net); }, "layer 2 (maxpool2d): max pooling between a convolution "
                                                              "and its BatchNorm (Larq's order)");
  json avg = dense_net(larq);
  avg["layers"][4] = {{"type", "avgpool2d"}, {"kernel", 2}, {"padding", 1}};
  testing::expect_error_naming([&] { export_of(avg); }, "layer 4 (avgpool2d): the runtime needs integer window sums, "
                                                         "and padded average pooling (padding 1)");
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A model file whose container is valid but whose description lies: each is a clear error
// naming the file, never a crash or a huge allocation.
TEST(ExportRuntime, LyingModelDescriptionsAreClearErrors) {
  testing::RunDir dir("export", "lying");
  std::filesystem::create_directories(dir.dir);
  const std::string good = (dir.dir / "good.lbm").string(), bad = (dir.dir / "bad.lbm").string();
  auto model = nn::build_model(dense_net({"binary", "dorefa:2"}));
  model->init(5);
  exporter::write_lbm(*model, {}, good);
  const format::LbmFile file = format::LbmFile::read(good);
  const json meta = json::parse(file.json_text("model"));
  auto with = [&](const std::function<void(json&)>& edit, const std::string& needle) {
    json m = meta;
    edit(m);
    write_with_description(file, m, bad);
    SCOPED_TRACE(needle);
    testing::expect_error_naming([&] { runtime::Engine::load(bad); }, needle);
    // The file is named once ("M.lbm: M.lbm: layer 0: ..." was a reported fault).
    const std::string msg = testing::error_of([&] { runtime::Engine::load(bad); });
    EXPECT_EQ(msg.rfind(bad + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find("bad.lbm", bad.size()), std::string::npos) << msg;
  };
  with([](json& m) { m["layers"][0]["in_shape"] = {1, 1, 36}; }, "input map [1,1,36] differs");
  with([](json& m) { m["layers"][1]["out"] = 1 << 20; }, "'out' must be an integer in 1..65536, got 1048576");
  with([](json& m) { m["input"]["shape"] = {1, 70000, 70000}; }, "'shape'[1] must be an integer in 1..65536, got 70000");
  with([](json& m) { m["layers"][1]["out"] = 10.5; }, "'out' must be an integer in 1..65536, got 10.5");
  with([](json& m) { m["classes"] = "ten"; }, "'classes' must be an integer");
  with([](json& m) { m["name"] = 7; }, "'name' must be a string");
  with([](json& m) { m["layers"][0]["weights"]["blob"] = "nothing"; }, "nothing");
  with([](json& m) { m["layers"][0]["weights"]["encoding"] = "int8"; }, "bytes, expected");
  with([](json& m) { m["layers"][0]["weights"]["encoding"] = "float"; }, "unknown weight encoding 'float'");
  with([](json& m) { m["input"]["codes"] = {{"format", "map"}}; }, "unknown code format 'map'");
  with([](json& m) { m["layers"][0]["op"] = "attention"; }, "attention");
  with([](json& m) { m["layers"][0]["output"]["levels"] = 7; }, "'levels' must be an integer in 1..3, got 7");
  with([](json& m) { m["layers"][0]["output"]["levels"] = 2; }, "2 threshold levels for 2-bit output codes (3)");
  with([](json& m) { m["layers"].erase(2); }, "scores");
  with([](json& m) { m.erase("classes"); }, "classes");
  with([](json& m) { m["kind"] = "something-else"; }, "not a lowbit model");
  with([](json& m) { m["layers"][1]["input"] = {{"format", "pm1"}}; }, "input codes");
  with([](json& m) { m["layers"][1]["negated"] = {0, 99}; }, "'negated'[1] must be an integer in 0..");
  // Files of the description before the IR (version 1: no "version") name the fix.
  with([](json& m) { m.erase("version"); }, "model description version 1; this lowbit reads versions 2..3 (the file was "
                                            "written by an older lowbit export): export the checkpoint again");
  with([](json& m) { m["version"] = format::kModelDescVersion + 1; }, "written by a newer lowbit");
  EXPECT_NO_THROW(runtime::Engine::load(good));
}

// ---- Average pooling: export's description against training's evaluation ----------------
// (through the plain interpreter, ir_reference.hpp, and the runtime)

// conv -> BN -> acts -> [maxpool] -> avgpool -> conv/dense ...: `kind` is "tiling" (2x2
// stride 2 on an 8x9 map: the last column is no window's), "overlapping" (2x2 stride 1),
// "global" (a 4x4 map averaged whole, then flatten -> dense: global average pooling before
// the classifier), "max+avg" (max pooling 2, average pooling 2, then a padded convolution
// whose padding reads value 0).
json avgpool_net(const std::string& kind, const std::string& weights, const std::string& acts) {
  // Brevitas' QuantReLU before unsigned int:k, as the presets; plain int:k keeps its zero point.
  const bool relu = acts.find(":unsigned") != std::string::npos;
  json layers = json::array({{{"type", "quant_act"}, {"quantizer", "dorefa:8"}}});
  auto block = [&](json conv) {
    layers.push_back(conv);
    layers.push_back({{"type", "batchnorm"}});
    if (relu) layers.push_back({{"type", "relu"}});
    layers.push_back({{"type", "quant_act"}, {"quantizer", acts}});
  };
  Shape image;
  block({{"type", "conv2d"}, {"filters", 6}, {"kernel", 3}, {"bias", false}});
  if (kind == "global") {
    image = {2, 6, 6};
    layers.push_back({{"type", "avgpool2d"}, {"kernel", 4}});
  } else if (kind == "max+avg") {
    image = {1, 11, 11};
    layers.push_back({{"type", "maxpool2d"}, {"kernel", 2}});
    layers.push_back({{"type", "dropout"}, {"rate", 0.3}});
    layers.push_back({{"type", "avgpool2d"}, {"kernel", 2}});
    block({{"type", "conv2d"}, {"filters", 8}, {"kernel", 3}, {"padding", 1}, {"bias", false}});
  } else {
    image = {2, 10, 11};
    layers.push_back({{"type", "avgpool2d"}, {"kernel", 2}, {"stride", kind == "overlapping" ? 1 : 2}});
    block({{"type", "conv2d"}, {"filters", 70}, {"kernel", 2}, {"bias", false}});
  }
  layers.push_back({{"type", "flatten"}});
  layers.push_back({{"type", "dense"}, {"units", 4}, {"bias", false}});
  layers.push_back({{"type", "batchnorm"}});
  return {{"name", "avg_" + kind}, {"input", image}, {"weights", weights}, {"layers", layers}};
}

// fold()'s description (no file, no runtime) run by the plain interpreter equals training's
// evaluation: every layer's integer accumulators (training's outputs / their scales, rows
// of negated channels negated, max-pooled as the IR defines them) and the scores, bit for bit.
void check_description_equals_evaluation(const json& topo, uint64_t seed) {
  SCOPED_TRACE(topo["name"].get<std::string>() + " " + topo["weights"].get<std::string>() + " / " +
               topo["layers"][4].value("quantizer", topo["layers"][3].value("quantizer", std::string())));
  auto model = nn::build_model(topo);
  model->init(seed);
  calibrate(*model, seed + 3);
  randomize_batchnorms(*model, seed + 1);
  const format::ModelDesc d = exporter::fold(*model, {});
  const Shape in = model->input_shape();
  const int64_t n = 9, size = shape_numel(in), classes = d.classes();
  const std::vector<uint8_t> images = random_images(n, size, seed + 2);
  const Tensor logits = model->forward(training_batch(images, n, in, in, data::Normalize::ZeroOne), Context{false, nullptr});
  nn::Sequential& net = model->net();
  std::vector<size_t> weighted;  // the net's weighted layers, one per IR layer
  for (size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<nn::WeightedLayer*>(&net.at(i))) weighted.push_back(i);
  ASSERT_EQ(weighted.size(), d.layers.size());
  int sum_pools = 0;
  for (const format::LayerDesc& l : d.layers) sum_pools += l.sum_pool.kernel != 0;
  EXPECT_EQ(sum_pools, 1);
  for (int64_t img = 0; img < n; ++img) {
    std::vector<std::vector<int64_t>> accs;
    const std::vector<float> scores = testing::ir_reference(d, images.data() + img * size, &accs);
    for (size_t li = 0; li < d.layers.size(); ++li) {
      const format::LayerDesc& l = d.layers[li];
      const auto& q = dynamic_cast<nn::WeightedLayer&>(net.at(weighted[li])).quant();
      ASSERT_TRUE(q.last_exact()) << "layer " << li << ": " << q.inexact_reason();
      const Tensor& y = net.activation(weighted[li]);  // (N, M, OH, OW) or (N, M)
      const int64_t M = l.out, OH = l.conv_h(), OW = l.conv_w();
      auto training_acc = [&](int64_t o, int64_t yy, int64_t xx) {
        const auto a = static_cast<int64_t>(std::nearbyint(y[((img * M + o) * OH + yy) * OW + xx] / q.output_scales()[static_cast<size_t>(o)]));
        return l.negated[static_cast<size_t>(o)] ? -a : a;
      };
      const int64_t pk = l.pool.kernel ? l.pool.kernel : 1, ps = l.pool.kernel ? l.pool.stride : 1;
      for (int64_t yy = 0; yy < l.pooled_h(); ++yy)
        for (int64_t xx = 0; xx < l.pooled_w(); ++xx)
          for (int64_t o = 0; o < M; ++o) {
            int64_t want = std::numeric_limits<int64_t>::min();
            for (int64_t dy = 0; dy < pk; ++dy)
              for (int64_t dx = 0; dx < pk; ++dx) want = std::max(want, training_acc(o, yy * ps + dy, xx * ps + dx));
            ASSERT_EQ(accs[li][static_cast<size_t>((yy * l.pooled_w() + xx) * M + o)], want)
                << "image " << img << " layer " << li << " (" << yy << ", " << xx << ", " << o << ")";
          }
    }
    ASSERT_EQ(static_cast<int64_t>(scores.size()), classes);
    for (int64_t c = 0; c < classes; ++c) ASSERT_EQ(scores[static_cast<size_t>(c)], logits[img * classes + c]) << "image " << img;
  }
  // The runtime on the same description: scores bit for bit, and its accumulators (trace,
  // before max pooling) those of the interpreter's layer 0..L.
  runtime::EngineOptions eo;
  eo.chunk = 4;  // several chunks, the last one partial
  eo.threads = 2;
  runtime::Engine engine = runtime::Engine::from_bytes(format::model_desc_bytes(d), "avgpool model", eo);
  bool summed = false;
  for (const std::string& line : engine.info().layers) summed = summed || line.find("sum pool") != std::string::npos;
  EXPECT_TRUE(summed) << "the runtime's plan has no sum pooling";
  std::vector<float> got(static_cast<size_t>(n * classes));
  std::vector<int32_t> pred(static_cast<size_t>(n));
  engine.run(images.data(), n, in[0], in[1], in[2], got.data(), pred.data());
  for (int64_t i = 0; i < n * classes; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], logits[i]) << "runtime score " << i;
}

TEST(ExportAvgPool, DescriptionEqualsEvaluation) {
  uint64_t seed = 300;
  for (const std::string acts : {"binary", "dorefa:2", "int:4:unsigned"})
    for (const std::string kind : {"tiling", "overlapping", "global", "max+avg"})
      check_description_equals_evaluation(avgpool_net(kind, "binary", acts), ++seed);
  check_description_equals_evaluation(avgpool_net("tiling", "dorefa:2", "dorefa:2"), ++seed);
  check_description_equals_evaluation(avgpool_net("global", "ternary", "int:4:unsigned"), ++seed);
  // Window sums of codes with a zero point (int:k without the ReLU): value level - n Z.
  check_description_equals_evaluation(avgpool_net("tiling", "binary", "int:3"), ++seed);
  check_description_equals_evaluation(avgpool_net("global", "int:4", "int:2"), ++seed);
}

// The fields export writes: the sum pooling on the layer whose codes are pooled, the next
// layer reading their sums, and its scale taking the 1/n (evaluation's own grid).
TEST(ExportAvgPool, SumPoolingAndSummedCodesInTheDescription) {
  auto model = nn::build_model(avgpool_net("global", "binary", "dorefa:2"));
  model->init(4);
  const format::ModelDesc d = exporter::fold(*model, {});
  ASSERT_EQ(d.layers.size(), 2u);
  EXPECT_EQ(d.layers[0].sum_pool.kernel, 4);
  EXPECT_EQ(d.layers[0].sum_pool.stride, 4);
  EXPECT_EQ(d.layers[0].output, format::CodeFormat::unsigned_bits(2));
  EXPECT_EQ(d.layers[0].out_h(), 1);
  EXPECT_EQ(d.layers[1].input, format::CodeFormat::unsigned_bits(2).summed(16));  // 0..48, 6 planes
  EXPECT_EQ(d.layers[1].input.planes(), 6);
  EXPECT_EQ(d.layers[1].in_fan(), 6);
  for (float s : d.layers[1].score.scale) EXPECT_EQ(s, 1.f * ((1.f / 3.f) / 16.f));  // binary weights: step 1
}

TEST(ExportAvgPool, UnsupportedAveragePoolingIsAClearError) {
  auto fold_of = [](json topo) {
    auto m = nn::build_model(topo);
    m->init(1);
    calibrate(*m, 2);
    (void)exporter::fold(*m, {});
  };
  json net = avgpool_net("tiling", "binary", "binary");  // layers: q, conv, bn, q, avgpool@4, conv, ...
  json padded = net;
  padded["layers"][4]["padding"] = 1;
  testing::expect_error_naming([&] { fold_of(padded); }, "layer 4 (avgpool2d): the runtime needs integer window sums, and "
                                                         "padded average pooling (padding 1) divides edge windows");
  json wide = net;  // 3x3 sums of 8-bit codes: 0..2295
  wide["layers"][3]["quantizer"] = "dorefa:8";
  wide["layers"][4]["kernel"] = 3;
  testing::expect_error_naming([&] { fold_of(wide); }, "layer 4 (avgpool2d): 3x3 average pooling of 8-bit codes needs "
                                                       "12-bit sums; the runtime takes up to 8");
  const json first = {{"name", "first"},  // before the first weighted layer, on the input codes
                      {"input", {2, 10, 11}},
                      {"weights", "binary"},
                      {"layers",
                       {{{"type", "quant_act"}, {"quantizer", "dorefa:8"}},
                        {{"type", "avgpool2d"}, {"kernel", 2}},
                        {{"type", "flatten"}},
                        {{"type", "dense"}, {"units", 4}, {"bias", false}},
                        {{"type", "batchnorm"}}}}};
  testing::expect_error_naming([&] { fold_of(first); }, "layer 1 (avgpool2d): average pooling before the first "
                                                        "conv2d/dense layer is not supported");
  json before_quant = net;  // between the BatchNorm and the quantizer: float averages
  std::swap(before_quant["layers"][3], before_quant["layers"][4]);
  testing::expect_error_naming([&] { fold_of(before_quant); }, "layer 3 (avgpool2d): average pooling is supported only "
                                                               "right after a convolution's activation quantizer");
  json max_after = net;
  max_after["layers"].insert(max_after["layers"].begin() + 5, json{{"type", "maxpool2d"}, {"kernel", 2}, {"stride", 1}});
  testing::expect_error_naming([&] { fold_of(max_after); }, "layer 5 (maxpool2d): max pooling after average pooling");
  json twice = net;
  twice["layers"].insert(twice["layers"].begin() + 5, json{{"type", "avgpool2d"}, {"kernel", 1}});
  testing::expect_error_naming([&] { fold_of(twice); }, "layer 5 (avgpool2d): average pooling of averages");
  json pad_pm1 = net;  // +-1 padding of a conv reading sums of +-1 codes
  pad_pm1["layers"][5]["padding"] = 1;
  pad_pm1["layers"][5]["pad_value"] = -1;
  testing::expect_error_naming([&] { fold_of(pad_pm1); }, "layer 5 (conv2d): pad_value -1 on sums of 4 +-1 codes");
  // The dry run `lowbit summary` and `lowbit train` use says the same before training.
  EXPECT_NE(exporter::export_problem(padded).find("padded average pooling"), std::string::npos);
  EXPECT_EQ(exporter::export_problem(net), "");
}

TEST(ExportRuntime, ThresholdBisection) {
  // level = floor((acc + 10) / 7) clamped to 0..3: thresholds -3, 4, 11.
  auto level = [](int64_t acc) { return static_cast<int>(std::clamp<int64_t>((acc + 10 + 70) / 7 - 10, 0, 3)); };
  EXPECT_EQ(exporter::channel_thresholds(level, 100, 3), (std::vector<int32_t>{-3, 4, 11}));
  auto always = [](int64_t) { return 1; };
  auto never = [](int64_t) { return 0; };
  EXPECT_EQ(exporter::channel_thresholds(always, 5, 1)[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(exporter::channel_thresholds(never, 5, 1)[0], std::numeric_limits<int32_t>::max());
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Every leaf of a JSON document, as JSON pointers.
void leaves(const nn::json& j, const nn::json::json_pointer& at, std::vector<nn::json::json_pointer>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) leaves(it.value(), at / it.key(), out);
  } else if (j.is_array() && !j.empty()) {
    for (size_t i = 0; i < j.size(); ++i) leaves(j[i], at / i, out);
  } else {
    out.push_back(at);
  }
}

// A fuzz of the model description (the container has its own fuzz target): random leaves
// of a valid description (a padded, pooled CNV on +-1 input: every field the runtime
// reads) get other values. Loading must give an engine or a lowbit::Error, and an engine
// must run images; ASan+UBSan runs of this test check that nothing reads or writes out of
// bounds on the way.
TEST(ExportRuntime, MutatedDescriptionsLoadOrFailCleanly) {
  testing::RunDir dir("export", "mutated");
  std::filesystem::create_directories(dir.dir);
  const std::string good = (dir.dir / "good.lbm").string(), bad = (dir.dir / "bad.lbm").string();
  NetSpec spec{"ternary", "binary", "binary"};
  spec.conv = true;
  spec.padding = 1;
  spec.image = {2, 8, 9};
  spec.normalize = data::Normalize::MinusOneOne;
  auto model = nn::build_model(dense_net(spec));
  model->init(7);
  exporter::ExportOptions opt;
  opt.normalize = spec.normalize;
  exporter::write_lbm(*model, opt, good);
  const format::LbmFile file = format::LbmFile::read(good);
  const nn::json meta = nn::json::parse(file.json_text("model"));
  std::vector<nn::json::json_pointer> paths;
  leaves(meta, nn::json::json_pointer(), paths);
  ASSERT_GT(paths.size(), 40u);
  const std::vector<nn::json> values = {0, 1, -1, 2, 3, 7, 63, 64, 65, 1 << 16, 1 << 30, -(1LL << 31), 1LL << 40, 2.5,
                                        "", "x", "pm1", "unsigned", "int8", true, nullptr, nn::json::array(),
                                        nn::json::array({1, 2}), nn::json::object()};
  const std::vector<uint8_t> images = random_images(3, 2 * 8 * 9, 99);
  Rng rng(2024);
  int loaded = 0, refused = 0;
  for (int iter = 0; iter < 1000; ++iter) {
    nn::json m = meta;
    const int edits = 1 + static_cast<int>(rng.below(2));
    std::string what;
    for (int e = 0; e < edits; ++e) {
      const auto& p = paths[rng.below(paths.size())];
      nn::json& leaf = m.at(p);
      if (leaf.is_number_integer() && rng.below(2) == 0)
        leaf = leaf.get<int64_t>() + static_cast<int64_t>(rng.below(5)) - 2;  // off by a little
      else
        leaf = values[rng.below(values.size())];
      what += p.to_string() + "=" + leaf.dump() + " ";
    }
    write_with_description(file, m, bad);
    SCOPED_TRACE(what);
    runtime::EngineOptions eo;
    eo.chunk = 2;
    eo.threads = 1;
    try {
      runtime::Engine engine = runtime::Engine::load(bad, eo);
      const auto& info = engine.info();
      std::vector<float> scores(static_cast<size_t>(3 * info.classes));
      std::vector<int32_t> pred(3);
      const int64_t h = std::min<int64_t>(8, info.height), wd = std::min<int64_t>(9, info.width);
      if (info.channels == 2) engine.run(images.data(), 3, 2, h, wd, scores.data(), pred.data());
      ++loaded;
    } catch (const Error&) {
      ++refused;
    }
  }
  std::printf("mutated descriptions: %d loaded and ran, %d refused\n", loaded, refused);
  EXPECT_GT(refused, 300);  // most edits break the description
  EXPECT_GT(loaded, 20);    // some are harmless (names, quantizer labels, thresholds' order kept)
}

}  // namespace
}  // namespace lowbit
