// The deployment IR's sum pooling (format/model_desc.hpp `sum_pool`, CodeFormat::count):
// written and read back unchanged, refused with the layer and the limit when it does not
// fit, read by the plain interpreter (tests/runtime/ir_reference.hpp) as FORMAT.md defines
// it, and what a reader that ignores the new keys (an older lowbit) does with such a file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"
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

// A 4x4 grey image of 2-bit codes (pixel p -> level p / 64); a 1x1 convolution (weights
// +1 and -1: channel 0 sees the code, channel 1 its negation) into `out` codes, sum-pooled
// k x k with stride s; then a dense score layer with one-hot weights, so score i is the
// value of the pooled map's i-th entry in (y, x, c) order.
ModelDesc pooled_desc(const CodeFormat& out, int64_t k, int64_t s) {
  ModelDesc d;
  d.name = "pooled";
  d.input.shape = {1, 4, 4};
  d.input.codes = CodeFormat::unsigned_bits(2);
  for (int p = 0; p < 256; ++p) d.input.table[static_cast<size_t>(p)] = static_cast<uint8_t>(p / 64);
  LayerDesc c;
  c.kind = LayerKind::kConv;
  c.name = "conv2d@1";
  c.in_h = 4, c.in_w = 4, c.in_c = 1, c.out = 2;
  c.input = d.input.codes;
  c.weights = {1, -1};
  c.negated = {0, 1};
  c.output = out;
  c.levels = out.levels();
  // pm1: channel 0 is +1 for codes >= 2, channel 1 for codes <= 1 (-code >= -1);
  // unsigned: both channels give their accumulator clamped to the code range.
  for (int64_t o = 0; o < 2; ++o)
    for (int l = 0; l < c.levels; ++l)
      c.thresholds.push_back(out.pm1 ? (o == 0 ? 2 : -1) : (o == 0 ? l + 1 : l - 2));
  c.sum_pool = {k, s};
  LayerDesc f;
  f.name = "dense@5";
  f.in_h = c.out_h(), f.in_w = c.out_w(), f.in_c = 2;
  f.input = c.out_codes();
  f.out = f.in_fan();
  for (int64_t o = 0; o < f.out; ++o)
    for (int64_t i = 0; i < f.in_fan(); ++i) f.weights.push_back(o == i ? 1 : 0);
  f.negated.assign(static_cast<size_t>(f.out), 0);
  f.scores = true;
  f.score.scale.assign(static_cast<size_t>(f.out), 1.f);
  d.layers = {c, f};
  return d;
}

// The 4x4 image, one level per pixel (y, x): raw pixel = 64 * level.
const int kLevels[4][4] = {{3, 3, 0, 0}, {3, 1, 0, 1}, {0, 0, 2, 2}, {1, 0, 3, 2}};

std::vector<uint8_t> image() {
  std::vector<uint8_t> px;
  for (const auto& row : kLevels)
    for (int l : row) px.push_back(static_cast<uint8_t>(64 * l));
  return px;
}

TEST(ModelDescSumPool, ShapesAndCodesOfThePooledMap) {
  const ModelDesc d = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  const LayerDesc& c = d.layers[0];
  EXPECT_EQ(c.pooled_h(), 4);
  EXPECT_EQ(c.out_h(), 2);
  EXPECT_EQ(c.out_w(), 2);
  EXPECT_EQ(c.sum_window(), 4);
  EXPECT_EQ(c.out_codes(), CodeFormat::plus_minus_one().summed(4));
  const ModelDesc s1 = pooled_desc(CodeFormat::unsigned_bits(2), 2, 1);
  EXPECT_EQ(s1.layers[0].out_h(), 3);
  EXPECT_EQ(s1.layers[0].out_codes().levels(), 12);
  EXPECT_NO_THROW(format::validate(d));
  EXPECT_NO_THROW(format::validate(s1));
}

// +-1 sums: 2x2 windows, stride 2. Channel 0 is +1 where the level is >= 2, channel 1 where
// it is <= 1; each window's value is (#+1) - (#-1).
TEST(ModelDescSumPool, InterpreterSumsTheWindowsValues) {
  const ModelDesc d = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  const std::vector<float> scores = testing::ir_reference(d, image().data());
  const std::vector<float> want = {2, -2, -4, 4, -4, 4, 4, -4};  // (y, x, c): window (0,0) has one level below 2
  EXPECT_EQ(scores, want);
}

// Unsigned sums: 2x2 windows, stride 1 (overlapping), of the 2-bit codes themselves
// (channel 0) and of 3 - code (channel 1: thresholds -2, -1, 0 on -code), computed here
// from the levels.
TEST(ModelDescSumPool, InterpreterSumsUnsignedCodesOverOverlappingWindows) {
  const ModelDesc d = pooled_desc(CodeFormat::unsigned_bits(2), 2, 1);
  std::vector<float> want;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      for (int o = 0; o < 2; ++o) {
        int sum = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            const int code = kLevels[y + dy][x + dx];
            sum += o == 0 ? code : 3 - code;
          }
        want.push_back(static_cast<float>(sum));
      }
  EXPECT_EQ(testing::ir_reference(d, image().data()), want);
}

TEST(ModelDescSumPool, RoundTripsThroughWriteAndRead) {
  for (const ModelDesc& d : {pooled_desc(CodeFormat::plus_minus_one(), 2, 2), pooled_desc(CodeFormat::unsigned_bits(2), 2, 1),
                             pooled_desc(CodeFormat::unsigned_bits(1), 3, 1)}) {
    const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
    const ModelDesc back = read_desc_bytes(bytes);
    EXPECT_EQ(format::model_desc_bytes(back), bytes);
    ASSERT_EQ(back.layers.size(), 2u);
    EXPECT_EQ(back.layers[0].sum_pool.kernel, d.layers[0].sum_pool.kernel);
    EXPECT_EQ(back.layers[0].sum_pool.stride, d.layers[0].sum_pool.stride);
    EXPECT_EQ(back.layers[1].input, d.layers[1].input);
    EXPECT_EQ(back.layers[1].input.count, d.layers[0].sum_window());
    EXPECT_EQ(testing::ir_reference(back, image().data()), testing::ir_reference(d, image().data()));
    // The JSON keys, as FORMAT.md gives them.
    const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
    const json m = json::parse(file.json_text("model"));
    EXPECT_EQ(m["layers"][0]["sum_pool"], (json{{"kernel", d.layers[0].sum_pool.kernel}, {"stride", d.layers[0].sum_pool.stride}}));
    EXPECT_EQ(m["layers"][1]["input"]["count"], d.layers[0].sum_window());
    EXPECT_FALSE(m["layers"][0]["output"].contains("count"));
    EXPECT_EQ(m["version"], 2);
  }
}

// A description without sum pooling is written exactly as before: no new key anywhere.
TEST(ModelDescSumPool, DescriptionsWithoutItHaveNoNewKeys) {
  ModelDesc d = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  d.layers[0].sum_pool = {};
  d.layers[1].in_h = d.layers[1].in_w = 4;
  d.layers[1].input = CodeFormat::plus_minus_one();
  d.layers[1].out = d.layers[1].in_fan();
  d.layers[1].weights.assign(static_cast<size_t>(d.layers[1].out * d.layers[1].in_fan()), 1);
  d.layers[1].negated.assign(static_cast<size_t>(d.layers[1].out), 0);
  d.layers[1].score.scale.assign(static_cast<size_t>(d.layers[1].out), 1.f);
  const std::vector<uint8_t> bytes = format::model_desc_bytes(d);
  const format::LbmFile file = format::LbmFile::parse(bytes.data(), bytes.size(), "m.lbm");
  const std::string text(file.json_text("model"));
  EXPECT_EQ(text.find("sum_pool"), std::string::npos) << text;
  EXPECT_EQ(text.find("count"), std::string::npos) << text;
}

// What a reader that does not know the keys (this format's readers before sum pooling)
// makes of such a file: without "sum_pool" the next layer's in_shape no longer chains, and
// without "count" its input codes differ, so the file is refused, never misread.
TEST(ModelDescSumPool, AReaderIgnoringTheNewKeysRefusesTheFile) {
  const ModelDesc d = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][0].erase("sum_pool"); }); },
                               "layer 1: input map [2,2,2] differs from the previous layer's output [4,4,2]");
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][1]["input"].erase("count"); }); },
                               "layer 1: input codes +-1 differ from what the previous layer produces (sums of 4 +-1)");
}

TEST(ModelDescSumPool, InvalidSumPoolingIsAClearError) {
  auto refused = [](ModelDesc d, const std::function<void(ModelDesc&)>& edit, const std::string& needle) {
    edit(d);
    SCOPED_TRACE(needle);
    testing::expect_error_naming([&] { format::validate(d); }, needle);
  };
  const ModelDesc pm1 = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  // 3x3 sums of 8-bit codes reach 9 * 255: 12 bits.
  ModelDesc wide = pooled_desc(CodeFormat::unsigned_bits(2), 2, 1);
  refused(wide, [](ModelDesc& d) {
    LayerDesc& c = d.layers[0];
    c.output = CodeFormat::unsigned_bits(8);
    c.levels = 255;
    c.thresholds.assign(2 * 255, 0);
    c.sum_pool = {3, 1};
  }, "layer 0: 3x3 sum pooling of 8-bit codes needs 12-bit sums; the format takes up to 8");
  refused(pm1, [](ModelDesc& d) { d.layers[0].sum_pool = {5, 1}; }, "layer 0: sum pooling 5 does not fit the 4x4 map");
  refused(pm1, [](ModelDesc& d) { d.layers[0].sum_pool = {0, 2}; }, "layer 0: sum pooling stride without a kernel");
  refused(pm1, [](ModelDesc& d) { d.layers[0].sum_pool = {2, 65}; }, "layer 0: sum pooling 2 stride 65 (kernel 1..1024, stride 1..64)");
  refused(pm1, [](ModelDesc& d) { d.layers[1].input = CodeFormat::plus_minus_one(); },
          "layer 1: input codes +-1 differ from what the previous layer produces (sums of 4 +-1)");
  refused(pm1, [](ModelDesc& d) { d.layers[1].sum_pool = {1, 1}; }, "layer 1: sum pooling after a dense layer");
  refused(pm1, [](ModelDesc& d) { d.layers[0].output.count = 4; }, "layer 0: output: sums of 4 +-1 (sums come only from a layer's sum_pool)");
  refused(pm1, [](ModelDesc& d) { d.input.codes.count = 2; }, "input: sums of 2 2-bit (sums come only from a layer's sum_pool)");
  refused(pm1, [](ModelDesc& d) { d.layers[1].input.count = 300; }, "layer 1: input: sums of 300 codes (1..255)");
}

// The reader's own range checks on the new keys, before anything is allocated.
TEST(ModelDescSumPool, ReaderRangeChecksTheNewKeys) {
  const ModelDesc d = pooled_desc(CodeFormat::plus_minus_one(), 2, 2);
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][1]["input"]["count"] = 300; }); },
                               "layer 1: input: 'count' must be an integer in 1..255, got 300");
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][1]["input"]["count"] = 2.5; }); },
                               "'count' must be an integer");
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][0]["sum_pool"]["kernel"] = 1 << 20; }); },
                               "layer 0: sum_pool: 'kernel' must be an integer in 1..1024");
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][1]["sum_pool"] = {{"kernel", 1}, {"stride", 1}}; }); },
                               "layer 1: sum pooling after a dense layer");
  testing::expect_error_naming([&] { read_edited_desc(d, [](json& m) { m["layers"][0]["output"]["count"] = 4; }); },
                               "layer 0: output: sums of 4 +-1 (sums come only from a layer's sum_pool)");
}

}  // namespace
}  // namespace lowbit
