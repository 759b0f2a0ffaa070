// Quantization-aware training through the trainer: binary networks learn, latent weights
// stay clipped, Bop keeps weights at +-1, Glorot LR scales, the flip ratio, the
// progressive schedule, and exact resumption with quantizer state and Bop state.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "lowbit/core/error.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/quant/progressive.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"
#include "test_util.hpp"
#include "train/synthetic.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

// A small CNV-like binary network: binary weights everywhere, binary activations.
json binary_topology(const std::string& weights = "binary", const std::string& acts = "binary") {
  return {{"name", "small_bnn"},
          {"input", {1, 8, 8}},
          {"weights", weights},
          {"acts", acts},
          {"layers",
           {{{"type", "conv2d"}, {"filters", 8}, {"kernel", 3}, {"padding", 1}, {"bias", false}},
            {{"type", "batchnorm"}},
            {{"type", "quant_act"}},
            {{"type", "maxpool2d"}, {"kernel", 2}},
            {{"type", "flatten"}},
            {{"type", "dense"}, {"units", 32}, {"bias", false}},
            {{"type", "batchnorm"}},
            {{"type", "quant_act"}},
            {{"type", "dense"}, {"units", 4}, {"bias", false}},
            {{"type", "batchnorm"}}}}};
}

train::TrainConfig config(const std::string& out, int epochs = 4) {
  train::TrainConfig c;
  c.epochs = epochs;
  c.batch = 16;
  c.lr = 0.01f;
  c.out_dir = out;
  c.progress = 0;
  c.quiet = true;
  c.threads = 2;
  return c;
}

TEST(QatTrainer, BinaryNetworkLearnsWithClippedLatentWeightsAndReportsFlips) {
  testing::RunDir run("qat", "bnn");
  auto train_set = testing::synthetic_dataset(512, 1), test_set = testing::synthetic_dataset(128, 2);
  auto model = nn::build_model(binary_topology());
  train::Trainer t(*model, config(run.str()));
  auto hist = t.fit(train_set, test_set);
  EXPECT_GT(hist.back().test_acc, 0.85);
  for (const auto& m : hist) {
    EXPECT_GT(m.flip_ratio, 0.0) << m.epoch;
    EXPECT_LT(m.flip_ratio, 0.5) << m.epoch;
  }
  for (nn::WeightedLayer* l : model->weighted_layers())
    for (float w : l->weight().value) ASSERT_LE(std::fabs(w), 1.f);
  // A float model has no 1-bit weights: no flip ratio.
  auto float_model = nn::build_model(binary_topology("none", "dorefa:2"));
  auto cfg = config("", 1);
  train::Trainer tf(*float_model, cfg);
  EXPECT_LT(tf.fit(train_set, test_set).back().flip_ratio, 0.0);
}

TEST(QatTrainer, BopKeepsBinaryWeightsAtPlusMinusOneAndLearns) {
  testing::RunDir run("qat", "bop");
  auto train_set = testing::synthetic_dataset(512, 3), test_set = testing::synthetic_dataset(128, 4);
  auto model = nn::build_model(binary_topology());
  auto cfg = config(run.str());
  cfg.binary_optimizer = "bop";
  cfg.bop.gamma = 1e-3f;
  cfg.bop.threshold = 1e-6f;
  train::Trainer t(*model, cfg);
  auto hist = t.fit(train_set, test_set);
  EXPECT_GT(hist.back().test_acc, 0.7);
  for (nn::WeightedLayer* l : model->weighted_layers()) {
    EXPECT_EQ(l->weight().group, "binary");
    for (float w : l->weight().value) ASSERT_TRUE(w == 1.f || w == -1.f);
  }
  train::Checkpoint ck = train::read_checkpoint(run.str() + "/last.ckpt");
  EXPECT_TRUE(ck.meta.contains("bop_state"));
  EXPECT_NE(ck.find("bop:bop.m.0"), nullptr);
}

TEST(QatTrainer, BopNeedsBinaryWeights) {
  auto model = nn::build_model(binary_topology("dorefa:2", "binary"));
  auto cfg = config("");
  cfg.binary_optimizer = "bop";
  testing::expect_error_naming([&] { train::Trainer t(*model, cfg); }, "needs 1-bit weights");
}

TEST(QatTrainer, GlorotLrScaleOnSignWeightsOnly) {
  json topo = binary_topology();
  topo["layers"][5]["weight_quantizer"] = "dorefa:2";  // the hidden dense layer
  auto model = nn::build_model(topo);
  auto cfg = config("");
  cfg.lr_scale = "glorot";
  train::Trainer t(*model, cfg);
  auto layers = model->weighted_layers();
  ASSERT_EQ(layers.size(), 3u);
  // conv 1 -> 8, 3x3: fan_in 9, fan_out 72.
  EXPECT_FLOAT_EQ(layers[0]->weight().lr_scale, static_cast<float>(1.0 / std::sqrt(1.5 / 81.0)));
  EXPECT_FLOAT_EQ(layers[1]->weight().lr_scale, 1.f);  // dorefa weights are not clipped signs
  EXPECT_FLOAT_EQ(layers[2]->weight().lr_scale, static_cast<float>(1.0 / std::sqrt(1.5 / 36.0)));
}

TEST(QatTrainer, ProgressiveScaleReachesItsMaximumOnTheLastEpoch) {
  auto train_set = testing::synthetic_dataset(128, 5), test_set = testing::synthetic_dataset(64, 6);
  auto model = nn::build_model(binary_topology("progressive", "progressive:100"));
  std::vector<float> v_seen;
  train::Trainer t(*model, config("", 3));
  t.on_epoch_end = [&](const train::EpochMetrics&) {
    v_seen.push_back(static_cast<quant::ProgressiveQuantizer*>(model->quantizers()[1])->v());
    return true;
  };
  t.fit(train_set, test_set);
  ASSERT_EQ(v_seen.size(), 3u);
  EXPECT_FLOAT_EQ(v_seen[0], 1.f);
  EXPECT_FLOAT_EQ(v_seen[1], 10.f);
  EXPECT_FLOAT_EQ(v_seen[2], 100.f);
}

// Training 4 epochs straight and 2 + resume 2 give the same bits, for quantizers with
// state (progressive v, SYQ scales) and for Bop.
void check_resume(const json& topo, const std::string& binary_optimizer) {
  auto train_set = testing::synthetic_dataset(256, 7), test_set = testing::synthetic_dataset(64, 8);
  testing::RunDir a("qat", "straight"), b("qat", "resumed");
  auto cfg_for = [&](const std::string& out) {
    auto c = config(out);
    c.binary_optimizer = binary_optimizer;
    return c;
  };
  auto m1 = nn::build_model(topo);
  {
    train::Trainer t(*m1, cfg_for(a.str()));
    t.fit(train_set, test_set);
  }
  auto m2 = nn::build_model(topo);
  {
    train::Trainer t(*m2, cfg_for(b.str()));
    t.on_epoch_end = [](const train::EpochMetrics& m) { return m.epoch < 2; };
    t.fit(train_set, test_set);
  }
  auto m3 = nn::build_model(topo);
  auto cfg = cfg_for(b.str());
  cfg.resume = true;
  train::Trainer t(*m3, cfg);
  EXPECT_EQ(t.fit(train_set, test_set).size(), 4u);
  EXPECT_EQ(testing::model_state(*m1), testing::model_state(*m3));
}

TEST(QatTrainer, ResumeIsExactWithQuantizerState) {
  json topo = binary_topology("progressive", "progressive");
  topo["layers"][5]["weight_quantizer"] = "syq:binary";
  check_resume(topo, "none");
}

TEST(QatTrainer, ResumeIsExactWithBop) { check_resume(binary_topology("binary", "stochastic"), "bop"); }

}  // namespace
}  // namespace lowbit
