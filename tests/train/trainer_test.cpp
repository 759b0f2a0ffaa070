#include "lowbit/train/trainer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/nn/batchnorm.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "test_util.hpp"
#include "optim/optim_test_util.hpp"
#include "train/synthetic.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

json small_topology() {
  return {{"name", "small"},
          {"input", {1, 8, 8}},
          {"layers",
           {{{"type", "conv2d"}, {"filters", 4}, {"kernel", 3}, {"padding", 1}, {"bias", false}},
            {{"type", "batchnorm"}},
            {{"type", "relu"}},
            {{"type", "maxpool2d"}, {"kernel", 2}},
            {{"type", "flatten"}},
            {{"type", "dropout"}, {"rate", 0.1}},
            {{"type", "dense"}, {"units", 4}}}}};
}

train::TrainConfig small_config(const std::string& out) {
  train::TrainConfig c;
  c.epochs = 4;
  c.batch = 16;
  c.lr = 0.01f;
  c.out_dir = out;
  c.progress = 0;
  c.quiet = true;
  c.threads = 2;
  c.data.augment.hflip = true;  // exercise the per-batch random stream too
  return c;
}

TEST(Trainer, LearnsSyntheticTaskAndWritesFiles) {
  testing::RunDir run("trainer", "learn");
  auto train_set = testing::synthetic_dataset(512, 1), test_set = testing::synthetic_dataset(128, 2);
  auto model = nn::build_model(small_topology());
  auto cfg = small_config(run.str());
  cfg.data.augment.hflip = false;
  train::Trainer t(*model, cfg);
  auto hist = t.fit(train_set, test_set);
  ASSERT_EQ(hist.size(), 4u);
  EXPECT_GT(hist.back().test_acc, 0.9);
  EXPECT_LT(hist.back().loss, hist.front().loss);
  EXPECT_TRUE(file_exists(run.str() + "/last.ckpt"));
  EXPECT_TRUE(file_exists(run.str() + "/best.ckpt"));
  std::ifstream in(run.str() + "/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    for (const char* key : {"epoch", "loss", "train_acc", "test_acc", "seconds", "lr"}) EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_GE(j["test_acc"].get<double>(), 0.0);
    EXPECT_LE(j["test_acc"].get<double>(), 1.0);
    EXPECT_EQ(j["epoch"].get<int>(), ++lines);
  }
  EXPECT_EQ(lines, 4);
  // The evaluation of the saved model reproduces the last epoch's test accuracy.
  auto ck = train::read_checkpoint(run.str() + "/last.ckpt");
  auto again = nn::build_model(ck.meta.at("topology"));
  train::load_model_tensors(*again, ck, "last.ckpt");
  auto loss = nn::make_loss("cross_entropy");
  EXPECT_DOUBLE_EQ(train::evaluate(*again, test_set, cfg.data, 50, *loss).accuracy, hist.back().test_acc);
}

TEST(Trainer, ResumeContinuesExactly) {
  auto train_set = testing::synthetic_dataset(300, 3), test_set = testing::synthetic_dataset(64, 4);
  testing::RunDir a("trainer", "straight"), b("trainer", "resumed");
  auto m1 = nn::build_model(small_topology());
  {
    train::Trainer t(*m1, small_config(a.str()));
    t.fit(train_set, test_set);
  }
  auto m2 = nn::build_model(small_topology());
  {
    train::Trainer t(*m2, small_config(b.str()));
    t.on_epoch_end = [](const train::EpochMetrics& m) { return m.epoch < 2; };  // "killed" after epoch 2
    EXPECT_EQ(t.fit(train_set, test_set).size(), 2u);
  }
  auto m3 = nn::build_model(small_topology());
  auto cfg = small_config(b.str());
  cfg.resume = true;
  train::Trainer t(*m3, cfg);
  auto hist = t.fit(train_set, test_set);
  EXPECT_EQ(hist.size(), 4u);
  EXPECT_EQ(testing::model_state(*m1), testing::model_state(*m3));  // bit-for-bit
}

// --compute bf16 (issue 15): the run learns, its products differ from float32's (the operands
// round), it resumes bit for bit, and the caller's process-wide GEMM settings come back.
TEST(Trainer, Bf16ComputeLearnsResumesExactlyAndRestoresTheCallersSetting) {
  auto train_set = testing::synthetic_dataset(512, 1), test_set = testing::synthetic_dataset(128, 2);
  testing::RunDir f32("trainer", "f32"), a("trainer", "bf16_straight"), b("trainer", "bf16_resumed");
  auto bf16_config = [](const std::string& out) {
    auto c = small_config(out);
    c.compute = "bf16";
    return c;
  };
  auto m0 = nn::build_model(small_topology());
  train::Trainer(*m0, small_config(f32.str())).fit(train_set, test_set);
  auto m1 = nn::build_model(small_topology());
  const auto hist = train::Trainer(*m1, bf16_config(a.str())).fit(train_set, test_set);
  EXPECT_EQ(kernels::gemm_compute(), kernels::GemmCompute::kFloat32);
  EXPECT_GT(hist.back().test_acc, 0.9);
  EXPECT_NE(testing::model_state(*m0), testing::model_state(*m1));
  auto m2 = nn::build_model(small_topology());
  {
    train::Trainer t(*m2, bf16_config(b.str()));
    t.on_epoch_end = [](const train::EpochMetrics& m) { return m.epoch < 2; };
    EXPECT_EQ(t.fit(train_set, test_set).size(), 2u);
  }
  auto cfg = bf16_config(b.str());
  cfg.resume = true;
  auto m3 = nn::build_model(small_topology());
  train::Trainer(*m3, cfg).fit(train_set, test_set);
  EXPECT_EQ(testing::model_state(*m1), testing::model_state(*m3));
}

// Low-precision training (issue 16): bfp:8 with stochastic rounding on activations, errors,
// gradients, weights and optimizer state, plus a float32 accumulator: the run learns, every
// weight holds its format's values, it resumes bit for bit (the accumulator and the
// stochastic bits come back), and --resume refuses another format.
TEST(Trainer, LowPrecisionLearnsAndResumesExactly) {
  auto train_set = testing::synthetic_dataset(512, 1), test_set = testing::synthetic_dataset(128, 2);
  testing::RunDir a("trainer", "lp_straight"), b("trainer", "lp_resumed");
  auto lp_config = [](const std::string& out) {
    auto c = small_config(out);
    c.optimizer.name = "sgd";
    c.lr = 0.05f;
    auto& lp = c.low_precision;
    lp.acts = lp.errors = lp.grads = lp.state = quant::parse_number_format("bfp:8");
    lp.weights = quant::parse_number_format("fixed:12,8");
    lp.accumulator = true;
    lp.acc = quant::parse_number_format("float32");
    lp.rounding = quant::Rounding::kStochastic;
    return c;
  };
  auto m1 = nn::build_model(small_topology());
  const auto hist = train::Trainer(*m1, lp_config(a.str())).fit(train_set, test_set);
  EXPECT_GT(hist.back().test_acc, 0.9);
  for (const auto& np : m1->named_params())
    for (int64_t i = 0; i < np.param->value.size(); ++i) {
      const float code = np.param->value[i] * 256.f;
      ASSERT_EQ(code, std::nearbyint(code)) << np.name;
    }
  auto m2 = nn::build_model(small_topology());
  {
    train::Trainer t(*m2, lp_config(b.str()));
    t.on_epoch_end = [](const train::EpochMetrics& m) { return m.epoch < 2; };
    EXPECT_EQ(t.fit(train_set, test_set).size(), 2u);
  }
  auto changed = lp_config(b.str());
  changed.resume = true;
  changed.low_precision.acts = quant::parse_number_format("bfp:6");
  auto m4 = nn::build_model(small_topology());
  testing::expect_error_naming([&] { train::Trainer(*m4, changed).fit(train_set, test_set); },
                               "--lp-acts \"bfp:8@stochastic\" -> \"bfp:6@stochastic\"");
  auto cfg = lp_config(b.str());
  cfg.resume = true;
  auto m3 = nn::build_model(small_topology());
  train::Trainer(*m3, cfg).fit(train_set, test_set);
  EXPECT_EQ(testing::model_state(*m1), testing::model_state(*m3));
}

// A float32 accumulator with every format float32 is plain float32 training, bit for bit:
// the accumulator starts from the initialised weights (review finding: it copied them before
// initialisation, so the first step restarted from zeros).
TEST(Trainer, Float32AccumulatorIsPlainTraining) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  auto plain = nn::build_model(small_topology()), with_acc = nn::build_model(small_topology());
  auto cfg = small_config("");
  cfg.epochs = 2;
  train::Trainer(*plain, cfg).fit(train_set, test_set);
  cfg.low_precision.accumulator = true;
  cfg.low_precision.acc = quant::parse_number_format("float32");
  train::Trainer(*with_acc, cfg).fit(train_set, test_set);
  EXPECT_EQ(testing::model_state(*plain), testing::model_state(*with_acc));
}

// Learned quantizer scales (SYQ) stay float32 under every format: the run trains (it crashed
// in the fused step before: review finding) and the scale is not on the weights' grid.
TEST(Trainer, LowPrecisionLeavesLearnedScalesInFloat32) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  json topo = small_topology();
  for (json& l : topo["layers"])
    if (l["type"] == "dense") l["weight_quantizer"] = "syq:binary";
  auto m = nn::build_model(topo);
  auto cfg = small_config("");
  cfg.epochs = 2;
  cfg.optimizer.name = "sgd";
  cfg.low_precision.weights = cfg.low_precision.grads = cfg.low_precision.state = quant::parse_number_format("fixed:8,4");
  cfg.low_precision.rounding = quant::Rounding::kStochastic;
  train::Trainer(*m, cfg).fit(train_set, test_set);
  int scales = 0;
  for (const auto& np : m->named_params()) {
    if (np.name.find("quantizer.") == std::string::npos) continue;
    ++scales;
    bool off_grid = false;
    for (int64_t i = 0; i < np.param->value.size(); ++i) {
      const float code = np.param->value[i] * 16.f;
      off_grid = off_grid || code != std::nearbyint(code);
    }
    EXPECT_TRUE(off_grid) << np.name;
  }
  EXPECT_GT(scales, 0);
}

// PBNN's BatchNorm switch: from the epoch in which the progressive scale v reaches
// bn_threshold_at, BatchNorm trains on its running statistics, which then stop changing;
// before it (and without the switch) they follow the batches.
TEST(Trainer, BatchNormSwitchesToThresholdFormAtTheProgressiveScale) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  json topo = small_topology();
  for (json& l : topo["layers"])
    if (l["type"] == "dense" || l["type"] == "conv2d") l["weight_quantizer"] = "progressive";
  auto running_means = [&](float threshold) {
    auto m = nn::build_model(topo);
    auto cfg = small_config("");
    cfg.epochs = 3;  // v = 1, 31.6, 1000
    cfg.bn_threshold_at = threshold;
    train::Trainer t(*m, cfg);
    std::vector<Tensor> means;
    t.on_epoch_end = [&](const train::EpochMetrics&) {
      for (nn::Layer* l : m->leaf_layers())
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(l)) means.push_back(bn->running_mean());
      return true;
    };
    t.fit(train_set, test_set);
    return means;
  };
  const auto with = running_means(500.f), without = running_means(0.f);
  ASSERT_EQ(with.size(), 3u);
  ASSERT_EQ(without.size(), 3u);
  EXPECT_FALSE(testing::bitwise_equal(with[0], with[1]));  // v = 31.6: batch statistics
  EXPECT_TRUE(testing::bitwise_equal(with[1], with[2]));   // v = 1000: frozen
  EXPECT_TRUE(testing::bitwise_equal(with[1], without[1]));  // the same run until the switch
  EXPECT_FALSE(testing::bitwise_equal(without[1], without[2]));
  // Without progressive quantizers the switch is a usage error.
  auto plain = nn::build_model(small_topology());
  auto cfg = small_config("");
  cfg.bn_threshold_at = 500.f;
  testing::expect_error_naming([&] { train::Trainer(*plain, cfg); }, "has none: train with --weights/--acts progressive");
}

// --resume into a folder with no checkpoint yet (a kill before the first one was written)
// starts at epoch 1; a folder with run files but no last.ckpt is refused.
TEST(Trainer, ResumeWithoutCheckpointStartsOver) {
  auto train_set = testing::synthetic_dataset(64, 3), test_set = testing::synthetic_dataset(32, 4);
  testing::RunDir d("trainer", "resume_empty");
  auto cfg = small_config(d.str());
  cfg.epochs = 2;
  cfg.resume = true;
  auto m = nn::build_model(small_topology());
  EXPECT_EQ(train::Trainer(*m, cfg).fit(train_set, test_set).size(), 2u);
  std::filesystem::remove(d.str() + "/last.ckpt");
  auto m2 = nn::build_model(small_topology());
  train::Trainer t(*m2, cfg);
  testing::expect_error_naming([&] { t.fit(train_set, test_set); }, "no last.ckpt to resume from");
}

TEST(Trainer, NanLossStopsAndKeepsLastGoodCheckpoint) {
  auto train_set = testing::synthetic_dataset(128, 5), test_set = testing::synthetic_dataset(32, 6);
  testing::RunDir d("trainer", "nan");
  json topo = {{"name", "plain"}, {"input", {1, 8, 8}}, {"layers", {{{"type", "flatten"}}, {{"type", "dense"}, {"units", 4}}}}};
  auto cfg = small_config(d.str());
  cfg.epochs = 1;
  cfg.optimizer.name = "sgd";
  {
    auto m = nn::build_model(topo);
    train::Trainer t(*m, cfg);
    t.fit(train_set, test_set);
  }
  // A checkpoint whose weights make the logits overflow (as a run that blew up would):
  // resuming it diverges at once, with the same settings (--resume refuses other ones).
  train::Checkpoint ck = train::read_checkpoint(d.str() + "/last.ckpt");
  for (auto& [name, t] : ck.tensors)
    if (name == "param:dense_1.weight")
      for (float& v : t) v = 3e38f;
  train::write_checkpoint(d.str() + "/last.ckpt", ck);
  auto before = read_file(d.str() + "/last.ckpt");
  cfg.epochs = 3;
  cfg.resume = true;
  auto m = nn::build_model(topo);
  train::Trainer t(*m, cfg);
  try {
    t.fit(train_set, test_set);
    FAIL() << "expected divergence";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("diverged"), std::string::npos) << msg;
    EXPECT_NE(msg.find("last.ckpt"), std::string::npos) << msg;
  }
  EXPECT_EQ(read_file(d.str() + "/last.ckpt"), before);
}

TEST(Trainer, DataThatDoesNotFitTheModelIsAnError) {
  auto train_set = testing::synthetic_dataset(16, 1, 4, 10);  // 10x10 images
  auto m = nn::build_model(small_topology());                 // expects 8x8
  auto cfg = small_config("");
  train::Trainer t(*m, cfg);
  EXPECT_THROW(t.fit(train_set, train_set), Error);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// A last batch too small for the model's BatchNorm joins the batch before it, decided
// before training (it trained a whole epoch, then failed with nothing saved).
TEST(Trainer, BatchPlanMergesALastBatchBatchNormCannotTrainOn) {
  const train::BatchPlan p = train::plan_batches(20001, 100, 2);
  EXPECT_EQ(p.steps, 200);
  EXPECT_EQ(p.merged, 1);
  EXPECT_EQ(p.range(0), (std::pair<int64_t, int64_t>{0, 100}));
  EXPECT_EQ(p.range(199), (std::pair<int64_t, int64_t>{19900, 101}));
  const train::BatchPlan plain = train::plan_batches(20001, 100, 1);  // no BatchNorm: nothing merged
  EXPECT_EQ(plain.steps, 201);
  EXPECT_EQ(plain.merged, 0);
  EXPECT_EQ(plain.range(200), (std::pair<int64_t, int64_t>{20000, 1}));
  EXPECT_EQ(train::plan_batches(20002, 100, 2).steps, 201);
  EXPECT_EQ(train::plan_batches(7, 100, 2).range(0), (std::pair<int64_t, int64_t>{0, 7}));
  testing::expect_error_naming([] { train::plan_batches(1, 100, 2); }, "1 image(s)");
  testing::expect_error_naming([] { train::plan_batches(64, 1, 2); }, "--batch 1 is too small");
  testing::expect_error_naming([] { train::plan_batches(0, 10, 1); }, "the training set is empty");
}

json dense_bn_topology() {
  return {{"name", "dense_bn"},
          {"input", {1, 8, 8}},
          {"layers",
           {{{"type", "flatten"}},
            {{"type", "dense"}, {"units", 6}},
            {{"type", "batchnorm"}},
            {{"type", "relu"}},
            {{"type", "dense"}, {"units", 4}}}}};
}

TEST(Trainer, TrainsWhenTheLastBatchHoldsOneImage) {
  auto train_set = testing::synthetic_dataset(33, 1), test_set = testing::synthetic_dataset(16, 2);
  auto m = nn::build_model(dense_bn_topology());
  EXPECT_EQ(m->min_training_batch(), 2);
  EXPECT_EQ(nn::build_model(small_topology())->min_training_batch(), 1);  // BatchNorm over 8x8 maps
  auto cfg = small_config("");
  cfg.epochs = 1;
  train::Trainer t(*m, cfg);
  EXPECT_EQ(t.fit(train_set, test_set).size(), 1u);
}

// Configuration mistakes are found by the constructor, before any epoch (--eval-batch 0
// used to fail only after the first epoch's training).
TEST(Trainer, ConfigurationIsCheckedBeforeTraining) {
  auto m = nn::build_model(small_topology());
  auto bad = [&](const std::function<void(train::TrainConfig&)>& edit, const std::string& needle) {
    auto cfg = small_config("");
    edit(cfg);
    testing::expect_error_naming([&] { train::Trainer t(*m, cfg); }, needle);
  };
  bad([](train::TrainConfig& c) { c.eval_batch = 0; }, "--eval-batch");
  bad([](train::TrainConfig& c) { c.train_limit = -1; }, "--train-limit");
  bad([](train::TrainConfig& c) { c.threads = 100000; }, "--threads must be in 0..1024");
  bad([](train::TrainConfig& c) { c.warmup_epochs = -1; }, "warm-up epochs must be finite and >= 0");
  bad([](train::TrainConfig& c) { c.resume = true; }, "--resume needs --out");
  bad([](train::TrainConfig& c) {
    c.out_dir = "x";
    c.resume = c.overwrite = true;
  }, "choose one");
}

// best.ckpt always holds the best epoch last.ckpt records: a best.ckpt lost between the two
// writes is rewritten from last.ckpt; one whose weights are gone for good (not the best
// epoch, which is not the last) is said, and best.ckpt then follows what is left.
TEST(Trainer, ResumeRepairsOrReportsTheBestCheckpoint) {
  auto train_set = testing::synthetic_dataset(128, 3), test_set = testing::synthetic_dataset(64, 4);
  testing::RunDir d("trainer", "repair");
  auto cfg = small_config(d.str());
  cfg.epochs = 3;
  std::vector<std::vector<uint8_t>> lasts;
  std::vector<train::EpochMetrics> hist;
  {
    auto m = nn::build_model(small_topology());
    train::Trainer t(*m, cfg);
    t.on_epoch_end = [&](const train::EpochMetrics&) {
      lasts.push_back(read_file(d.str() + "/last.ckpt"));
      return true;
    };
    hist = t.fit(train_set, test_set);
  }
  int best = 1;
  for (int e = 2; e <= 3; ++e)
    if (hist[static_cast<size_t>(e - 1)].test_acc > hist[static_cast<size_t>(best - 1)].test_acc) best = e;
  const std::string best_path = d.str() + "/best.ckpt";
  EXPECT_EQ(read_file(best_path), lasts[static_cast<size_t>(best - 1)]);

  // Folder as a kill after epoch `best`'s last.ckpt would leave it: best.ckpt missing.
  write_file_atomic(d.str() + "/last.ckpt", lasts[static_cast<size_t>(best - 1)]);
  std::filesystem::remove(best_path);
  auto resume = cfg;
  resume.resume = true;
  resume.epochs = best;  // nothing left to train: the repair alone
  {
    auto m = nn::build_model(small_topology());
    train::Trainer(*m, resume).fit(train_set, test_set);
  }
  EXPECT_EQ(read_file(best_path), lasts[static_cast<size_t>(best - 1)]);

  if (best == 3) return;  // the unrecoverable case needs a best epoch before the last
  write_file_atomic(d.str() + "/last.ckpt", lasts[2]);
  write_file_atomic(best_path, std::string("torn"));
  resume.epochs = 4;
  auto m = nn::build_model(small_topology());
  train::Trainer t(*m, resume);
  auto h = t.fit(train_set, test_set);
  ASSERT_EQ(h.size(), 4u);
  // The best of epochs 3 and 4 (what is left) is in best.ckpt now, never the torn file.
  const auto ck = train::read_checkpoint(best_path);
  const int64_t held = ck.meta.at("epochs_done").get<int64_t>();
  EXPECT_TRUE(held == 3 || held == 4) << held;
}

}  // namespace
}  // namespace lowbit

namespace lowbit::train {
namespace {

// The GEMM library is part of a run's settings: saved, read back, checked. A checkpoint
// written before it existed was trained with OpenBLAS and reads back as such.
TEST(TrainConfigJson, GemmLibraryRoundTripsAndDefaultsToOpenBlasWhenAbsent) {
  TrainConfig c;
  EXPECT_EQ(c.gemm, "onednn");
  c.gemm = "openblas";
  nlohmann::json j = to_json(c);
  EXPECT_EQ(train_config_from_json(j).gemm, "openblas");
  j.erase("gemm");
  EXPECT_EQ(train_config_from_json(j).gemm, "openblas");
  j["gemm"] = "mkl";
  lowbit::testing::expect_error_naming([&] { train_config_from_json(j); }, "'gemm' must be");
}

// So is the operands' precision (--compute); checkpoints from before it were float32.
TEST(TrainConfigJson, ComputePrecisionRoundTripsAndDefaultsToF32WhenAbsent) {
  TrainConfig c;
  EXPECT_EQ(c.compute, "f32");
  c.compute = "bf16";
  nlohmann::json j = to_json(c);
  EXPECT_EQ(train_config_from_json(j).compute, "bf16");
  j.erase("compute");
  EXPECT_EQ(train_config_from_json(j).compute, "f32");
  j["compute"] = "fp16";
  lowbit::testing::expect_error_naming([&] { train_config_from_json(j); }, "'compute' must be \"f32\" or \"bf16\"");
}

}  // namespace
}  // namespace lowbit::train
