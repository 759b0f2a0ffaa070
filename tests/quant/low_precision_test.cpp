// The low-precision configuration (quant/low_precision.hpp): per-layer overrides, their
// --lp-layer spelling and errors, and the canonical JSON that checkpoints keep.
#include "lowbit/quant/low_precision.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

LowPrecisionConfig example() {
  LowPrecisionConfig c;
  c.weights = parse_number_format("fixed:8,6");
  c.acts = parse_number_format("bfp:8");
  c.rounding = Rounding::kStochastic;
  add_layer_override(c, "dense_1/weights=fixed:16,14");
  add_layer_override(c, "dense_*/acts=float32");
  add_layer_override(c, "dense_4/acts=fixed:8,2@nearest");
  return c;
}

TEST(LowPrecisionConfig, LayerOverridesResolveLastMatchFirst) {
  const LowPrecisionConfig c = example();
  EXPECT_EQ(c.format(Site::kWeights, "dense_1").str(), "fixed:16,14");
  EXPECT_EQ(c.format(Site::kWeights, "dense_2").str(), "fixed:8,6");     // model-wide
  EXPECT_EQ(c.format(Site::kWeights, "dense_10").str(), "fixed:8,6");    // a glob is not a prefix
  EXPECT_EQ(c.format(Site::kActs, "dense_2").str(), "float32");          // turned off by the glob
  EXPECT_EQ(c.format(Site::kActs, "dense_4").str(), "fixed:8,2@nearest-even");  // the later override wins
  EXPECT_EQ(c.format(Site::kActs, "batchnorm_1").str(), "bfp:8");
  EXPECT_EQ(c.format(Site::kErrors, "dense_1").str(), "float32");
  EXPECT_TRUE(c.rounds(Site::kActs));
  EXPECT_FALSE(c.rounds(Site::kErrors));

  // Only an override rounds: the configuration is active, and says so.
  LowPrecisionConfig only;
  EXPECT_FALSE(only.active());
  add_layer_override(only, "conv2d_1/errors=bf16");
  EXPECT_TRUE(only.active());
  EXPECT_TRUE(only.rounds(Site::kErrors));
  EXPECT_EQ(only.str(), "float32 rounding=nearest-even; layer conv2d_1: errors=float:8,7");
  // ... and an override that turns a site off rounds nothing.
  LowPrecisionConfig off;
  add_layer_override(off, "conv2d_1/errors=float32");
  EXPECT_FALSE(off.active());
}

TEST(LowPrecisionConfig, StrListsTheOverrides) {
  EXPECT_EQ(example().str(),
            "acts=bfp:8 weights=fixed:8,6 rounding=stochastic; layer dense_1: weights=fixed:16,14; layer dense_*: "
            "acts=float32; layer dense_4: acts=fixed:8,2@nearest-even");
}

TEST(LowPrecisionConfig, JsonRoundTripsWithOverrides) {
  const LowPrecisionConfig c = example();
  const nlohmann::json j = to_json(c);
  ASSERT_TRUE(j.contains("layers"));
  EXPECT_EQ(j.at("layers").size(), 3u);
  EXPECT_EQ(j.at("layers")[0].at("match"), "dense_1");
  EXPECT_EQ(j.at("layers")[0].at("weights"), "fixed:16,14@stochastic");  // canonical: the rounding it uses
  EXPECT_EQ(j.at("layers")[1].at("acts"), "float32");                    // kept: it turns a site off
  EXPECT_EQ(j.at("layers")[2].at("acts"), "fixed:8,2@nearest-even");
  const LowPrecisionConfig back = low_precision_from_json(j, "test");
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.format(Site::kWeights, "dense_1").str(), "fixed:16,14@stochastic");
  // No overrides: no "layers" key, so older checkpoints compare equal.
  LowPrecisionConfig plain;
  plain.grads = parse_number_format("bfp:8");
  EXPECT_FALSE(to_json(plain).contains("layers"));
}

TEST(LowPrecisionConfig, BadOverridesAreClearErrors) {
  LowPrecisionConfig c;
  const std::pair<std::string, std::string> specs[] = {
      {"dense_1", "is not a layer override (PATTERN/SITE=FORMAT"},
      {"dense_1=fixed:8,4", "is not a layer override"},
      {"/weights=fixed:8,4", "empty layer pattern"},
      {"dense_1/wieghts=fixed:8,4", "unknown site 'wieghts' (acts, errors, grads, weights, state; the accumulator"},
      {"dense_1/acc=float32", "unknown site 'acc'"},
      {"dense_1/weights=fixed:0,0", "WL 0 is outside 2..24; valid forms: fixed:WL,FL"},
  };
  for (const auto& [spec, needle] : specs) {
    const std::string e = error_of([&] { add_layer_override(c, spec); });
    EXPECT_NE(e.find(needle), std::string::npos) << spec << ": " << e;
  }
  EXPECT_TRUE(c.layers.empty());
  const std::pair<const char*, std::string> json_cases[] = {
      {R"({"layers": {"dense_1": {"weights": "bf16"}}})", "'layers' must be an array"},
      {R"({"layers": [{"weights": "bf16"}]})", "layers[0] must be an object with a non-empty string \"match\""},
      {R"({"layers": [{"match": "", "weights": "bf16"}]})", "non-empty string \"match\""},
      {R"({"layers": [{"match": "d", "wieghts": "bf16"}]})", "layers[0]: unknown key 'wieghts'"},
      {R"({"layers": [{"match": "d", "weights": 8}]})", "layers[0].weights must be a string"},
      {R"({"layers": [{"match": "d", "weights": "bfp:1"}]})", "WL 1"},
  };
  for (const auto& [text, needle] : json_cases) {
    const std::string e = error_of([&] { low_precision_from_json(nlohmann::json::parse(text), "cfg.json"); });
    EXPECT_NE(e.find("cfg.json: low_precision: "), std::string::npos) << text << ": " << e;
    EXPECT_NE(e.find(needle), std::string::npos) << text << ": " << e;
  }
}

}  // namespace
}  // namespace lowbit::quant
