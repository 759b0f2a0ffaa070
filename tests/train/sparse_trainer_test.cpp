// Sparse ternary training in the trainer (issue 17): the quantized L2 penalty and
// quantization pruning, with pruned weights exactly 0 through training, checkpoints, resume,
// fine-tuning and export.
#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/pruning.hpp"
#include "lowbit/train/checkpoint.hpp"
#include "lowbit/train/trainer.hpp"
#include "train/synthetic.hpp"
#include "train/train_test_util.hpp"

namespace lowbit {
namespace {

using nn::json;

json sparse_net() {
  return {{"name", "sparse"},
          {"input", {1, 8, 8}},
          {"weights", "ternary:0.6"},
          {"init", "uniform:1"},
          {"layers",
           {{{"type", "quant_act"}, {"quantizer", "dorefa:8"}},
            {{"type", "flatten"}},
            {{"type", "dense"}, {"units", 24}, {"bias", false}},
            {{"type", "batchnorm"}},
            {{"type", "quant_act"}, {"quantizer", "binary"}},
            {{"type", "dense"}, {"units", 4}, {"bias", false}},
            {{"type", "batchnorm"}}}}};
}

train::TrainConfig sparse_config(const std::string& out) {
  train::TrainConfig c;
  c.epochs = 4;
  c.batch = 16;
  c.lr = 0.01f;
  c.out_dir = out;
  c.progress = 0;
  c.quiet = true;
  c.threads = 2;
  c.sparsity.quant_l2 = 1e-3f;
  c.sparsity.prune_after = {2};
  return c;
}

// Every pruned weight of `m` is exactly 0 and every weight at 0 in `mask_source` is pruned.
void expect_masked_zero(nn::Model& m) {
  int64_t masked = 0;
  for (nn::WeightedLayer* l : m.weighted_layers()) {
    const nn::Param& w = l->weight();
    ASSERT_TRUE(w.masked()) << l->name();
    for (int64_t i = 0; i < w.value.size(); ++i)
      if (w.mask[i] == 0.f) {
        ASSERT_EQ(w.value[i], 0.f) << l->name() << " " << i;
        ++masked;
      }
  }
  EXPECT_GT(masked, 0);
}

TEST(SparseTrainer, PrunedWeightsStayZeroThroughTrainingResumeAndExport) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  testing::RunDir a("sparse", "straight"), b("sparse", "resumed");
  auto m1 = nn::build_model(sparse_net());
  std::vector<train::EpochMetrics> hist;
  {
    train::Trainer t(*m1, sparse_config(a.str()));
    hist = t.fit(train_set, test_set);
  }
  expect_masked_zero(*m1);
  ASSERT_EQ(hist.size(), 4u);
  for (const auto& m : hist) EXPECT_GE(m.weight_zeros, 0.0);
  // The masks of the pruning after epoch 2 are the ones the model ends with, and the zeros
  // only grow after it (pruned weights cannot come back).
  EXPECT_GE(hist[3].weight_zeros, hist[2].weight_zeros);
  EXPECT_GT(hist[3].test_acc, 0.5);  // it still learns (4 classes)

  // Killed after epoch 2 (the pruning comes at the start of epoch 3), resumed: the same
  // result bit for bit.
  auto m2 = nn::build_model(sparse_net());
  {
    train::Trainer t(*m2, sparse_config(b.str()));
    t.on_epoch_end = [](const train::EpochMetrics& m) { return m.epoch < 2; };  // killed before the pruning
    t.fit(train_set, test_set);
  }
  auto m3 = nn::build_model(sparse_net());
  auto cfg = sparse_config(b.str());
  cfg.resume = true;
  {
    train::Trainer t(*m3, cfg);
    t.fit(train_set, test_set);
  }
  EXPECT_EQ(testing::model_state(*m1), testing::model_state(*m3));
  expect_masked_zero(*m3);

  // The checkpoints hold the masks; best.ckpt is a pruned epoch too (only epochs after the
  // pruning can be best), whichever epoch scored highest before it.
  train::LoadedModel best = train::load_model(a.str() + "/best.ckpt");
  expect_masked_zero(*best.model);
  train::LoadedModel loaded = train::load_model(a.str() + "/last.ckpt");
  expect_masked_zero(*loaded.model);
  // Export: every pruned weight is a zero code (ternary codes -1, 0, +1).
  format::ModelDesc d = exporter::fold(*loaded.model, {});
  ASSERT_EQ(d.layers.size(), 2u);
  auto weighted = loaded.model->weighted_layers();
  for (size_t li = 0; li < d.layers.size(); ++li) {
    const format::LayerDesc& l = d.layers[li];
    const nn::Param& w = weighted[li]->weight();
    const int64_t k = l.in_fan();
    // The IR holds the weights in (y, x, c) order; dense_1 here reads a 1-channel map, so
    // the orders agree, and dense_2 reads a flat vector.
    for (int64_t o = 0; o < l.out; ++o)
      for (int64_t i = 0; i < k; ++i)
        if (w.mask[o * k + i] == 0.f) {
          ASSERT_EQ(l.weight(o, i), 0) << li << " " << o << " " << i;
        }
  }

  // Fine-tuning the pruned checkpoint (--init-from) keeps the masks too.
  testing::RunDir c("sparse", "finetune");
  auto cfg2 = sparse_config(c.str());
  cfg2.sparsity = {};
  cfg2.keep_weights = true;
  cfg2.epochs = 2;
  {
    train::Trainer t(*loaded.model, cfg2);
    t.fit(train_set, test_set);
  }
  expect_masked_zero(*loaded.model);
}

TEST(SparseTrainer, QuantizedL2RaisesSparsity) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  auto run = [&](float lambda) {
    auto m = nn::build_model(sparse_net());
    auto cfg = sparse_config("");
    cfg.sparsity = {};
    cfg.sparsity.quant_l2 = lambda;
    train::Trainer t(*m, cfg);
    return t.fit(train_set, test_set).back().weight_zeros;
  };
  const double without = run(0.f), with = run(0.05f);
  EXPECT_GT(with, without + 0.02) << "zeros without " << without << ", with " << with;
}

TEST(SparseTrainer, BadSettingsAreUsageErrors) {
  auto m = nn::build_model(sparse_net());
  auto cfg = sparse_config("");
  cfg.sparsity.prune_after = {4};  // nothing left to retrain
  EXPECT_THROW(train::Trainer(*m, cfg), UsageError);
  json t = sparse_net();
  t["weights"] = "binary";
  auto b = nn::build_model(t);
  cfg.sparsity.prune_after = {1};
  EXPECT_THROW(train::Trainer(*b, cfg), UsageError);  // nothing prunable
  cfg.sparsity.prune_after = {2, 1};
  EXPECT_THROW(train::Trainer(*m, cfg), UsageError);
}

TEST(SparseTrainer, PrunedWeightsStayZeroUnderLowPrecisionFormats) {
  auto train_set = testing::synthetic_dataset(256, 1), test_set = testing::synthetic_dataset(64, 2);
  auto m = nn::build_model(sparse_net());
  auto cfg = sparse_config("");
  cfg.low_precision.grads = quant::parse_number_format("bfp:8");
  cfg.low_precision.weights = quant::parse_number_format("fixed:16,12");
  cfg.low_precision.state = quant::parse_number_format("bfp:16");
  cfg.low_precision.accumulator = true;
  cfg.low_precision.acc = quant::parse_number_format("float32");
  cfg.low_precision.rounding = quant::parse_rounding("stochastic");
  train::Trainer t(*m, cfg);
  const auto hist = t.fit(train_set, test_set);
  expect_masked_zero(*m);
  EXPECT_GT(hist.back().test_acc, 0.4);
}

TEST(SparseTrainer, PruningWithoutAFixedThresholdIsRefusedBeforeTraining) {
  json t = sparse_net();
  t["weights"] = "ternary";  // TWN: 0.7 mean|w| moves once weights are pruned
  auto m = nn::build_model(t);
  auto cfg = sparse_config("");
  try {
    train::Trainer tr(*m, cfg);
    FAIL() << "expected a usage error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--prune-sigma"), std::string::npos) << e.what();
  }
  cfg.sparsity.prune_sigma = 0.1f;  // an explicit sigma works
  EXPECT_NO_THROW(train::Trainer(*m, cfg));
}

TEST(SparseTrainer, CorruptMasksInACheckpointAreRefused) {
  auto m = nn::build_model(sparse_net());
  m->init(1);
  nn::quantization_prune(*m, quant::SparsityConfig{});
  train::Checkpoint ck;
  ck.meta["topology"] = m->topology();
  train::add_model_tensors(*m, ck);
  auto fresh = nn::build_model(sparse_net());
  EXPECT_NO_THROW(train::load_model_tensors(*fresh, ck, "t"));
  EXPECT_TRUE(fresh->weighted_layers()[0]->weight().masked());
  for (auto& [name, t] : ck.tensors)
    if (name == "mask:dense_1.weight") t[0] = 0.5f;
  EXPECT_THROW(train::load_model_tensors(*fresh, ck, "t"), Error);
  for (auto& [name, t] : ck.tensors)
    if (name == "mask:dense_1.weight") t[0] = 0.f;
  for (auto& [name, t] : ck.tensors)
    if (name == "param:dense_1.weight") t[0] = 0.25f;  // pruned but not zero
  EXPECT_THROW(train::load_model_tensors(*fresh, ck, "t"), Error);
  ck.tensors.emplace_back("mask:dense_9.weight", Tensor({1}, 1.f));
  EXPECT_THROW(train::load_model_tensors(*fresh, ck, "t"), Error);
  // A mask on binary weights (sign(0) = +1: a "pruned" weight would deploy as +1).
  json bt = sparse_net();
  bt["weights"] = "binary";
  auto b = nn::build_model(bt);
  b->init(1);
  train::Checkpoint bk;
  train::add_model_tensors(*b, bk);
  Tensor& w = b->weighted_layers()[0]->weight().value;
  bk.tensors.emplace_back("mask:dense_1.weight", Tensor(w.shape(), 1.f));
  EXPECT_THROW(train::load_model_tensors(*b, bk, "t"), Error);
}

}  // namespace
}  // namespace lowbit
