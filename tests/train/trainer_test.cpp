#include "lowbit/train/trainer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "test_util.hpp"
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
  auto before = read_file(d.str() + "/last.ckpt");
  cfg.epochs = 3;
  cfg.resume = true;
  cfg.lr = 3e38f;  // explodes the weights: logits overflow to inf and the loss to NaN
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
