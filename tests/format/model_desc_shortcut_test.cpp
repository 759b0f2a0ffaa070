// The deployment IR's residual shortcuts (format/model_desc.hpp `shortcut_from`): thresholds
// chosen per level of an earlier layer's input map. Written and read back unchanged (as
// version 3; descriptions without one stay version 2), read by the plain interpreter and the
// runtime as FORMAT.md defines them, and refused with the layer and the field when they lie.
#include <gtest/gtest.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
#include "lowbit/runtime/engine.hpp"
#include "runtime/ir_reference.hpp"
#include "format/desc_test_util.hpp"
#include "test_util.hpp"

namespace lowbit {
namespace {

using format::CodeFormat;
using format::LayerDesc;
using format::LayerKind;
using format::ModelDesc;
using json = nlohmann::json;
using testing::read_desc_bytes;
using testing::read_edited_desc;

// A 3x3 image of 2-bit codes (level = pixel / 64). Layer 0: a 1x1 convolution into two +-1
// channels (channel 0: code >= 2, channel 1: code >= 1). Layer 1: a 1x1 convolution whose
// weights see only channel 1 (acc = its value, -1 or +1), with a shortcut from its own input:
// output channel o is +1 when acc >= t(o, s), s the shortcut's level of channel o, with
// t(0, 0) = +1, t(0, 1) = INT32_MIN: channel 0 = shortcut channel 0 OR acc channel 1;
// t(1, 0) = INT32_MAX, t(1, 1) = +1: channel 1 = shortcut channel 1 AND acc channel 1.
// Layer 2: one-hot dense scores, score i = the value of the map's i-th entry.
ModelDesc shortcut_desc() {
  ModelDesc d;
  d.name = "shortcut";
  d.input.shape = {1, 3, 3};
  d.input.codes = CodeFormat::unsigned_bits(2);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p / 64);
  LayerDesc a;
  a.kind = LayerKind::kConv;
  a.in_h = 3, a.in_w = 3, a.in_c = 1, a.out = 2;
  a.input = d.input.codes;
  a.weights = {1, 1};
  a.negated = {0, 0};
  a.output = CodeFormat::plus_minus_one();
  a.levels = 1;
  a.thresholds = {2, 1};
  LayerDesc b;
  b.kind = LayerKind::kConv;
  b.in_h = 3, b.in_w = 3, b.in_c = 2, b.out = 2;
  b.input = a.output;
  b.weights = {0, 1, 0, 1};
  b.negated = {0, 0};
  b.output = CodeFormat::plus_minus_one();
  b.levels = 1;
  b.shortcut_from = 1;
  b.shortcut = b.input;
  b.thresholds = {1, INT32_MIN, INT32_MAX, 1};  // (o, s): (0,0) (0,1) (1,0) (1,1)
  LayerDesc f;
  f.in_h = 3, f.in_w = 3, f.in_c = 2;
  f.input = b.output;
  f.out = f.in_fan();
  for (int64_t o = 0; o < f.out; ++o)
    for (int64_t i = 0; i < f.in_fan(); ++i) f.weights.push_back(o == i ? 1 : 0);
  f.negated.assign(static_cast<size_t>(f.out), 0);
  f.scores = true;
  f.score.scale.assign(static_cast<size_t>(f.out), 1.f);
  d.layers = {a, b, f};
  return d;
}

const int kLevels[3][3] = {{0, 1, 2}, {3, 2, 1}, {0, 3, 1}};

std::vector<uint8_t> image() {
  std::vector<uint8_t> px;
  for (const auto& row : kLevels)
    for (int l : row) px.push_back(static_cast<uint8_t>(64 * l));
  return px;
}

TEST(ModelDescShortcut, InterpreterAndRuntimeChooseThresholdsByTheShortcut) {
  const ModelDesc d = shortcut_desc();
  format::validate(d);
  const std::vector<uint8_t> px = image();
  const std::vector<float> scores = testing::ir_reference(d, px.data());
  ASSERT_EQ(scores.size(), 18u);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) {
      const int code = kLevels[y][x];
      const bool c0 = code >= 2, c1 = code >= 1;  // layer 0's channels (the shortcut)
      const bool acc1 = c1;                      // layer 1's accumulator of each channel: channel 1's value
      const float want0 = (c0 || acc1) ? 1.f : -1.f, want1 = (c1 && acc1) ? 1.f : -1.f;
      EXPECT_EQ(scores[static_cast<size_t>((y * 3 + x) * 2)], want0) << y << "," << x;
      EXPECT_EQ(scores[static_cast<size_t>((y * 3 + x) * 2 + 1)], want1) << y << "," << x;
    }
  runtime::Engine engine = runtime::Engine::from_bytes(format::model_desc_bytes(d), "shortcut model");
  std::vector<float> got(18);
  engine.run(px.data(), 1, 1, 3, 3, got.data(), nullptr);
  EXPECT_EQ(got, scores);
  bool named = false;
  for (const std::string& line : engine.info().layers) named = named || line.find("2 threshold sets by the shortcut = the input of layer 1") != std::string::npos;
  EXPECT_TRUE(named) << "lowbit summary names the shortcut";
}

TEST(ModelDescShortcut, RoundTripsAsVersionThree) {
  const ModelDesc d = shortcut_desc();
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  EXPECT_EQ(testing::desc_json(bytes)["version"], 3);
  EXPECT_EQ(testing::desc_json(bytes)["layers"][1]["shortcut"], json({{"from", 1}}));
  const ModelDesc r = read_desc_bytes(bytes);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[1].shortcut_from, 1);
  EXPECT_EQ(r.layers[1].shortcut, CodeFormat::plus_minus_one());
  EXPECT_EQ(r.layers[1].thresholds, d.layers[1].thresholds);
  EXPECT_EQ(r.layers[0].shortcut_from, -1);
  // Without the shortcut the same network is a version 2 description without the key.
  ModelDesc plain = shortcut_desc();
  plain.layers[1].shortcut_from = -1;
  plain.layers[1].thresholds = {1, 1};
  const json m = testing::desc_json(format::model_desc_bytes(plain));
  EXPECT_EQ(m["version"], 2);
  EXPECT_FALSE(m["layers"][1].contains("shortcut"));
}

TEST(ModelDescShortcut, LyingShortcutsAreClearErrors) {
  const ModelDesc d = shortcut_desc();
  auto expect_read_error = [&](const std::function<void(json&)>& edit, const std::string& needle) {
    SCOPED_TRACE(needle);
    testing::expect_error_naming([&] { read_edited_desc(d, edit); }, needle);
  };
  expect_read_error([](json& m) { m["version"] = 2; }, "layer 1: a shortcut in a version 2 description");
  expect_read_error([](json& m) { m["layers"][1]["shortcut"]["from"] = 0; }, "layer 1: shortcut: 'from'");
  expect_read_error([](json& m) { m["layers"][1]["shortcut"]["from"] = 2; }, "layer 1: shortcut: 'from'");
  expect_read_error([](json& m) { m["layers"][1]["shortcut"] = 1; }, "layer 1");
  // Layer 2 (the score layer) with a shortcut.
  expect_read_error([](json& m) { m["layers"][2]["shortcut"] = {{"from", 1}}; }, "layer 2");

  auto expect_invalid = [&](const std::function<void(ModelDesc&)>& edit, const std::string& needle) {
    SCOPED_TRACE(needle);
    ModelDesc bad = shortcut_desc();
    edit(bad);
    testing::expect_error_naming([&] { format::validate(bad); }, needle);
  };
  expect_invalid([](ModelDesc& m) { m.layers[1].thresholds.pop_back(); }, "layer 1: 3 thresholds for 2 x 2 x 1");
  expect_invalid([](ModelDesc& m) { m.layers[1].shortcut = CodeFormat::unsigned_bits(2); }, "layer 1: shortcut codes 2-bit");
  expect_invalid([](ModelDesc& m) { m.layers[1].shortcut_from = 0; }, "layer 1: shortcut from layer 0");
  expect_invalid([](ModelDesc& m) { m.layers[1].shortcut_from = 2; }, "layer 1: shortcut from layer 2");
  expect_invalid(
      [](ModelDesc& m) {
        m.layers[1].pool = {2, 1};  // 3x3 -> 2x2: the shortcut's 3x3 no longer fits
        m.layers[2].in_h = m.layers[2].in_w = 2;
        m.layers[2].out = 8;
        m.layers[2].weights.resize(64);
        m.layers[2].negated.resize(8);
        m.layers[2].score.scale.resize(8);
      },
      "layer 1: max pooling with a shortcut");
}

}  // namespace
}  // namespace lowbit
